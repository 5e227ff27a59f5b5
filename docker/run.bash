#!/usr/bin/env bash
# An interactive shell (or the given command) in the Otter image, with the current folder mounted
# at /code/<folder name> and used as the working folder:
#
#   cd ~/work && bash /path/to/Otter/docker/run.bash                  # a shell in /code/work
#   cd ~/work && bash /path/to/Otter/docker/run.bash python -m MyProj.model check default
#
# Same settings as a project's docker/train.bash: OTTER_DOCKER, OTTER_IMAGE, OTTER_GPUS,
# OTTER_SHM_SIZE, OTTER_CPUSET, OTTER_DATA_DIR, OTTER_DRY_RUN (see docs/docker.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# One copy of the environment handling: the one every generated project ships.
# shellcheck source=SCRIPTDIR/../template/{{cookiecutter.project_name}}/docker/_docker_common.bash
source "$here/../template/{{cookiecutter.project_name}}/docker/_docker_common.bash"

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

folder="$(pwd)"
name="$(basename "$folder")"
if [ "$folder" = / ]; then
    otter_die "run it from the folder to work in, not from /"
fi

otter_run_options
if [ ! -t 0 ]; then
    # Keep stdin open for piped input, e.g. `bash docker/run.bash bash < steps.sh`.
    OTTER_RUN_OPTS+=(-i)
fi
otter_mount "$folder" "/code/$name"
if [ "$#" -eq 0 ]; then
    set -- bash
fi
otter_exec_docker run "${OTTER_RUN_OPTS[@]}" -w "/code/$name" "$OTTER_IMAGE" "$@"
