#!/usr/bin/env bash
# Runs each libFuzzer target for a set time and prints what it did.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]   (default: all)
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<name>) and
# keeps what it finds in BUILD_DIR/fuzz-work/<name>, so that later runs start
# further on without writing into the repository. A crash, leak, timeout or
# failed invariant is saved under BUILD_DIR/fuzz-findings/ and fails the run;
# reproduce one with `BUILD_DIR/tests/fuzz/fuzz_<name> FILE`.
set -uo pipefail
build="$1"
seconds="$2"
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(request_decoder config http1_response webpush_keys)
fi

findings="$build/fuzz-findings"
mkdir -p "$findings"
summary=()
failed=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (build the fuzz preset: make fuzz)" >&2
    exit 2
  fi
  work="$build/fuzz-work/$t"
  mkdir -p "$work"
  log="$build/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s"
  # -timeout: one input taking 10 s is a finding (a hang), not slowness.
  "$bin" "$work" "$here/corpus/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$findings/$t-" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    failed=1
    summary+=("$t: FINDING after ${runs:-?} runs (exit $rc), see $log")
    grep -E '^==[0-9]+==ERROR|runtime error|fuzz invariant failed|^SUMMARY|Test unit written' "$log" | head -8
  else
    summary+=("$t: ${runs:-?} runs, ${rate:-?}/s, ${cov:-cov: ?}, no findings")
  fi
done
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
