#!/usr/bin/env bash
# Build the Otter training image:
#
#   bash docker/build.bash [IMAGE [BASE_IMAGE]] [build options ...]
#
# IMAGE defaults to $OTTER_IMAGE, else otter_base_image; BASE_IMAGE to $BASE_IMAGE, else
# nvcr.io/nvidia/pytorch:24.12-py3. A CPU-only image: bash docker/build.bash otter_cpu python:3.11-slim
# Options after them go to `docker build` (or `podman build`) as they are, e.g. --no-cache.
#
# Environment: OTTER_DOCKER (docker; or podman), OTTER_PIP_CONF (a pip.conf) and OTTER_CA_BUNDLE (a
# CA bundle) passed as build secrets, PIP_INDEX_URL and PIP_EXTRA_INDEX_URL passed as build args.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../template/{{cookiecutter.project_name}}/docker/_docker_common.bash
source "$repo/template/{{cookiecutter.project_name}}/docker/_docker_common.bash"

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

image="${OTTER_IMAGE:-otter_base_image}"
image_from=OTTER_IMAGE
base="${BASE_IMAGE:-nvcr.io/nvidia/pytorch:24.12-py3}"
base_from=BASE_IMAGE
# Up to two leading words that are not options: the image name, then the base image.
if [ "$#" -gt 0 ] && [[ $1 != -* ]]; then
    image="$1"
    image_from=IMAGE
    shift
    if [ "$#" -gt 0 ] && [[ $1 != -* ]]; then
        base="$1"
        base_from=BASE_IMAGE
        shift
    fi
fi
if [ -z "$image" ] || [ -z "$base" ]; then
    otter_die "the image name and the base image must not be empty"
fi
otter_check_image "$image" "$image_from"
otter_check_image "$base" "$base_from"
otter_engine

options=(-f "$repo/docker/Dockerfile" --build-arg "BASE_IMAGE=$base" -t "$image")
if [ "$OTTER_ENGINE_KIND" = podman ]; then
    # Podman's default OCI format drops SHELL (and with it pipefail in every RUN).
    options+=(--format docker)
fi

# otter_secret ID FILE: pass FILE as the build secret ID (mounted only while a RUN step runs).
otter_secret() {
    local id="$1" name="$2" file="${!2:-}"
    if [ -z "$file" ]; then
        return
    fi
    if [ ! -f "$file" ] || [ ! -r "$file" ]; then
        otter_die "$name=$(otter_quote "$file") is not a readable file"
    fi
    file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
    if [[ $file == *,* ]]; then
        otter_die "$name=$(otter_quote "$file"): the path contains ',' (the --secret option splits on it)"
    fi
    options+=(--secret "id=$id,src=$file")
}
otter_secret pip.conf OTTER_PIP_CONF
otter_secret ca.crt OTTER_CA_BUNDLE
for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL; do
    if [ -n "${!name:-}" ]; then
        options+=(--build-arg "$name=${!name}")
    fi
done

# The context is the repository root: the build stage turns it into a wheel (.dockerignore keeps
# runs, virtual environments, caches and .git out of it).
otter_exec_docker build "${options[@]}" "$@" "$repo"
