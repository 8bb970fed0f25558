#!/usr/bin/env bash
# Detection accuracy, facewatch and OpenCV's YuNet side by side, on the shared
# development data read in place (WIDER FACE is for non-commercial research:
# nothing of it is copied into the repository):
#   - WIDER FACE val subset (198 images): AP all/easy/medium/hard, the desk
#     range (faces >= 7 % of the image width) and faces >= 64 px;
#   - dlib's PASCAL faces (4 images, 18 faces): AP.
# for facewatch's short, full and auto detectors (and auto without its
# full-range pass, --no-wide, and without the O-Net face check, --no-check),
# float and int8, one thread, and YuNet 2023mar
# through Debian's OpenCV (one thread), in the same run, with the time per
# image. Prints markdown tables (the README's Accuracy section).
#
#   bash bench/eval_detect.sh [--no-apt] [--facectl PATH] [--out DIR]
#
# --facectl defaults to build/daemon/facectl (cmake -S . -B build && cmake
# --build build); --out keeps the detections, PR curves (CSV) and plots (PNG),
# default a temporary folder. Installs libopencv-dev with apt unless --no-apt.
# Times on shared machines drift: compare within one run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
DATA=$REPO/../shared/data/detection
YUNET=$REPO/../shared/peers/models/face_detection_yunet_2023mar.onnx
APT=1; FACECTL=$REPO/build/daemon/facectl; OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --no-apt) APT=0 ;;
    --facectl) FACECTL=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT" ]; then OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
mkdir -p "$OUT"
[ -x "$FACECTL" ] || { echo "no facectl at $FACECTL: build first or give --facectl" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1
if [ $APT = 1 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ pkg-config libopencv-dev >/dev/null
fi
g++ -O2 -std=c++17 "$HERE/yunet_detect.cpp" $(pkg-config --cflags --libs opencv4) -o "$OUT/yunet_detect"

W=$DATA/wider_val_subset
A="--attributes $W/gt_attributes.txt"
P=$DATA/dlib_pascal_faces
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
ap() { json "'%.3f' % j['settings']['$1']['ap']"; }

# name, then how to get detections: "run D" runs facectl's detector D,
# "file F" scores detections written by another program.
row() {
  local name=$1 gt=$2 extra=$3 tag=$4 op=$5 det=$6
  local base="$FACECTL eval detect $gt $extra --json"
  local r d l
  if [ "${det%% *}" = run ]; then
    # shellcheck disable=SC2086 # "run auto --no-wide --precision int8": words
    r=$($base --detector ${det#run } --save-detections "$OUT/$tag.txt" --csv "$OUT/$tag.csv" --plot "$OUT/$tag.png")
  else
    r=$($base --detections "${det#file }" --op-threshold "$op" --csv "$OUT/$tag.csv" --plot "$OUT/$tag.png")
    cp "${det#file }" "$OUT/$tag.txt" 2>/dev/null || true
  fi
  echo "$r" >"$OUT/$tag.json"
}

echo "facewatch $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), $(getconf _NPROCESSORS_ONLN) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo
# tag -> facectl eval detect arguments
args() {
  case $1 in
    auto_nowide*) echo "auto --no-wide" ;;
    auto_nocheck*) echo "auto --no-check" ;;
    *) echo "${1%_int8}" ;;
  esac
  case $1 in *_int8) echo "--precision int8" ;; esac
}
FW="short full auto_nocheck auto_nowide auto"
FW8="short_int8 full_int8 auto_nocheck_int8 auto_nowide_int8 auto_int8"
for d in $FW $FW8; do
  row "$d" "$W/gt.txt" "$A" "wider_$d" 0 "run $(args $d | tr '\n' ' ')"
