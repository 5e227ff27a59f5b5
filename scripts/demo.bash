#!/usr/bin/env bash
# The demo: scaffold a project of one task, train it on CPU on synthetic documents,
# export it to a verified ONNX file, run its inference on new images, print a summary.
#   classifier (default): match new document photos to registered examples;
#   aligner: find documents' corners in new photos and flatten them.
# Usage: bash scripts/demo.bash [--task classifier|aligner] [--workdir DIR] [key.path=value ...]
#        (overrides go to training)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
exec "$OTTER_PY" scripts/demo.py "$@"
