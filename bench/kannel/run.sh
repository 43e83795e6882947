#!/usr/bin/env bash
# Reference measurement: Kannel 1.4.5 (bearerbox + smsbox) pushing SMS over its generic HTTP
# SMSC to the mock provider. See bench/kannel/README.md.
#
#   bench/kannel/run.sh [--requests N] [--concurrency C] [--out FILE.json] [--build-dir DIR]
#
# Drives N sendsms requests into smsbox with wrk (C connections) and measures the rate at which
# the mock provider receives them (first to last). BENCH_SHORT=1: 5000 requests.
# Env: OMNIGATE_MOCK_PROVIDER (mock binary), KANNEL_BENCH_KEEP=1 (keep the temp dir),
#      KANNEL_BENCH_TEMPLATE (another config template, for experiments).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

requests=20000
[ "${BENCH_SHORT:-0}" = 1 ] && requests=5000
concurrency=64
out=""
build_dir="$root/build/release"

usage() { sed -n '5,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "kannel-bench: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests="${2:?}"; shift 2 ;;
    --concurrency) concurrency="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --build-dir) build_dir="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$requests" =~ ^[1-9][0-9]*$ ]] || die "--requests must be a positive integer"
[[ "$concurrency" =~ ^[1-9][0-9]*$ ]] || die "--concurrency must be a positive integer"

# --- binaries -------------------------------------------------------------------------------
bearerbox=/usr/sbin/bearerbox
smsbox=/usr/sbin/smsbox
mock="${OMNIGATE_MOCK_PROVIDER:-$build_dir/bench/omnigate-mock-provider}"
{ [ -x "$bearerbox" ] && [ -x "$smsbox" ]; } ||
  die "Kannel not installed ($bearerbox, $smsbox): run make deps (installs the Debian package kannel)"
command -v wrk >/dev/null 2>&1 || die "wrk not installed: run make deps (installs the Debian package wrk)"
command -v python3 >/dev/null 2>&1 || die "python3 not found: run make deps"
[ -x "$mock" ] || die "mock provider not built ($mock): run make build, or" \
  "cmake --build --preset release --target omnigate-mock-provider"

