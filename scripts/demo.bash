#!/usr/bin/env bash
# The demo: scaffold a classifier project, train it on CPU on synthetic documents,
# export it to a verified ONNX file, match new document photos with it, print a summary.
# Usage: bash scripts/demo.bash [--workdir DIR] [key.path=value ...]   (overrides go to training)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
exec "$OTTER_PY" scripts/demo.py "$@"
