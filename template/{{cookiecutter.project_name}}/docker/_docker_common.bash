# shellcheck shell=bash
# Shared by train.bash and to_onnx.bash beside this file, and by Otter's docker/run.bash and
# docker/build.bash: turns the environment into `docker run` (or `podman run`) options. Sourced,
# never run.
#
#   OTTER_DOCKER    the engine: docker or podman      default: docker
#   OTTER_IMAGE     image to run                      default: otter_base_image
#   OTTER_GPUS      value for --gpus                  default: all when `nvidia-smi -L` works, else no
#                                                     GPU flag; `none` never passes one (podman:
#                                                     CDI devices, --device nvidia.com/gpu=...)
#   OTTER_SHM_SIZE  --shm-size                        default: 16g
#   OTTER_CPUSET    --cpuset-cpus                     default: every core, 0-(nproc-1)
#   OTTER_DATA_DIR  host folder mounted at the same   default: none
#                   path inside the container
#   OTTER_DRY_RUN   set: print the engine command instead of running it
#
# Every value is checked here, so a typo ends with one line on stderr (exit 2) before Docker starts.
# This file must stay free of Jinja markers (double braces, brace-percent, brace-hash):
# cookiecutter copies it as is.

OTTER_SCRIPT="$(basename "$0")"

otter_die() {
    printf '%s: %s\n' "$OTTER_SCRIPT" "$*" >&2
    exit 2
}

# A value quoted for an error message, on one line even when it holds a newline.
otter_quote() {
    local quoted
    if [[ $1 == *[![:print:]]* || $1 == *"'"* ]]; then
        printf -v quoted '%q' "$1"
    else
        quoted="'$1'"
    fi
    printf '%s' "$quoted"
}

otter_ncpu() {
    # nproc counts the cores this shell may use; getconf is the fallback where coreutils lacks it (macOS).
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1
}

# otter_check_cpuset CPUSET NCPU: a list such as 0-3 or 0,2,4-7 naming only cores below NCPU.
otter_check_cpuset() {
    local cpuset="$1" ncpu="$2" part lo hi
    local -a parts
    if ! [[ $cpuset =~ ^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$ ]]; then
        otter_die "OTTER_CPUSET=$(otter_quote "$cpuset") is not a CPU list such as 0-3 or 0,2,4-7"
    fi
    IFS=, read -ra parts <<<"$cpuset"
    for part in "${parts[@]}"; do
        lo="$((10#${part%-*}))"
        hi="$((10#${part#*-}))"
        if ((lo > hi)); then
            otter_die "OTTER_CPUSET=$cpuset: range $part runs backwards"
        fi
        if ((hi >= ncpu)); then
            otter_die "OTTER_CPUSET=$cpuset names CPU $hi, but this machine has $ncpu (0-$((ncpu - 1)))"
        fi
    done
}

# otter_engine: set OTTER_ENGINE (the command) and OTTER_ENGINE_KIND (docker or podman) from
# OTTER_DOCKER, and OTTER_ROOTLESS (1 for podman run by a user other than root, else empty).
otter_engine() {
    OTTER_ENGINE="${OTTER_DOCKER:-docker}"
    case "$(basename -- "$OTTER_ENGINE")" in
        podman*) OTTER_ENGINE_KIND=podman ;;
        docker*) OTTER_ENGINE_KIND=docker ;;
        *) otter_die "OTTER_DOCKER=$(otter_quote "$OTTER_ENGINE") is neither docker nor podman (a path to either works)" ;;
    esac
    OTTER_ROOTLESS=
    if [ "$OTTER_ENGINE_KIND" = podman ] && [ "$(id -u)" != 0 ]; then
        OTTER_ROOTLESS=1
    fi
    if [ -z "${OTTER_DRY_RUN:-}" ] && ! command -v "$OTTER_ENGINE" >/dev/null 2>&1; then
        if [ "$OTTER_ENGINE_KIND" = podman ]; then
            otter_die "$OTTER_ENGINE not found on PATH; install Podman, or unset OTTER_DOCKER to use Docker"
        fi
        otter_die "$OTTER_ENGINE not found on PATH; install Docker (and the NVIDIA Container Toolkit for GPUs), or set OTTER_DOCKER=podman"
    fi
}

