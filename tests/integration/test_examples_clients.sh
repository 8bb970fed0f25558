#!/usr/bin/env bash
# examples/notify-unknown-face.sh and examples/facewatch_client.py against a
# real facewatchd replaying the Hamilton clip twice (a restart in between),
# lin-manuel-miranda enrolled, unknown_ms = 500 so the strangers in the
# clip are reported.
#  - notify-send (a recorder on PATH) is called once for each unknown_face
#    the daemon published while lin-manuel-miranda was present, and never
#    for one while he was not (the clip has both kinds);
#  - the Python client: Connection reads the hello, answers status and list
#    requests, subscribe filters; watch() waits for a daemon that is not
#    there yet, yields the hello then only the subscribed events, and after
#    the daemon restarts connects again (a new hello, seq from the start).
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
HERE=$(cd "$(dirname "$0")/../.." && pwd)
EX=$HERE/examples
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
groups=()
daemon=
cleanup() {
  for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/*.log "$T"/*.txt "$T"/*.jsonl "$T"/calls; do [ -e "$f" ] && { echo "--- $f"; cut -c1-200 "$f"; }; done
  exit 1
}
bg() {
  local name=$1; shift
  setsid "$@" >"$T/$name.txt" 2>"$T/$name.log" &
  groups+=($!)
}

mkdir "$T/bin"
cat >"$T/bin/notify-send" <<'SH'
#!/bin/sh
echo "$(date +%s.%N) notify-send $*" >>"$FW_CALLS"
SH
chmod +x "$T/bin/notify-send"
export FW_CALLS=$T/calls PATH=$T/bin:$PATH FACECTL FACEWATCH_SOCKET=$T/fw.sock
: >"$FW_CALLS"

"$FACECTL" enroll --gallery "$T/g.db" lin-manuel-miranda "$PHOTO" >/dev/null
cat >"$T/conf" <<CONF
arrive_ms = 300
leave_ms = 2000
anyone_leave_ms = 2000
face_lost_ms = 1000
unknown_ms = 500
status_interval = 0
CONF
run_daemon() { # run_daemon N: replay the clip once, until everyone left
  "$FACEWATCHD" --config "$T/conf" --camera "replay:$CLIP" --fps 30 --socket "$FACEWATCH_SOCKET" \
    --gallery "$T/g.db" --print-events --exit-when-idle >"$T/events$1.jsonl" 2>>"$T/daemon.log" &
  daemon=$!
  wait "$daemon" || fail "facewatchd run $1: exit status $?"
  daemon=
}

bg notify sh "$EX/notify-unknown-face.sh" lin-manuel-miranda
# the client test: it starts before the daemon and ends after the second hello's events
cat >"$T/client.py" <<'PY'
import json, sys, time
sys.path.insert(0, sys.argv[1])
import facewatch_client as fw
T = sys.argv[2]
out = open(T + "/client.jsonl", "w")
hellos = 0
for ev in fw.watch(events=["presence"], backoff=(0.1, 0.5)):
    out.write(json.dumps(ev) + "\n"); out.flush()
    if ev["event"] == "hello":
        hellos += 1
        # requests on a connection of its own, while the daemon runs
        with fw.Connection() as c:
            assert c.hello["protocol"] == 1
            st = c.request("status")
            assert st["fps"] >= 0 and "latency_p50_ms" in st, st
            names = [i["name"] for i in c.request("list")["identities"]]
            assert names == ["lin-manuel-miranda"], names
            assert c.subscribe(["presence"]) == ["presence"]
            try:
                c.request("subscribe", events=["no_such_event"])
                raise AssertionError("an unknown event name was accepted")
            except fw.FacewatchError as e:
                out.write(json.dumps({"refused": str(e)}) + "\n"); out.flush()
    if (hellos == 2 and ev["event"] == "presence" and ev["identity"] == "anyone"
            and ev["state"] == "away"):
        out.write(json.dumps({"done": True}) + "\n")
        break
PY
bg client python3 "$T/client.py" "$EX" "$T"
sleep 1   # the client is waiting for a daemon that is not there yet
run_daemon 1
run_daemon 2
end=$((SECONDS + 10))
until grep -q '"done"' "$T/client.jsonl" 2>/dev/null; do
  [ $SECONDS -ge $end ] && fail "the Python client did not see the second run through"
  sleep 0.2
done
sleep 0.5

python3 - "$T" <<'PY' || fail "see above"
import datetime as dt, json, sys
T = sys.argv[1]
OWNER = "lin-manuel-miranda"
def secs(ts):
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()

# notify-send: once per unknown_face while the owner was present
calls = [float(l.split()[0]) for l in open(T + "/calls")]
behind, alone = [], []
for run in (1, 2):
    present = False
    for l in open(T + "/events%d.jsonl" % run):
        e = json.loads(l)
        if e["event"] == "presence" and e["identity"] == OWNER:
            present = e["state"] == "present"
        elif e["event"] == "unknown_face":
            (behind if present else alone).append(secs(e["ts"]))
assert behind and alone, "the clip should have strangers with and without the owner: %r %r" % (behind, alone)
assert len(calls) == len(behind), "notify-send called %d times for %d strangers behind the owner" % (len(calls), len(behind))
for c, b in zip(sorted(calls), sorted(behind)):
    assert 0 <= c - b < 2.0, "notified %.2f s after the unknown_face" % (c - b)
text = open(T + "/calls").read()
assert "Someone is looking at your screen" in text and "--urgency=critical" in text, text
print("ok: notify-send for the %d strangers behind the owner, none for the %d while he was away"
      % (len(behind), len(alone)))

# the Python client
msgs = [json.loads(l) for l in open(T + "/client.jsonl")]
hellos = [i for i, m in enumerate(msgs) if m.get("event") == "hello"]
assert len(hellos) == 2, "hellos: %r" % hellos
assert all(m.get("event") in ("hello", "presence") for m in msgs if "event" in m), "unsubscribed events came through"
for run, (a, b) in enumerate(zip(hellos, hellos[1:] + [len(msgs)]), 1):
    got = [(m["identity"], m["state"]) for m in msgs[a:b] if m.get("event") == "presence"]
    want = [(e["identity"], e["state"]) for e in map(json.loads, open(T + "/events%d.jsonl" % run))
            if e["event"] == "presence" and e["seq"] > msgs[a]["seq"]]
    # the hello's seq: what came before it is in its state, not replayed
    assert got == want and len(want) >= 3, "run %d: client %r, daemon %r" % (run, got, want)
assert msgs[hellos[1]]["seq"] < msgs[hellos[1] - 1]["seq"], "the second hello is not from a restarted daemon"
assert any("unknown event" in m.get("refused", "") for m in msgs), "no refusal for an unknown event"
print("ok: Python client: hello, status, list, subscribe, refusal; every presence event after each hello; reconnected after the restart")
PY
echo "1 passed, 0 failed"
