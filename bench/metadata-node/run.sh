#!/usr/bin/env bash
# Node mode's lookup cost from 10 to 1,000 pods on one core (bench/metadata/node-lookup.ts).
# Prints a Markdown table (bench/run.sh saves it in bench/results/metadata-node.md). Its own
# directory, so the sidecar benchmarks under bench/metadata/ keep a run.sh of their own.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec taskset -c 1 npx --no-install tsx bench/metadata/node-lookup.ts "$@"
