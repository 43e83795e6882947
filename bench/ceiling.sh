#!/usr/bin/env bash
# The HTTP ceilings: wrk (DESIGN.md §11: 1 thread, 64 connections) posting the request the
# gateway sends to Twilio, with HTTP/1.1 keep-alive, to
#   - nginx (Debian nginx-light, 1 process, `return 201` with a canned Twilio-like body): the
#     reference §11's sends/s and CPU targets are defined against;
#   - the same nginx over TLS (HTTP/1.1);
#   - the mock provider (1 I/O thread, as the benchmark runs it), which is slower than nginx
#     and so flatters a ratio taken against it.
# Beside them, the CPU per request of the gateway's HTTP client alone
# (omnigate-transport-bench, native and curl engines) against the mock, plain and over TLS
# (native: HTTP/1.1; curl: h2 by ALPN, as `http_client: auto` does for https://). Over h2,
# nginx's `return` answers before it has read a POST's body and resets the stream, which
# libcurl reports as an error now and then; the mock reads the body first, as providers do.
#
#   bench/ceiling.sh [--duration 10s] [--connections 64] [--threads 1] [--out FILE.json]
#                    [--build-dir DIR] [--no-nginx]
#
# BENCH_SHORT=1: 3 s. Env: OMNIGATE_MOCK_PROVIDER (mock binary), NGINX (nginx binary).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

duration=10s
[ "${BENCH_SHORT:-0}" = 1 ] && duration=3s
connections=64
threads=1
out=""
build_dir="$root/build/release"
with_nginx=1

usage() { sed -n '13,16p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ceiling: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:?}"; shift 2 ;;
    --connections) connections="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --build-dir) build_dir="${2:?}"; shift 2 ;;
    --no-nginx) with_nginx=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$duration" =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration: like 10s, 2m"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive integer"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
[ "$connections" -ge "$threads" ] || die "--connections must be at least --threads"

mock="${OMNIGATE_MOCK_PROVIDER:-$build_dir/bench/omnigate-mock-provider}"
nginx="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
command -v wrk >/dev/null 2>&1 || die "wrk not installed: run make deps (installs the Debian package wrk)"
if [ "$with_nginx" = 1 ] && [ ! -x "$nginx" ]; then
  die "nginx not installed: run make deps (installs the Debian package nginx-light), or --no-nginx"
fi
command -v python3 >/dev/null 2>&1 || die "python3 not found: run make deps"
[ -x "$mock" ] || die "mock provider not built ($mock): run make build, or" \
  "cmake --build --preset release --target omnigate-mock-provider"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/omnigate-ceiling.XXXXXX")"
mock_pid=""
mock_tls_pid=""
nginx_pid=""
stop() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  local deadline=$((SECONDS + 5))
  while kill -0 "$1" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$mock_pid"
  stop "$mock_tls_pid"
  stop "$nginx_pid"
  if [ "$rc" = 0 ]; then rm -rf "$tmp"; else echo "ceiling: logs kept in $tmp" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$mock" --host 127.0.0.1 --port 0 --port-file "$tmp/mock.port" --threads 1 \
  --account-sid ACbench --auth-token bench-token >"$tmp/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [ -s "$tmp/mock.port" ] && break; sleep 0.05; done
[ -s "$tmp/mock.port" ] || die "mock provider did not start (log: $tmp/mock.log)"
port="$(cat "$tmp/mock.port")"
bash "$here/tls_certs.sh" "$tmp/tls"
"$mock" --host 127.0.0.1 --port 0 --port-file "$tmp/mock_tls.port" --threads 1 \
  --account-sid ACbench --auth-token bench-token \
  --tls-cert "$tmp/tls/server.pem" --tls-key "$tmp/tls/server.key" >"$tmp/mock_tls.log" 2>&1 &
mock_tls_pid=$!
for _ in $(seq 100); do [ -s "$tmp/mock_tls.port" ] && break; sleep 0.05; done
[ -s "$tmp/mock_tls.port" ] || die "mock provider over TLS did not start (log: $tmp/mock_tls.log)"
tls_port="$(cat "$tmp/mock_tls.port")"

