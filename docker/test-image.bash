#!/usr/bin/env bash
# Build the Otter image for real and use it the way a user does:
#
#   bash docker/test-image.bash [--install] [--if-cached]
#
#   --install    as root on Debian/Ubuntu, install Podman (and mmdebstrap) from apt when no engine works
#   --if-cached  run only where an earlier run left the base image and the image (so the build reuses
#                their layers: minutes); else skip, since a cold build takes about half an hour
#
# Steps: find a container engine; find or make a base image; build the image with docker/build.bash
# (the host's pip settings and CA bundle go in as build secrets); report its size and contents;
# rebuild a copy of the sources with a code-only change, which must reuse the dependency layers;
# then, in a scratch folder, `otter new` through docker/run.bash, a one-epoch train.bash on a tiny
# override, to_onnx.bash, and the checks: the ONNX parity line, every file under runs/ belongs to
# the calling user, exit codes pass through (2 for a bad config, 143 for SIGTERM, 130 for SIGINT),
# no compiler, build cache or secret in the image. Run it as root and as a user: rootless Podman
# is the user's case.
#
# Exit status: 0 passed, 1 a check failed, 77 skipped (no engine, no base image, or with
# --if-cached nothing cached; the reason is printed). Environment:
#   OTTER_DOCKER      the engine (docker or podman)   default: docker when its daemon answers, else podman
#   BASE_IMAGE        the base image                  default: Debian OTTER_TEST_DEBIAN, pulled or made locally
#   OTTER_TEST_DEBIAN the Debian release of that base default: bookworm (12); trixie (13) works too
#   OTTER_DEBIAN_MIRROR  the mirror mmdebstrap uses   default: mmdebstrap's own
#   OTTER_TEST_IMAGE  the image built and tested      default: otter-test-image
#   OTTER_TEST_DIR    state: logs, the base tarball,  default: ~/.cache/otter-image-test
#                     the scratch project
#   OTTER_TEST_LOCK   a file to hold (flock) during the project steps, on machines shared by jobs
# A repeat reuses the base image and the engine's layer cache: only changed steps rebuild.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install=
if_cached=
for arg in "$@"; do
    case "$arg" in
        --install) install=1 ;;
        --if-cached) if_cached=1 ;;
        -h | --help)
            sed -n '2,32s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            printf 'test-image.bash: unknown argument %q (see --help)\n' "$arg" >&2
            exit 2
            ;;
    esac
done

image="${OTTER_TEST_IMAGE:-otter-test-image}"
# Names that reach the engine's command line: image references only (no option, no blank).
is_image_name() {
    local LC_ALL=C
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]
}
debian="${OTTER_TEST_DEBIAN:-bookworm}"
if ! [[ $debian =~ ^[a-z]{2,20}$ ]]; then
    printf 'test-image.bash: OTTER_TEST_DEBIAN=%q is not a Debian release name such as bookworm\n' "$debian" >&2
    exit 2
fi
for name in "$image" "${BASE_IMAGE:-ok}"; do
    if ! is_image_name "$name"; then
        printf 'test-image.bash: %q is not an image name (OTTER_TEST_IMAGE, BASE_IMAGE)\n' "$name" >&2
        exit 2
    fi
done
state="${OTTER_TEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otter-image-test}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
uid="$(id -u)"
gid="$(id -g)"
t0="$(date +%s)"
failures=0

