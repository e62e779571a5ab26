#!/usr/bin/env bash
# Node mode's lookup cost from 10 to 1,000 pods on one core (bench/metadata/node-lookup.ts).
# Prints a Markdown table (bench/results/metadata-node-lookup.md keeps the last one).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec taskset -c 1 npx --no-install tsx bench/metadata/node-lookup.ts "$@"