# The request the gateway's Twilio adapter sends (bench/harness.py's account).
twilio_path="/2010-04-01/Accounts/ACbench/Messages.json"
cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "To=%2B40700000001&From=%2B15005550006&Body=ceiling%20measurement"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic QUNiZW5jaDpiZW5jaC10b2tlbg=="

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
# that its CPU per request sits beside the gateway's HTTP client's; the
# server's CPU over the same run comes from /proc/PID/stat.
cat >"$tmp/cpu_of.py" <<'EOF'
import os, resource, subprocess, sys
def server_cpu(pid):
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
s0 = server_cpu(sys.argv[2])
rc = subprocess.call(sys.argv[3:])
s1 = server_cpu(sys.argv[2])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write("%.6f %.6f\n" % (r.ru_utime + r.ru_stime, s1 - s0))
sys.exit(rc)
EOF
# run_wrk NAME SERVER_PID URL: $tmp/NAME.out (wrk's output), $tmp/NAME.cpu (wrk, server seconds)
run_wrk() {
  python3 "$tmp/cpu_of.py" "$tmp/$1.cpu" "$2" wrk -t"$threads" -c"$connections" -d"$duration" \
    --latency -s "$tmp/post.lua" "$3" >"$tmp/$1.out" 2>&1 ||
    die "wrk -> $1 failed: $(tail -5 "$tmp/$1.out")"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
run_wrk mock "$mock_pid" "http://127.0.0.1:$port$twilio_path"

# nginx on 127.0.0.1 (plain and TLS ports), one process (master_process off),
# keep-alive without a request limit, no logging, a canned Twilio answer.
nginx_json="null"
nginx_tls_json="null"
if [ "$with_nginx" = 1 ]; then
  nginx_port="$(free_port)"
  nginx_tls_port="$(free_port)"
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$nginx_port;
    listen 127.0.0.1:$nginx_tls_port ssl;
    ssl_certificate $tmp/tls/server.pem;
    ssl_certificate_key $tmp/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      default_type application/json;
      return 201 '{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+40700000001","from":"+15005550006","messaging_service_sid":null,"body":"ceiling measurement","num_segments":"1","direction":"outbound-api","account_sid":"ACbench","uri":"/2010-04-01/Accounts/ACbench/Messages/SM0123456789abcdef0123456789abcdef.json"}';
    }
  }
}
EOF
  "$nginx" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" >"$tmp/nginx.log" 2>&1 &
  nginx_pid=$!
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$nginx_port/")" = 201 ] && break
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx did not start: $(tail -5 "$tmp/nginx/error.log" "$tmp/nginx.log")"
    sleep 0.05
  done
  run_wrk nginx "$nginx_pid" "http://127.0.0.1:$nginx_port$twilio_path"
  run_wrk nginx_tls "$nginx_pid" "https://127.0.0.1:$nginx_tls_port$twilio_path"
fi

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
  transport() {  # ENGINE URL [--ca-file FILE]
    local engine="$1" url="$2"
    shift 2
    "$transport_bench" --url "$url" --count "$count" --concurrency "$connections" \
      --engine "$engine" "$@" 2>"$tmp/transport.err" ||
      die "omnigate-transport-bench --engine $engine $url failed: $(tail -5 "$tmp/transport.err")"
  }
  client="$(transport native "http://127.0.0.1:$port/generic/send")"
  client_curl="$(transport curl "http://127.0.0.1:$port/generic/send")"
  tls_url="https://127.0.0.1:$tls_port/generic/send"
  client_tls="$(transport native "$tls_url" --ca-file "$tmp/tls/ca.pem")"
  client_curl_tls="$(transport curl "$tls_url" --ca-file "$tmp/tls/ca.pem")"
fi
client_tls="${client_tls:-null}"
client_curl_tls="${client_curl_tls:-null}"
wrk_line() {
  local line
  line="$(sed -n 's/^CEILING_RESULT //p' "$tmp/$1.out")"
  [ -n "$line" ] || die "no result line from wrk -> $1: $(tail -5 "$tmp/$1.out")"
  printf '%s' "$line"
}
mock_line="$(wrk_line mock)"
nginx_line="null"
nginx_tls_line="null"
nginx_version=""
if [ "$with_nginx" = 1 ]; then
  nginx_line="$(wrk_line nginx)"
  nginx_tls_line="$(wrk_line nginx_tls)"
  nginx_version="$("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
