#!/usr/bin/env bash
# What the daemon's own preview window costs: facewatchd on the clip's
# one-person scene (frames 110-240 played twice, 260 MJPEG frames of
# 640x360 at 30 fps), without a window and with --preview (SDL's dummy
# driver: a software renderer, no screen), at max_fps 10 (the default) and
# at every frame. CPU % of one core over the scene (getrusage of the whole
# process via /usr/bin/time) and the JPEG decodes per analysed frame, counted
# per thread by the test library tests/support/decodecount.c when the build
# has it, and the capture-to-event latency (p50) the daemon reports.
# Median of N runs per row (by CPU); the window's cost is the ratio to the
# row without it, run in the same script. Never asserts a time.
#
#   bash bench/bench_preview.sh [--runs N] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5; BUILD=build
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;; --build) BUILD=$2; shift ;;
    *) echo "unknown $1" >&2; exit 2 ;;
  esac
  shift
done
CLIP=../shared/data/video/short_hamilton_clip.mjpeg
FWD=$BUILD/daemon/facewatchd
COUNT=${DECODECOUNT_SO:-$BUILD/tests/libdecodecount.so}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 tests/integration/clip_frames.py "$CLIP" 110 240 "$T/one4.mjpeg"
cat "$T/one4.mjpeg" "$T/one4.mjpeg" >"$T/one.mjpeg"
$BUILD/daemon/facectl enroll --gallery "$T/g.db" lin-manuel-miranda \
  ../shared/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png >/dev/null
printf 'status_interval = 1\n' >"$T/conf"
export SDL_VIDEODRIVER=dummy FACEWATCH_MODELS=${FACEWATCH_MODELS:-models}
pre=(); [ -f "$COUNT" ] && pre=(env LD_PRELOAD="$COUNT" DECODECOUNT_REPORT="$T/decodes")
echo "| max_fps | window | CPU % of one core (median of $RUNS) | ratio to no window | latency p50 ms | JPEG decodes per frame (pipeline / window) |"
echo "|---:|---|---:|---:|---:|---|"
for mf in 10 0; do
  base=
  for win in off on; do
    flag=(); [ $win = on ] && flag=(--preview)
    rows=()
    for r in $(seq "$RUNS"); do
      rm -f "$T/decodes"
      /usr/bin/time -f '%U %S' -o "$T/time" "${pre[@]}" "$FWD" --config "$T/conf" \
        --camera "replay:$T/one.mjpeg" --fps 30 --max-fps $mf --socket "$T/s.sock" \
        --gallery "$T/g.db" --print-events --exit-when-idle "${flag[@]}" >"$T/ev" 2>/dev/null
      read -r u s <"$T/time"
      # frames analysed, and the capture-to-event latency of the last
      # status while frames flowed
      read -r frames p50 < <(grep '"event":"status"' "$T/ev" | python3 -c 'import json, sys
st = [json.loads(l) for l in sys.stdin]
live = [j for j in st if j["frames"] > 0 and j["camera"] != "ended"] or st
print(max([j["frames"] for j in st] or [0]), live[-1]["latency_p50_ms"] if live else 0)')
      dec=$(python3 - "$T/decodes" "$frames" <<'PY'
import os, sys
if not os.path.exists(sys.argv[1]):
    print("-"); sys.exit()
c = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[1]))
n = max(int(sys.argv[2]), 1)
print("%.2f/%.2f" % (c.get("fw-infer", 0) / n, c.get("fw-preview", 0) / n))
PY
)
      rows+=("$(python3 -c "print(round(100*($u+$s)/8.67, 1))") $p50 $dec")
    done
    read -r cpu p50 dec < <(printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
    [ -z "$base" ] && base=$cpu
    printf '| %s | %s | %s | %s | %s | %s |\n' "$([ $mf = 0 ] && echo "all (30)" || echo $mf)" $win "$cpu" \
      "$(python3 -c "print('%.2fx' % ($cpu / $base))")" "$p50" "$dec"
  done
done
