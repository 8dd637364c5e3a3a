#!/usr/bin/env bash
# Debian's chromium, for the tests that drive the topology page in a headless browser
# (files marked `test-needs: chromium`), through playwright-core with the system
# browser: nothing downloads a browser of its own. Installed only when missing (one
# `apt-get update` first), like bootstrap.sh does its packages.
set -euo pipefail
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed' && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: chromium missing and installing it needs root" >&2
  exit 1
fi
echo "install-chromium: installing chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
