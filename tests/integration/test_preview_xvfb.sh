#!/usr/bin/env bash
# facewatchd --preview on a real X server (Xvfb): the daemon replays the
# Hamilton clip with lin-manuel-miranda enrolled, the window shows the last
# frame when the clip ends; its screenshot must have the identified face's
# box in the identified colour exactly where the last `frame` event puts
# it, the name label above it, the unknown faces in the unknown colour, the
# picture itself and the head-up line. Then `q` in the window must stop
# the daemon cleanly (exit 0, socket removed).
#
# Writes the screenshot to $FW_BUILD_DIR/preview.png, or to $1 (the
# `preview-png` target passes docs/preview.png).
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}" "${FW_BUILD_DIR:?}"
OUT=${1:-$FW_BUILD_DIR/preview.png}
for t in xvfb-run xwd xdotool convert python3; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is missing (scripts/install-deps.sh installs it)"; exit 77; }
done
[ "${FW_HAVE_SDL:-}" = 1 ] || { echo "SKIP: built without SDL2 (no preview window)"; exit 77; }
# a screen of our own, whatever $DISPLAY the caller has
if [ -z "${FW_IN_XVFB:-}" ]; then
  exec env FW_IN_XVFB=1 xvfb-run -a -s "-screen 0 800x600x24 -nolisten tcp" bash "$0" "$@"
fi
unset SDL_VIDEODRIVER
# An ASan build: SDL's X11 backend opens D-Bus, and SDL 2.26 leaves
# libdbus's connection data at exit (1 KB, not ours to free; LSan cannot
# even name every frame of it for a suppression). Leaks are checked with
# the dummy driver instead (test_display, test_facectl_preview: the same
# window code, daemon and viewer, without suppressions).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}detect_leaks=0"
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$T/daemon.log"; exit 1; }

"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null
printf 'status_interval = 0\n' >"$T/facewatchd.conf"
# Frames 90-190 of the clip: he walks in at about frame 105 and is alone
# in the picture and recognised until the cut, so the last frame's
# results, which the window keeps showing, have his name. Cut here from
# the shared file.
python3 "$(dirname "$0")/clip_frames.py" "$CLIP" 90 190 "$T/clip.mjpeg"
# once, at 1/3 of its pace: eight seconds of him in view even when a
# loaded machine analyses only a few frames a second (on a loaded CI run
# and under ASan the last frame once had no name yet); the window
# keeps the last frame
"$FACEWATCHD" --config "$T/facewatchd.conf" --camera "replay:$T/clip.mjpeg" --fps 10 \
  --socket "$T/fw.sock" --gallery "$T/gallery.db" --preview 2>"$T/daemon.log" &
pid=$!

# the last frame's results, once the clip has ended (no frame for 2 s)
python3 - "$T/fw.sock" "$T/last.json" <<'PY' || fail "no frame results"
import json, socket, sys, time
deadline = time.time() + 30
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); break
    except OSError:
        if time.time() > deadline: sys.exit("no socket")
        time.sleep(0.1)
s.sendall(b'{"request":"subscribe","events":["frame"]}\n')
s.settimeout(2.0)
f = s.makefile("r")
last, n = None, 0
try:
    for line in f:
        e = json.loads(line)
        if e.get("event") == "frame":
            last, n = e, n + 1
except (socket.timeout, TimeoutError):
    pass
if n < 10: sys.exit("only %d frames" % n)
json.dump(last, open(sys.argv[2], "w"))
print("frames:", n, "last:", [(x["identity"], x["box"]) for x in last["faces"]])
PY

wid=
for _ in $(seq 50); do
  wid=$(xdotool search --name '^facewatch$' 2>/dev/null | head -n1) && [ -n "$wid" ] && break
  sleep 0.1
done
[ -n "$wid" ] || fail "no window named facewatch"
sleep 0.6 # the window redraws the last frame every 250 ms
xwd -id "$wid" -silent -out "$T/shot.xwd"
convert "$T/shot.xwd" "$T/shot.ppm"
# small enough for the README: the picture's colours need no more than 256
convert "$T/shot.xwd" -colors 256 -strip "$OUT"
echo "screenshot: $OUT ($(stat -c %s "$OUT") bytes)"

