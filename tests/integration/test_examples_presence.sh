#!/usr/bin/env bash
# The presence examples (examples/) against a real facewatchd, all at once,
# on a desk scenario built from the Hamilton frames (tests/support/scenario.py):
# 1 s empty desk, lin-manuel-miranda at the desk, a 3 s glance away (empty
# frames), back, then the replay ends (gone). The external commands are
# recorders on PATH (loginctl, playerctl) that log when they were called.
#  - lock-when-away.sh OWNER 6: loginctl lock-session exactly once, 6 s
#    (+- scheduling) after the final "away", never during the glance;
#  - pause-media-when-away.sh: pause at each away, play at the return,
#    in that order, each within 2 s of the event; a second instance, whose
#    player the user had paused, only asks the status: no pause, no play;
#  - desktime.py record/today --csv: totals per person equal to the
#    present->away spans the daemon reported;
#  - presence-log.sh (socat | jq): exactly the daemon's presence events.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
HERE=$(cd "$(dirname "$0")/../.." && pwd)
EX=$HERE/examples
for tool in jq socat; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
GRACE=6
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
  for f in "$T"/*.log "$T"/*.txt "$T"/calls; do [ -e "$f" ] && { echo "--- $f"; cut -c1-200 "$f"; }; done
  exit 1
}
# bg NAME CMD...: run in its own process group (pipelines are killed whole)
bg() {
  local name=$1; shift
  setsid "$@" >"$T/$name.txt" 2>"$T/$name.log" &
  groups+=($!)
}

# the recorders: "unix-time command args" in $T/calls
mkdir "$T/bin"
for cmd in loginctl playerctl; do
  cat >"$T/bin/$cmd" <<'SH'
#!/bin/sh
echo "$(date +%s.%N) $(basename "$0") $*" >>"$FW_CALLS"
case "$(basename "$0") $1" in
  "playerctl status") cat "$FW_PLAYER" ;;
  "playerctl pause") echo Paused >"$FW_PLAYER" ;;
  "playerctl play") echo Playing >"$FW_PLAYER" ;;
esac
SH
  chmod +x "$T/bin/$cmd"
done
export FW_CALLS=$T/calls FW_PLAYER=$T/player PATH=$T/bin:$PATH
echo Playing >"$FW_PLAYER"
export FACECTL FACEWATCH_SOCKET=$T/fw.sock XDG_RUNTIME_DIR=$T
unset XDG_SESSION_ID LOCK_COMMAND

python3 "$HERE/tests/support/scenario.py" "$T/desk" "$FW_SHARED_DIR/data/video/hamilton_frames" \
  gap:30 95-299 gap:90 95-299 >/dev/null
"$FACECTL" enroll --gallery "$T/g.db" lin-manuel-miranda "$PHOTO" >/dev/null
cat >"$T/conf" <<CONF
arrive_ms = 300
leave_ms = 2000
anyone_leave_ms = 2000
face_lost_ms = 1000
status_interval = 0
CONF

# the watchers first (they wait for the daemon), then the daemon
bg lock bash "$EX/lock-when-away.sh" lin-manuel-miranda $GRACE
bg media sh "$EX/pause-media-when-away.sh" lin-manuel-miranda
# a second one, for a user who paused the music himself: nothing to do
mkdir "$T/user2"; echo Paused >"$T/player2"
bg media2 env XDG_RUNTIME_DIR="$T/user2" FW_PLAYER="$T/player2" FW_CALLS="$T/calls2" \
  sh "$EX/pause-media-when-away.sh" lin-manuel-miranda
sleep 0.5
"$FACEWATCHD" --config "$T/conf" --camera "replay:$T/desk" --fps 30 --socket "$FACEWATCH_SOCKET" \
  --gallery "$T/g.db" --print-events >"$T/events.jsonl" 2>"$T/daemon.log" &
daemon=$!
end=$((SECONDS + 20))
until [ -S "$FACEWATCH_SOCKET" ]; do
  [ $SECONDS -ge $end ] && fail "no daemon socket"
  sleep 0.05
done
# these two connect once, at once (the replay starts with 1 s of empty desk)
bg oneliner sh "$EX/presence-log.sh"
bg desktime python3 "$EX/desktime.py" --db "$T/desk.db" record

# until everyone has gone and the lock had its time
end=$((SECONDS + 60))
until [ "$(grep -c '"identity":"anyone","state":"away"' "$T/events.jsonl")" -ge 2 ]; do
  [ $SECONDS -ge $end ] && fail "the scenario did not end within 60 s"
  sleep 0.2
done
sleep $((GRACE + 2))
kill -TERM "$daemon"; wait "$daemon" || fail "facewatchd exit status $?"; daemon=
sleep 0.5

python3 "$EX/desktime.py" --db "$T/desk.db" today --csv >"$T/today.txt" || fail "desktime today"
python3 "$EX/desktime.py" --db "$T/desk.db" today >"$T/today-human.txt" || fail "desktime today"

python3 - "$T" "$GRACE" <<'PY' || fail "see above"
import datetime as dt, json, sys
T, grace = sys.argv[1], float(sys.argv[2])
OWNER = "lin-manuel-miranda"
def secs(ts):
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()
events = [json.loads(l) for l in open(T + "/events.jsonl")]
pres = [e for e in events if e["event"] == "presence"]
owner = [(secs(e["ts"]), e["state"]) for e in pres if e["identity"] == OWNER]
print("owner:", [(round(t - owner[0][0], 2), s) for t, s in owner])
states = [s for _, s in owner]
assert states == ["present", "away", "present", "away"], "scenario: " + repr(states)
glance = owner[2][0] - owner[1][0]
assert glance < grace, "the glance (%.1f s) was not shorter than the grace" % glance
calls = [l.split(None, 2) for l in open(T + "/calls")]
calls = [(float(t), c, (rest[0] if rest else "").strip()) for t, c, *rest in calls]

# lock: once, GRACE after the final away
locks = [t for t, c, a in calls if c == "loginctl"]
assert len(locks) == 1, "lock-session called %d times, at %s" % (len(locks), locks)
assert [a for t, c, a in calls if c == "loginctl"] == ["lock-session"]
delay = locks[0] - owner[3][0]
assert grace - 0.3 <= delay <= grace + 1.5, "locked %.2f s after the away, grace %g" % (delay, grace)
print("ok: lock-session once, %.2f s after the final away (grace %g s); the %.1f s glance locked nothing"
      % (delay, grace, glance))

# media: pause, play, pause, each right after its event
media = [(t, a) for t, c, a in calls if c == "playerctl" and a != "status"]
assert [a for _, a in media] == ["pause", "play", "pause"], media
for (t, a), (te, s) in zip(media, owner[1:]):
    assert 0 <= t - te < 2.0, "%s %.2f s after %s" % (a, t - te, s)
print("ok: media paused at each away and resumed at the return:", [a for _, a in media])
calls2 = [l.split()[1:] for l in open(T + "/calls2")]
assert calls2 and all(c == ["playerctl", "status"] for c in calls2), calls2
print("ok: media the user had paused: %d status queries, no pause, no play" % len(calls2))

# desktime: the spans the daemon reported
def spans(who):
    total, start = 0.0, None
    for e in pres:
        if e["identity"] != who: continue
        if e["state"] == "present": start = secs(e["ts"])
        elif start is not None: total += secs(e["ts"]) - start; start = None
    return total
rows = dict(l.strip().split(",") for l in open(T + "/today.txt"))
assert rows.pop("identity") == "seconds"
for who in (OWNER, "anyone"):
    want, got = spans(who), float(rows[who])
    assert abs(want - got) <= 0.15, "%s: desktime %.1f s, presence events %.1f s" % (who, got, want)
    print("ok: desktime %s %.1f s (events: %.2f s)" % (who, got, want))
human = open(T + "/today-human.txt").read()
assert OWNER in human and "(anyone at all)" in human, human

# the socat | jq one-liner: every presence event, in order
lines = [l.rstrip("\n") for l in open(T + "/oneliner.txt")]
want = ["%s %s %s" % (e["ts"], e["identity"], e["state"]) for e in pres]
assert lines == want, "one-liner printed %r, expected %r" % (lines, want)
print("ok: presence-log.sh printed the %d presence events" % len(lines))
PY
echo "1 passed, 0 failed"
