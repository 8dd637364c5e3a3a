#!/usr/bin/env bash
# The test command: bootstrap, then every compiled test file under tap, then one
# plain summary line "N passed, N failed" (top-level tests across all files).
# Arguments are passed to tap (e.g. a single file: npm test -- packages/common/dist/test/ipv4.js).
# Debian's docker.io is installed (if missing) only when a file to run says
# `test-needs: docker.io` (the Docker end-to-end test), and podman with the CNI plugins
# only when one says `test-needs: podman`, WireGuard (wireguard-tools, wireguard-go)
# and tcpdump only when one says `test-needs: wireguard`, Prometheus (and promtool) only
# when one says `test-needs: prometheus`, Debian's chromium only when one says
# `test-needs: chromium` (the topology page), Debian's docker-registry only when one says
# `test-needs: docker-registry` (pull): the rest never needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

if (($#)); then
  files=("$@")
else
  mapfile -t files < <(find packages/*/dist/test test/dist -name '*.js' \
    -not -path '*/fixtures/*' -not -path '*/helpers/*' 2>/dev/null | sort)
fi
needs_docker=()
needs_podman=()
needs_wireguard=()
needs_prometheus=()
needs_chromium=()
needs_registry=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  grep -q 'test-needs: docker.io' "$f" && needs_docker+=("$f")
  grep -q 'test-needs: podman' "$f" && needs_podman+=("$f")
  grep -q 'test-needs: wireguard' "$f" && needs_wireguard+=("$f")
  grep -q 'test-needs: prometheus' "$f" && needs_prometheus+=("$f")
  grep -q 'test-needs: chromium' "$f" && needs_chromium+=("$f")
  grep -q 'test-needs: docker-registry' "$f" && needs_registry+=("$f")
done
if ((${#needs_docker[@]})); then bash scripts/install-docker.sh; fi
if ((${#needs_podman[@]})); then bash scripts/install-podman.sh; fi
if ((${#needs_wireguard[@]})); then bash scripts/install-wireguard.sh; fi
if ((${#needs_prometheus[@]})); then bash scripts/install-prometheus.sh; fi
if ((${#needs_chromium[@]})); then bash scripts/install-chromium.sh; fi
if ((${#needs_registry[@]})); then bash scripts/install-registry.sh; fi
rm -rf .tap/test-results
status=0
npx --no-install tap "${files[@]}" || status=$?
node scripts/test-summary.mjs .tap/test-results || status=$?
exit "$status"
