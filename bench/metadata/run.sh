#!/usr/bin/env bash
# Metadata sidecar benchmark (issue 13), one command: `npm run bench -- metadata`.
#   1. Warm /token p50/p99 and requests/s of `idbridge metadata-server` on one core, against a
#      constant-answer node:http server on the same core in the same run (baseline.mjs).
#   2. The sidecar's RSS and start-to-ready time (spawn to the first 200 from /readyz), with a bare
#      `node` process measured the same way to show what dominates.
# Prints a Markdown table (bench/run.sh saves it in bench/results/metadata.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/sidecar/metadata-main.js ] || npm run build --silent
exec npx --no-install tsx bench/metadata/bench.ts "$@"
