#!/usr/bin/env bash
# The demo: a 3-host lab on one machine (network namespaces on a TEST-NET underlay,
# etcd in its own namespace), its status, traffic across the underlay, and etcd
# reachable from every host. The lab stays up so you can look around; the last lines
# say how to remove it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

vxnet() { node packages/cli/bin/vxnet.js "$@"; }
say() { printf '\n\033[1m$ vxnet %s\033[0m\n' "$*"; vxnet "$@"; }

if [ "$(id -u)" != 0 ]; then
  echo "demo: the lab creates network namespaces and needs root (try: sudo npm run demo)" >&2
  exit 1
fi
# A demo lab from an earlier run is ours to replace.
if vxnet lab status --name demo >/dev/null 2>&1 || vxnet lab ls --json | grep -q '"name": "demo"'; then
  vxnet lab down --name demo >/dev/null
fi

say lab up --name demo --hosts 3
say lab exec h1 -- ping -c3 -i0.2 192.0.2.3
for h in h1 h2 h3; do
  say lab exec "$h" -- etcdctl --endpoints http://192.0.2.254:2379 endpoint health
done
say lab status --json

cat <<'MSG'

The lab "demo" is up and is the current lab. Look around:
  node packages/cli/bin/vxnet.js lab exec h2 -- ip addr       (or `npx vxnet ...`)
Remove it (every namespace, link, process and file it made):
  node packages/cli/bin/vxnet.js lab down
MSG
