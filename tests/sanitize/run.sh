#!/usr/bin/env bash
# The sanitize_* tests: configure and build a sanitizer tree, run its tests.
#   run.sh address SRC DIR EXCLUDE_LABELS   every test whose labels do not match
#   run.sh thread  SRC DIR TEST_NAMES       the tests whose names match
# DIR is a build tree of its own (kept between runs: a rebuild is
# incremental). Any sanitizer report fails the test that made it.
set -euo pipefail
kind=$1 src=$2 dir=$3 pattern=$4
jobs=$(nproc)
t0=$(date +%s)
opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_WERROR=ON -DFW_SANITIZE="$kind"
      -DFW_SHARED_DIR="${FW_SHARED_DIR:-$src/../shared}")
cmake -S "$src" -B "$dir" "${opts[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
case $kind in
address)
  cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; exit 1; }
  # test_preview_xvfb asserts that the clip's last frame shows the face
  # identified, which an ASan daemon on a busy machine does not reach in
  # time; the preview's drawing runs under ASan in test_display and
  # test_facectl_preview
  sel=(-LE "$pattern" -E '^test_preview_xvfb$')
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1
  ;;
thread)
  # only what the threaded tests need
  cmake --build "$dir" -j"$jobs" --target test_ring test_events test_v4l2 test_v4l2_faults \
    test_replay test_preview_hub facewatchd facectl fakecam decodecount fwconvert >"$dir.build.log" 2>&1 ||
    { tail -50 "$dir.build.log"; exit 1; }
  sel=(-R "$pattern")
  export TSAN_OPTIONS=${TSAN_OPTIONS:-}:halt_on_error=1:second_deadlock_stack=1
  ;;
*) echo "usage: run.sh address|thread SRC DIR PATTERN" >&2; exit 2 ;;
esac
t1=$(date +%s)
echo "built the $kind tree in $((t1 - t0)) s"
# A test that fails on timing (a slow sanitizer build on a busy machine)
# gets a second run; a sanitizer report fails this test whatever the
# second run says.
set +e
OPENBLAS_NUM_THREADS=1 ctest --test-dir "$dir" -j"$jobs" --output-on-failure --repeat until-pass:2 \
  "${sel[@]}" 2>&1 | tee "$dir.ctest.log"
rc=${PIPESTATUS[0]}
set -e
echo "ran the $kind tests in $(($(date +%s) - t1)) s"
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$dir.ctest.log"; then
  echo "FAIL: a sanitizer report above (the test may have passed on its second run)"
  exit 1
fi
exit $rc
