#!/usr/bin/env bash
# `make bench` (BENCH_SHORT=1: `make bench-short`, under 2 minutes): runs the
# scenarios, the references (wrk ceiling, Kannel) and writes bench/results/:
# results.json, REPORT.md and the plots.
set -euo pipefail

build_dir="$(cd "${1:-build/release}" && pwd)"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/bench/results"
mkdir -p "$out"
short_flag=()
if [ "${BENCH_SHORT:-0}" = 1 ]; then short_flag=(--short); fi

echo "== scenarios (gateway, embedded Kafka and mock provider as separate processes)"
python3 "$root/bench/harness.py" --build-dir "$build_dir" --out "$out/results.json" \
  "${short_flag[@]}" ${BENCH_ONLY:+--only "$BENCH_ONLY"}

refs="$(mktemp -d)"
trap 'rm -rf "$refs"' EXIT
if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_REFERENCES:-0}" = 1 ]; then
  echo "== HTTP ceiling: wrk against the mock provider"
  bash "$root/bench/ceiling.sh" --out "$refs/ceiling.json" || echo "ceiling: failed, reported as not measured"
  echo "== Kannel 1.4.5: sendsms -> HTTP SMSC -> the same mock provider"
  bash "$root/bench/kannel/run.sh" --out "$refs/kannel.json" || echo "kannel: failed, reported as not measured"
fi

echo "== micro-benchmarks (omnigate-micro-bench)"
min_time=0.5
[ "${BENCH_SHORT:-0}" = 1 ] && min_time=0.1
"$build_dir/bench/omnigate-micro-bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time="$min_time" \
  --benchmark_out="$refs/micro.json" --benchmark_out_format=json >/dev/null ||
  echo "micro-benchmarks: failed, reported as not measured"

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
