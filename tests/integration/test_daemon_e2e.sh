#!/usr/bin/env bash
# facewatchd end to end: the daemon watches a camera playing the Hamilton
# clip (the fake V4L2 device, preloaded, so the real libv4l2 path runs), with
# a gallery enrolled from lin-manuel-miranda.png. A client on the socket must
# see, in order and with increasing seq: hello, face_appeared,
# face_identified as lin-manuel-miranda, and after the clip ends face_left
# and presence away.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null

cat >"$T/facewatchd.conf" <<CONF
# short graces so the test ends soon after the clip
arrive_ms = 300
leave_ms = 2000
anyone_leave_ms = 2000
face_lost_ms = 1000
status_interval = 0
CONF

if [ -n "${FAKECAM_SO:-}" ]; then
  # the camera plays the clip once, then stalls (no more frames)
  # no OPENBLAS_NUM_THREADS: OpenBLAS then starts its worker threads before
  # main(), and a SIGTERM must still stop the daemon cleanly (below)
  # (in an ASan build the shim comes before the ASan runtime: allowed, and
  # fakecam waits for the environment before it reads FAKECAM_*)
  env -u OPENBLAS_NUM_THREADS ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
    LD_PRELOAD=$FAKECAM_SO FAKECAM_DEV=/dev/video0 FAKECAM_MJPEG=$CLIP FAKECAM_FPS=30 \
  FAKECAM_FRAMES=300 \
    "$FACEWATCHD" --config "$T/facewatchd.conf" --camera /dev/video0 \
      --socket "$T/fw.sock" --gallery "$T/gallery.db" 2>"$T/daemon.log" &
else
  env -u OPENBLAS_NUM_THREADS "$FACEWATCHD" --config "$T/facewatchd.conf" --camera "replay:$CLIP" --fps 30 \
    --socket "$T/fw.sock" --gallery "$T/gallery.db" 2>"$T/daemon.log" &
fi
pid=$!

python3 - "$T/fw.sock" <<'PY' || { echo "--- daemon log"; cat "$T/daemon.log"; exit 1; }
import json, socket, sys, time
path = sys.argv[1]
deadline = time.time() + 20
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        if time.time() > deadline: sys.exit("no socket at %s" % path)
        time.sleep(0.1)
f = s.makefile("r")
s.settimeout(60)
events = []
for line in f:
    e = json.loads(line)
    events.append(e)
    if e.get("event") == "presence" and e.get("identity") == "anyone" and e.get("state") == "away":
        break
kinds = [e["event"] for e in events]
print("events:", " ".join(kinds))
assert kinds[0] == "hello", kinds[:3]
assert events[0]["protocol"] == 1
seqs = [e["seq"] for e in events]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq not increasing"
def first(pred):
    for i, e in enumerate(events):
        if pred(e): return i
    raise AssertionError("missing: " + pred.__doc__)
appeared = first(lambda e: e["event"] == "face_appeared")
ident = first(lambda e: e["event"] == "face_identified" and e.get("identity") == "lin-manuel-miranda")
track = events[ident]["track"]
left = first(lambda e: e["event"] == "face_left" and e["track"] == track)
present = first(lambda e: e["event"] == "presence" and e.get("identity") == "lin-manuel-miranda" and e["state"] == "present")
away = first(lambda e: e["event"] == "presence" and e.get("identity") == "lin-manuel-miranda" and e["state"] == "away")
assert appeared < ident < left, (appeared, ident, left)
assert present < away
assert events[ident]["similarity"] >= 0.55
assert events[left]["duration_ms"] > 1000
print("ok: hello, face_appeared, face_identified lin-manuel-miranda (%.3f), face_left after %d ms, presence present/away"
      % (events[ident]["similarity"], events[left]["duration_ms"]))
PY
# SIGHUP reloads and keeps running; SIGTERM stops cleanly: exit 0, socket removed
kill -HUP "$pid"
sleep 0.5
kill -0 "$pid" || { echo "FAIL: SIGHUP killed the daemon"; cat "$T/daemon.log"; exit 1; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [ "$rc" != 0 ] || [ -e "$T/fw.sock" ]; then
  echo "FAIL: after SIGTERM: exit status $rc, socket left: $([ -e "$T/fw.sock" ] && echo yes || echo no)"
  cat "$T/daemon.log"
  exit 1
fi
echo "1 passed, 0 failed"
