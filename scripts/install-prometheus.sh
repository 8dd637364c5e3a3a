#!/usr/bin/env bash
# Debian's prometheus (2.42, with promtool), for the tests that scrape a lab with a real
# Prometheus and check the exposition with `promtool check metrics` (`test-needs:
# prometheus`). Installed only when missing (one `apt-get update` first), like
# bootstrap.sh does its packages; the demo and bootstrap never need it (~94 MB).
#
# --no-install-recommends keeps prometheus-node-exporter out. The package's maintainer
# scripts start prometheus.service where systemd runs (or /etc/init.d/prometheus under
# sysvinit): a Prometheus in the root namespace listening on :9090 and scraping
# localhost. The tests run their own, in a lab's namespace with a generated config, so
# a daemon this install started is stopped again (and its unit disabled), by unit or by
# pid; anything that ran before is left alone.
set -euo pipefail

if dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-prometheus: Debian's prometheus is missing and installing it needs root" >&2
  exit 1
fi

systemd=0
[ -d /run/systemd/system ] && systemd=1
was_active=0
if ((systemd)) && systemctl is-active --quiet prometheus.service; then was_active=1; fi
# pids of prometheus servers already running (not ours to stop)
before=" $( (pgrep -x prometheus || true) | tr '\n' ' ') "

echo "install-prometheus: installing prometheus"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

if ((systemd)); then
  if ((!was_active)) && systemctl is-active --quiet prometheus.service; then
    echo "install-prometheus: stopping prometheus.service, which the package started (the tests run their own)"
    systemctl disable --now --quiet prometheus.service
  fi
else
  for pid in $(pgrep -x prometheus || true); do
    [[ "$before" == *" $pid "* ]] && continue
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/bin/prometheus ] || continue
    echo "install-prometheus: stopping the prometheus the package started (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  done
  # and keep it from starting at boot (sysvinit links)
  command -v update-rc.d >/dev/null && update-rc.d prometheus disable >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null || { echo "install-prometheus: promtool not found after installing prometheus" >&2; exit 1; }
