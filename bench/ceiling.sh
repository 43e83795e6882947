#!/usr/bin/env bash
# The HTTP ceiling: wrk against the mock provider's POST /generic/send (mock on 1 I/O thread,
# as the benchmark runs it). What one box can do in plain HTTP/1.1 keep-alive request/answer
# pairs, with nothing behind them.
#
#   bench/ceiling.sh [--duration 10s] [--connections 64] [--threads 2] [--out FILE.json]
#                    [--build-dir DIR]
#
# BENCH_SHORT=1: 3 s. Env: OMNIGATE_MOCK_PROVIDER (mock binary).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

duration=10s
[ "${BENCH_SHORT:-0}" = 1 ] && duration=3s
connections=64
threads=2
out=""
build_dir="$root/build/release"

usage() { sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ceiling: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:?}"; shift 2 ;;
    --connections) connections="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --build-dir) build_dir="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$duration" =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration: like 10s, 2m"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive integer"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
[ "$connections" -ge "$threads" ] || die "--connections must be at least --threads"

mock="${OMNIGATE_MOCK_PROVIDER:-$build_dir/bench/omnigate-mock-provider}"
command -v wrk >/dev/null 2>&1 || die "wrk not installed: run make deps (installs the Debian package wrk)"
command -v python3 >/dev/null 2>&1 || die "python3 not found: run make deps"
[ -x "$mock" ] || die "mock provider not built ($mock): run make build, or" \
  "cmake --build --preset release --target omnigate-mock-provider"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/omnigate-ceiling.XXXXXX")"
mock_pid=""
cleanup() {
  local rc=$?
  if [ -n "$mock_pid" ]; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while kill -0 "$mock_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  if [ "$rc" = 0 ]; then rm -rf "$tmp"; else echo "ceiling: logs kept in $tmp" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$mock" --host 127.0.0.1 --port 0 --port-file "$tmp/mock.port" --threads 1 >"$tmp/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [ -s "$tmp/mock.port" ] && break; sleep 0.05; done
[ -s "$tmp/mock.port" ] || die "mock provider did not start (log: $tmp/mock.log)"
port="$(cat "$tmp/mock.port")"

cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"to":"+40700000001","from":"Omnigate","text":"ceiling measurement"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'CEILING_RESULT {"requests":%d,"duration_s":%.6f,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
EOF

load="$(cut -d' ' -f1-3 /proc/loadavg)"
# wrk runs under a wrapper that reports its CPU seconds (user + system), so
# that its CPU per request sits beside the gateway's HTTP client's.
cat >"$tmp/cpu_of.py" <<'EOF'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write("%.6f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)
EOF
python3 "$tmp/cpu_of.py" "$tmp/wrk.cpu" wrk -t"$threads" -c"$connections" -d"$duration" --latency \
  -s "$tmp/post.lua" "http://127.0.0.1:$port/generic/send" >"$tmp/wrk.out" 2>&1 ||
  die "wrk failed: $(tail -5 "$tmp/wrk.out")"

# The gateway's HTTP client alone (http::Transport on one Asio thread: its
# own HTTP/1.1 client, which carries http:// by default, and libcurl
# multi_socket for comparison), same request, same mock, as many requests
# outstanding.
transport_bench="$build_dir/bench/omnigate-transport-bench"
client="null"
client_curl="null"
if [ -x "$transport_bench" ]; then
  count=200000
  [ "${BENCH_SHORT:-0}" = 1 ] && count=60000
  transport() {
    "$transport_bench" --url "http://127.0.0.1:$port/generic/send" --count "$count" \
      --concurrency "$connections" --engine "$1" 2>"$tmp/transport.err" ||
      die "omnigate-transport-bench --engine $1 failed: $(tail -5 "$tmp/transport.err")"
  }
  client="$(transport native)"
  client_curl="$(transport curl)"
fi
line="$(sed -n 's/^CEILING_RESULT //p' "$tmp/wrk.out")"
[ -n "$line" ] || die "no result line from wrk: $(tail -5 "$tmp/wrk.out")"

result="$(python3 - "$line" "$connections" "$threads" "$load" "$(cat "$tmp/wrk.cpu")" \
  "$client" "$client_curl" <<'EOF'
import json, sys
w = json.loads(sys.argv[1])
conns, threads, load = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
wrk_cpu, client, client_curl = float(sys.argv[5]), json.loads(sys.argv[6]), json.loads(sys.argv[7])
print(json.dumps({
    "wrk_cpu_us_per_request": round(wrk_cpu * 1e6 / max(1, w["requests"]), 2),
    "omnigate_http_client": client,
    "omnigate_http_client_curl": client_curl,
    "tool": "wrk",
    "target": "mock provider POST /generic/send",
    "requests_per_s": round(w["requests"] / w["duration_s"], 1),
    "requests": w["requests"],
    "connections": conns,
    "threads": threads,
    "duration_s": round(w["duration_s"], 3),
    "latency_ms": w["latency_ms"],
    "errors": w["errors"],
    "notes": f"mock provider on 1 I/O thread, wrk {threads} threads, same box; "
             f"load average before the run: {load}",
}, indent=2))
EOF
)"
if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  printf '%s\n' "$result" >"$out"
fi
python3 - "$result" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
errors = sum(r["errors"].values())
print(f"ceiling: {r['requests_per_s']:.0f} requests/s (wrk -t{r['threads']} -c{r['connections']}, "
      f"{r['duration_s']:.1f} s, p50 {r['latency_ms']['p50']:.2f} ms, "
      f"p99 {r['latency_ms']['p99']:.2f} ms, {errors} errors) against the mock's POST /generic/send")
c = r.get("omnigate_http_client")
k = r.get("omnigate_http_client_curl")
print(f"ceiling: wrk {r['wrk_cpu_us_per_request']:.1f} us CPU/request" +
      (f"; omnigate's HTTP/1.1 client {c['cpu_us_per_request']:.1f} us CPU/request "
       f"({c['requests_per_s']:.0f} requests/s, {c['concurrency']} outstanding)" if c else "") +
      (f"; through libcurl {k['cpu_us_per_request']:.1f} us ({k['requests_per_s']:.0f}/s)"
       if k else ""))
EOF
