#!/usr/bin/env bash
# valgrind_avx2: memcheck on the AVX2 kernels (valgrind cannot run AVX-512,
# and hides it: PLATFORM.md §4). facectl detect + embed on a photo, then
# the daemon on a short replay of the Hamilton clip until it is idle. Any
# invalid access, use of uninitialised memory or definite leak fails it.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed (scripts/install-deps.sh)"; exit 77; }
grep -qw avx2 /proc/cpuinfo || { echo "SKIP: this CPU has no AVX2"; exit 77; }
export FACEWATCH_MODELS=$FW_MODELS_DIR FACEWATCH_ISA=avx2 OPENBLAS_NUM_THREADS=1
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
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

t0=$(date +%s)
"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null
rc=0
"${vg[@]}" --log-file="$T/embed.vg" "$FACECTL" identify --gallery "$T/gallery.db" "$PHOTO" >"$T/identify.json" || rc=$?
cat "$T/embed.vg"
[ $rc = 0 ] || fail "facectl identify under valgrind: exit $rc"
grep -q lin-manuel-miranda "$T/identify.json" || fail "facectl identify under valgrind: $(cat "$T/identify.json")"
echo "ok: facectl identify (landmarks, embedder, gallery), clean ($(($(date +%s) - t0)) s)"

cat >"$T/facewatchd.conf" <<CONF
arrive_ms = 300
leave_ms = 1000
anyone_leave_ms = 1000
face_lost_ms = 1000
status_interval = 0
max_fps = 5
CONF
t0=$(date +%s)
rc=0
timeout -s INT 600 "${vg[@]}" --log-file="$T/daemon.vg" "$FACEWATCHD" --config "$T/facewatchd.conf" \
  --camera "replay:$CLIP" --fps 30 --exit-when-idle --print-events \
  --socket "$T/fw.sock" --gallery "$T/gallery.db" >"$T/events.jsonl" 2>"$T/daemon.log" || rc=$?
cat "$T/daemon.vg"
[ $rc = 0 ] || { tail -20 "$T/daemon.log"; fail "facewatchd under valgrind: exit $rc"; }
grep -q '"event":"face_appeared"' "$T/events.jsonl" ||
  { tail -20 "$T/daemon.log"; fail "facewatchd under valgrind saw no face"; }
echo "ok: facewatchd replay, $(wc -l <"$T/events.jsonl") events, clean ($(($(date +%s) - t0)) s)"
