#!/usr/bin/env bash
# Least privilege, proven with a real second user (nobody:nogroup, through
# setpriv; the test runs as root as CI does). What a user or admin would
# notice:
#  1. the socket is 0660 and the gallery 0600 in a 0700 state directory;
#  2. with the default socket (root:root 0660) nobody cannot even connect;
#     socket_mode = 0666 lets everyone connect;
#     with socket_group = nogroup nobody connects, gets hello, subscribes,
#     asks status and list, but every request that changes something
#     (enroll, forget, rename, snapshot, ...) is refused and the gallery
#     file stays byte for byte the same;
#  3. the request size and rate limits (max_request_bytes,
#     requests_per_sec) hold for that user: an oversized line closes only
#     that connection, a burst is answered with "rate limit" errors and the
#     connection stays usable;
#  4. requests naming paths (../../outside/x, absolute paths) never reach
#     the filesystem: inotify sees nothing touched or created there;
#  5. a corrupted model stops the daemon at start with a message naming the
#     file; a foreign "gallery" file is refused by name and the daemon runs
#     on without recognition.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root, to run the client as a second user (nobody) with setpriv"
  exit 77
fi
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) is missing"; exit 77; }
PY=/usr/bin/python3   # not a per-user python: nobody must be able to run it
[ -x $PY ] || PY=$(command -v python3)
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
T=$(mktemp -d)
chmod 0711 "$T"   # nobody may traverse it, not list it
pid=
passed=0
stop_daemon() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}
cleanup() { stop_daemon; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/daemon.log" ] && { echo "--- daemon log"; tail -30 "$T/daemon.log"; }; exit 1; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

mkdir -p "$T/run/cwd" "$T/outside"
chmod 0755 "$T/run" "$T/run/cwd" "$T/outside"
echo "not for clients" >"$T/outside/secret"
SOCK=$T/run/fw.sock
G=$T/state/gallery.db

# The client: one request per argument (JSON text), prints each answer as
# a JSON line; "@sleep" waits a second; "@raw:N" sends a line of N bytes.
cat >"$T/client.py" <<'PY'
import json, socket, sys, time
path = sys.argv[1]
try:
    s = socket.socket(socket.AF_UNIX); s.connect(path)
except OSError as e:
    print(json.dumps({"connect_error": e.errno})); sys.exit(0)
s.settimeout(10)
f = s.makefile("rb")
def line():
    l = f.readline()
    return json.loads(l) if l else None
hello = line()
print(json.dumps({"hello": hello}))
for req in sys.argv[2:]:
    if req == "@sleep":
        time.sleep(1.2); continue
    if req.startswith("@burst:"):
        n = int(req[7:])
        s.sendall(b'{"request":"status"}\n' * n)
        for _ in range(n):
            r = line()
            while r is not None and "event" in r: r = line()
            print(json.dumps(r))
        continue
    try:
        if req.startswith("@raw:"):
            n = int(req[5:])
            s.sendall(b'{"request":"status","pad":"' + b"x" * n + b'"}\n')
        else:
            s.sendall(req.encode() + b"\n")
        r = line()
        while r is not None and "event" in r: r = line()
    except OSError:
        r = None
    print(json.dumps(r))
    if r is None: break
PY
chmod 0644 "$T/client.py"

start_daemon() { # extra config lines on stdin
  rm -f "$SOCK"
  { printf 'status_interval = 0\nmax_fps = 2\n'; cat; } >"$T/facewatchd.conf"
  (cd "$T/run/cwd" && exec env -u OPENBLAS_NUM_THREADS "$FACEWATCHD" --config "$T/facewatchd.conf" \
    --camera "replay:$CLIP" --loop --fps 10 --socket "$SOCK" --gallery "$G" "$@" \
    2>"$T/daemon.log") &
  pid=$!
  for _ in $(seq 200); do
    [ -S "$SOCK" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "the daemon exited at start"
    sleep 0.1
  done
  fail "no socket at $SOCK after 20 s"
}

# ---- 1. permissions -------------------------------------------------------
"$FACECTL" enroll --gallery "$G" lin-manuel-miranda "$PHOTO" >/dev/null
start_daemon </dev/null
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), want 660"
[ "$(stat -c %a "$G")" = 600 ] || fail "gallery mode $(stat -c %a "$G"), want 600"
[ "$(stat -c %a "$T/state")" = 700 ] || fail "state directory mode $(stat -c %a "$T/state"), want 700"
for f in "$G"-wal "$G"-shm; do
  [ ! -e "$f" ] || [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f"), want 600"
done
ok "socket 0660, gallery 0600 (and its -wal/-shm), state directory 0700"

# ---- 2. who may connect, who may change things ----------------------------
out=$(as_nobody $PY "$T/client.py" "$SOCK" '{"request":"status"}')
echo "$out" | grep -q '"connect_error": 13' || fail "nobody reached a root:root 0660 socket: $out"
ok "nobody cannot connect to the default socket (EACCES)"
stop_daemon

start_daemon <<<'socket_mode = 0666'
[ "$(stat -c %a "$SOCK")" = 666 ] || fail "socket mode $(stat -c %a "$SOCK"), want 666 as configured"
out=$(as_nobody $PY "$T/client.py" "$SOCK" '{"request":"status"}')
echo "$out" | tail -1 | grep -q '"ok": true' || fail "nobody on a 0666 socket: $out"
ok "socket_mode = 0666 lets every local user connect (and read)"
stop_daemon

start_daemon <<<'socket_group = nogroup'
[ "$(stat -c %G:%a "$SOCK")" = nogroup:660 ] || fail "socket is $(stat -c %G:%a "$SOCK"), want nogroup:660"
sum0=$(sha256sum "$G" | cut -d' ' -f1)
list0=$("$FACECTL" list --gallery "$G")
out=$(as_nobody $PY "$T/client.py" "$SOCK" \
  '{"request":"subscribe","events":["presence"]}' '{"request":"status","id":1}' '{"request":"list","id":2}' \
  '{"request":"enroll","id":3,"name":"mallory","count":3}' \
  '{"request":"forget","id":4,"identity":"lin-manuel-miranda","name":"lin-manuel-miranda"}' \
  '{"request":"rename","id":5,"old":"lin-manuel-miranda","new":"x"}' \
  '{"request":"snapshot","id":6}' '{"request":"not","id":7,"name":"lin-manuel-miranda"}' \
  '{"request":"reload","id":8}' '{"request":"import","id":9,"file":"/etc/passwd"}')
echo "$out"
$PY - "$out" <<'PY' || fail "answers to nobody"
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
hello = lines[0]["hello"]
assert hello["event"] == "hello" and hello["protocol"] == 1, hello
sub, status, lst = lines[1:4]
assert sub["ok"] and sub["events"] == ["presence"], sub
assert status["ok"] and status["id"] == 1 and "fps" in status, status
assert lst["ok"] and [i["name"] for i in lst["identities"]] == ["lin-manuel-miranda"], lst
for r in lines[4:]:
    # refused: "permission denied" once the daemon offers the request,
    # "unknown request" while it does not; never carried out
    assert r["ok"] is False, r
    assert r["error"].startswith("permission denied") or r["error"].startswith("unknown request"), r
    if r["error"].startswith("permission denied"):
        assert "(you are uid 65534)" in r["error"], r
print("nobody: hello, subscribe, status, list answered; %d changing requests refused" % len(lines[4:]))
PY
[ "$(sha256sum "$G" | cut -d' ' -f1)" = "$sum0" ] || fail "the gallery file changed"
[ "$("$FACECTL" list --gallery "$G")" = "$list0" ] || fail "the gallery's identities changed"
ok "with socket_group = nogroup nobody subscribes and reads; changes are refused, the gallery is untouched"

# ---- 4. requests naming paths never reach the filesystem -------------------
# inotify on the directory outside the state directory: any open, read,
# create or change there shows (the daemon's cwd is $T/run/cwd, so
# ../../outside is that directory)
# the watch is set before the client (nobody) starts, and read after its
# last answer (and a second more)
out=$($PY - "$T/outside" $PY "$T/client.py" "$SOCK" \
  '{"request":"../../outside/secret"}' '{"request":"'"$T"'/outside/secret"}' \
  '{"request":"list","gallery":"../../outside/new.db"}' \
  '{"request":"status","socket":"'"$T"'/outside/new.sock","models":"../../outside"}' \
  '{"request":"subscribe","events":["../../outside/secret"]}' \
  '{"request":"enroll","name":"../../outside/x","photo":"'"$T"'/outside/secret"}' \
  '{"request":"forget","identity":"../../outside/secret"}' <<'PY'
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
assert fd >= 0
assert libc.inotify_add_watch(fd, sys.argv[1].encode(), 0xfff) >= 0  # IN_ALL_EVENTS
r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + sys.argv[2:],
                   stdout=subprocess.PIPE, text=True, check=True)
print(r.stdout, end="")
time.sleep(1)
try:
    data = os.read(fd, 65536)
except BlockingIOError:
    data = b""
print("INOTIFY %d" % len(data))
PY
)
echo "$out"
# list and status ignore members they do not know; the rest are refused
[ "$(echo "$out" | sed -n 2,8p | grep -o '"ok": [a-z]*' | cut -d' ' -f2 | tr '\n' ' ')" = \
  "false false true true false false false " ] || fail "answers to requests naming paths"
echo "$out" | grep -q '^INOTIFY 0$' || fail "something touched $T/outside"
[ "$(ls "$T/outside")" = secret ] || fail "files appeared in $T/outside: $(ls "$T/outside")"
[ -z "$(find "$T/run" -newer "$T/client.py" ! -name fw.sock ! -type d)" ] || fail "files appeared under $T/run"
ok "requests naming ../../outside and absolute paths touch nothing outside the state directory"
stop_daemon

# ---- 3. size and rate limits, for an untrusted user ------------------------
start_daemon <<<$'socket_group = nogroup\nmax_request_bytes = 1024\nrequests_per_sec = 2'
out=$(as_nobody $PY "$T/client.py" "$SOCK" '@raw:900' '@burst:25' '@sleep' '{"request":"status","id":"after"}' '@raw:2000' '{"request":"status"}')
echo "$out" | cut -c1-200
$PY - "$out" <<'PY' || fail "limits"
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
assert lines[1]["ok"], lines[1]              # 900 bytes: under the limit
burst = lines[2:27]
okn = sum(1 for r in burst if r["ok"])
limited = [r for r in burst if not r["ok"]]
assert 8 <= okn <= 12, okn                   # the burst allowance (10 at 2/s)
assert limited and all(r["error"].startswith("rate limit: at most 2 requests per second") for r in limited), limited[:2]
after = lines[27]
assert after["ok"] and after["id"] == "after", after   # still usable
big = lines[28]
assert big["ok"] is False and "longer than 1024 bytes" in big["error"], big
assert lines[29] is None, lines[29]          # that connection only is closed
print("limits: %d of 25 answered, %d rate-limited; 2000 bytes closed the connection" % (okn, len(limited)))
PY
out=$(as_nobody $PY "$T/client.py" "$SOCK" '{"request":"status"}')
echo "$out" | tail -1 | grep -q '"ok": true' || fail "a new connection after the oversized line: $out"
ok "max_request_bytes and requests_per_sec hold for nobody; the daemon serves the next client"
stop_daemon

# ---- 5. models and gallery are checked before use --------------------------
mkdir "$T/models"
cp "$FW_MODELS_DIR"/*.fwm "$T/models/"
size=$(stat -c %s "$T/models/mobilefacenet.fwm")
printf '\x5a' | dd of="$T/models/mobilefacenet.fwm" bs=1 seek=$((size / 2)) conv=notrunc status=none
rc=0
timeout 60 "$FACEWATCHD" --camera "replay:$CLIP" --models "$T/models" --socket "$SOCK" \
  --gallery "$G" 2>"$T/bad-model.log" || rc=$?
[ $rc = 1 ] || { cat "$T/bad-model.log"; fail "corrupted model: exit $rc, want 1"; }
grep -q "mobilefacenet.fwm" "$T/bad-model.log" || { cat "$T/bad-model.log"; fail "the message does not name the model file"; }
[ ! -e "$SOCK" ] || fail "socket left behind"
ok "a corrupted model stops the daemon at start: $(grep -m1 mobilefacenet.fwm "$T/bad-model.log" | cut -c1-150)"

printf 'SQLite format 3\0but not really a database, a photo or anything of ours' >"$T/foreign.db"
chmod 600 "$T/foreign.db"
sumf=$(sha256sum "$T/foreign.db" | cut -d' ' -f1)
G=$T/foreign.db start_daemon </dev/null
out=$($PY "$T/client.py" "$SOCK" '{"request":"status"}' '{"request":"list"}')
echo "$out" | sed -n 2p | grep -q '"ok": true' || fail "status with a foreign gallery: $out"
echo "$out" | sed -n 3p | grep -q '"ok": false' || fail "list with a foreign gallery: $out"
grep -q "foreign.db" "$T/daemon.log" || fail "the log does not name the foreign gallery"
kill -0 "$pid" || fail "the daemon died on a foreign gallery"
[ "$(sha256sum "$T/foreign.db" | cut -d' ' -f1)" = "$sumf" ] || fail "the foreign file was modified"
ok "a foreign gallery file is refused by name, left as it was, and the daemon runs on: $(grep -m1 foreign.db "$T/daemon.log" | cut -c1-150)"
stop_daemon
echo "$passed passed, 0 failed"
