#!/usr/bin/env bash
# facectl preview attached to a running facewatchd (SDL's dummy driver, no
# screen): the daemon replays the Hamilton clip with lin-manuel-miranda
# enrolled, and shows its own --preview window too. facectl preview must
# get frames through the daemon's shared memory, draw N of them and save a
# snapshot in which every face of the last frame has its box, in its
# state's colour, where the daemon said. Then SIGTERM stops the daemon
# (window and all) cleanly, and each frame was decoded (MJPEG) once, by the
# pipeline, for its own use and the window's. The same with a YUYV camera
# (the fake V4L2 device), and a viewer without a daemon says so.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
[ "${FW_HAVE_SDL:-}" = 1 ] || { echo "SKIP: built without SDL2 (no preview window)"; exit 77; }
command -v convert >/dev/null || { echo "SKIP: convert (imagemagick) is missing"; exit 77; }
export PYTHONPATH="$(cd "$(dirname "$0")/../support" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export FACEWATCH_MODELS=$FW_MODELS_DIR SDL_VIDEODRIVER=dummy
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$T/daemon.log"; exit 1; }

"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null
printf 'status_interval = 0\n' >"$T/facewatchd.conf"
# frames 100-200 of the clip, where there is always a face (his), at half
# pace: 6.7 s, long enough for the frames below even on a slow machine
python3 "$(dirname "$0")/clip_frames.py" "$CLIP" 100 200 "$T/clip.mjpeg"
# every JPEG decode is counted, per thread (tests/support/decodecount.c)
env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" LD_PRELOAD="$DECODECOUNT_SO" \
  DECODECOUNT_REPORT="$T/decodes" \
  "$FACEWATCHD" --config "$T/facewatchd.conf" --camera "replay:$T/clip.mjpeg" --fps 15 \
  --socket "$T/fw.sock" --gallery "$T/gallery.db" --preview 2>"$T/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$T/fw.sock" ] && break; sleep 0.1; done
[ -S "$T/fw.sock" ] || fail "no socket"

timeout 60 "$FACECTL" preview --socket "$T/fw.sock" --frames 15 --snapshot "$T/shot.jpg" \
  >"$T/out.json" 2>"$T/facectl.log" || { cat "$T/facectl.log"; fail "facectl preview failed"; }
cat "$T/out.json"
convert "$T/shot.jpg" "$T/shot.ppm"
python3 - "$T/shot.ppm" "$T/out.json" <<'PY' || fail "the snapshot does not show what the daemon sent"
import json, sys
from ppm import read_ppm, pixel
img = read_ppm(sys.argv[1])
w, h = img[0], img[1]
def px(x, y): return pixel(img, x, y)
out = json.load(open(sys.argv[2]))
assert out["frames"] == 15, out
assert (w, h) == (out["width"], out["height"]) == (640, 360), (w, h, out)
COLOUR = {True: (0, 220, 120), False: (255, 140, 0)}   # display.c: identified, unknown
def near(p, c): return all(abs(a - b) < 50 for a, b in zip(p, c))
HUD = 26
def edge_hits(box, colour):
    x, y, bw, bh = box
    x1, y1, x2, y2 = round(x), round(y), round(x + bw), round(y + bh)
    hits = total = 0
    for yy in range(max(y1 + 4, HUD), min(y2 - 4, h), 3):
        for xx in (x1, x2 - 1):
            if 0 <= xx < w:
                total += 1
                hits += any(near(px(min(max(xx + d, 0), w - 1), yy), colour) for d in (-1, 0, 1))
    return hits / max(total, 1)
faces = out["faces"]
assert faces, "the last frame shown had no face (every frame of this cut has one)"
for f in faces:
    r = edge_hits(f["box"], COLOUR[f["identity"] is not None])
    print("face %s at %s: %.0f %% of its box edges in its colour" % (f["identity"], f["box"], r * 100))
    assert r > 0.8, r
# and nothing of ours where no face is: the bottom-right corner, if free
boxes = [f["box"] for f in faces]
if all(b[0] + b[2] < 480 or b[1] + b[3] < 250 for b in boxes):
    far = [px(xx, yy) for yy in range(260, 350) for xx in range(490, 630)]
    assert not any(near(p, c) for p in far for c in COLOUR.values() if sum(p) > 150), "box colour where no face is"
print("ok: %d faces drawn where the daemon said" % len(faces))
PY

