#!/usr/bin/env bash
# Sync push cost (no change vs changed: latency and GCS objects written) and the GCS store with
# 10,000 registered clusters (per-request cost, idbridge serve's memory, reconciliation cost).
# Run through `npm run bench -- sync` (which builds first). Knobs: BENCH_CLUSTERS, BENCH_REQUESTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx bench/sync/bench.ts