# otter_gpu_options VALUE: append the GPU options for OTTER_GPUS=VALUE to OTTER_RUN_OPTS.
otter_gpu_options() {
    local value="$1" ids id count
    if [ "$OTTER_ENGINE_KIND" = docker ]; then
        # Docker reads the value itself (all, 2, "device=0,2", capabilities=...); only keep it one
        # plain word that cannot pass for an option.
        if ! [[ $value =~ ^[A-Za-z0-9\"][A-Za-z0-9=,\"._:-]*$ ]]; then
            otter_die "OTTER_GPUS=$(otter_quote "$1") is not all, none, a count or device=0,1,..."
        fi
        OTTER_RUN_OPTS+=(--gpus "$value")
        return
    fi
    # Podman reaches NVIDIA GPUs through CDI (`nvidia-ctk cdi generate`): one --device per GPU.
    value="${value//\"/}"
    case "$value" in
        all) ids=(all) ;;
        device=*)
            IFS=, read -ra ids <<<"${value#device=}"
            ;;
        *)
            if ! [[ $value =~ ^[0-9]{1,3}$ ]] || ((10#$value == 0)); then
                otter_die "OTTER_GPUS=$(otter_quote "$1") is not all, none, a count or device=0,1,..."
            fi
            count="$((10#$value))"
            ids=()
            for ((id = 0; id < count; id++)); do
                ids+=("$id")
            done
            ;;
    esac
    if [ -z "${ids[*]-}" ]; then
        otter_die "OTTER_GPUS=$(otter_quote "$1") is not all, none, a count or device=0,1,..."
    fi
    for id in "${ids[@]}"; do
        if ! [[ $id =~ ^[A-Za-z0-9-]+$ ]]; then
            otter_die "OTTER_GPUS=$(otter_quote "$1") is not all, none, a count or device=0,1,..."
        fi
        OTTER_RUN_OPTS+=(--device "nvidia.com/gpu=$id")
    done
}

# otter_mount HOST CONTAINER: append a bind mount to OTTER_RUN_OPTS.
otter_mount() {
    if [[ $1 == *:* || $2 == *:* ]]; then
        # `-v a:b` splits on ':'; a path holding one would be mounted somewhere else.
        otter_die "cannot mount $(otter_quote "$1"): the path contains ':'"
    fi
    OTTER_RUN_OPTS+=(-v "$1:$2")
}

# otter_run_options: fill OTTER_RUN_OPTS and OTTER_IMAGE from the environment (and the engine
# variables of otter_engine).
otter_run_options() {
    OTTER_IMAGE="${OTTER_IMAGE:-otter_base_image}"
    local shm="${OTTER_SHM_SIZE:-16g}" ncpu cpuset data

    otter_engine
    otter_check_image "$OTTER_IMAGE" OTTER_IMAGE

    # --init reaps the processes DataLoader workers leave behind and forwards Ctrl-C / SIGTERM.
    if [ "$OTTER_ENGINE_KIND" = podman ]; then
        # Podman: a named container that otter_exec_docker stops, waits for and removes itself
        # (see otter_supervise), so the caller gets the container's exit status.
        OTTER_CONTAINER="otter-$(date +%s)-$$-$RANDOM"
        OTTER_RUN_OPTS=(--name "$OTTER_CONTAINER" --sig-proxy=false --init)
    else
        OTTER_RUN_OPTS=(--rm --init)
    fi
    if [ -t 0 ]; then
        OTTER_RUN_OPTS+=(-it)
    fi
    if [ -z "$OTTER_ROOTLESS" ]; then
        # The entrypoint runs the command as this user, so files written to mounts belong to you.
        OTTER_RUN_OPTS+=(-e "USER_ID=$(id -u)" -e "GROUP_ID=$(id -g)")
    fi
    # Rootless podman: the container's root is you (user namespace), so files written to mounts
    # already belong to you; switching to your id inside would map it to a subordinate id.
    if [ -n "${OTTER_DEBUG:-}" ]; then
        OTTER_RUN_OPTS+=(-e "OTTER_DEBUG=$OTTER_DEBUG")
    fi
    if [ -n "${TZ:-}" ]; then
        OTTER_RUN_OPTS+=(-e "TZ=$TZ")
    fi

    case "${OTTER_GPUS:-}" in
        none) ;;
        "")
            if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
                otter_gpu_options all
            fi
            ;;
        *) otter_gpu_options "$OTTER_GPUS" ;;
    esac

    if ! [[ $shm =~ ^[0-9]+[bkmgBKMG]?$ ]]; then
        otter_die "OTTER_SHM_SIZE=$(otter_quote "$shm") is not a size such as 16g or 512m"
    fi
    OTTER_RUN_OPTS+=(--shm-size "$shm")

    ncpu="$(otter_ncpu)"
    cpuset="${OTTER_CPUSET:-0-$((ncpu - 1))}"
    otter_check_cpuset "$cpuset" "$ncpu"
    OTTER_RUN_OPTS+=(--cpuset-cpus "$cpuset")

    if [ -n "${OTTER_DATA_DIR:-}" ]; then
        if [ ! -d "$OTTER_DATA_DIR" ]; then
            otter_die "OTTER_DATA_DIR=$(otter_quote "$OTTER_DATA_DIR") is not a folder"
        fi
        # Absolute, so that `-v` binds the folder (a bare name would be a named volume).
        data="$(cd "$OTTER_DATA_DIR" && pwd)"
        otter_mount "$data" "$data"
    fi
}

