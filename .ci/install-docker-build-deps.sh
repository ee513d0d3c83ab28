#!/usr/bin/env bash
# Install the Debian packages the docker environment needs to build its image without a registry:
# mmdebstrap (builds the local base image from Debian's packages when no base can be pulled), and
# the archive keys it verifies with (present on Debian already; listed to be sure).
# Idempotent and fast when everything is present: apt is touched only when something is missing.
# Usage: bash .ci/install-docker-build-deps.sh   (as root, or with sudo available)
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" "docker build deps" mmdebstrap debian-archive-keyring
