#!/usr/bin/env bash
# Every benchmark, one after another (root; a few minutes). Each writes its table to
# bench/results/<name>.md with the command that produced it. Installs the benchmark-only
# Debian packages (dnsmasq for the DNS comparison, dnsperf as the load generator, iperf3
# for the egress path and the data plane, ethtool for the data plane's offload report, containernetworking-plugins for the CNI plugin against Debian's
# `bridge`, docker.io for vxnet's Docker network against Docker's swarm overlay,
# wireguard-tools and wireguard-go for the encrypted overlay, chromium for the topology
# page) first.
# One benchmark: npm run bench -- dns
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
missing=()
for p in dnsmasq-base dnsperf iperf3 ethtool containernetworking-plugins; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
benches=("$@")
((${#benches[@]})) || benches=(store controller scale-networks agent-programming agent-convergence agent-rss dns engine cli egress dataplane docker cni encrypted topology images)
if [[ " ${benches[*]} " == *" docker "* || " ${benches[*]} " == *" images "* ]]; then bash scripts/install-docker.sh; fi
if [[ " ${benches[*]} " == *" encrypted "* ]]; then bash scripts/install-wireguard.sh; fi
if [[ " ${benches[*]} " == *" topology "* ]]; then bash scripts/install-chromium.sh; fi
for b in "${benches[@]}"; do
  [ -f "bench/dist/$b.js" ] || { echo "bench: no benchmark named $b" >&2; exit 1; }
  echo "== $b"
  node "bench/dist/$b.js"
done