# otter_is_cfg_name NAME: letters, digits, '_', '.', '-', and no leading '-' (it would read as an option).
otter_is_cfg_name() {
    # In the C locale [A-Za-z] means ASCII letters only, whatever the user's locale.
    local LC_ALL=C
    [[ $1 =~ ^[A-Za-z0-9_.-]+$ && $1 != -* ]]
}

# otter_is_identifier NAME: could be a Python import name. ASCII is checked; non-ASCII letters
# (valid in Python identifiers) are left to Python.
otter_is_identifier() {
    local LC_ALL=C
    local rest="${1//[A-Za-z0-9_]/}"
    [[ -n $1 && $1 != [0-9]* && $rest != *[[:print:][:cntrl:]]* ]]
}

# otter_check_image NAME WHERE: NAME (from WHERE, for the message) must be an image reference:
# registry/name:tag@digest characters, not starting with '-' (the engine would read an option).
otter_check_image() {
    local LC_ALL=C
    if ! [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]; then
        otter_die "$2 $(otter_quote "$1") is not an image name such as otter_base_image or registry/name:tag"
    fi
}

# otter_forward SIGNAL: pass SIGNAL on to the container (to the engine while it has none yet).
otter_forward() {
    "$OTTER_ENGINE" kill --signal "$1" "$OTTER_CONTAINER" >/dev/null 2>&1 ||
        kill -s "$1" "$OTTER_CHILD" 2>/dev/null || true
}

# otter_supervise ARGS...: run `podman ARGS` (a run of the container OTTER_CONTAINER) and exit with
# the container's own exit status. Rootless Podman 4 ends `podman run` with 0 when it gets SIGTERM,
# before the container has stopped; so this shell catches SIGTERM, SIGINT and SIGHUP, sends them to
# the container (once: the run has --sig-proxy=false), takes the status from `podman wait`, which
# waits for the container to end, and removes the container.
otter_supervise() {
    local rc=0 status
    trap 'otter_forward TERM' TERM
    trap 'otter_forward INT' INT
    trap 'otter_forward HUP' HUP
    # A background command would get /dev/null as stdin, and SIGINT and SIGQUIT ignored, which the
    # container inherits (Python would then never raise KeyboardInterrupt): keep stdin, reset both.
    (
        trap - INT QUIT
        exec "$OTTER_ENGINE" "$@"
    ) <&0 &
    OTTER_CHILD=$!
    # `wait` returns early (above 128) when a caught signal arrives: wait again until the run ends.
    while :; do
        wait "$OTTER_CHILD" && rc=0 || rc=$?
        kill -0 "$OTTER_CHILD" 2>/dev/null || break
    done
    status="$("$OTTER_ENGINE" wait "$OTTER_CONTAINER" 2>/dev/null)" || status=
    trap - TERM INT HUP
    "$OTTER_ENGINE" rm --force "$OTTER_CONTAINER" >/dev/null 2>&1 || true
    # No container (the run failed before creating one, e.g. exit 125): the engine's own status.
    if [[ $status =~ ^[0-9]+$ ]]; then
        rc="$status"
    fi
    exit "$rc"
}

