#!/usr/bin/env bash
# The MQTT sink against a real mosquitto broker on loopback (a free port),
# with facewatchd replaying the Hamilton clip and lin-manuel-miranda enrolled:
#  run 1 (long leave times, so presence stays ON after the clip):
#   - retained discovery configs for the person, "anyone" and "last seen",
#     with the JSON Home Assistant needs; availability "online";
#   - the person's and anyone's state turn ON; last_seen names the person;
#   - the broker restarts empty (no persistence): the daemon reconnects and
#     publishes availability, discovery and the ON states again;
#   - enrolling someone adds their sensor (a name that needs a slug), and
#     forgetting them removes it;
#   - SIGTERM: retained availability "offline", daemon exits 0 at once;
#  run 2 (short leave times), started while the broker is down: connects
#  when it comes; states ON then OFF, in order, on the live stream; then
#  kill -9: the broker's last will sets availability "offline";
#  with the broker away, SIGTERM still stops at once;
#  and settings that cannot work (a node id with a space, a missing
#  password file) stop the daemon with a message.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
for tool in mosquitto mosquitto_sub; do
  command -v $tool >/dev/null || PATH=$PATH:/usr/sbin
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (apt-get install mosquitto mosquitto-clients)"; exit 77; }
done
# what the build found, not an ldd | grep -q pipe (under pipefail, grep's
# early exit can fail ldd with SIGPIPE and skip the test by chance)
[ "${FW_HAVE_MQTT:-}" = 1 ] ||
  { echo "SKIP: facewatchd was built without MQTT (libmosquitto-dev missing or -DFW_WITH_MQTT=OFF)"; exit 77; }
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
pids=()
broker=
daemon=
cleanup() {
  for p in "${pids[@]}" $broker $daemon; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/*.log "$T"/*.txt; do [ -e "$f" ] && { echo "--- $f"; cut -c1-300 "$f"; }; done
  exit 1
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B=facewatch/desk1
D=homeassistant

start_broker() {
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$PORT" >"$T/mosquitto.conf"
  mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
  broker=$!
  local end=$((SECONDS + 10))
  until mosquitto_sub -p "$PORT" -h 127.0.0.1 -t probe -W 1 -E 2>/dev/null; do
    [ $SECONDS -ge $end ] && fail "mosquitto did not start on port $PORT"
    sleep 0.1
  done
}
stop_broker() { kill "$broker"; wait "$broker" 2>/dev/null || true; broker=; }
# retained: every retained message now, "topic payload" per line
retained() {
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "$B/#" -t "$D/#" --retained-only -W 1 -F '%t %p' 2>/dev/null || true
}
# wait_retained SECONDS TOPIC PAYLOAD: until TOPIC's retained message is PAYLOAD
wait_retained() {
  local end=$((SECONDS + $1))
  until retained | grep -qxF "$2 $3"; do
    [ $SECONDS -ge $end ] && { retained >"$T/retained.txt"; fail "no retained '$3' on $2 within $1 s"; }
    sleep 0.2
  done
}
# wait_live SECONDS FILE TOPIC PAYLOAD [AFTER]: until the live stream FILE
# has it (after line AFTER); prints its line number
wait_live() {
  local end=$((SECONDS + $1)) n
  while :; do
    n=$(awk -v m="|$3|$4" -v a="${5:-0}" 'NR > a && index($0, m) && $0 ~ /\|[^|]*$/ && substr($0, length($0) - length(m) + 1) == m { print NR; exit }' "$2")
    [ -n "$n" ] && { echo "$n"; return; }
    [ $SECONDS -ge $end ] && fail "no '$4' on $3 within $1 s" >&2
    sleep 0.1
  done
}
live() { # live FILE [retained]: every message from now on, "unix-time|topic|payload";
         # with "retained", first the retained state the broker holds
  local r=-R
  [ "${2:-}" = retained ] && r=
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "$B/#" $r -F '%U|%t|%p' >"$1" 2>/dev/null &
  pids+=($!)
  sleep 0.3
}
start_daemon() { # start_daemon CONF
  "$FACEWATCHD" --config "$1" --camera "replay:$CLIP" --fps 30 --socket "$T/s.sock" \
    --gallery "$T/g.db" 2>>"$T/daemon.log" &
  daemon=$!
}

"$FACECTL" enroll --gallery "$T/g.db" lin-manuel-miranda "$PHOTO" >/dev/null
common="arrive_ms = 300
face_lost_ms = 1000
status_interval = 0
mqtt_host = 127.0.0.1
mqtt_port = $PORT
mqtt_node_id = desk1
mqtt_keepalive = 5
mqtt_reconnect_max = 2"
printf '%s\nleave_ms = 60000\nanyone_leave_ms = 60000\n' "$common" >"$T/long.conf"
printf '%s\nleave_ms = 1500\nanyone_leave_ms = 1500\n' "$common" >"$T/short.conf"

# settings that cannot work: a clear message, no start
printf 'mqtt_host = 127.0.0.1\nmqtt_node_id = my desk\n' >"$T/bad1.conf"
rc=0; "$FACEWATCHD" --config "$T/bad1.conf" --camera "replay:$CLIP" --socket "$T/s.sock" \
  --gallery "$T/g.db" 2>"$T/bad.txt" || rc=$?
[ $rc = 2 ] && grep -q "bad1.conf:2: mqtt_node_id: expects letters, digits" "$T/bad.txt" ||
  fail "a node id with a space: exit $rc"
printf 'mqtt_host = 127.0.0.1\nmqtt_username = me\nmqtt_password_file = %s/nope\n' "$T" >"$T/bad2.conf"
rc=0; timeout 20 "$FACEWATCHD" --config "$T/bad2.conf" --camera "replay:$CLIP" --socket "$T/s.sock" \
  --gallery "$T/g.db" 2>"$T/bad.txt" || rc=$?
[ $rc = 1 ] && grep -q "mqtt_password_file $T/nope: cannot read it" "$T/bad.txt" ||
  fail "a missing password file: exit $rc"
echo "ok: a bad node id and a missing password file are refused with a message"

start_broker
# ---- run 1
live "$T/live1.txt"
start_daemon "$T/long.conf"
wait_live 30 "$T/live1.txt" "$B/person/lin-manuel-miranda/state" ON >/dev/null
wait_retained 5 "$B/availability" online
wait_retained 5 "$B/person/lin-manuel-miranda/state" ON
wait_retained 5 "$B/anyone/state" ON
retained >"$T/retained1.txt"
python3 - "$T/retained1.txt" <<'PY' || fail "discovery"
import json, sys
B, D = "facewatch/desk1", "homeassistant"
msgs = {}
for line in open(sys.argv[1]):
    t, _, p = line.rstrip("\n").partition(" ")
    msgs[t] = p
def config(topic):
    assert topic in msgs, "no retained discovery config on " + topic
    return json.loads(msgs[topic])
common = dict(availability_topic=B + "/availability", payload_available="online",
              payload_not_available="offline")
person = config(D + "/binary_sensor/desk1/person_lin-manuel-miranda/config")
anyone = config(D + "/binary_sensor/desk1/anyone/config")
seen = config(D + "/sensor/desk1/last_seen/config")
for c, state, uid in ((person, B + "/person/lin-manuel-miranda/state", "facewatch_desk1_person_lin-manuel-miranda"),
                      (anyone, B + "/anyone/state", "facewatch_desk1_anyone"),
                      (seen, B + "/last_seen", "facewatch_desk1_last_seen")):
    for k, v in common.items():
        assert c[k] == v, (k, c)
    assert c["state_topic"] == state, c
    assert c["unique_id"] == uid, c
    assert c["device"]["identifiers"] == ["facewatch_desk1"], c
    assert c["name"], c
for c in (person, anyone):
    assert (c["payload_on"], c["payload_off"], c["device_class"]) == ("ON", "OFF", "occupancy"), c
assert "lin-manuel-miranda" in person["name"]
assert seen["value_template"] == "{{ value_json.identity }}" and seen["json_attributes_topic"] == B + "/last_seen"
last = json.loads(msgs[B + "/last_seen"])
assert last["identity"] == "lin-manuel-miranda" and last["similarity"] >= 0.55 and last["ts"].endswith("Z"), last
print("ok: discovery configs for person, anyone and last seen; last seen", last)
PY
# the live stream: anyone ON before the person ON; events on <node>/event
grep -q "|$B/event|{\"event\":\"presence\"" "$T/live1.txt" || fail "no presence events on $B/event"
a=$(grep -n "|$B/anyone/state|ON" "$T/live1.txt" | head -1 | cut -d: -f1)
p=$(grep -n "|$B/person/lin-manuel-miranda/state|ON" "$T/live1.txt" | head -1 | cut -d: -f1)
[ -n "$a" ] && [ "$a" -lt "$p" ] || fail "anyone ON (line $a) should come before the person ON (line $p)"
echo "ok: run 1: discovery, availability online, person and anyone ON"

# broker restart, empty: everything is published again
stop_broker
start_broker
wait_retained 15 "$B/availability" online
wait_retained 5 "$B/person/lin-manuel-miranda/state" ON
wait_retained 5 "$B/anyone/state" ON
retained | grep -q "^$D/binary_sensor/desk1/person_lin-manuel-miranda/config {" || fail "no discovery after the broker restarted"
grep -q 'mqtt: lost the broker' "$T/daemon.log" || fail "the daemon did not say it lost the broker"
echo "ok: after the broker restarted: reconnected, discovery and ON states republished"

# enrolling adds a person's sensor, forgetting removes it (the daemon
# notices the gallery change within a second)
ZOE="$D/binary_sensor/desk1/person_zo___ng_52d50897/config"
"$FACECTL" enroll --gallery "$T/g.db" "Zoë Ng" "$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/obama-480p.jpg" >/dev/null
end=$((SECONDS + 10))
until retained | grep -q "^$ZOE {.*\"name\":\"Zoë Ng at desk\""; do
  [ $SECONDS -ge $end ] && { retained >"$T/retained.txt"; fail "no discovery for Zoë Ng after enrolling"; }
  sleep 0.2
done
wait_retained 5 "$B/person/zo___ng_52d50897/state" OFF
"$FACECTL" forget --gallery "$T/g.db" "Zoë Ng" >/dev/null
end=$((SECONDS + 10))
while retained | grep -q "^$ZOE "; do
  [ $SECONDS -ge $end ] && fail "Zoë Ng's discovery config is still there after forget"
  sleep 0.2
done
retained | grep -q "^$B/person/zo___ng_52d50897/state " && fail "Zoë Ng's state is still retained after forget"
echo "ok: enroll adds a person's sensor, forget removes it"

# clean stop: offline, at once
t0=$SECONDS
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=
[ $rc = 0 ] || fail "facewatchd exited $rc after SIGTERM"
[ $((SECONDS - t0)) -le 3 ] || fail "facewatchd took $((SECONDS - t0)) s to stop"
wait_retained 3 "$B/availability" offline
echo "ok: SIGTERM: availability offline (retained), exit 0"

# ---- run 2: the broker comes after the daemon; ON then OFF; kill -9
stop_broker
start_daemon "$T/short.conf"
sleep 1
kill -0 "$daemon" || fail "facewatchd did not start without its broker"
start_broker
# the daemon may connect (and publish its states) before this subscriber
# does: take the retained state too, so nothing published in between is lost
live "$T/live2.txt" retained
wait_retained 20 "$B/availability" online
echo "ok: started before the broker, connected when it came"
on=$(wait_live 30 "$T/live2.txt" "$B/person/lin-manuel-miranda/state" ON)
off=$(wait_live 20 "$T/live2.txt" "$B/person/lin-manuel-miranda/state" OFF "$on")
wait_live 10 "$T/live2.txt" "$B/anyone/state" OFF "$off" >/dev/null
python3 - "$T/live2.txt" <<'PY' || fail "state order"
import sys
B = "facewatch/desk1"
seq = [l.rstrip("\n").split("|", 2)[1:] for l in open(sys.argv[1])]
person = [p for t, p in seq if t == B + "/person/lin-manuel-miranda/state"]
anyone = [p for t, p in seq if t == B + "/anyone/state"]
# the first is the retained OFF the daemon publishes on connecting
assert person[-2:] == ["ON", "OFF"] and "ON" not in person[:-2], person
assert anyone[-2:] == ["ON", "OFF"], anyone
print("ok: person", person, "anyone", anyone)
PY
kill -9 "$daemon"
wait "$daemon" 2>/dev/null || true
daemon=
wait_retained 5 "$B/availability" offline
echo "ok: kill -9: the broker's last will set availability offline"

# stopping while the broker is away does not wait for it
stop_broker
start_daemon "$T/short.conf"
sleep 2.5
t0=$SECONDS
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=
[ $rc = 0 ] && [ $((SECONDS - t0)) -le 3 ] || fail "with no broker: exit $rc after $((SECONDS - t0)) s"
echo "ok: with the broker away, SIGTERM still stops at once"
echo "1 passed, 0 failed"