say() { printf '\n== %s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
bad() {
    printf '   FAIL: %s\n' "$*"
    failures=$((failures + 1))
}
skip() {
    printf 'test-image.bash: skipped: %s\n' "$*"
    exit 77
}
die() {
    printf 'test-image.bash: %s\n' "$*" >&2
    exit 1
}
elapsed() { printf '%ss' "$(($(date +%s) - $1))"; }

# ---------------------------------------------------------------- the engine

install_podman() {
    local packages=(podman buildah runc uidmap fuse-overlayfs slirp4netns mmdebstrap catatonit)
    info "installing ${packages[*]} from apt"
    # Another apt run may hold the lock for a while: wait for it rather than fail.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${packages[@]}" >"$state/apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=600 >>"$state/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${packages[@]}" >>"$state/apt.log" 2>&1 ||
            die "apt-get install failed; see $state/apt.log"
    fi
}

find_engine() {
    if [ -n "${OTTER_DOCKER:-}" ]; then
        command -v "$OTTER_DOCKER" >/dev/null 2>&1 || skip "OTTER_DOCKER=$OTTER_DOCKER is not on PATH"
        engine="$OTTER_DOCKER"
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null 2>&1; then
        engine=podman
    elif [ -n "$if_cached" ]; then
        skip "no container engine, so nothing cached: a cold run (install Podman, make a base image, download torch) takes about half an hour; run it without --if-cached (as root with --install) once"
    elif [ -n "$install" ] && [ "$uid" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        install_podman
        engine=podman
    else
        local why="podman is not installed"
        if command -v docker >/dev/null 2>&1; then
            why="docker's daemon does not answer (docker info failed) and $why"
        else
            why="neither docker nor podman is installed"
        fi
        skip "$why; as root on Debian/Ubuntu, --install installs Podman"
    fi
    case "$(basename -- "$engine")" in
        podman*) kind=podman ;;
        *) kind=docker ;;
    esac
}

# Settings that work on small VMs without systemd: runc (crun fails on some kernels), cgroupfs,
# a journal-free event log, and default ulimits within the hard limits (Podman's defaults above
# them make every container fail to start).
podman_settings() {
    local conf="$state/containers.conf" nofile nproc
    nofile="$(ulimit -Hn)"
    nproc="$(ulimit -Hu)"
    [[ $nofile =~ ^[0-9]+$ ]] && ((nofile < 20000)) || nofile=20000
    [[ $nproc =~ ^[0-9]+$ ]] && ((nproc < 30000)) || nproc=30000
    {
        printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc"
        printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        if command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ]; then
            printf 'runtime = "runc"\n'
        fi
    } >"$conf"
    if [ -z "${CONTAINERS_CONF:-}" ]; then
        export CONTAINERS_CONF="$conf"
        info "podman settings: $conf (CONTAINERS_CONF)"
        if [ -n "$install" ] && [ "$uid" = 0 ] && [ ! -e /etc/containers/containers.conf ]; then
            mkdir -p /etc/containers
            cp "$conf" /etc/containers/containers.conf
            info "and /etc/containers/containers.conf, so that podman works outside this test too"
        fi
    else
        info "podman settings: CONTAINERS_CONF=$CONTAINERS_CONF (yours; $conf has the ones that work here)"
    fi
    if [ "$uid" != 0 ]; then
        if ! grep -qE "^($(id -un)|$uid):" /etc/subuid 2>/dev/null; then
            skip "rootless podman needs subordinate ids for $(id -un): as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $(id -un)"
        fi
        # Without a storage.conf, rootless Podman 4 may choose vfs, which stores every layer as a
        # full copy: several copies of a 7 GB image. The kernel's overlay works rootless (5.13+).
        if [ -z "${CONTAINERS_STORAGE_CONF:-}" ] && [ ! -e "${XDG_CONFIG_HOME:-$HOME/.config}/containers/storage.conf" ]; then
            printf '[storage]\ndriver = "overlay"\n' >"$state/storage.conf"
            export CONTAINERS_STORAGE_CONF="$state/storage.conf"
            if ! "$engine" info >/dev/null 2>&1; then
                unset CONTAINERS_STORAGE_CONF
                info "NOTE: your image store was made with another driver; overlay would save disk (podman system reset)"
            fi
        fi
    fi
    "$engine" info >"$state/engine-info.log" 2>&1 || die "podman info failed; see $state/engine-info.log"
    info "storage: $("$engine" info --format '{{.Store.GraphDriverName}} in {{.Store.GraphRoot}}' 2>/dev/null)"
}