# otter_exec_docker ARGS...: run the engine, or with OTTER_DRY_RUN set print the command
# (shell-quoted) instead. Docker is exec'd, so signals sent to the script reach `docker run`,
# which passes them on and exits with the container's status; Podman's runs are supervised.
otter_exec_docker() {
    local quoted
    if [ -n "${OTTER_DRY_RUN:-}" ]; then
        printf -v quoted ' %q' "$OTTER_ENGINE" "$@"
        printf '%s\n' "${quoted:1}"
        exit 0
    fi
    if [ "$OTTER_ENGINE_KIND" = podman ] && [ "${1:-}" = run ] && [ -n "${OTTER_CONTAINER:-}" ]; then
        otter_supervise "$@"
    fi
    exec "$OTTER_ENGINE" "$@"
}

otter_usage() {
    cat <<EOF
Usage: bash $OTTER_PROJECT/docker/$OTTER_SCRIPT <cfg_name> [key.path=value ...]

Runs \`python -m $OTTER_PROJECT.model $1 <cfg_name> [key.path=value ...]\` in the Otter image,
with $OTTER_PROJECT/ mounted at /code/$OTTER_PROJECT. Configs live in $OTTER_PROJECT/config/<cfg_name>.yaml.

Environment: OTTER_DOCKER (docker; or podman), OTTER_IMAGE (otter_base_image), OTTER_GPUS (all
when nvidia-smi works; none), OTTER_SHM_SIZE (16g), OTTER_CPUSET (all cores), OTTER_DATA_DIR (a
folder to mount at the same path); OTTER_DRY_RUN=1 prints the command instead of running it.
EOF
}

# otter_project_run COMMAND [cfg_name overrides...]: run `python -m <Project>.model COMMAND ...` in the image.
otter_project_run() {
    local command="$1" project_dir cfg
    shift
    # The project is the folder above this script's folder: no name to render or to keep in sync.
    project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    OTTER_PROJECT="$(basename "$project_dir")"

    if [ "$#" -eq 0 ]; then
        otter_usage "$command" >&2
        exit 2
    fi
    if [ "$1" = -h ] || [ "$1" = --help ]; then
        otter_usage "$command"
        exit 0
    fi
    case "$1" in
        --cfg_name | --cfg-name)
            [ "$#" -ge 2 ] || otter_die "$1 needs a config name"
            cfg="$2"
            shift 2
            ;;
        --cfg_name=* | --cfg-name=*)
            cfg="${1#*=}"
            shift
            ;;
        *)
            cfg="$1"
            shift
            ;;
    esac
    if ! otter_is_cfg_name "$cfg"; then
        otter_die "cfg name $(otter_quote "$cfg") is not a config name: use letters, digits, '_', '.', '-' (not first)"
    fi
    if ! otter_is_identifier "$OTTER_PROJECT"; then
        otter_die "project folder $(otter_quote "$OTTER_PROJECT") is not a Python identifier, so python -m cannot import it"
    fi

    otter_run_options
    otter_mount "$project_dir" "/code/$OTTER_PROJECT"
    otter_exec_docker run "${OTTER_RUN_OPTS[@]}" -w /code "$OTTER_IMAGE" \
        python -m "$OTTER_PROJECT.model" "$command" "$cfg" "$@"
}