# the daemon's own window is running too; SIGTERM stops it all cleanly
"$FACECTL" status --socket "$T/fw.sock" --json >"$T/status.json" || fail "no status"
kill -TERM "$pid"
rc=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs 10 s after SIGTERM"
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"

# decoded once: the window shows the picture the pipeline decoded (at the
# window's size, 640 x 360 here) and decodes nothing itself; the pipeline
# serves its own smaller decodes and the full-size crops from that one
# picture, so the whole daemon decoded each frame it analysed once (before,
# the window decoded every frame again, and new faces a third time). The
# count of frames is the status's just before SIGTERM: a few more may have
# been analysed in between (10 a second at most, max_fps)
python3 - "$T/decodes" "$T/status.json" <<'PY' || fail "a frame was decoded more than once"
import json, sys
counts = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[1]))
frames = json.load(open(sys.argv[2]))["frames"]
print("JPEG decodes per thread: %s; %d frames analysed" % (counts, frames))
assert frames >= 10 and counts.get("fw-infer", 0) >= frames, ("too few", counts, frames)
assert counts.get("fw-preview", 0) <= 2, ("the window decoded frames itself", counts)
assert sum(counts.values()) <= frames + 4, ("more decodes than frames", counts, frames)
PY

# landmarks68 = on: the preview event carries each face's 68 landmarks, pose
# and attention; facectl preview draws them as the daemon's window does: the
# landmarks as yellow dots where the daemon put them, the pose axes (red,
# green, blue) from the nose tip, and the attention eye on the label (white
# while looking, grey while away), between the label's colour on its row.
rm -f "$T/fw.sock"
printf 'status_interval = 0\nlandmarks68 = on\nattention_rate_hz = 10\n' >"$T/lm.conf"
"$FACEWATCHD" --config "$T/lm.conf" --camera "replay:$T/clip.mjpeg" --fps 15 \
  --socket "$T/fw.sock" --gallery "$T/gallery.db" 2>"$T/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$T/fw.sock" ] && break; sleep 0.1; done
timeout 60 "$FACECTL" preview --socket "$T/fw.sock" --frames 20 --snapshot "$T/lm.jpg" \
  >"$T/lm.json" 2>"$T/facectl.log" || { cat "$T/facectl.log"; fail "facectl preview (landmarks68) failed"; }
convert "$T/lm.jpg" "$T/lm.ppm"
python3 - "$T/lm.ppm" "$T/lm.json" <<'PY' || fail "the landmarks, pose or attention are not drawn as the daemon sent them"
import json, math, sys
from ppm import read_ppm, pixel
img = read_ppm(sys.argv[1])
w, h = img[0], img[1]
def px(x, y): return pixel(img, x, y)
def near(p, c, tol=60): return all(abs(a - b) < tol for a, b in zip(p, c))
def hit(x, y, c, r=1):
    return any(near(px(x + dx, y + dy), c) for dx in range(-r, r + 1) for dy in range(-r, r + 1))
