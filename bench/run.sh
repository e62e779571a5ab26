#!/usr/bin/env bash
# One command for every benchmark: `npm run bench` (all) or `npm run bench -- issuer broker` (some).
# Each bench/<name>/run.sh prints a Markdown table and writes it to bench/results/<name>.md;
# bench/README.md carries the latest tables with the machine they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
mkdir -p bench/results
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for dir in bench/*/; do [ -f "$dir/run.sh" ] && names+=("$(basename "$dir")"); done
fi
for name in "${names[@]}"; do
  echo "== bench: $name"
  bash "bench/$name/run.sh" | tee "bench/results/$name.md"
done
