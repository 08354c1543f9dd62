#!/usr/bin/env bash
# The test command (README): installs the real parts if missing, then runs every test.
# Integration tests start their own registry and git servers on free 127.0.0.1 ports.
# Ends with one summary line, "tests: N passed, N failed", over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
