#!/usr/bin/env bash
# Runs every benchmark (release build); each prints its figures next to a baseline
# measured in the same run. Extra arguments go to cargo, e.g. `scripts/bench.sh --bench e2e_latency`.
# Benches start their own registry and git servers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo bench --workspace --locked "$@"
