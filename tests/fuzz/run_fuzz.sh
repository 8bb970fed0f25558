#!/usr/bin/env bash
# The libFuzzer runs behind the fuzz_build and fuzz_<name>_run tests.
#   run_fuzz.sh build SRC DIR NAME...          clang + FW_FUZZ + FW_SANITIZE tree in DIR
#   run_fuzz.sh run SRC DIR NAME SEEDS SECONDS fuzz NAME for SECONDS from SEEDS
# New inputs go to DIR/corpus/NAME (never into the source tree); a crash is
# saved in DIR/artifacts/ and printed in hex, to be added to
# tests/fuzz/corpus/NAME/ once fixed.
set -euo pipefail
mode=$1 src=$2 dir=$3
shift 3
if ! command -v clang >/dev/null; then
  echo "SKIP: clang is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi
case $mode in
build)
  cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFW_FUZZ=ON -DFW_SANITIZE=ON -DFW_WERROR=ON >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j"$(nproc)" --target "$@"
  ;;
run)
  name=$1 seeds=$2 secs=$3
  [ -x "$dir/tests/fuzz/$name" ] || { echo "FAIL: $dir/tests/fuzz/$name was not built (fuzz_build)"; exit 1; }
  mkdir -p "$dir/corpus/$name" "$dir/artifacts"
  rm -f "$dir/artifacts/$name-"*
  # halt_on_error etc.: any sanitizer report is a failure; -timeout: an
  # input that takes 10 s is a stall
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1
  rc=0
  "$dir/tests/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" \
    "$dir/corpus/$name" "$seeds" >"$dir/$name.log" 2>&1 || rc=$?
  grep -E '^(stat::|#[0-9]+ *DONE|Done [0-9]+ runs)' "$dir/$name.log" || true
  if [ $rc != 0 ]; then
    tail -60 "$dir/$name.log"
    for a in "$dir/artifacts/$name-"*; do
      [ -e "$a" ] || continue
      echo "--- input $a ($(stat -c %s "$a") bytes), first 512 in hex:"
      od -An -tx1 -N512 "$a"
    done
    echo "FAIL: $name found a problem (exit $rc); fix it and keep the input in tests/fuzz/corpus/$name/"
    exit 1
  fi
  echo "ok: $name ran ${secs}s: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$dir/$name.log" | grep -Eo '[0-9]+$') inputs, nothing found"
  ;;
*) echo "usage: run_fuzz.sh build|run ..." >&2; exit 2 ;;
esac
