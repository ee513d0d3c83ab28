#!/usr/bin/env bash
# Install Debian's chromium: the report's browser tests open each HTML report in it, headless
# (with its recommended packages: the fonts it draws the page with).
# Idempotent and fast when it is present: apt is touched only when it is missing.
# Usage: bash .ci/install-browser.sh   (as root, or with sudo available)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "browser: already installed ($(command -v chromium))"
  exit 0
fi
exec bash "$(dirname "$0")/apt-install.sh" browser --with-recommends chromium
