#!/usr/bin/env bash
# Debian's wireguard-tools (`wg`, 0.3 MB) and wireguard-go (the userspace WireGuard,
# 2.5 MB; this machine's kernel has no WireGuard), and tcpdump, for the tests and the
# benchmark of encrypted networks (`net create --opt encrypted`). Installed only when
# missing (one `apt-get update` first), like bootstrap.sh does its packages. Nothing is
# started: the agent starts wireguard-go itself, and wg-quick's units stay disabled.
# --no-install-recommends keeps out wireguard-tools' recommendation of kernel modules.
set -euo pipefail

missing=()
for p in wireguard-tools wireguard-go tcpdump; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-wireguard: ${missing[*]} missing and installing needs root" >&2
  exit 1
fi
echo "install-wireguard: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
