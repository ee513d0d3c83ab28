#!/usr/bin/env bash
# Install the Debian packages the docker environment needs to build its image without a registry:
# mmdebstrap (builds the local base image from Debian's packages when no base can be pulled).
# Idempotent and fast when everything is present: apt is touched only when something is missing.
# Usage: bash .ci/install-docker-build-deps.sh   (as root, or with sudo available)
set -euo pipefail

packages=(mmdebstrap)
# mmdebstrap verifies the archive with these keys (present on Debian already; listed to be sure).
packages+=(debian-archive-keyring)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "docker build deps: already installed (${packages[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "docker build deps: apt-get not found; install by hand: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "docker build deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "docker build deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "docker build deps: installed ${missing[*]}"