fi
cpu_pair() { if [ -s "$tmp/$1.cpu" ]; then cat "$tmp/$1.cpu"; else echo "0 0"; fi; }

result="$(python3 - "$connections" "$threads" "$load" "$nginx_version" "$mock_line" \
  "$(cpu_pair mock)" "$nginx_line" "$(cpu_pair nginx)" "$nginx_tls_line" "$(cpu_pair nginx_tls)" \
  "$client" "$client_curl" "$client_tls" "$client_curl_tls" <<'EOF'
import json, sys
conns, threads, load, nginx_version = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
client, client_curl, client_tls, client_curl_tls = (json.loads(a) for a in sys.argv[11:15])


def figures(line, cpu, target, notes):
    w = json.loads(line)
    if w is None:
        return None
    wrk_cpu, server_cpu = (float(v) for v in cpu.split())
    n = max(1, w["requests"])
    return {
        "tool": "wrk",
        "target": target,
        "requests_per_s": round(w["requests"] / w["duration_s"], 1),
        "requests": w["requests"],
        "wrk_cpu_us_per_request": round(wrk_cpu * 1e6 / n, 2),
        "server_cpu_us_per_request": round(server_cpu * 1e6 / n, 2),
        "connections": conns,
        "threads": threads,
        "duration_s": round(w["duration_s"], 3),
        "latency_ms": w["latency_ms"],
        "errors": w["errors"],
        "notes": notes,
    }


same = (f"wrk {threads} thread(s), {conns} connections, HTTP/1.1 keep-alive, POST of the "
        f"gateway's Twilio request, same box; load average before the run: {load}")
# The mock's figures stay at the top level (the report's `ceiling`), the
# nginx ones beside them: DESIGN.md §11's ratios are taken against nginx.
result = figures(sys.argv[5], sys.argv[6], "mock provider POST /2010-04-01/.../Messages.json",
                 "mock provider on 1 I/O thread; " + same)
result.update({
    "omnigate_http_client": client,
    "omnigate_http_client_curl": client_curl,
    "nginx": figures(sys.argv[7], sys.argv[8], f"{nginx_version}, return 201 (canned Twilio body)",
                     "nginx-light, one process (master_process off), access log off; " + same),
    "nginx_tls": figures(sys.argv[9], sys.argv[10],
                         f"{nginx_version} over TLS, return 201 (canned Twilio body)",
                         "the same nginx over TLS 1.3 (P-256 ECDSA certificate; wrk does not "
                         "verify it); " + same),
    # The gateway's client alone over TLS to the mock: native keeps
    # HTTP/1.1, curl negotiates h2 (the mock offers it) and multiplexes.
    "omnigate_http_client_tls": client_tls,
    "omnigate_http_client_curl_tls": client_curl_tls,
})
print(json.dumps(result, indent=2))
EOF
)"
if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  printf '%s\n' "$result" >"$out"
fi
python3 - "$result" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
for key, what in (("nginx", "nginx"), ("nginx_tls", "nginx over TLS"), (None, "the mock")):
    c = r.get(key) if key else r
    if not c:
        continue
    errors = sum(c["errors"].values())
    print(f"ceiling: {c['requests_per_s']:.0f} requests/s against {what} (wrk -t{c['threads']} "
          f"-c{c['connections']}, {c['duration_s']:.1f} s, p99 {c['latency_ms']['p99']:.2f} ms, "
          f"{errors} errors); CPU per request: wrk {c['wrk_cpu_us_per_request']:.1f} us, "
          f"server {c['server_cpu_us_per_request']:.1f} us")
for key, what in (("omnigate_http_client", "native, mock"),
                  ("omnigate_http_client_curl", "curl, mock"),
                  ("omnigate_http_client_tls", "native, mock over TLS (HTTP/1.1)"),
                  ("omnigate_http_client_curl_tls", "curl, mock over TLS (h2)")):
    c = r.get(key)
    if c:
        print(f"ceiling: omnigate-transport-bench ({what}): {c['cpu_us_per_request']:.1f} us "
              f"CPU/request, {c['requests_per_s']:.0f} requests/s, {c['concurrency']} outstanding")
EOF