python3 - "$T/shot.ppm" "$T/last.json" <<'PY' || fail "the screenshot does not show the results"
import json, sys
data = open(sys.argv[1], "rb").read()
# binary PPM: P6 w h maxval, then RGB
parts, pos = [], 0
while len(parts) < 4:
    while data[pos:pos+1].isspace(): pos += 1
    if data[pos:pos+1] == b"#":   # a comment runs to the end of its line
        pos = data.index(b"\n", pos)
        continue
    end = pos
    while not data[end:end+1].isspace(): end += 1
    parts.append(data[pos:end]); pos = end
pos += 1
w, h = int(parts[1]), int(parts[2])
pix = data[pos:]
def px(x, y): i = (y * w + x) * 3; return tuple(pix[i:i+3])
last = json.load(open(sys.argv[2]))
GREEN, ORANGE = (0, 220, 120), (255, 140, 0)   # display.c: identified, unknown
assert (w, h) == (640, 360), "window %dx%d, expected the frame's 640x360" % (w, h)
HUD = 26  # the head-up band at the top is drawn over the picture and boxes
def edge_hits(box, colour):
    x, y, bw, bh = box
    x1, y1, x2, y2 = round(x), round(y), round(x + bw), round(y + bh)
    hits = total = 0
    for yy in range(max(y1 + 4, HUD), y2 - 4, 3):
        for xx in (x1, x2 - 1):
            total += 1
            hits += any(px(min(max(xx + d, 0), w - 1), yy) == colour for d in (-1, 0, 1))
    for xx in range(x1 + 4, x2 - 4, 3):
        for yy in (y1, y2 - 1):
            if yy < HUD:
                continue
            total += 1
            hits += any(px(xx, min(max(yy + d, 0), h - 1)) == colour for d in (-1, 0, 1))
    return hits / max(total, 1)
named = [f for f in last["faces"] if f["identity"] == "lin-manuel-miranda"]
assert named, "the last frame has no identified face"
box = named[0]["box"]
r = edge_hits(box, GREEN)
print("identified box edges in the identified colour: %.0f %%" % (r * 100))
assert r > 0.9, r
# the label: identified colour with dark glyphs in it, just above the box
# (or just inside it, under the head-up line)
x, y = round(box[0]), round(box[1])
lab = [px(xx, yy) for yy in range(max(y - 18, 0), max(y, HUD) + 20) for xx in range(x + 3, min(x + 120, w))]
assert sum(p == GREEN for p in lab) > 300 and sum(max(p) < 80 for p in lab) > 30, "no name label"
for f in last["faces"]:
    if f["identity"] is None:
        r = edge_hits(f["box"], ORANGE)
        print("unknown box at %s: %.0f %%" % (f["box"], r * 100))
        assert r > 0.6, r
# the picture is there (not a black window), nothing of ours where no face is
import statistics
mid = [sum(px(xx, yy)) for yy in range(200, 340, 4) for xx in range(20, 620, 4)]
assert statistics.mean(mid) > 30 and statistics.pstdev(mid) > 30, "the picture is missing"
far = [px(xx, yy) for yy in range(250, 340) for xx in range(480, 620)]
assert not any(p in (GREEN, ORANGE) for p in far), "box colour where no face is"
# the head-up line: light text on a dark band
top = [px(xx, yy) for yy in range(2, 16) for xx in range(0, 400)]
assert sum(min(p) > 200 for p in top) > 50, "no head-up line"
print("ok: box, label, unknown faces, picture and head-up line where the results say")
PY

# q closes the window, and the daemon with it
xdotool windowfocus --sync "$wid" 2>/dev/null || xdotool windowfocus "$wid"
xdotool key q
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs 10 s after q"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc after q"
[ -e "$T/fw.sock" ] && fail "socket left behind"
echo "1 passed, 0 failed"
