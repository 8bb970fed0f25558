#!/usr/bin/env bash
# A whole 640x480 detection (resize + inference + decode, single thread):
# facewatch (`facectl detect --time`, int8 and float, short and auto)
# against OpenCV's YuNet 2023mar (Debian's OpenCV, timed by the peers'
# own harness in ../shared/peers) on the same three 640x480 images, in
# the same run: ROUNDS rounds alternating the two, the median of each
# image's median, and the ratio YuNet / facewatch. Asserts nothing.
#
#   bash bench/bench_vs_yunet.sh [--rounds N] [--build DIR]   (needs libopencv-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3; BUILD=build
while [ $# -gt 0 ]; do
  case $1 in --rounds) ROUNDS=$2; shift ;; --build) BUILD=$2; shift ;; *) echo "unknown $1" >&2; exit 2 ;; esac
  shift
done
PEERS=../shared/peers
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pkg-config --exists opencv4 || { echo "OpenCV is missing: apt-get install libopencv-dev" >&2; exit 1; }
g++ -O2 -std=c++17 "$PEERS/bench_opencv.cpp" $(pkg-config --cflags opencv4) -lopencv_dnn \
  -lopencv_objdetect -lopencv_imgproc -lopencv_imgcodecs -lopencv_core -o "$T/bench_opencv"
IMGS=$(ls "$PEERS"/images/*_640x480.png)
for r in $(seq "$ROUNDS"); do
  "$T/bench_opencv" yunet23 "$PEERS/models/face_detection_yunet_2023mar.onnx" --runs 30 --warmup 3 \
    --images-dir "$PEERS/images" 2>/dev/null | awk -F, '$3 == "640x480" { print "yunet", $2, $6 }' >>"$T/rows"
  for prec in int8 float; do
    for det in short auto; do
      for img in $IMGS; do
        "$BUILD/daemon/facectl" detect --precision $prec --detector $det --time 30 "$img" |
          python3 -c 'import json,sys; j=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], j["time"]["median_ms"])' \
            "$det-$prec" "$(basename "$img" _640x480.png)" >>"$T/rows"
      done
    done
  done
done
python3 - "$T/rows" "$ROUNDS" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    who, img, ms = line.split()
    rows[who, img].append(float(ms))
imgs = sorted({i for _, i in rows})
med = {k: statistics.median(v) for k, v in rows.items()}
yunet = statistics.median(med["yunet", i] for i in imgs)
print("| detector (640x480, one thread) | median ms (of %s rounds x %d images) | YuNet / this |" % (sys.argv[2], len(imgs)))
print("|---|---:|---:|")
print("| OpenCV YuNet 2023mar | %.2f | 1.0 |" % yunet)
for who in ("short-int8", "auto-int8", "short-float", "auto-float"):
    m = statistics.median(med[who, i] for i in imgs)
    print("| facewatch %s | %.2f | %.1f |" % (who.replace("-", " "), m, yunet / m))
PY