kannel_version="$("$bearerbox" --version 2>&1 | sed -n "s/.*bearerbox version \`\([^']*\)'.*/\1/p" | head -1 || true)"
deb_version="$(dpkg-query -W -f='${Version}' kannel 2>/dev/null || true)"
[ -n "$kannel_version" ] || kannel_version="unknown"

# Debian's package runs its own bearerbox (and wapbox) from /etc/init.d/kannel on hosts with an
# init system. We never use it and pick fresh ports, so it cannot collide, but it takes CPU:
# stop it through its init script when we may, else say so.
service_pid="$(cat /var/run/kannel/kannel_bearerbox.pid 2>/dev/null || true)"
if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && [ -x /etc/init.d/kannel ]; then
    echo "kannel-bench: stopping Debian's kannel service (/etc/init.d/kannel stop)" >&2
    /etc/init.d/kannel stop >/dev/null 2>&1 || true
  else
    echo "kannel-bench: warning: Debian's kannel service is running and takes CPU;" \
      "stop it with: sudo service kannel stop" >&2
  fi
fi

# --- temp dir and teardown ------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/omnigate-kannel.XXXXXX")"
pids=()
ok=0
cleanup() {
  local rc=$?
  # Stop in reverse start order: smsbox, bearerbox, then the mock and helpers.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 10))
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    while kill -0 "${pids[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [ "$ok" = 1 ] && [ "${KANNEL_BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$tmp"
  else
    echo "kannel-bench: logs kept in $tmp" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until 127.0.0.1:$1 accepts a TCP connection, or dies after $2 seconds.
wait_port() {
  python3 - "$1" "$2" "$3" <<'EOF' || die "$3 did not open port $1 within $2 s (logs: $tmp)"
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# GET http://127.0.0.1:$1$2, prints "<status> <body>" (status 0 if the connection failed).
http_get() {
  python3 - "$1" "$2" <<'EOF'
import http.client, sys
try:
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
    c.request("GET", sys.argv[2])
    r = c.getresponse()
    print(r.status, r.read().decode(errors="replace"))
except OSError:
    print(0)
EOF
}

# --- mock provider --------------------------------------------------------------------------
"$mock" --host 127.0.0.1 --port 0 --port-file "$tmp/mock.port" --threads 1 \
  >"$tmp/mock.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$tmp/mock.port" ] && break; sleep 0.05; done
[ -s "$tmp/mock.port" ] || die "mock provider did not start (log: $tmp/mock.log)"
mock_port="$(cat "$tmp/mock.port")"

# Kannel's generic HTTP SMSC can only send GET; the mock must answer it as a send.
probe="$(http_get "$mock_port" "/generic/send?from=12345&to=%2B40700000000&text=probe")"
notes="sendsms GET -> smsbox -> bearerbox -> smsc http/generic GET /generic/send; no DLR, no store, no throughput limit, log-level 1, wrk ${concurrency} connections; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
ok_body='^200 .*"status"[[:space:]]*:[[:space:]]*"ok"'
[[ "$probe" =~ $ok_body ]] ||
  die "the mock did not accept GET /generic/send (got: ${probe:-none}); rebuild omnigate-mock-provider"
success_regex='status[^a-z]{1,6}ok'
permfail_regex='invalid_number'
mode="strict"

baseline="$(http_get "$mock_port" /_mock/stats | python3 -c '
import json, sys
print(json.loads(sys.stdin.read().split(" ", 1)[1])["apis"]["generic"])')"

# --- Kannel ---------------------------------------------------------------------------------
read -r admin_port smsbox_port smsc_mo_port sendsms_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()')
admin_password="bench-admin"
sendsms_user="bench"
sendsms_password="bench-pass"

conf="$tmp/kannel.conf"
sed -e "s|@DIR@|$tmp|g" \
    -e "s|@ADMIN_PORT@|$admin_port|g" \
    -e "s|@ADMIN_PASSWORD@|$admin_password|g" \
    -e "s|@SMSBOX_PORT@|$smsbox_port|g" \
    -e "s|@SMSC_MO_PORT@|$smsc_mo_port|g" \
    -e "s|@SENDSMS_PORT@|$sendsms_port|g" \
    -e "s|@MOCK_PORT@|$mock_port|g" \
    -e "s/@SUCCESS_REGEX@/$success_regex/g" \
    -e "s/@PERMFAIL_REGEX@/$permfail_regex/g" \
    -e "s|@SENDSMS_USER@|$sendsms_user|g" \
    -e "s|@SENDSMS_PASSWORD@|$sendsms_password|g" \
    "${KANNEL_BENCH_TEMPLATE:-$here/kannel.conf.in}" >"$conf"
! grep -q '@[A-Z_]*@' "$conf" || die "unfilled placeholder in $conf"

# -v 2: warnings and worse on the console (captured in *.out); the log files get log-level 1.
"$bearerbox" -v 2 "$conf" >"$tmp/bearerbox.out" 2>&1 &
pids+=("$!")
wait_port "$smsbox_port" 20 bearerbox
"$smsbox" -v 2 "$conf" >"$tmp/smsbox.out" 2>&1 &
pids+=("$!")
wait_port "$sendsms_port" 20 smsbox

# Ready when bearerbox reports the SMSC online and the smsbox connected.
deadline=$((SECONDS + 20))
while :; do
  st="$(http_get "$admin_port" "/status.txt?password=$admin_password")"
  if grep -q "mock.*online" <<<"$st" && grep -qi "smsbox:" <<<"$st"; then break; fi
  [ "$SECONDS" -lt "$deadline" ] || die "Kannel not ready within 20 s (status: $st; logs: $tmp)"
  sleep 0.1
done

# --- load -----------------------------------------------------------------------------------
threads=2
[ "$concurrency" -lt 2 ] && threads=1
python3 "$here/watch_provider.py" --port "$mock_port" --baseline "$baseline" \
  --target "$requests" --stop-file "$tmp/wrk.done" --out "$tmp/provider.json" \
  --deadline $((120 + requests / 50)) --ready-file "$tmp/watcher.ready" &
watcher=$!
pids+=("$watcher")
for _ in $(seq 200); do [ -e "$tmp/watcher.ready" ] && break; sleep 0.02; done
[ -e "$tmp/watcher.ready" ] || die "provider watcher did not start"

# wrk only returns after -d or on SIGINT: once every thread has dropped its done file (all its
# sendsms answered), interrupt it. sendsms_ns is the time from start to the last done file.
mkdir -p "$tmp/wrk-threads"
t0="$(date +%s%N)"
KANNEL_BENCH_REQUESTS="$requests" KANNEL_BENCH_THREADS="$threads" \
KANNEL_BENCH_USER="$sendsms_user" KANNEL_BENCH_PASSWORD="$sendsms_password" \
KANNEL_BENCH_DONE_DIR="$tmp/wrk-threads" \
  wrk -t"$threads" -c"$concurrency" -d"$((60 + requests / 50))s" --timeout 30s \
  -s "$here/sendsms.lua" "http://127.0.0.1:$sendsms_port/" >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sendsms_ns=""
while kill -0 "$wrk_pid" 2>/dev/null; do
  if [ -z "$sendsms_ns" ] &&
     [ "$(find "$tmp/wrk-threads" -name 'thread-*.done' | wc -l)" -ge "$threads" ]; then
    sendsms_ns=$(($(date +%s%N) - t0))
    kill -INT "$wrk_pid" 2>/dev/null || true
  fi
  sleep 0.02
done
wrk_rc=0
wait "$wrk_pid" || wrk_rc=$?
touch "$tmp/wrk.done"
[ "$wrk_rc" = 0 ] || die "wrk failed ($wrk_rc): $(tail -5 "$tmp/wrk.out")"
[ -n "$sendsms_ns" ] || sendsms_ns=$(($(date +%s%N) - t0))
wait "$watcher" || die "provider watcher failed"

wrk_json="$(sed -n 's/^KANNEL_WRK_RESULT //p' "$tmp/wrk.out")"
[ -n "$wrk_json" ] || die "no result line from wrk: $(tail -5 "$tmp/wrk.out")"

result="$(python3 - "$tmp/provider.json" "$wrk_json" "$kannel_version" "$deb_version" \
  "$requests" "$concurrency" "$mode" "$notes" "$sendsms_ns" <<'EOF'
import json, sys
prov = json.load(open(sys.argv[1]))
wrk = json.loads(sys.argv[2])
version, deb, requests, conc, mode, notes, sendsms_ns = sys.argv[3:10]
sendsms_s = int(sendsms_ns) / 1e9
requests = int(requests)
if prov["received"] < requests:
    notes += f"; provider saw {prov['received']} of {requests} (stopped by {prov['stopped_by']})"
print(json.dumps({
    "version": version,
    "debian_package": deb,
    "sends_per_s": round(prov["sends_per_s"], 1),
    "requests": requests,
    "received_by_provider": prov["received"],
    "duration_s": round(prov["span_s"], 3),
    "concurrency": int(conc),
    "sendsms_accepted": wrk["accepted"],
    "sendsms_refused": wrk["refused"],
    "sendsms_per_s": round(wrk["answered"] / sendsms_s, 1) if sendsms_s > 0 else 0,
    "sendsms_latency_ms": wrk["latency_ms"],
    "wrk_errors": wrk["errors"],
    # Status counts other than 200 (the mock counts its own /_mock/stats answers as 200s).
    "provider_non_200": {k: v for k, v in prov["provider_status"].items() if k != "200"},
    "mode": mode,
    "notes": notes,
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
print(f"kannel {r['version']}: {r['sends_per_s']:.0f} sends/s at the provider "
      f"({r['received_by_provider']}/{r['requests']} in {r['duration_s']:.2f} s; "
      f"{r['sendsms_accepted']} sendsms accepted at {r['sendsms_per_s']:.0f}/s; "
      f"c={r['concurrency']}; mode {r['mode']})")
EOF
ok=1
