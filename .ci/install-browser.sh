#!/usr/bin/env bash
# Install Debian's chromium: the report's browser tests open each HTML report in it, headless.
# Idempotent and fast when it is present: apt is touched only when it is missing.
# Usage: bash .ci/install-browser.sh   (as root, or with sudo available)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "browser: already installed ($(command -v chromium))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: apt-get not found; install Chromium by hand (the tests look for chromium on PATH)" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "browser: need root (or sudo) to install chromium" >&2
    exit 1
  fi
fi

echo "browser: installing chromium"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq chromium
echo "browser: installed $(command -v chromium)"
