#!/usr/bin/env bash
# facewatchd with landmarks68 = on, on the Hamilton replay clip. A client
# subscribed to frame and attention must see:
# - frame faces carrying 68 landmarks around their box, a pose and an
#   attention state (what the preview draws);
# - per-track attention events that alternate looking / away, starting with
#   looking (a track starts away without an event), with yaw and pitch
#   inside the configured limits for looking and outside them for away; in
#   this clip at least one face looks at the camera (the woman on the left,
#   for a few seconds; whether her track turns away before it ends depends on
#   how many frames a loaded machine analyses, so that is not required here:
#   test_attention covers the transitions on exact timelines);
# - with lin-manuel-miranda enrolled (he faces the camera for a few seconds
#   in the middle of the clip), per-person attention events (`identity`, no
#   `track`) for him, starting with looking and alternating, that agree
#   with his faces' events at every frame: he is looking exactly while one
#   of his faces that has not left is, and his event's yaw and pitch are
#   those of the face event that decided it.
set -euo pipefail
: "${FACEWATCHD:?}" "${FACECTL:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda "$PHOTO" >/dev/null
cat >"$T/facewatchd.conf" <<CONF
status_interval = 0
anyone_leave_ms = 2000
leave_ms = 2000
face_lost_ms = 1000
landmarks68 = on
attention_rate_hz = 10
attention_yaw_deg = 25
attention_pitch_deg = 20
attention_away_ms = 1000
attention_back_ms = 500
CONF

OPENBLAS_NUM_THREADS=1 "$FACEWATCHD" --config "$T/facewatchd.conf" --camera "replay:$CLIP" --fps 30 \
	--socket "$T/fw.sock" --gallery "$T/gallery.db" 2>"$T/daemon.log" &
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
s.sendall(b'{"request":"subscribe","events":["frame","attention","presence","face_identified",'
          b'"face_left"],"id":1}\n')
f = s.makefile("r")
s.settimeout(60)
frames_with_lm = 0
att = {}
LIN = "lin-manuel-miranda"
ident_of = {}      # track -> its identity now (face_identified, frame faces)
track_state = {}   # track -> its last attention state
left = set()       # tracks that left
person = []        # his per-person attention events
prev = None        # the event before this one
frames_seen_him = 0
def his_looking_faces():
    return [t for t, st in track_state.items()
            if st == "looking" and ident_of.get(t) == LIN and t not in left]
for line in f:
    e = json.loads(line)
    if e.get("event") == "face_identified":
        ident_of[e["track"]] = e["identity"]
    elif e.get("event") == "face_left":
        left.add(e["track"])
    elif e.get("event") == "attention" and "track" not in e and e["identity"] == LIN:
        person.append(e)
        looking = his_looking_faces()
        if e["state"] == "looking":
            assert looking, ("he looks without a face of his looking", e, track_state, ident_of)
        else:
            assert not looking, ("he is away while faces of his look", e, looking)
        if prev and prev.get("event") == "attention" and prev.get("track") and \
                ident_of.get(prev["track"]) == LIN and prev["state"] == e["state"]:
            assert (prev["yaw"], prev["pitch"]) == (e["yaw"], e["pitch"]), (prev, e)
    if e.get("event") == "frame":
        # the frame's events are all in (faces, presence, attention come
        # first): his state is the one his faces say
        for face in e["faces"]:
            ident_of[face["track"]] = face.get("identity")
            frames_seen_him += face.get("identity") == LIN
        if person:
            assert (person[-1]["state"] == "looking") == bool(his_looking_faces()), \
                (person[-1], track_state, ident_of)
        for face in e["faces"]:
            if "landmarks" not in face:
                continue
            frames_with_lm += 1
            lm = face["landmarks"]
            assert len(lm) == 68 and all(len(p) == 2 for p in lm), face
            x, y, w, h = face["box"]
            xs = sorted(p[0] for p in lm); ys = sorted(p[1] for p in lm)
            # the middle of the points lies near the face box (a profile's
            # nose reaches past it; the points are from the last run, at most
            # 1/attention_rate_hz old)
            assert x - w / 2 <= xs[34] <= x + 1.5 * w and y - h / 2 <= ys[34] <= y + 1.5 * h, \
                (face["box"], xs[34], ys[34])
            assert set(face["pose"]) == {"yaw", "pitch", "roll"}, face["pose"]
            assert face["attention"] in ("looking", "away")
    elif e.get("event") == "attention":
        if "track" in e:
            att.setdefault(e["track"], []).append(e)
            track_state[e["track"]] = e["state"]
    elif e.get("event") == "presence" and e.get("identity") == "anyone" and e.get("state") == "away":
        break
    prev = e
print("faces with landmarks in frame events:", frames_with_lm)
print("attention events per track:", {t: [x["state"] for x in v] for t, v in att.items()})
# a loaded machine under ASan analysed 17 (an idle one ~100): ten is plenty
assert frames_with_lm >= 10, frames_with_lm
assert att, "no attention event"
for t, evs in att.items():
    states = [x["state"] for x in evs]
    assert states[0] == "looking", states
    assert all(a != b for a, b in zip(states, states[1:])), states
    for x in evs:
        inside = abs(x["yaw"]) <= 25 and abs(x["pitch"]) <= 20
        assert inside == (x["state"] == "looking"), x
assert any(v[0]["state"] == "looking" for v in att.values()), "nobody looked at the camera"
print("faces of %s in frame events: %d; his attention events: %s" %
      (LIN, frames_seen_him, [(x["state"], x["yaw"], x["pitch"]) for x in person]))
assert frames_seen_him > 0, "he was never recognised"
assert person, "no attention event for him"
assert person[0]["state"] == "looking", person[0]
assert all(a["state"] != b["state"] for a, b in zip(person, person[1:])), person
for x in person:
    assert set(x) == {"event", "seq", "ts", "identity", "state", "yaw", "pitch"}, x
PY
echo "test_attention_e2e: ok"
