#!/usr/bin/env bash
# valgrind_avx2: memcheck on the AVX2 kernels (valgrind cannot run AVX-512,
# and hides it: PLATFORM.md §4). facectl detect on a photo (full-range
# detector), then the daemon on 30 frames of the Hamilton clip
# (short-range detector, landmarks, embedder, gallery match, tracker,
# presence, the event server) until it is idle. Any invalid access, use of
# uninitialised memory or definite leak fails it.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed (scripts/install-deps.sh)"; exit 77; }
grep -qw avx2 /proc/cpuinfo || { echo "SKIP: this CPU has no AVX2"; exit 77; }
export FACEWATCH_MODELS=$FW_MODELS_DIR FACEWATCH_ISA=avx2 OPENBLAS_NUM_THREADS=1
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PY=$(command -v python3)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --num-callers=30)
fail() { echo "FAIL: $*"; exit 1; }

t0=$(date +%s)
rc=0
"${vg[@]}" --log-file="$T/detect.vg" "$FACECTL" detect "$PHOTO" >"$T/detect.json" || rc=$?
cat "$T/detect.vg"
[ $rc = 0 ] || fail "facectl detect under valgrind: exit $rc"
python3 -c "
import json, sys; r = json.loads(open('$T/detect.json').readline())
assert len(r['faces']) == 1, r" || fail "facectl detect found no single face under valgrind"
echo "ok: facectl detect, clean ($(($(date +%s) - t0)) s)"

"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null
# frames 120-149 of the clip (lin-manuel-miranda facing the camera, a
# large face), paced at 2 fps: slow enough that the daemon under valgrind
# analyses most of them (every frame, short-range detector), so it
# detects, tracks, embeds and recognises
$PY - "$CLIP" "$T/short.mjpeg" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"] + [len(data)]
assert len(starts) > 150, len(starts)
open(sys.argv[2], "wb").write(data[starts[120]:starts[150]])
PY
cat >"$T/facewatchd.conf" <<CONF
arrive_ms = 300
leave_ms = 1000
anyone_leave_ms = 1000
face_lost_ms = 1000
status_interval = 0
max_fps = 0
detector = short
CONF
t0=$(date +%s)
rc=0
timeout -s INT 600 "${vg[@]}" --log-file="$T/daemon.vg" "$FACEWATCHD" --config "$T/facewatchd.conf" \
  --camera "replay:$T/short.mjpeg" --fps 2 --exit-when-idle --print-events \
  --socket "$T/fw.sock" --gallery "$T/gallery.db" >"$T/events.jsonl" 2>"$T/daemon.log" || rc=$?
cat "$T/daemon.vg"
[ $rc = 0 ] || { tail -20 "$T/daemon.log"; fail "facewatchd under valgrind: exit $rc"; }
grep -q '"event":"face_identified".*"identity":"lin-manuel-miranda"' "$T/events.jsonl" ||
  { cat "$T/events.jsonl"; tail -20 "$T/daemon.log"; fail "facewatchd under valgrind did not recognise the face"; }
echo "ok: facewatchd replay, $(wc -l <"$T/events.jsonl") events, clean ($(($(date +%s) - t0)) s)"
