#!/usr/bin/env bash
# Run the test suite in a local virtual environment (.venv), installing what it needs first.
# Usage: bash scripts/test.bash [pytest args...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
exec "$OTTER_PY" -m pytest "$@"