# ---------------------------------------------------------------- the base image

has_image() { "$engine" image inspect "$1" >/dev/null 2>&1; }

find_base() {
    if [ -n "${BASE_IMAGE:-}" ]; then
        base="$BASE_IMAGE"
        has_image "$base" || timeout 600 "$engine" pull "$base" || die "cannot pull BASE_IMAGE=$base"
        return
    fi
    base="localhost/otter-test-base:$debian"
    if has_image "$base"; then
        info "reusing $base"
        return
    fi
    if timeout 120 "$engine" pull "docker.io/library/debian:$debian" >"$state/pull.log" 2>&1; then
        "$engine" tag "docker.io/library/debian:$debian" "$base"
        info "pulled debian:$debian as $base"
        return
    fi
    info "no registry serves debian:$debian ($(tail -n 1 "$state/pull.log")); making one with mmdebstrap"
    command -v mmdebstrap >/dev/null 2>&1 ||
        skip "no base image: no registry reachable and mmdebstrap not installed (--install, as root, installs it)"
    local tarball="$state/debian-$debian.tar" start
    # mmdebstrap's own default mirror, unless OTTER_DEBIAN_MIRROR names another.
    local -a mirror=()
    if [ -n "${OTTER_DEBIAN_MIRROR:-}" ]; then
        [[ $OTTER_DEBIAN_MIRROR =~ ^(https?|file):// ]] ||
            die "OTTER_DEBIAN_MIRROR=$OTTER_DEBIAN_MIRROR is not an http(s):// or file:// URL"
        mirror=("$OTTER_DEBIAN_MIRROR")
    fi
    start="$(date +%s)"
    mmdebstrap --variant=minbase --include=ca-certificates "$debian" "$tarball" "${mirror[@]}" \
        >"$state/mmdebstrap.log" 2>&1 ||
        die "mmdebstrap failed; see $state/mmdebstrap.log"
    "$engine" import --change 'CMD ["bash"]' "$tarball" "$base" >>"$state/mmdebstrap.log" 2>&1 ||
        die "$engine import failed; see $state/mmdebstrap.log"
    rm -f "$tarball"
    info "made $base in $(elapsed "$start")"
}

# ---------------------------------------------------------------- proxy settings for the build

# The host's pip settings (its config files and PIP_* variables) as one pip.conf, without what
# names a host file (cert, constraint, find-links, file:// indexes): those do not exist inside the
# build. The CA bundle goes separately.
host_pip_conf() {
    local out="$state/pip.conf" candidate line key value section name kept token
    local -a sections=() pip_cmd tokens
    : >"$out"
    for candidate in "python3 -m pip" "pip3" "pip"; do
        read -ra pip_cmd <<<"$candidate"
        if "${pip_cmd[@]}" --version >/dev/null 2>&1; then
            while IFS= read -r line; do
                key="${line%%=*}"
                value="${line#*=}"
                value="${value#[\'\"]}"
                value="${value%[\'\"]}"
                section="${key%%.*}"
                name="${key#*.}"
                [[ $section == "$key" ]] && continue
                # PIP_* variables (pip lists them as :env:) hold for every command: [global].
                [[ $section == :env: ]] && section=global
                case "$name" in
                    cert | client-cert | constraint | requirement | find-links | config-file) continue ;;
                esac
                kept=
                # Words, split without globbing (a value may hold '*').
                read -ra tokens <<<"$value"
                for token in "${tokens[@]}"; do
                    [[ $token == file:* || $token == /* ]] && continue
                    kept="${kept:+$kept }$token"
                done
                [ -n "$kept" ] || continue
                if [[ " ${sections[*]} " != *" $section "* ]]; then
                    sections+=("$section")
                fi
                printf '%s\t%s = %s\n' "$section" "$name" "$kept"
            done < <("${pip_cmd[@]}" config list 2>/dev/null) >"$out.tmp"
            break
        fi
    done
    if [ -s "$out.tmp" ]; then
        for section in "${sections[@]}"; do
            printf '[%s]\n' "$section"
            grep -F "$section"$'\t' "$out.tmp" | cut -f2-
        done >"$out"
    fi
    rm -f "$out.tmp"
    pip_conf="$out"
    if [ -s "$out" ]; then
        info "pip settings from this host (secret pip.conf): $(grep -c = "$out") entries"
    else
        info "pip settings from this host: none that apply inside a build"
    fi
    ca_bundle=
    for candidate in "${OTTER_CA_BUNDLE:-}" "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" \
        /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
        if [ -n "$candidate" ] && [ -s "$candidate" ]; then
            ca_bundle="$candidate"
            break
        fi
    done
    info "CA bundle (secret ca.crt): ${ca_bundle:-none found}"
}

# ---------------------------------------------------------------- run

say "engine"
find_engine
info "$engine ($("$engine" --version 2>/dev/null | head -n 1)), as $(id -un) (uid $uid)"
if [ "$kind" = podman ]; then
    podman_settings
fi

if [ -n "$if_cached" ]; then
    want_base="${BASE_IMAGE:-localhost/otter-test-base:$debian}"
    if ! "$engine" image inspect "$want_base" >/dev/null 2>&1 || ! "$engine" image inspect "$image" >/dev/null 2>&1; then
        skip "--if-cached: $engine has no $want_base and $image from an earlier run, so the build would be cold (about half an hour: base image, torch and its CUDA libraries); run bash docker/test-image.bash once without --if-cached"
    fi
    info "--if-cached: $want_base and $image are there; the build reuses their layers"
fi

say "base image"
find_base
info "base: $base"

say "build $image"
host_pip_conf
build_log="$state/build.log"
start="$(date +%s)"
# Progress: the step lines and notes; everything goes to the log.
if ! OTTER_DOCKER="$engine" OTTER_PIP_CONF="$pip_conf" OTTER_CA_BUNDLE="$ca_bundle" \
    bash "$repo/docker/build.bash" "$image" "$base" >"$build_log" 2>&1; then
    tail -n 40 "$build_log"
    die "the build failed after $(elapsed "$start"); the whole log: $build_log"
fi
build_s="$(($(date +%s) - start))"
steps="$(grep -cE '^\[[0-9]+/[0-9]+\] STEP|^#[0-9]+ \[' "$build_log" || true)"
cached="$(grep -cE 'Using cache|CACHED' "$build_log" || true)"
grep -E '^NOTE:' "$build_log" | sed 's/^/   /' || true
info "built in ${build_s}s ($cached of $steps steps from the layer cache; log: $build_log)"

# A code-only change must not reinstall the dependencies: rebuild a copy of the sources with one
# changed line in otter/ and check that the dependency steps come from the layer cache.
say "a code-only change"
code_check() {
    local copy="$state/code-change" log="$state/build-code-change.log" start deps_step
    rm -rf "$copy"
    mkdir -p "$copy"
    cp -a "$repo/pyproject.toml" "$repo/README.md" "$repo/.dockerignore" "$repo/otter" "$repo/template" "$repo/docker" "$copy/"
    printf '\n# changed by test-image.bash at %s\n' "$(date -u +%FT%TZ)" >>"$copy/otter/__init__.py"
    start="$(date +%s)"
    if ! OTTER_DOCKER="$engine" OTTER_PIP_CONF="$pip_conf" OTTER_CA_BUNDLE="$ca_bundle" \
        bash "$copy/docker/build.bash" "$image-code-change" "$base" >"$log" 2>&1; then
        tail -n 20 "$log" | sed 's/^/      /'
        bad "the build after a code-only change failed; see $log"
        return
    fi
    code_s="$(($(date +%s) - start))"
    "$engine" rmi "$image-code-change" >/dev/null 2>&1 || true
    rm -rf "$copy"
    # The step that installs the requirements, then whether the engine took it from the cache:
    # Podman prints `--> Using cache` after the step, Docker (BuildKit) `#N CACHED`.
    deps_step="$(awk '
        /STEP [0-9]+\/[0-9]+: RUN .*-r \/etc\/otter\/requirements.txt/ { getline; print (/Using cache/ ? "cached" : "rebuilt"); exit }
        /^#[0-9]+ \[.*RUN .*-r \/etc\/otter\/requirements.txt/ { id = $1 }
        id != "" && $1 == id && / CACHED$/ { print "cached"; exit }
        id != "" && $1 == id && / DONE / { print "rebuilt"; exit }
    ' "$log")"
    if [ "$deps_step" = cached ] && ! grep -qE 'Downloading (torch|lightning|onnxruntime)-' "$log"; then
        ok "code-only change: rebuilt in ${code_s}s, the dependency layers from the cache (log: $log)"
    else
        bad "code-only change: the dependency step was ${deps_step:-not found} (${code_s}s; log: $log)"
    fi
}
code_s=
code_check

say "what is in $image"
size="$("$engine" image inspect --format '{{.Size}}' "$image")"
info "size: $((size / 1000000)) MB"
# shellcheck disable=SC2016  # expanded inside the container
inside='
set -e
printf "torch:   %s\n" "$(cat /etc/otter/torch.txt)"
printf "python:  %s, %s packages in /opt/venv\n" "$(python -V 2>&1)" "$(python -m pip list --format=freeze 2>/dev/null | wc -l)"
printf "otter:   %s\n" "$(python -c "import otter; print(otter.__version__)")"
printf "largest: %s\n" "$(du -sm /opt/venv/lib/python3*/site-packages/* 2>/dev/null | sort -rn | head -n 6 | awk "{printf \"%s %sMB, \", \$2, \$1}" | sed "s|/opt/venv/lib/python3[.0-9]*/site-packages/||g")"
printf "compilers:"; for c in gcc cc c++ g++ clang make; do if command -v "$c" >/dev/null; then printf " %s" "$c"; fi; done; echo
printf "leftovers:"; for p in /src /dist /tmp/dist /tmp/keep-torch.txt /root/.cache/pip /run/secrets/pip.conf /run/secrets/ca.crt; do if [ -e "$p" ]; then printf " %s" "$p"; fi; done; echo
printf "pip config: %s\n" "$(python -m pip config list 2>/dev/null | grep -v "^:env:" | tr "\n" " ")"
'
report="$("$engine" run --rm --entrypoint bash "$image" -c "$inside")" || die "cannot run $image"
printf '%s\n' "$report" | sed 's/^/   /'
# shellcheck disable=SC2016  # expanded inside the container
base_compilers="$("$engine" run --rm --entrypoint sh "$base" -c \
    'for c in gcc cc c++ g++ clang make; do if command -v "$c" >/dev/null; then printf " %s" "$c"; fi; done; echo' || true)"
image_compilers="$(printf '%s\n' "$report" | sed -n 's/^compilers://p')"
if [ "$image_compilers" = "$base_compilers" ]; then
    ok "no compiler beyond the base's own (base:${base_compilers:- none})"
else
    bad "compilers in the image that the base does not have:$image_compilers (base:$base_compilers)"
fi
leftovers="$(printf '%s\n' "$report" | sed -n 's/^leftovers://p')"
if [ -z "$leftovers" ]; then
    ok "no build cache, sources or secrets left in the image"
else
    bad "left in the image:$leftovers"
fi
if printf '%s\n' "$report" | grep -q '^pip config: *$'; then
    ok "no pip configuration baked in"
else
    bad "pip configuration in the image: $(printf '%s\n' "$report" | sed -n 's/^pip config: //p')"
fi
if "$engine" history --no-trunc "$image" 2>/dev/null | grep -q 'BEGIN CERTIFICATE'; then
    bad "a certificate appears in the image history"
else
    ok "no certificate in the image history"
fi
torch_line="$(printf '%s\n' "$report" | sed -n 's/^torch: *//p')"
case "$torch_line" in
    *"(CUDA none)"*) ok "CPU-only torch: $torch_line" ;;
    *"could not be reached"*) info "NOTE: the CPU torch index could not be reached, so the image holds the CUDA build of torch ($((size / 1000000)) MB in all)" ;;
    *) info "torch: $torch_line" ;;
esac

# ---------------------------------------------------------------- a project in the image

work="$state/work"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
export OTTER_DOCKER="$engine" OTTER_IMAGE="$image" OTTER_GPUS="${OTTER_GPUS:-none}"
unset OTTER_DRY_RUN OTTER_DATA_DIR OTTER_CPUSET
tiny=(
    trainer.max_epochs=1 common.batch_size=8 'common.image_size=[32,32]' 'global_settings.image_size=[32,32]'
    'onnx.input_shape.img.shape=[1,3,32,32]' dataset.train_options.options.length_of_dataset=32
    dataset.train_options.options.num_classes=4 dataset.valid_options.options.num_classes=4
    dataset.valid_options.options.views_per_class=2 model.head.options.feature_map_size=1
    dataloader.train_options.num_workers=0 dataloader.train_options.persistent_workers=false
    dataloader.valid_options.num_workers=0 dataloader.valid_options.persistent_workers=false
)

# step NAME EXPECTED_RC CMD...: run CMD with its output in $state/NAME.log; check the exit code.
step() {
    local name="$1" want="$2" start rc=0
    shift 2
    start="$(date +%s)"
    "$@" >"$state/$name.log" 2>&1 </dev/null || rc=$?
    if [ "$rc" = "$want" ]; then
        ok "$name: exit $rc as expected ($(elapsed "$start"))"
        return 0
    fi
    bad "$name: exit $rc, expected $want ($(elapsed "$start")); the end of $state/$name.log:"
    tail -n 15 "$state/$name.log" | sed 's/^/      /'
    return 1
}

say "a project in the image (in $work)"
if [ -n "${OTTER_TEST_LOCK:-}" ]; then
    # One turn for every step that trains or starts Python in the image. Read-only is enough for
    # flock, and works for a lock file another user made.
    [ -e "$OTTER_TEST_LOCK" ] || : >"$OTTER_TEST_LOCK"
    exec 9<"$OTTER_TEST_LOCK"
    start="$(date +%s)"
    flock 9
    info "holding $OTTER_TEST_LOCK (waited $(elapsed "$start"))"
fi
step otter-new 0 bash "$repo/docker/run.bash" otter new Demo --task classifier || die "otter new failed"
step train 0 bash Demo/docker/train.bash default "${tiny[@]}" || true
# The same overrides: the export builds the model from the config, with the run's weights.
step to-onnx 0 bash Demo/docker/to_onnx.bash default "${tiny[@]}" || true
parity="$(grep -E '^parity:' "$state/to-onnx.log" || true)"
if [ -n "$parity" ] && awk '{
        n = 0
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+e[-+][0-9]+,?$/) { n++; v = $i + 0; if (v > 1e-4) exit 1 }
        exit n == 0
    }' <<<"$parity"; then
    ok "ONNX parity: ${parity#parity:}"
