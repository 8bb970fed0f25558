#!/usr/bin/env bash
# facectl status and facectl watch against a real facewatchd replaying the
# Hamilton clip, with lin-manuel-miranda enrolled:
#  - with no daemon, status and watch exit 1 and say "no facewatchd on ...";
#  - watch --reconnect, started before the daemon, connects when its socket
#    appears; --events presence --exec runs the command once per presence
#    event (anyone present, lin-manuel-miranda present, lin-manuel-miranda
#    away, anyone away), in order, one at a time, with the JSON line on stdin
#    and FACEWATCH_* in the environment; a command's non-zero exit is
#    reported and watching goes on;
#  - watch --json prints valid JSON lines; plain watch prints readable lines,
#    and exits 1 saying the daemon went away when it does;
#  - status answers with the camera and fps (and --json is valid JSON);
#  - --reconnect connects again to a restarted daemon; SIGTERM ends watch
#    with status 0.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
export FWT=$T   # for the --exec command
S=$T/s.sock
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/*.log "$T"/*.err "$T"/*.out "$T"/env "$T"/calls; do
    [ -e "$f" ] && { echo "--- $f"; cat "$f"; }
  done
  exit 1
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}
start_daemon() {
  "$FACEWATCHD" --camera "replay:$CLIP" --fps 30 --socket "$S" --gallery "$T/g.db" \
    --config "$T/conf" --exit-when-idle 2>>"$T/daemon.log" &
  daemon=$!
  pids+=("$daemon")
}

"$FACECTL" enroll --gallery "$T/g.db" lin-manuel-miranda "$PHOTO" >/dev/null
cat >"$T/conf" <<CONF
# short graces so the test ends soon after the clip
arrive_ms = 300
leave_ms = 2000
anyone_leave_ms = 2000
face_lost_ms = 1000
status_interval = 0
CONF

# --- no daemon
"$FACECTL" watch --help | grep -q FACEWATCH_DURATION_MS || fail "watch --help lists no FACEWATCH_ variables"
rc=0; "$FACECTL" status --socket "$S" >/dev/null 2>"$T/nodaemon.err" || rc=$?
[ $rc = 1 ] || fail "status with no daemon: exit $rc, expected 1"
rc=0; "$FACECTL" watch --socket "$S" >/dev/null 2>>"$T/nodaemon.err" || rc=$?
[ $rc = 1 ] || fail "watch with no daemon: exit $rc, expected 1"
[ "$(grep -c "no facewatchd on $S: is the service running? (systemctl status facewatch)" "$T/nodaemon.err")" = 2 ] ||
  fail "no 'no facewatchd on $S' message from status and watch"

# --- watchers that wait for the daemon
# The command checks that no two run at once (busy marker), records its
# stdin, environment and the event's seq, and fails on purpose (exit 3).
EXEC='if [ -e "$FWT/busy" ]; then echo overlap >>"$FWT/bad"; fi; : >"$FWT/busy"
cat >>"$FWT/calls"; echo "$FACEWATCH_IDENTITY $FACEWATCH_STATE" >>"$FWT/env"
echo "$FACEWATCH_EVENT $FACEWATCH_SEQ $FACEWATCH_TS" >>"$FWT/meta"
sleep 0.2; rm "$FWT/busy"; exit 3'
"$FACECTL" watch --socket "$S" --reconnect --events presence --exec "$EXEC" \
  >"$T/exec.out" 2>"$T/exec.err" &
wexec=$!; pids+=("$wexec")
"$FACECTL" watch --socket "$S" --reconnect --json >"$T/json.out" 2>"$T/json.err" &
wjson=$!; pids+=("$wjson")
wait_for 5 grep -q "waiting for facewatchd" "$T/exec.err" || fail "watch --reconnect does not wait"

start_daemon
wait_for 20 "$FACECTL" status --socket "$S" >/dev/null 2>&1 || fail "status never answered"
"$FACECTL" status --socket "$S" >"$T/status.out" || fail "status failed"
grep -q '^camera .*short_hamilton_clip.mjpeg' "$T/status.out" || fail "status shows no camera"
grep -Eq '^fps +[0-9.]+' "$T/status.out" || fail "status shows no fps"
"$FACECTL" status --socket "$S" --json >"$T/status.json.out" || fail "status --json failed"
python3 - "$T/status.json.out" <<'PY' || fail "status --json"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
s = json.loads(lines[0])
assert isinstance(s["fps"], (int, float)), s
assert "short_hamilton_clip" in s["hello"]["camera"], s
assert s["hello"]["protocol"] == 1
PY
"$FACECTL" watch --socket "$S" >"$T/human.out" 2>"$T/human.err" &
whuman=$!; pids+=("$whuman")

# the daemon exits once the clip has ended and everyone has left
# a guard that stops it after 40 s; killed, it takes its sleep along (an
# orphaned sleep would hold ctest's output pipe open)
( sleep 40 & s=$!; trap 'kill $s; exit 0' TERM; wait $s; : >"$T/timeout"
  kill -TERM "$daemon" ) >/dev/null 2>&1 &
guard=$!; pids+=("$guard")
wait "$daemon" || fail "the daemon failed"
[ ! -e "$T/timeout" ] || fail "the daemon did not end within 40 s"
kill "$guard" 2>/dev/null || true

rc=0; wait "$whuman" || rc=$?
[ $rc = 1 ] || fail "plain watch: exit $rc after the daemon went away, expected 1"
grep -q "facewatchd on $S went away" "$T/human.err" || fail "plain watch did not say the daemon went away"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} presence lin-manuel-miranda away$' "$T/human.out" ||
  fail "plain watch: no 'presence lin-manuel-miranda away' line"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} face_left track [0-9]+ \(lin-manuel-miranda\) after [0-9]+\.[0-9] s$' \
  "$T/human.out" || fail "plain watch: no 'face_left track N (lin-manuel-miranda) after X s' line"

wait_for 10 bash -c "[ \$(wc -l <'$T/env') -ge 4 ] && [ ! -e '$T/busy' ]" || fail "--exec: fewer than 4 calls"
cat >"$T/env.expected" <<EOF
anyone present
lin-manuel-miranda present
lin-manuel-miranda away
anyone away
EOF
diff -u "$T/env.expected" "$T/env" || fail "--exec: presence not recorded in order"
[ ! -e "$T/bad" ] || fail "--exec: two commands ran at once"
[ "$(grep -c 'the command exited with status 3 (event presence' "$T/exec.err")" = 4 ] ||
  fail "--exec: a failing command is not reported once per event"
grep -q "went away (connection closed); waiting for it to come back" "$T/exec.err" ||
  fail "watch --reconnect did not say the daemon went away"
python3 - "$T/calls" "$T/meta" "$T/json.out" <<'PY' || fail "--exec stdin / --json output"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
meta = [l.split() for l in open(sys.argv[2])]
assert [(c["identity"], c["state"]) for c in calls] == [
    ("anyone", "present"), ("lin-manuel-miranda", "present"),
    ("lin-manuel-miranda", "away"), ("anyone", "away")], calls
for c, m in zip(calls, meta):
    assert c["event"] == "presence" and m[0] == "presence", (c, m)
    assert str(c["seq"]) == m[1] and c["ts"] == m[2], (c, m)
seqs = [c["seq"] for c in calls]
assert seqs == sorted(seqs), seqs
events = [json.loads(l) for l in open(sys.argv[3])]   # every line valid JSON
kinds = [e["event"] for e in events]
assert "hello" not in kinds and "frame" not in kinds, kinds
assert "face_appeared" in kinds and "face_left" in kinds, kinds
pres = [(e["identity"], e["state"]) for e in events if e["event"] == "presence"]
assert pres == [(c["identity"], c["state"]) for c in calls], pres
s = [e["seq"] for e in events]
assert s == sorted(s) and len(set(s)) == len(s), "seq not increasing"
print("ok: %d --exec calls in order, %d JSON lines" % (len(calls), len(events)))
PY

# --- the daemon comes back: the --reconnect watchers connect again
start_daemon
wait_for 20 bash -c "[ \$(grep -c 'connected to facewatchd' '$T/json.err') -ge 2 ]" ||
  fail "watch --reconnect did not connect to the restarted daemon"
kill -TERM "$daemon"; wait "$daemon" || true
for w in "$wexec" "$wjson"; do
  kill -TERM "$w"
  rc=0; wait "$w" || rc=$?
  [ $rc = 0 ] || fail "watch: exit $rc after SIGTERM, expected 0"
done
pids=()
echo "1 passed, 0 failed"
