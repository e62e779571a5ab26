#!/usr/bin/env bash
# Admission latency (p50/p99 at a fixed 500 reviews/s) and throughput of `idbridge webhook` on one
# core, for a typical pod and a 30-container pod, against a same-run baseline: a bare Node HTTPS
# server on the same core answering a constant AdmissionReview. The load generator runs on the
# other core. Prints a Markdown table (bench/run.sh saves it in bench/results/webhook.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/src/cli/main.js ] || npm run build --silent
exec taskset -c 1 npx --no-install tsx bench/webhook/bench.ts "$@"
