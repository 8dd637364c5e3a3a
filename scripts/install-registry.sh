#!/usr/bin/env bash
# Debian's docker-registry (distribution 2.8), for the test that pulls from a registry
# with token auth (`test-needs: docker-registry`, test/pull.ts). Installed only when
# missing (one `apt-get update` first). The package's maintainer scripts may start
# docker-registry.service (an htpasswd registry on :5000 in the root namespace); the
# test runs its own, in a lab namespace with a generated config, so a daemon this
# install started is stopped again and its unit disabled; anything that ran before is
# left alone.
set -euo pipefail

if dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep -q 'install ok installed'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-registry: Debian's docker-registry is missing and installing it needs root" >&2
  exit 1
fi

systemd=0
[ -d /run/systemd/system ] && systemd=1
was_active=0
if ((systemd)) && systemctl is-active --quiet docker-registry.service; then was_active=1; fi
before=" $( (pgrep -x docker-registry || true) | tr '\n' ' ') "

echo "install-registry: installing docker-registry"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null

if ((systemd)); then
  if ((!was_active)) && systemctl is-active --quiet docker-registry.service; then
    echo "install-registry: stopping docker-registry.service, which the package started (the test runs its own)"
    systemctl disable --now --quiet docker-registry.service
  fi
else
  for pid in $(pgrep -x docker-registry || true); do
    [[ "$before" == *" $pid "* ]] && continue
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/bin/docker-registry ] || continue
    echo "install-registry: stopping the docker-registry the package started (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  done
  command -v update-rc.d >/dev/null && update-rc.d docker-registry disable >/dev/null 2>&1 || true
fi
command -v docker-registry >/dev/null || { echo "install-registry: docker-registry not found after installing it" >&2; exit 1; }
