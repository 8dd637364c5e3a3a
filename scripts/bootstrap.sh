#!/usr/bin/env bash
# Install what vxnet needs and is missing, and nothing else: Debian packages (one
# `apt-get update` first, only when something is missing), npm packages (`npm ci`,
# only when package-lock.json changed since the last install), then the build
# (incremental). Quick and silent when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(etcd-server etcd-client runc busybox-static iproute2 iputils-ping redis-server openssl util-linux systemd nftables iptables)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.vxnet-lock-stamp
want="$(node --version) $(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# the namespace package's native addon: rebuilt when its source is newer than the build
addon=packages/netns/native/build/Release/vxnet_native.node
if [ ! -f "$addon" ] || [ packages/netns/native/vxnet_native.cc -nt "$addon" ] || [ packages/netns/native/binding.gyp -nt "$addon" ]; then
  echo "bootstrap: building the native addon"
  npm run --silent build:native -w @vxnet/netns >/dev/null
fi

npx --no-install tsc -b
# the CLI's start-up bundle (packages/cli/scripts/bundle.mjs); bin/vxnet.js runs it only while fresh
npm run --silent bundle -w @vxnet/cli
