#!/usr/bin/env bash
# Run the test suite in a local virtual environment (.venv), installing what it needs first.
# Usage: bash scripts/test.bash [pytest args...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${OTTER_VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[dev]"

# No downloads at run time: no hub weights, no update checks.
export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
exec "$venv/bin/python" -m pytest "$@"
