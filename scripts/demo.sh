#!/usr/bin/env bash
# The demo: a 3-host lab on one machine (network namespaces on a TEST-NET underlay,
# etcd, a controller, an agent and an engine per host, and an outside host behind a
# router), an overlay network, two containers on different hosts, one pinging the
# other by name across hosts, a container reaching the outside, a published port
# answering the outside, and the subnet leases. The lab stays up so you can look around; the last lines say how
# to remove it.
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
if vxnet lab ls --json | grep -q '"name": "demo"'; then
  vxnet lab down --name demo >/dev/null
fi

say lab up --name demo --hosts 3
say net create -d overlay net1
say net ls
say -H h1 run -d --name web --net net1 -p 8080:80 busybox sh -c 'echo hello from web on h1 >/tmp/index.html; exec httpd -f -p 80 -h /tmp'
say -H h2 run -d --name app --net net1 busybox
say -H h2 exec app ping -c3 web
say -H h2 exec app nslookup web
say -H h2 exec app wget -q -O- http://web/
# egress: the outside host (198.51.100.10) answers with the source address it sees: h2's, masqueraded
say -H h2 exec app wget -q -O- http://198.51.100.10/ip
# the published port, from the outside host (not a vxnet command: the lab's outside namespace)
printf '\n\033[1m$ (on the outside host 198.51.100.10) wget -q -O- http://192.0.2.1:8080/\033[0m\n'
nsenter --net=/run/netns/vx-demo.out busybox wget -q -O- http://192.0.2.1:8080/
say -H h1 ps
say host ls
say lease ls
say net inspect net1

cat <<'MSG'

The lab "demo" is up and is the current lab: web runs on h1, app on h2, and app
reached web by name across the VXLAN overlay and the outside host through h2; the
outside reached web through its published port 8080 on h1. Look around, e.g.
  node packages/cli/bin/vxnet.js -H h1 ps          (or `npx vxnet -H h1 ps`)
  node packages/cli/bin/vxnet.js lab exec h1 -- ip netns list
Remove everything the lab made (namespaces, links, containers, processes, files):
  node packages/cli/bin/vxnet.js lab down
MSG
