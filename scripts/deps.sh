#!/usr/bin/env bash
# Installs the Debian packages salon needs to build and test, and nothing
# when they are all present (so `make run` and `make test` stay fast).
set -euo pipefail

packages=(
  build-essential pkg-config
  libhttp-parser-dev libssl-dev libjansson-dev libsodium-dev
  libsqlite3-dev
  libcriterion-dev python3 python3-pytest
)

# The browser tests run on Node.js (any 18+); the machine may already have
# one from elsewhere, so Debian's is only installed when there is none.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
