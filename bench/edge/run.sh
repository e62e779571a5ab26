#!/usr/bin/env bash
# Edge Worker benchmark: cached JWKS responses from the edge Worker in workerd, beside a Worker
# that returns the same bytes as a constant (same workerd process, same run: the limit of the
# runtime) and nginx serving the same bytes (for scale). wrk drives each in turn, ROUNDS times,
# interleaved; the median round is reported. CPU time per request is read from /proc for the
# server's processes over each run. Prints a Markdown table on stdout; progress on stderr.
#   BENCH_SECONDS (default 10) per run, BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (default 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d)"
chmod 755 "$work"
harness_pid=""
cleanup() {
  [ -n "$harness_pid" ] && kill "$harness_pid" 2>/dev/null && wait "$harness_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "edge bench: starting idbridge serve (origin) and workerd" >&2
node --import tsx bench/edge/harness.ts "$work" >"$work/harness.out" 2>"$work/harness.err" &
harness_pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/harness.out" ] && break
  kill -0 "$harness_pid" 2>/dev/null || { cat "$work/harness.err" >&2; exit 1; }
  sleep 0.1
done
info="$(head -1 "$work/harness.out")"
field() { node -e "console.log(JSON.parse(process.argv[1])[process.argv[2]])" "$info" "$1"; }
edge_url="$(field edge)"; constant_url="$(field constant)"
body_bytes="$(field bytes)"; bundle_bytes="$(field bundleBytes)"; bundle_gzip="$(field bundleGzipBytes)"
workerd_pid="$(field workerdPid)"
[ -n "$workerd_pid" ] || { echo "edge bench: workerd process not found" >&2; exit 1; }

nginx_port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
mkdir -p "$work/nginx-tmp"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp; proxy_temp_path $work/nginx-tmp; fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp; scgi_temp_path $work/nginx-tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /bench/openid/v1/jwks {
      default_type application/jwk-set+json;
      add_header cache-control "public, max-age=300";
      add_header access-control-allow-origin "*";
      add_header x-content-type-options nosniff;
      alias $work/jwks.json;
    }
  }
}
EOF
"$NGINX" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"
for _ in $(seq 1 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
nginx_url="http://127.0.0.1:$nginx_port/bench/openid/v1/jwks"
for url in "$edge_url" "$constant_url" "$nginx_url"; do
  status="$(curl -s -o /dev/null -w '%{http_code}' "$url")"
  [ "$status" = 200 ] || { echo "edge bench: $url answered $status" >&2; exit 1; }
done

# CPU ticks (user + system) of a process and its children threads, from /proc.
ticks() { local total=0; for pid in "$@"; do read -r -a s <"/proc/$pid/stat"; total=$((total + s[13] + s[14])); done; echo "$total"; }
HZ="$(getconf CLK_TCK)"
nginx_pids() { echo "$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"; }

# One wrk run: prints "requests_per_s p50_ms p99_ms cpu_us_per_request".
measure() {
  local url="$1"; shift
  local pids=("$@")
  wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null   # warm-up
  local before; before="$(ticks "${pids[@]}")"
  local out; out="$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$url")"
  local after; after="$(ticks "${pids[@]}")"
  node -e '
    const [out, ticks, hz] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
    const ms = (s) => { const m = /([\d.]+)(us|ms|s)\b/.exec(s); const v = Number(m[1]); return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v; };
    const line = (p) => out.split("\n").find((l) => l.trim().startsWith(p + "%"));
    const total = Number(/(\d+) requests in/.exec(out)[1]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
    if (/Non-2xx/.test(out)) throw new Error("non-2xx answers during the run:\n" + out);
    console.log([rps.toFixed(0), ms(line("50").trim().split(/\s+/)[1]).toFixed(3), ms(line("99").trim().split(/\s+/)[1]).toFixed(3), (ticks / hz * 1e6 / total).toFixed(1)].join(" "));
  ' "$out" "$((after - before))" "$HZ"
}

declare -A runs
for round in $(seq 1 "$ROUNDS"); do
  echo "edge bench: round $round/$ROUNDS" >&2
  runs[edge]+="$(measure "$edge_url" "$workerd_pid")"$'\n'
  runs[constant]+="$(measure "$constant_url" "$workerd_pid")"$'\n'
  # shellcheck disable=SC2046
  runs[nginx]+="$(measure "$nginx_url" $(nginx_pids))"$'\n'
done

# The median round by throughput, for each server.
median() { printf '%s' "$1" | sort -n -k1,1 | awk 'NF { a[n++] = $0 } END { print a[int((n - 1) / 2)] }'; }
read -r e_rps e_p50 e_p99 e_cpu <<<"$(median "${runs[edge]}")"
read -r c_rps c_p50 c_p99 c_cpu <<<"$(median "${runs[constant]}")"
read -r n_rps n_p50 n_p99 n_cpu <<<"$(median "${runs[nginx]}")"
ratio() { node -e 'console.log((Number(process.argv[1]) / Number(process.argv[2])).toFixed(2))' "$1" "$2"; }

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "### Edge Worker: cached JWKS ($body_bytes bytes)"
echo
echo "$(nproc) cores ($cpu_model), load average $(cut -d" " -f1 /proc/loadavg) at the start; wrk -t1 -c$CONNECTIONS, ${SECONDS_PER_RUN} s runs, median of $ROUNDS interleaved rounds; $(date -u +%Y-%m-%d)."
echo
echo "| server | requests/s | p50 | p99 | CPU per request | throughput vs constant Worker |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
echo "| edge Worker, cached path (workerd via miniflare) | $e_rps | $e_p50 ms | $e_p99 ms | $e_cpu µs | $(ratio "$e_rps" "$c_rps") |"
echo "| constant Worker, same bytes (same workerd) | $c_rps | $c_p50 ms | $c_p99 ms | $c_cpu µs | 1.00 |"
echo "| nginx, same bytes (for scale) | $n_rps | $n_p50 ms | $n_p99 ms | $n_cpu µs | $(ratio "$n_rps" "$c_rps") |"
echo
echo "Worker bundle (wrangler deploy --dry-run, minified): $((bundle_bytes / 1024)) KiB, $((bundle_gzip / 1024)) KiB gzip (free-plan limit: 3 MiB gzip)."
