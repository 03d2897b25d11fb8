#!/usr/bin/env bash
# The container tests' engine and base image: starts the Docker engine when it is not answering, and makes
# the base image pagerbot-base:bookworm from Debian's packages (no image registry is reachable) when the
# engine does not hold it yet. The engine keeps it, and the build cache, between runs.
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client: it builds with BuildKit without a buildx plugin
BASE_IMAGE=pagerbot-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! "$DOCKER" info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "the Docker engine is not answering: start it as root (dockerd), or add this user to the docker group" >&2
    exit 1
  fi
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    # no service manager (a container, a CI sandbox): the engine runs in the background, in a session of its
    # own so it outlives this script; a pid file left by an engine that died would stop it from starting
    pidfile=/var/run/docker.pid
    if [ -e "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd.log" >&2; exit 1; }
fi

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$MIRROR" >/dev/null
  # as Debian's slim images: no package cache or lists, documentation, manuals or translations
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
fi
