#!/usr/bin/env bash
# Installs the Debian packages salon needs to build and test, and nothing
# when they are all present (so `make run` and `make test` stay fast).
set -euo pipefail

packages=(
  build-essential pkg-config
  libhttp-parser-dev libssl-dev libjansson-dev libsodium-dev
  libsqlite3-dev libicu-dev libvectorscan-dev libpcre2-dev liburing-dev
  libcriterion-dev python3 python3-pytest
)

# The browser tests run on Node.js (any 18+); the machine may already have
# one from elsewhere, so Debian's is only installed when there is none.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  # The browser tests' playwright-core needs Node.js 20 or newer.
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 20 ] || echo "note: Node.js $major found; the browser tests need 20 or newer" >&2
  exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
