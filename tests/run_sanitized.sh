#!/usr/bin/env bash
# Runs ctest for a sanitizer preset and fails on any sanitizer report.
# usage: tests/run_sanitized.sh PRESET REPORT_DIR [ctest args...]
#
# Reports go to files (log_path) rather than stderr because the e2e tests
# start the gateway and the mock provider as child processes whose output
# lands in temporary logs that nobody reads: a finding there would not fail
# the test that started them. A test binary with a finding fails on its own
# (the sanitizers abort); this script also fails the run when only a child
# process had one, and prints every report.
set -uo pipefail
preset="$1"
reports="$2"
shift 2

rm -rf "$reports"
mkdir -p "$reports"
common="log_path=$reports/report:print_stacktrace=1"
export ASAN_OPTIONS="$common:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="$common:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
here="$(cd "$(dirname "$0")" && pwd)"
export TSAN_OPTIONS="$common:halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

ctest --preset "$preset" "$@"
rc=$?

shopt -s nullglob
found=("$reports"/report.*)
if [ "${#found[@]}" -gt 0 ]; then
  echo "run_sanitized: ${#found[@]} sanitizer report(s) in $reports:" >&2
  for f in "${found[@]}"; do
    echo "===== $f" >&2
    cat "$f" >&2
  done
  exit 1
fi
exit "$rc"
