#!/usr/bin/env bash
# Copy a demo run's previews and final metrics into docs/assets/demo/<task>/, where the task
# pages show them (the site builds without them). Images are shrunk to commit (PNG or JPEG).
# Usage: bash scripts/docs_assets.bash TASK --from-run DIR [--override key.path=value ...]
#            DIR: a run folder (runs/<cfg_name>/<run_id>) or a demo's --workdir (its latest run)
#        bash scripts/docs_assets.bash [TASK ...] [--override key.path=value ...]
#            trains each task's default config on CPU in a fresh project first (minutes each)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
exec "$OTTER_PY" docs/_gen/demo_assets.py "$@"
