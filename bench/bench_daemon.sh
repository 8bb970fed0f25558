#!/usr/bin/env bash
# facewatchd on three scenes of about 10 s replayed at 30 fps, once per detector
# setting: CPU as a percentage of one core over the whole run (getrusage of
# the process, via /usr/bin/time, start-up included) and the
# CPU while watching: the median of the daemon's own per-second status
# figure (getrusage deltas) over the scene, without the first second (model
# loading); the capture-to-event latency p50/p99 it reports, with
# what the scan plan did (frames scanned whole / in regions / skipped as
# still, faces embedded). Median of N runs per row. Never asserts a time.
#   clip   the Hamilton clip (../shared/data/video, read in place): one or
#          more people talking and moving, several cuts: a busy scene
#   one    the clip's frames 110-240 (4.3 s: one person alone, talking,
#          gesturing and moving his head) played twice: one face in view,
#          as at a desk (and one false positive: his raised hand, twice)
#   still  one dev photo (obama-480p) as 300 identical MJPEG frames: a
#          person sitting still at the desk, the best case (a real sensor
#          adds noise, which the still rule tolerates up to scan_still_diff)
#
#   bash bench/bench_daemon.sh [--runs N] [--build DIR] [--scene clip|one|still]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3; BUILD=build; ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;; --build) BUILD=$2; shift ;; --scene) ONLY=$2; shift ;;
    *) echo "unknown $1" >&2; exit 2 ;;
  esac
  shift
done
CLIP=../shared/data/video/short_hamilton_clip.mjpeg
FWD=$BUILD/daemon/facewatchd
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
PHOTO=../shared/data/recognition/images/face_recognition_examples/obama-480p.jpg
for i in $(seq 300); do cat "$PHOTO"; done >"$T/still.mjpeg"
python3 tests/integration/clip_frames.py "$CLIP" 110 240 "$T/one4.mjpeg"
cat "$T/one4.mjpeg" "$T/one4.mjpeg" >"$T/one.mjpeg"
# the person in the clip is enrolled, as the user at a desk would be
$BUILD/daemon/facectl enroll --gallery "$T/g.db" lin-manuel-miranda \
  ../shared/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png >/dev/null
printf 'status_interval = 1\nleave_ms = 1000\nanyone_leave_ms = 1000\nface_lost_ms = 500\n' >"$T/conf"
echo "| scene | detector | precision | analysed fps | CPU % of one core, whole run (median of $RUNS) | CPU % while watching | latency p50 ms | latency p99 ms | frames analysed | whole / regions / still / embeddings |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---|"
rows_for() { # scene detector precision max_fps
  local scene=$1 det=$2 prec=$3 mf=$4 src=$CLIP secs=10
  [ -n "$ONLY" ] && [ "$ONLY" != "$scene" ] && return 0
  [ "$scene" = still ] && src=$T/still.mjpeg
  [ "$scene" = one ] && { src=$T/one.mjpeg; secs=8.67; }  # 260 frames
  rows=()
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f '%U %S %e' -o "$T/time" "$FWD" --config "$T/conf" --camera "replay:$src" \
      --fps 30 --max-fps $mf --detector $det --precision $prec --socket "$T/s.sock" --gallery "$T/g.db" \
      --print-events --exit-when-idle >"$T/ev" 2>/dev/null
    read -r u s e <"$T/time"
    # the last status while frames were flowing: latency over the clip
    st=$(grep '"event":"status"' "$T/ev" | python3 -c '
import json, sys
best = None
cpus = []
for line in sys.stdin:
    j = json.loads(line)
    if j["frames"] > 0 and j["camera"] != "ended":
        if best is not None and best["frames"] > 0:
            cpus.append(j["cpu"])  # not the first interval: it holds start-up
        best = j
    elif best is None:
        best = j
a = best.get("analysis", {})
cpus.sort()
print(cpus[len(cpus) // 2] if cpus else 0, best["latency_p50_ms"], best["latency_p99_ms"],
      best["frames"], "%s/%s/%s/%s" % (a.get("full"), a.get("regions"), a.get("still"),
                                       a.get("embeddings")))')
    # CPU over the seconds the scene plays (the wall time includes the leave grace)
    rows+=("$(python3 -c "print(round(100*($u+$s)/$secs, 1))") $st")
  done
  printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | \
    awk -v sc=$scene -v d=$det -v p=$prec -v m=$mf '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, d, p, (m == 0 ? "all (30)" : m), $1, $2, $3, $4, $5, $6}'
}
for det in short auto; do
  for prec in int8 float; do
    for mf in 10 0; do
      rows_for clip $det $prec $mf
    done
  done
done
rows_for one auto int8 10
rows_for one short int8 10
rows_for still auto int8 10
rows_for still short int8 10
