#!/usr/bin/env bash
# Install Debian packages with apt, as root or through sudo; nothing is touched when every one is
# installed already. The other .ci/install-*.sh scripts use it.
# Usage: bash .ci/apt-install.sh <label> [--with-recommends] <package>...
set -euo pipefail

label=$1
shift
recommends=(--no-install-recommends)
if [ "${1:-}" = "--with-recommends" ]; then
  recommends=()
  shift
fi

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "${label}: already installed ($*)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "${label}: apt-get not found; install by hand: ${missing[*]}" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "${label}: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "${label}: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${recommends[@]}" "${missing[@]}"
echo "${label}: installed ${missing[*]}"
