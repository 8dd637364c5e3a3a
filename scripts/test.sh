#!/usr/bin/env bash
# The test command: bootstrap, then every compiled test file under tap, then one
# plain summary line "N passed, N failed" (top-level tests across all files).
# Arguments are passed to tap (e.g. a single file: npm test -- packages/common/dist/test/ipv4.js).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

if (($#)); then
  files=("$@")
else
  mapfile -t files < <(find packages/*/dist/test test/dist -name '*.js' \
    -not -path '*/fixtures/*' -not -path '*/helpers/*' 2>/dev/null | sort)
fi
rm -rf .tap/test-results
status=0
npx --no-install tap "${files[@]}" || status=$?
node scripts/test-summary.mjs .tap/test-results || status=$?
exit "$status"
