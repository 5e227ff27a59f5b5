#!/usr/bin/env bash
# Build the Otter training image:
#
#   bash docker/build.bash [IMAGE [BASE_IMAGE]] [docker build options ...]
#
# IMAGE defaults to $OTTER_IMAGE, else otter_base_image; BASE_IMAGE to $BASE_IMAGE, else
# nvcr.io/nvidia/pytorch:24.12-py3. A CPU-only image:
#
#   bash docker/build.bash otter_cpu python:3.11-slim
#
# Options after them go to `docker build` as they are, e.g. --build-arg TZ=Asia/Taipei or --no-cache.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

image="${OTTER_IMAGE:-otter_base_image}"
base="${BASE_IMAGE:-nvcr.io/nvidia/pytorch:24.12-py3}"
# Up to two leading words that are not options: the image name, then the base image.
if [ "$#" -gt 0 ] && [[ $1 != -* ]]; then
    image="$1"
    shift
    if [ "$#" -gt 0 ] && [[ $1 != -* ]]; then
        base="$1"
        shift
    fi
fi
if [ -z "$image" ] || [ -z "$base" ]; then
    printf 'build.bash: the image name and the base image must not be empty\n' >&2
    exit 2
fi
if ! command -v docker >/dev/null 2>&1; then
    printf 'build.bash: docker not found on PATH; install Docker first\n' >&2
    exit 2
fi

# The context is the repository root: the build stage turns it into a wheel (.dockerignore keeps
# runs, virtual environments, caches and .git out of it).
exec docker build -f "$repo/docker/Dockerfile" --build-arg "BASE_IMAGE=$base" -t "$image" "$@" "$repo"
