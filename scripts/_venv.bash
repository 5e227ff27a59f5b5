# Sourced by scripts/test.bash and scripts/demo.bash: a local virtual environment
# (.venv, or $OTTER_VENV) with Otter and its dev extras installed.
# shellcheck shell=bash

otter_venv() {
    local venv="${OTTER_VENV:-.venv}"
    local python="${PYTHON:-python3}"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e ".[dev]"
    # No downloads at run time: no hub weights, no update checks.
    export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
    # Read by the scripts that source this file.
    # shellcheck disable=SC2034
    OTTER_PY="$venv/bin/python"
}
