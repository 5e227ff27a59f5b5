#!/usr/bin/env bash
# Build or serve the docs site (English and Japanese) in the local virtual environment
# (.venv), installing what it needs first. The pages generated from the code (config
# reference, CLI, API) are written during the build.
# Usage: bash scripts/docs.bash [build|serve|browser] [mkdocs or pytest args...]
#   build    mkdocs build --strict into site/ (default)
#   serve    mkdocs serve on http://127.0.0.1:8000 (live reload)
#   browser  build, then open the tutorial in headless Chromium (tests/test_docs.py -m browser),
#            installing Chromium from the Debian packages when it is missing and this runs as root
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.bash
source scripts/_venv.bash
otter_venv
# Keep the build output to what matters (plugins print notices about their own futures).
export NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true

command="${1:-build}"
[ "$#" -gt 0 ] && shift
case "$command" in
    build)
        exec "$OTTER_PY" -m mkdocs build --strict --site-dir site "$@"
        ;;
    serve)
        exec "$OTTER_PY" -m mkdocs serve "$@"
        ;;
    browser)
        export OTTER_DOCS_INSTALL_BROWSER="${OTTER_DOCS_INSTALL_BROWSER:-1}"
        exec "$OTTER_PY" -m pytest tests/test_docs.py -m browser -p no:cacheprovider "$@"
        ;;
    *)
        echo "usage: bash scripts/docs.bash [build|serve|browser] [args...]" >&2
        exit 2
        ;;
esac
