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
with open(path, "w") as f:
    json.dump(results, f, indent=1)
PY

python3 "$root/bench/report.py" "$out/results.json" "$out"
echo "== report: $out/REPORT.md"
