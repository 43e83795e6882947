#!/usr/bin/env bash
# `make demo`: the gateway on embedded Kafka with the mock provider, a sample
# load published by kcat (an independent Kafka client), a live line from
# /metrics, and a final report computed from the events topic.
set -euo pipefail

build_dir="${1:-build/release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
count="${DEMO_REQUESTS:-20000}"
work="$root/var/demo"
rm -rf "$work"
mkdir -p "$work"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_for_file() {  # path, seconds
  local deadline=$((SECONDS + $2))
  until [ -s "$1" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "demo: timed out waiting for $1" >&2; return 1; fi
    sleep 0.1
  done
}

echo "== starting the mock providers (Twilio, SendGrid, Viber, a push service)"
# Of the messages they accept, they report 85% delivered (half of Viber's
# and email's also read/opened), 8% failed and 7% nothing at all, 0.2-1.7 s
# later, each receipt signed as that provider signs it.
"$build_dir/bench/omnigate-mock-provider" --port 0 --port-file "$work/mock.port" \
  --account-sid ACdemo --auth-token demo-token --sendgrid-api-key SG.demo \
  --viber-auth-token viber-demo --latency-ms 2 --invalid-number-rate 0.03 --gone-rate 0.02 \
  --receipt-delivered 0.85 --receipt-failed 0.08 --receipt-read 0.5 --receipt-delay-ms 200 \
  --receipt-jitter-ms 1500 --sendgrid-public-key-file "$work/sendgrid.pub" \
  --seed 11 >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for_file "$work/mock.port" 10
mock_port="$(cat "$work/mock.port")"
wait_for_file "$work/sendgrid.pub" 5
sendgrid_pub="$(cat "$work/sendgrid.pub")"
mock="http://127.0.0.1:$mock_port"
vapid_private="$("$build_dir/gateway/omnigate" vapid-keys --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["privateKey"])')"
# Subscription keys as browsers would make them: fresh P-256 public keys.
push_keys=()
for _ in 1 2 3 4; do
  push_keys+=(--push-key "$("$build_dir/gateway/omnigate" vapid-keys --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])')")
done

quiet_window="$(TZ=Europe/Bucharest date -d '-1 hour' +%H:%M)-$(TZ=Europe/Bucharest date -d '+1 hour' +%H:%M)"
cat >"$work/omnigate.yaml" <<YAML
kafka:
  brokers: embedded
  embedded: {partitions: 16, bootstrap_file: "$work/bootstrap"}
  commit_interval: 100ms
pipeline: {workers: 2}
http: {listen: "127.0.0.1:0", port_file: "$work/http.port"}
log: {level: info}
state: {path: "$work/state"}
policy:
  defaults: {dedup_window: 24h}
  tenants:
    shop-ro:
      content_dedup: true
      timezone: Europe/Bucharest
      frequency_caps:
        - {channel: all, lanes: bulk, limits: [1/1h, 3/24h]}
    night-shop:
      timezone: Europe/Bucharest
      # Quiet from an hour ago to an hour from now, Bucharest time: whenever
      # the demo runs, this tenant's bulk sends are deferred.
      quiet_hours:
        - {window: "$quiet_window", lanes: bulk}
providers:
  - name: sms-main
    type: twilio
    base_url: "$mock"
    account_sid: ACdemo
    auth_token: "\${DEMO_TWILIO_TOKEN}"
    from: "+15005550006"
    max_in_flight: 512
  - name: email-main
    type: sendgrid
    base_url: "$mock"
    api_key: "\${DEMO_SENDGRID_KEY}"
    category: demo
    webhook_public_key: "$sendgrid_pub"
  - name: viber-main
    type: viber
    base_url: "$mock"
    auth_token: "\${DEMO_VIBER_TOKEN}"
    sender_name: Shop
  - name: push-main
    type: webpush
    vapid_private_key: "\${DEMO_VAPID_KEY}"
    vapid_subject: "mailto:ops@shop.example"
    endpoint_origin_override: "$mock"
YAML

echo "== starting omnigate (embedded Kafka)"
DEMO_TWILIO_TOKEN=demo-token DEMO_SENDGRID_KEY=SG.demo DEMO_VIBER_TOKEN=viber-demo \
  DEMO_VAPID_KEY="$vapid_private" "$build_dir/gateway/omnigate" run -c "$work/omnigate.yaml" \
  >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for_file "$work/bootstrap" 20
wait_for_file "$work/http.port" 20
bootstrap="$(cat "$work/bootstrap")"
http_port="$(cat "$work/http.port")"
echo "   kafka bootstrap: $bootstrap   http: http://127.0.0.1:$http_port/metrics"

deadline=$((SECONDS + 30))
until curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "demo: gateway never became ready" >&2; cat "$work/gateway.log" >&2; exit 1; }
  sleep 0.2
