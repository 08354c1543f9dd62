#!/usr/bin/env bash
# The peer benchmark: imagebump `once` vs Renovate 39 vs a floor (curl + git CLI), on the
# same registry, repository and git server, cold, interleaved; prints wall time, peak RSS
# and registry requests side by side with the ratios. See bench.py for what it does.
#
#   benches/peer/run.sh                       # 50 and 200 images, 3 runs each
#   benches/peer/run.sh --runs 5 --cases 50   # arguments go to bench.py (--help)
#
# Installs what is missing: the testbed's Debian packages (scripts/install-deps.sh), plus
# `time` (GNU time, for peak RSS), nodejs/npm and g++/make (Renovate's re2 module builds
# from source when its prebuilt binary cannot be downloaded); Renovate 39 from npm into
# benches/peer/.cache (gitignored, ~350 MB); and a release build of imagebump.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-deps.sh
extra=()
command -v /usr/bin/time >/dev/null || extra+=(time)
command -v node >/dev/null || extra+=(nodejs)
command -v npm >/dev/null || extra+=(npm)
command -v g++ >/dev/null || extra+=(g++ make)
if [ ${#extra[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${extra[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi
cache=benches/peer/.cache/renovate
if [ ! -f "$cache/node_modules/renovate/dist/renovate.js" ]; then
  echo "installing Renovate 39 from npm into $cache" >&2
  mkdir -p "$cache"
  [ -f "$cache/package.json" ] || echo '{"private": true}' >"$cache/package.json"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error renovate@39 >&2)
fi
cargo build --release --locked --bin imagebump
exec python3 benches/peer/bench.py "$@"
