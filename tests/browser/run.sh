#!/usr/bin/env bash
# Browser tests of the chat page (docs/web.md): installs what is missing
# (Debian's Chromium; the npm packages from package-lock.json), then runs
# every *.test.js with Node's test runner against $SALON_BIN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SALON_BIN="${SALON_BIN:-$repo/build/release/salon}"

if [ ! -x "$SALON_BIN" ]; then
  echo "run.sh: $SALON_BIN is missing: build it first (make -C $repo)" >&2
  exit 1
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
# Chromium, and a colour emoji font so that screenshots show emoji as
# people see them.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg-query -W -f='${Status}' fonts-noto-color-emoji 2>/dev/null | grep -q "install ok installed" \
  || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  echo "run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi

# npm ci again when node_modules is missing or the lockfile changed.
cd "$here"
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.lock-sha256 ] || [ "$(cat node_modules/.lock-sha256)" != "$sum" ]; then
  npm ci --no-audit --no-fund
  echo "$sum" > node_modules/.lock-sha256
fi

# One file at a time: each starts its own salon and Chromium, and the
# machine has two cores.
exec node --test --test-concurrency=1 --test-timeout=120000 "$here"/*.test.js