done
"$OUT/yunet_detect" "$YUNET" "$W/gt.txt" "$OUT/wider_yunet_raw.txt" 2>"$OUT/yunet_wider.log"
row yunet "$W/gt.txt" "$A" wider_yunet 0.9 "file $OUT/wider_yunet_raw.txt"
for d in $FW $FW8 yunet; do
  op=$([ $d = yunet ] && echo 0.9 || echo 0)
  opt=$([ $d = yunet ] && echo "--op-threshold 0.9" || echo "")
  $FACECTL eval detect "$W/gt.txt" $A --detections "$OUT/wider_$d.txt" $opt --min-frac 0.07 --json \
    --plot "$OUT/wider_${d}_desk.png" >"$OUT/wider_${d}_desk.json"
  $FACECTL eval detect "$W/gt.txt" $A --detections "$OUT/wider_$d.txt" $opt --min-face 64 --json \
    >"$OUT/wider_${d}_64.json"
done
for d in $FW $FW8; do
  row "$d" "$P/gt.txt" "" "pascal_$d" 0 "run $(args $d | tr '\n' ' ')"
done
"$OUT/yunet_detect" "$YUNET" "$P/gt.txt" "$OUT/pascal_yunet_raw.txt" 2>"$OUT/yunet_pascal.log"
row yunet "$P/gt.txt" "" pascal_yunet 0.9 "file $OUT/pascal_yunet_raw.txt"

python3 - "$OUT" <<'PY'
import json, os, re, sys
out = sys.argv[1]
def load(tag):
    return json.load(open(os.path.join(out, tag + ".json")))
def yunet_ms(log):
    m = re.search(r"median ([0-9.]+) ms", open(os.path.join(out, log)).read())
    return float(m.group(1)) if m else float("nan")
names = {"short": "facewatch short (128) + check", "full": "facewatch full (192) + check",
         "auto_nocheck": "facewatch auto --no-check (short: whole + 6 tiles; full: whole)",
         "auto_nowide": "facewatch auto --no-wide (short: whole + 6 tiles) + check",
         "auto": "facewatch auto (short: whole + 6 tiles; full: whole) + check",
         "yunet": "OpenCV YuNet 2023mar"}
for k in list(names):
    if k != "yunet":
        names[k + "_int8"] = names[k].replace("facewatch ", "facewatch int8 ")
FW = ("short", "full", "auto_nocheck", "auto_nowide", "auto")
def wider_table(title, ds):
  print(title)
  print("| detector | all | easy | medium | hard | desk range (>= 7 % width) | >= 64 px | recall @ op, desk | ms / image | M MACs / 640x480 frame |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for d in ds:
    j, k, l = load("wider_" + d), load("wider_%s_desk" % d), load("wider_%s_64" % d)
    s = j["settings"]
    ms = j.get("ms_per_image_median", yunet_ms("yunet_wider.log"))
    macs = "%.0f" % j["mmacs_640x480"] if "mmacs_640x480" in j else "~1000 (study)"
    print("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %s |" % (
        names[d], s["all"]["ap"], s["easy"]["ap"], s["medium"]["ap"], s["hard"]["ap"],
        k["settings"]["all"]["ap"], l["settings"]["all"]["ap"], k["settings"]["all"]["recall_at_op"], ms, macs))
wider_table("WIDER FACE val subset (198 images), AP at IoU 0.5; recall at the operating threshold\n"
            "(facewatch 0.5 short/auto, 0.6 full; YuNet 0.9); time per image: median, one thread\n",
            FW + ("yunet",))
wider_table("\nThe same, int8 (--precision int8, as the daemon runs), and YuNet again\n",
            tuple(d + "_int8" for d in FW) + ("yunet",))
print("\ndlib PASCAL faces (4 images, 18 faces), AP at IoU 0.5\n")
print("| detector | AP | recall @ op | ms / image |")
print("|---|---:|---:|---:|")
for d in FW + tuple(d + "_int8" for d in FW) + ("yunet",):
    j = load("pascal_" + d)
    ms = j.get("ms_per_image_median", yunet_ms("yunet_pascal.log"))
    print("| %s | %.3f | %.3f | %.1f |" % (names[d], j["settings"]["all"]["ap"], j["settings"]["all"]["recall_at_op"], ms))
PY
echo
echo "curves and plots: $OUT (kept only with --out)"