done

echo "== pointing the mock providers' receipts at POST /v1/receipts/{provider}"
gw="http://127.0.0.1:$http_port"
curl -sf -X POST "$mock/_mock/receipts" -o /dev/null \
  -d "{\"urls\":{\"twilio\":\"$gw/v1/receipts/sms-main\",\"sendgrid\":\"$gw/v1/receipts/email-main\",\"viber\":\"$gw/v1/receipts/viber-main\"}}"

echo "== recording an opt-out through the admin API (POST /v1/suppressions)"
curl -sf -X POST "http://127.0.0.1:$http_port/v1/suppressions" \
  -d '{"tenant":"shop-ro","address":"+40 700 999 001","channel":"all","reason":"STOP","source":"sms-keyword"}'
echo

echo "== publishing $count requests (all four channels, Viber->SMS cascades, invalid ones) with kcat"
python3 "$root/bench/demo_load.py" --count "$count" "${push_keys[@]}" >"$work/requests.tsv"
for topic in omnigate.requests omnigate.requests.bulk; do
  awk -F'\t' -v t="$topic" 'BEGIN {OFS="\t"} $1 == t {print $2, $3}' "$work/requests.tsv" \
    >"$work/$topic.txt"
  kcat -P -b "$bootstrap" -t "$topic" -K $'\t' -l "$work/$topic.txt"
done
expected="$(wc -l <"$work/requests.tsv")"

metric() {  # name-with-labels
  curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
# Requests whose handling ended here: a final event, or handed to a durable
# timer (quiet hours: they go out when the window opens).
final_total() {
  curl -sf "http://127.0.0.1:$http_port/metrics" |
    awk '$1 ~ /^omnigate_requests_final_total/ || $1 == "omnigate_deferred_total" {s += $2}
         END {print s + 0}'
}

deadline=$((SECONDS + 300))
while :; do
  done_n="$(final_total)"
  printf '\r   consumed %s  sent %s  rejected %s  failed %s  duplicate %s  suppressed %s  deferred %s  in-flight %s   ' \
    "$(( $(metric 'omnigate_requests_consumed_total{lane="transactional"}') + $(metric 'omnigate_requests_consumed_total{lane="bulk"}') ))" \
    "$(metric 'omnigate_requests_final_total{status="sent"}')" \
    "$(metric 'omnigate_requests_final_total{status="rejected"}')" \
    "$(metric 'omnigate_requests_final_total{status="failed"}')" \
    "$(metric 'omnigate_requests_final_total{status="duplicate"}')" \
    "$(metric 'omnigate_requests_final_total{status="suppressed"}')" \
    "$(metric 'omnigate_deferred_total')" \
    "$(metric 'omnigate_in_flight')"
  [ "$done_n" -ge "$expected" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then echo; echo "demo: timed out" >&2; exit 1; fi
  sleep 0.5
done
echo

# The last receipts come up to 1.7 s after the last send (a few retried).
deadline=$((SECONDS + 60))
until curl -sf "$mock/_mock/receipts" | grep -q '"pending":0,'; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "demo: receipts still pending" >&2; break; }
  sleep 0.2
done
printf '   receipts: %s\n' "$(curl -sf "http://127.0.0.1:$http_port/metrics" |
  awk '$1 ~ /^omnigate_receipts_total/ {split($1, a, "result=\""); split(a[2], b, "\""); n[b[1]] += $2}
       END {for (k in n) printf "%s %d  ", k, n[k]}')"

echo "== report (computed from omnigate.events and omnigate.dlq read back with kcat)"
for topic in omnigate.requests omnigate.requests.bulk; do
  kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -f '%T\t%s\n'
done >"$work/requests.out"
kcat -C -b "$bootstrap" -t omnigate.events -o beginning -e -q -f '%s\n' >"$work/events.out"
kcat -C -b "$bootstrap" -t omnigate.dlq -o beginning -e -q -f '%h\n' >"$work/dlq.out"
python3 "$root/bench/demo_report.py" "$work/requests.out" "$work/events.out" "$work/dlq.out"

echo "== one more request from the command line: omnigate send --wait, then omnigate status"
# The commands read only the kafka section; the demo's broker is the one
# inside the running gateway, at the bootstrap address it wrote.
cat >"$work/cli.yaml" <<YAML
kafka: {brokers: "$bootstrap"}
YAML
"$build_dir/gateway/omnigate" send -c "$work/cli.yaml" --id demo-cli-1 --to "+40 700 000 999" \
  --sms "Your demo code is 2468" --wait --timeout 60s
echo "-- omnigate status demo-cli-1"
"$build_dir/gateway/omnigate" status demo-cli-1 -c "$work/cli.yaml"
echo "   logs and raw data: $work"
