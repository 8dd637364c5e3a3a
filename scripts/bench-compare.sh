#!/usr/bin/env bash
# `npm run bench:compare [-- --rounds N --trials N --iperf-seconds N --no-docker]`: vxnet
# and Docker's swarm overlay side by side in one run (bench/compare.ts, issue 15).
# Installs what the run needs and is missing first, as scripts/bench.sh does: vxnet's
# own packages (bootstrap.sh, which also builds), iperf3 and dnsperf (they go into the
# containers' root filesystem), and Debian's docker.io (scripts/install-docker.sh).
# When Docker is missing and cannot be installed, the run goes on without it: vxnet's
# column only, and the report says Docker was not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
missing=()
for p in iperf3 dnsperf; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ " $* " != *" --no-docker "* ]] && ! bash scripts/install-docker.sh; then
  echo "bench:compare: Docker is not installed and could not be installed; Docker will not be measured" >&2
fi
exec node bench/dist/compare.js "$@"
