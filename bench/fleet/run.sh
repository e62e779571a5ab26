#!/usr/bin/env bash
# Fleet mode benchmark (issue 15), one command: `npm run bench -- fleet`.
#   1. Fleet-mode exchange latency against plain brokering in the same run: the real
#      `idbridge serve` (a child process, file store) brokers for a plain cluster and a fleet
#      cluster, alternating, each exchange with a token it has not seen (goal: < 0.3 ms p50 added).
#   2. Mints per second at saturation (one core) against bare node:crypto ES256 signing of the
#      same claims.
# Prints a Markdown table; bench/run.sh saves it to bench/results/fleet.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run build --silent   # `idbridge serve` runs the built code
node --import tsx bench/fleet/fleet.ts
