#!/usr/bin/env bash
# Debian's podman 4.3 and the standard CNI plugins (/usr/lib/cni), for the tests that
# run podman on lab hosts (`vxnet lab up --podman`). Installed only when missing (one
# `apt-get update` first), like bootstrap.sh does its packages; the demo and bootstrap
# never need it.
#
# --no-install-recommends keeps netavark (and aardvark-dns) out: without them podman
# uses its CNI backend, which is what vxnet's CNI plugin is for. Podman has no daemon,
# so nothing is started and nothing needs stopping (podman.socket, the API service, is
# left as the package installs it: disabled where systemd runs).
set -euo pipefail

missing=()
for p in podman containernetworking-plugins; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-podman: ${missing[*]} missing and installing needs root" >&2
  exit 1
fi
echo "install-podman: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if dpkg-query -W -f='${Status}' netavark 2>/dev/null | grep -q 'install ok installed'; then
  echo "install-podman: note: netavark is installed, so podman may pick it over CNI for new storage (the lab's hosts start empty and say network_backend = \"cni\")" >&2
fi
