#!/usr/bin/env bash
# Lint, then run the test suite, in a local virtual environment (.venv), installing what it needs first.
# Usage: bash scripts/test.bash [pytest args...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
# Lint and import order (rules in pyproject.toml's [tool.ruff]); a finding stops the run.
"$OTTER_PY" -m ruff check .
exec "$OTTER_PY" -m pytest "$@"
