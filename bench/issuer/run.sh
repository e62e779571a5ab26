#!/usr/bin/env bash
# Issuer throughput and latency: idbridge serve vs nginx, 1 and 10,000 clusters.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/lib/ensure-tools.sh
npx tsx bench/issuer/run.ts