out = json.load(open(sys.argv[2]))
assert (w, h) == (out["width"], out["height"]) == (640, 360), (w, h, out)
faces = [f for f in out["faces"] if "landmarks" in f]
assert faces, ("no face of the last frame shown has landmarks", out["faces"])
YELLOW, AXES = (255, 235, 0), [(230, 40, 40), (40, 200, 60), (40, 110, 255)]
LABEL = {True: (0, 220, 120), False: (255, 140, 0)}
EYE = {"looking": (255, 255, 255), "away": (150, 150, 150)}
for f in faces:
    lm, pose, x, y, bw, bh = f["landmarks"], f["pose"], *f["box"]
    assert len(lm) == 68 and len(f["keypoints"]) == 6 and set(pose) == {"yaw", "pitch", "roll"}, f
    dots = sum(hit(p[0], p[1], YELLOW) for p in lm)
    # the head's axes as docs/protocol.md defines the angles: x right, y up,
    # z out of the face; yaw about y, then pitch about x, then roll (clockwise)
    cy, sy = math.cos(math.radians(pose["yaw"])), math.sin(math.radians(pose["yaw"]))
    cp, sp = math.cos(math.radians(pose["pitch"])), math.sin(math.radians(pose["pitch"]))
    cr, sr = math.cos(math.radians(pose["roll"])), math.sin(math.radians(pose["roll"]))
    ox, oy, length = lm[30][0], lm[30][1], 0.5 * bw
    axes_seen = axes_long = 0
    for k in range(3):
        v = [k == 0, k == 1, k == 2]
        v = [v[0] * cy + v[2] * sy, v[1], -v[0] * sy + v[2] * cy]
        v = [v[0], v[1] * cp + v[2] * sp, -v[1] * sp + v[2] * cp]
        dx, dy = v[0] * cr + v[1] * sr, -(-v[0] * sr + v[1] * cr)
        if math.hypot(dx, dy) < 0.5:
            continue
        axes_long += 1
        axes_seen += sum(hit(ox + t * length * dx, oy + t * length * dy, AXES[k], 2)
                         for t in (0.55, 0.7, 0.85)) >= 2
    # the eye: its colour on the label's row, with the label's colour on both sides
    label, eye = LABEL[f["identity"] is not None], EYE[f["attention"]]
    other = EYE["away" if f["attention"] == "looking" else "looking"]
    def sandwiched(c):
        n = 0
        for yy in range(max(int(y) - 24, 0), min(int(y) + 26, h)):
            for xx in range(int(x), min(int(x) + 400, w)):
                if near(px(xx, yy), c, 16) and \
                   any(near(px(xx - d, yy), label, 50) for d in range(1, 40)) and \
                   any(near(px(xx + d, yy), label, 50) for d in range(1, 12)):
                    n += 1
        return n
    n_eye, n_other = sandwiched(eye), sandwiched(other)
    print("face %s: %d/68 landmarks drawn, %d/%d pose axes, %s eye %d px (other %d)" %
          (f["identity"], dots, axes_seen, axes_long, f["attention"], n_eye, n_other))
    assert dots >= 50, dots
    assert axes_long >= 2 and axes_seen >= axes_long - 1, (axes_seen, axes_long, pose)
    assert n_eye >= 15 and n_other < 5, (n_eye, n_other)
PY
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=
[ "$rc" = 0 ] || fail "landmarks68 daemon: exit status $rc after SIGTERM"

# A YUYV camera (the fake V4L2 device: grey vertical bars, 40 px wide,
# Y 200 and 60): the frames go through the shared memory as they are and
# are shown as a YUY2 texture, in the daemon's window and in facectl's.
if [ -n "${FAKECAM_SO:-}" ]; then
  rm -f "$T/fw.sock"
  env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" LD_PRELOAD=$FAKECAM_SO \
    FAKECAM_DEV=/dev/video0 FAKECAM_FORMATS=yuyv FAKECAM_FPS=30 \
    "$FACEWATCHD" --config "$T/facewatchd.conf" --camera /dev/video0 \
      --socket "$T/fw.sock" --gallery "$T/gallery.db" --preview 2>"$T/daemon.log" &
  pid=$!
  for _ in $(seq 100); do [ -S "$T/fw.sock" ] && break; sleep 0.1; done
  timeout 60 "$FACECTL" preview --socket "$T/fw.sock" --frames 5 --snapshot "$T/yuyv.jpg" \
    >"$T/out.json" 2>"$T/facectl.log" || { cat "$T/facectl.log"; fail "facectl preview (YUYV) failed"; }
  convert "$T/yuyv.jpg" -crop 640x1+0+300 -depth 8 "gray:$T/row.raw"
  python3 - "$T/row.raw" <<'PY' || fail "the YUYV frame is not shown as the camera sent it"
import sys
row = open(sys.argv[1], "rb").read()
assert len(row) == 640, len(row)
# BT.601 limited range: Y 200 -> 214, Y 60 -> 51; bands 40 px wide
runs, cur, n = [], None, 0
for v in row:
    level = "hi" if v > 190 else "lo" if v < 75 else "mid"
    if level == cur: n += 1
    else:
        if cur: runs.append((cur, n))
        cur, n = level, 1
runs.append((cur, n))
inner = [r for r in runs[1:-1] if r[0] != "mid"]
print("bands:", runs[:6], "...")
assert len(inner) >= 12 and all(34 <= n <= 41 for _, n in inner), runs
PY
  kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=
  [ "$rc" = 0 ] || fail "YUYV daemon: exit status $rc after SIGTERM"
fi

# no daemon: a clear message, exit status 1
rc=0
"$FACECTL" preview --socket "$T/fw.sock" --frames 1 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot connect" "$T/err" || { cat "$T/err"; fail "no daemon: status $rc"; }
echo "1 passed, 0 failed"