else
    bad "no ONNX parity line within 1e-4 in $state/to-onnx.log: ${parity:-none}"
fi
onnx_count="$(find Demo/runs -name '*.onnx' 2>/dev/null | wc -l)"
if [ "$onnx_count" -ge 1 ]; then
    ok "$onnx_count ONNX file(s) under Demo/runs"
else
    bad "no ONNX file under Demo/runs"
fi

# Every file the container wrote belongs to the caller, not to root or to a subordinate id.
strangers="$(find Demo ! -user "$uid" -o ! -group "$gid" 2>/dev/null | head -n 5)"
files="$(find Demo/runs -type f 2>/dev/null | wc -l)"
if [ -z "$strangers" ] && [ "$files" -gt 0 ]; then
    ok "all $files files under Demo/runs (and the project) belong to $(id -un):$(id -gn)"
else
    bad "files not owned by $uid:$gid (or none written): ${strangers:-no files}"
    printf '%s\n' "$strangers" | while IFS= read -r path; do
        [ -n "$path" ] && stat -c '      %u:%g %n' "$path"
    done
fi

say "exit codes through train.bash"
step bad-config-name 2 bash Demo/docker/train.bash no_such_config || true
step bad-override 2 bash Demo/docker/train.bash default trainer.max_epochs=many || true
step bad-setting 2 env OTTER_CPUSET=0-99999 bash Demo/docker/train.bash default || true

