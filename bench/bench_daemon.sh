#!/usr/bin/env bash
# facewatchd on the Hamilton clip replayed at 30 fps (../shared/data/video,
# read in place), once per detector: CPU as a percentage of one core over
# the whole run (getrusage of the process, via /usr/bin/time) and the
# capture-to-event latency p50/p99 the daemon reports in its status. Median
# of N runs per detector. Never asserts a time.
#
#   bash bench/bench_daemon.sh [--runs N] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3; BUILD=build
while [ $# -gt 0 ]; do
  case $1 in --runs) RUNS=$2; shift ;; --build) BUILD=$2; shift ;; *) echo "unknown $1" >&2; exit 2 ;; esac
  shift
done
CLIP=../shared/data/video/short_hamilton_clip.mjpeg
FWD=$BUILD/daemon/facewatchd
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
printf 'status_interval = 1\nleave_ms = 1000\nanyone_leave_ms = 1000\nface_lost_ms = 500\n' >"$T/conf"
echo "| detector | precision | analysed fps | CPU % of one core (median of $RUNS) | latency p50 ms | latency p99 ms | frames analysed |"
echo "|---|---|---:|---:|---:|---:|---:|"
for det in short auto; do
  for prec in int8 float; do
   for mf in 10 0; do
    rows=()
    for r in $(seq "$RUNS"); do
      /usr/bin/time -f '%U %S %e' -o "$T/time" "$FWD" --config "$T/conf" --camera "replay:$CLIP" \
        --fps 30 --max-fps $mf --detector $det --precision $prec --socket "$T/s.sock" --gallery "$T/g.db" \
        --print-events --exit-when-idle >"$T/ev" 2>/dev/null
      read -r u s e <"$T/time"
      # the last status while frames were flowing: latency over the clip
      st=$(grep '"event":"status"' "$T/ev" | python3 -c '
import json, sys
best = None
for line in sys.stdin:
    j = json.loads(line)
    if j["frames"] > 0 and j["camera"] != "ended": best = j
    elif best is None: best = j
print(best["latency_p50_ms"], best["latency_p99_ms"], best["frames"])')
      # CPU over the 10 s the clip plays (the wall time includes the leave grace)
      rows+=("$(python3 -c "print(round(100*($u+$s)/10.0, 1))") $st")
    done
    printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | \
      awk -v d=$det -v p=$prec -v m=$mf '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", d, p, (m == 0 ? "all (30)" : m), $1, $2, $3, $4}'
   done
  done
done
