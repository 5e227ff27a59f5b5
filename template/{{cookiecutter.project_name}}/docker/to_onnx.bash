#!/usr/bin/env bash
# Export the latest run of a config to a verified ONNX file in the Otter Docker image.
# Run it from anywhere, typically the folder that holds this project:
#
#   bash MyProj/docker/to_onnx.bash <cfg_name> [key.path=value ...]
#
# Settings come from the environment (OTTER_DOCKER: docker or podman, OTTER_IMAGE, OTTER_GPUS,
# OTTER_SHM_SIZE, OTTER_CPUSET, OTTER_DATA_DIR); see _docker_common.bash beside this file.
set -euo pipefail

# shellcheck source=SCRIPTDIR/_docker_common.bash
source "$(dirname "${BASH_SOURCE[0]}")/_docker_common.bash"
otter_project_run to_onnx "$@"
