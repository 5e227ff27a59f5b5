#!/usr/bin/env bash
# Run every benchmark and write benchmarks/REPORT.md, in the local virtual environment (.venv) test.bash uses,
# with the `bench` extra (LightningCLI's argument parser) added.
# Usage: bash scripts/bench.bash [--quick] [--only NAME ...] [--merge] [--no-gpu] [--lock FILE] [--note TEXT] [--out FILE]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
"$OTTER_PY" -m pip install --quiet -e ".[bench]"
exec "$OTTER_PY" benchmarks/run_all.py "$@"
