#!/usr/bin/env bash
# `make bench` (BENCH_SHORT=1: `make bench-short`, about 2 minutes): runs the
# scenarios, the references (wrk ceilings against nginx and the mock, Kannel)
# and the micro-benchmarks, and writes bench/results/ (BENCH_OUT=DIR: there):
# results.json, REPORT.md and the plots.
#
# BENCH_ONLY=a,b: those scenarios (or groups: max-sms-tls) only, without the
# references and micro-benchmarks; BENCH_REFERENCES=1 adds the references,
# BENCH_REFERENCES=ceiling the ceilings alone; BENCH_MICRO=1 the micro-benchmarks.
set -euo pipefail

build_dir="$(cd "${1:-build/release}" && pwd)"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/results}"
mkdir -p "$out"
short_flag=()
if [ "${BENCH_SHORT:-0}" = 1 ]; then short_flag=(--short); fi

echo "== scenarios (gateway, embedded Kafka and mock provider as separate processes)"
python3 "$root/bench/harness.py" --build-dir "$build_dir" --out "$out/results.json" \
  "${short_flag[@]}" ${BENCH_ONLY:+--only "$BENCH_ONLY"}

refs="$(mktemp -d)"
trap 'rm -rf "$refs"' EXIT
references="${BENCH_REFERENCES:-0}"
[ -z "${BENCH_ONLY:-}" ] && references=1
if [ "$references" = 1 ] || [ "$references" = ceiling ]; then
  echo "== HTTP ceilings: wrk against nginx (plain and TLS) and the mock provider"
  bash "$root/bench/ceiling.sh" --build-dir "$build_dir" --out "$refs/ceiling.json" ||
    echo "ceiling: failed, reported as not measured"
fi
if [ "$references" = 1 ]; then
  echo "== Kannel 1.4.5: sendsms -> HTTP SMSC -> the same mock provider"
  bash "$root/bench/kannel/run.sh" --out "$refs/kannel.json" || echo "kannel: failed, reported as not measured"
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_MICRO:-0}" = 1 ]; then
  echo "== micro-benchmarks (omnigate-micro-bench)"
  min_time=0.5
  [ "${BENCH_SHORT:-0}" = 1 ] && min_time=0.1
  "$build_dir/bench/omnigate-micro-bench" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_min_time="$min_time" \
    --benchmark_out="$refs/micro.json" --benchmark_out_format=json >/dev/null ||
    echo "micro-benchmarks: failed, reported as not measured"
fi

python3 - "$out/results.json" "$refs" <<'PY'
import json, os, sys
path, refs = sys.argv[1], sys.argv[2]
with open(path) as f:
    results = json.load(f)
for key, name in (("ceiling", "ceiling.json"), ("kannel", "kannel.json")):
    p = os.path.join(refs, name)
    if os.path.exists(p) and os.path.getsize(p) > 0:
        with open(p) as f:
            results[key] = json.load(f)
# Google Benchmark's JSON, reduced to the median CPU time of each benchmark.
p = os.path.join(refs, "micro.json")
if os.path.exists(p) and os.path.getsize(p) > 0:
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    with open(p) as f:
        micro = json.load(f)
    results["micro"] = [
        {"name": b["run_name"], "cpu_us": round(b["cpu_time"] * scale.get(b.get("time_unit"), 1e-3), 3)}
        for b in micro.get("benchmarks", []) if b.get("aggregate_name") == "median"]
with open(path, "w") as f:
    json.dump(results, f, indent=1)
PY

python3 "$root/bench/report.py" "$out/results.json" "$out"
echo "== report: $out/REPORT.md"