# SIGTERM (docker stop, a scheduler's kill) and SIGINT (Ctrl-C) reach the training, which saves
# last.ckpt and exits 143 or 130, and train.bash exits with the same status.
stop_training() {
    local signal="$1" want="$2" pid rc=0 waited=0 run before log="$state/sig$1.log"
    local -a launch=(bash)
    before="$(find Demo/runs -mindepth 2 -maxdepth 2 -type d | sort)"
    if [ "$signal" = INT ]; then
        # A command started with `&` by a script has SIGINT ignored, and bash cannot catch a signal
        # it started with ignored; a terminal's Ctrl-C finds it not ignored. env puts that back.
        if ! env --default-signal=INT true 2>/dev/null; then
            info "SIGINT: skipped (this env has no --default-signal)"
            return
        fi
        launch=(env --default-signal=INT bash)
    fi
    "${launch[@]}" Demo/docker/train.bash default "${tiny[@]}" trainer.max_epochs=1000 >"$log" 2>&1 </dev/null &
    pid=$!
    # Wait until it trains: a progress line such as `epoch 1/1000 2/4 (50%) step 2 ...`.
    until grep -qE '^epoch [0-9]+/[0-9]+ .*step [0-9]+' "$log" 2>/dev/null; do
        sleep 2
        waited=$((waited + 2))
        if ((waited > 300)) || ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
    done
    sleep 5
    kill -s "$signal" "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    # The run folder this training made: the one that was not there before.
    run="$(find Demo/runs -mindepth 2 -maxdepth 2 -type d | sort | comm -13 <(printf '%s\n' "$before") - | head -n 1)"
    if [ "$rc" = "$want" ] && [ -n "$run" ] && [ -f "$run/checkpoint/last.ckpt" ]; then
        ok "SIG$signal: exit $rc, $run/checkpoint/last.ckpt written"
    elif [ "$rc" = "$want" ]; then
        bad "SIG$signal: exit $rc but no last.ckpt in ${run:-a new run folder (none)}"
    else
        bad "SIG$signal: exit $rc, expected $want; the end of $log:"
        tail -n 10 "$log" | sed 's/^/      /'
    fi
    if [ "$kind" = podman ] && [ -n "$("$engine" ps -a -q --filter name='^otter-' 2>/dev/null)" ]; then
        bad "SIG$signal: a container of train.bash was left behind: $("$engine" ps -a --format '{{.Names}} {{.Status}}' --filter name='^otter-' | head -n 3 | tr '\n' ' ')"
    fi
}
stop_training TERM 143
stop_training INT 130
if [ -n "${OTTER_TEST_LOCK:-}" ]; then
    flock -u 9
fi

say "summary"
info "engine $engine as $(id -un); base $base; image $image, $((size / 1000000)) MB"
info "build ${build_s}s ($cached of $steps steps cached); after a code-only change ${code_s:-?}s; whole test $(elapsed "$t0")"
if [ "$failures" -gt 0 ]; then
    printf 'test-image.bash: %s check(s) failed\n' "$failures"
    exit 1
fi
printf 'test-image.bash: passed\n'
