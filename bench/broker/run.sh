#!/usr/bin/env bash
# STS broker benchmark (issue 4), one command: `npm run bench -- broker`.
#   1. Subject-token verification at saturation on every core, against bare node:crypto RS256
#      verification of the same tokens in the same run (verify-throughput.ts).
#   2. The broker's added latency over a direct call to the same upstream, and upstream calls
#      saved by coalescing when 1,000 pods with 50 distinct tokens start at once (exchange.ts:
#      the real `idbridge serve` in front of the fake Google STS).
#   3. The same exchange latency for AWS STS and Entra ID, against a bare forwarding proxy to the
#      same fake in the same run (clouds.ts).
# Prints a Markdown table; bench/run.sh saves it to bench/results/broker.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run build --silent   # the workers and `idbridge serve` run the built code

# One libuv thread per core, as docs/broker.md recommends: WebCrypto verifies
# signatures on that pool, and Node's default of 4 threads over- or under-fills most machines.
cores=$(node -p 'require("node:os").availableParallelism()')
export UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-$cores}"

verify=$(node --import tsx bench/broker/verify-throughput.ts)
exchange=$(node --import tsx bench/broker/exchange.ts)
clouds=$(node --import tsx bench/broker/clouds.ts)
node --import tsx bench/broker/report.ts "$verify" "$exchange" "$clouds"
