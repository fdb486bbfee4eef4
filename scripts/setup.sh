#!/usr/bin/env bash
# Everything `npm test` and `npm start` need on a fresh Debian machine: the npm packages
# (from package-lock.json) and, for the tests, mosquitto, openssl and chromium (the dashboard's
# browser test) from Debian; for `npm run bench` also libmosquitto-dev and a C compiler (the
# libmosquitto contender is built at bench time).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--with-broker" ]; then
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] || ! command -v openssl >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients openssl chromium
  fi
fi

if [ "${2:-}" = "--with-bench" ] && { [ ! -e /usr/include/mosquitto.h ] || ! command -v cc >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libmosquitto-dev gcc libc6-dev || echo "libmosquitto-dev could not be installed: the bench will skip libmosquitto"
fi
