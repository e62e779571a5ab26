#!/usr/bin/env bash
# One command for every benchmark: `npm run bench` (all) or `npm run bench -- issuer broker` (some).
# Each bench/<name>/run.sh prints a Markdown table; it replaces bench/results/<name>.md only when
# the bench succeeds (written to a temporary file, renamed at the end). bench/README.md carries the latest tables with the machine they ran on.
#
# Hygiene (bench/README.md): each bench runs in its own process group under a deadline
# (BENCH_DEADLINE_S, default 900 s): past it, or on failure, every process it started is stopped
# and the run fails loudly. Every temporary file (nginx logs, generated trees) goes under one
# TMPDIR for the run, removed at the end whatever happens. BENCH_FAIL_AFTER=SECONDS injects a
# failure that many seconds into each bench (the cleanup test uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
deadline="${BENCH_DEADLINE_S:-900}"
heartbeat="${BENCH_HEARTBEAT_S:-30}"

run_tmp="$(mktemp -d "${TMPDIR:-/tmp}/idbridge-bench-XXXXXX")"
# nginx workers (www-data when run as root) must reach the files they serve under it
chmod 755 "$run_tmp"
group=""
stop_group() {
  [ -n "$group" ] || return 0
  kill -TERM -- "-$group" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$group" 2>/dev/null || true
  group=""
}
cleanup() { stop_group; rm -rf "$run_tmp"; rm -f bench/results/.*.partial; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export TMPDIR="$run_tmp"

[ -n "${BENCH_SKIP_BUILD:-}" ] || npm run build --silent
mkdir -p bench/results
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for dir in bench/*/; do [ -f "$dir/run.sh" ] && names+=("$(basename "$dir")"); done
fi
for name in "${names[@]}"; do
  [ -f "bench/$name/run.sh" ] || { echo "bench: no bench/$name/run.sh (benches: $(ls -d bench/*/ | xargs -n1 basename | tr '\n' ' '))" >&2; exit 2; }
  echo "== bench: $name (deadline ${deadline}s)" >&2
  out="bench/results/.$name.md.partial"   # same directory: the rename below is atomic
  # setsid: the bench and everything it starts share one process group, stopped together.
  setsid bash "bench/$name/run.sh" >"$out" &
  group=$!
  started=$SECONDS
  failure=""
  while kill -0 "$group" 2>/dev/null; do
    elapsed=$((SECONDS - started))
    if [ -n "${BENCH_FAIL_AFTER:-}" ] && [ "$elapsed" -ge "$BENCH_FAIL_AFTER" ]; then failure="injected failure after ${BENCH_FAIL_AFTER}s (BENCH_FAIL_AFTER)"; break; fi
    if [ "$elapsed" -ge "$deadline" ]; then failure="no result after ${deadline}s (BENCH_DEADLINE_S): stopped"; break; fi
    if [ "$elapsed" -gt 0 ] && [ $((elapsed % heartbeat)) -eq 0 ]; then echo "   … $name running for ${elapsed}s" >&2; fi
    sleep 1
  done
  if [ -z "$failure" ]; then
    wait "$group" || failure="bench/$name/run.sh exited with $?"
  fi
  stop_group
  if [ -n "$failure" ]; then
    echo "bench $name FAILED: $failure; bench/results/$name.md is unchanged" >&2
    exit 1
  fi
  cat "$out"
  mv "$out" "bench/results/$name.md"
  echo "== bench: $name done in $((SECONDS - started))s" >&2
done
