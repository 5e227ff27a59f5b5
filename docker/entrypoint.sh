#!/usr/bin/env bash
# Entrypoint of the Otter image.
#
# With USER_ID and GROUP_ID (the scripts pass `id -u` / `id -g` of the host user), the command runs
# as that user and group through gosu, so the files it writes to mounted folders belong to the host
# user rather than to root. The user and group are created when the image has no such ids, and
# reused when it has (GID 0, or UID 1000 that many base images already hold). Without them, the
# command runs as is.
set -euo pipefail

die() {
    printf 'entrypoint: %s\n' "$*" >&2
    exit 2
}

# NVIDIA's images do their own start-up checks (driver, CUDA compatibility) in this script; keep them.
nvidia_entrypoint=/opt/nvidia/nvidia_entrypoint.sh
if [ "$#" -eq 0 ]; then
    set -- bash
fi
if [ -x "$nvidia_entrypoint" ]; then
    set -- "$nvidia_entrypoint" "$@"
fi

user_id="${USER_ID:-}"
group_id="${GROUP_ID:-}"
if [ -z "$user_id" ] && [ -z "$group_id" ]; then
    exec "$@"
fi
if [ -z "$user_id" ] || [ -z "$group_id" ]; then
    die "set both USER_ID and GROUP_ID (e.g. -e USER_ID=\"\$(id -u)\" -e GROUP_ID=\"\$(id -g)\"), or neither"
fi
if ! [[ $user_id =~ ^[0-9]+$ && $group_id =~ ^[0-9]+$ ]]; then
    die "USER_ID and GROUP_ID must be numbers, got USER_ID=$user_id GROUP_ID=$group_id"
fi
if [ "$(id -u)" != 0 ]; then
    # Started with `docker run --user ...`: already somebody else, and not allowed to switch.
    exec "$@"
fi

# A name for a new user or group: `otter`, unless the image already uses that name for another id.
free_name() {
    local db="$1" id="$2"
    if getent "$db" otter >/dev/null; then
        printf 'otter_%s\n' "$id"
    else
        printf 'otter\n'
    fi
}

if ! getent group "$group_id" >/dev/null; then
    groupadd --gid "$group_id" "$(free_name group "$group_id")"
fi

if entry="$(getent passwd "$user_id")"; then
    home="$(printf '%s\n' "$entry" | cut -d: -f6)"
    if [ -z "$home" ] || [ "$home" = / ] || [ ! -d "$home" ]; then
        # A user without a usable home (e.g. nobody: /nonexistent); caches need one.
        home="/home/otter_$user_id"
        mkdir -p "$home"
        chown "$user_id:$group_id" "$home"
    fi
else
    name="$(free_name passwd "$user_id")"
    home="/home/$name"
    # --no-log-init: a large UID would otherwise grow a huge sparse /var/log/lastlog.
    useradd --uid "$user_id" --gid "$group_id" --no-log-init --create-home --home-dir "$home" \
        --shell /bin/bash "$name"
fi
# The working folder itself (not the mounts inside it) becomes writable for the user.
if [ -d /code ]; then
    chown "$user_id:$group_id" /code
fi

# gosu sets HOME from the passwd entry; `env` puts back the one chosen above.
exec gosu "$user_id:$group_id" env HOME="$home" "$@"
