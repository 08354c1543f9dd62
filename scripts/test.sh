#!/usr/bin/env bash
# The test command (README): installs the real parts if missing, then runs every test.
# Integration tests start their own registry and git servers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --locked "$@"
