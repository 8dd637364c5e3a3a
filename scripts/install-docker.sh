#!/usr/bin/env bash
# Debian's docker.io (dockerd 20.10 with containerd and runc), for the tests and
# benchmarks that run a dockerd on each lab host (`vxnet lab up --docker`). Installed
# only when missing (one `apt-get update` first), like bootstrap.sh does its packages;
# the demo and bootstrap never need it.
#
# The package's maintainer scripts start docker.service and containerd.service where
# systemd runs (or /etc/init.d/docker under sysvinit): a dockerd in the root namespace
# would put its bridge and iptables rules there. The lab runs its own dockerds, so a
# daemon this install started is stopped again (and its units disabled), by unit or
# by the pid it wrote; anything that ran before is left alone.
set -euo pipefail

if dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'install ok installed'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-docker: Debian's docker.io is missing and installing it needs root" >&2
  exit 1
fi

units=(docker.service docker.socket containerd.service)
systemd=0
[ -d /run/systemd/system ] && systemd=1
was_active=()
if ((systemd)); then
  for u in "${units[@]}"; do
    if systemctl is-active --quiet "$u"; then was_active+=("$u"); fi
  done
fi
pidfile_before=0
[ -e /run/docker.pid ] && pidfile_before=1

echo "install-docker: installing docker.io"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null

if ((systemd)); then
  for u in "${units[@]}"; do
    if [[ " ${was_active[*]-} " != *" $u "* ]] && systemctl is-active --quiet "$u"; then
      echo "install-docker: stopping $u, which the package started (the lab runs its own dockerds)"
      systemctl disable --now --quiet "$u"
    fi
  done
elif ((!pidfile_before)) && [ -e /run/docker.pid ]; then
  pid=$(cat /run/docker.pid)
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    echo "install-docker: stopping the dockerd the package started (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
fi
