#!/usr/bin/env bash
# Train each task's default config on CPU and copy its previews and final metrics into
# docs/assets/demo/<task>/, where the task pages show them. The site builds without them.
# Usage: bash scripts/docs_assets.bash [TASK ...] [--override key.path=value ...]
#        bash scripts/docs_assets.bash TASK --from-run RUN_DIR   (copy from a finished run, e.g. the demo's)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
exec "$OTTER_PY" docs/_gen/demo_assets.py "$@"
