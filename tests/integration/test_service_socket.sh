#!/usr/bin/env bash
# Socket activation without systemd as PID 1: systemd-socket-activate binds
# the event socket and starts facewatchd only when a client connects; the
# client, connected before the daemon existed, must get its hello (nothing
# lost), and so must a later one, with requests answered. The daemon must
# use the socket it was given (no socket of its own at --socket) and leave
# it to its owner on exit. Passing something that is not a listening Unix
# socket must fail with a message saying so.
set -euo pipefail
: "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
command -v systemd-socket-activate >/dev/null ||
  { echo "SKIP: systemd-socket-activate not installed (package systemd)"; exit 77; }
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

systemd-socket-activate -l "$T/act.sock" \
  "$FACEWATCHD" --camera "replay:$CLIP" --loop --fps 30 --detector short \
  --socket "$T/own.sock" --gallery "$T/gallery.db" 2>"$T/daemon.log" &
pid=$!

python3 - "$T/act.sock" <<'PY' || { echo "--- daemon log"; cat "$T/daemon.log"; exit 1; }
import json, socket, sys, time
path = sys.argv[1]
deadline = time.time() + 10
while True:  # the listening socket appears when systemd-socket-activate binds it
    try:
        a = socket.socket(socket.AF_UNIX); a.connect(path); break
    except OSError:
        if time.time() > deadline: sys.exit("no listening socket at %s" % path)
        time.sleep(0.05)
t0 = time.time()
a.settimeout(60)
hello = json.loads(a.makefile().readline())
assert hello["event"] == "hello" and hello["protocol"] == 1, hello
print("ok: the client that connected first (before the daemon ran) got hello after %.2f s" % (time.time() - t0))
b = socket.socket(socket.AF_UNIX); b.connect(path); b.settimeout(30)
f = b.makefile()
assert json.loads(f.readline())["event"] == "hello"
b.sendall(b'{"request":"subscribe","events":[]}\n{"request":"status","id":7}\n')
replies = [json.loads(f.readline()) for _ in range(2)]
st = replies[1]
assert st.get("id") == 7 and st.get("ok") is True and "fps" in st, st
print("ok: a second client got hello and a status answer (camera %s)" % st["camera"])
PY
grep -q "events on the socket systemd passed" "$T/daemon.log" ||
  { echo "FAIL: the daemon does not say it uses the passed socket"; cat "$T/daemon.log"; exit 1; }
[ ! -e "$T/own.sock" ] || { echo "FAIL: the daemon made its own socket at --socket"; exit 1; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { echo "FAIL: exit status $rc after SIGTERM"; cat "$T/daemon.log"; exit 1; }
echo "ok: SIGTERM: exit 0"

# fd 3 is a plain file, not a listening socket: refused, with a reason
rc=0
bash -c 'exec 3<"$1"; shift; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' _ "$CLIP" \
  "$FACEWATCHD" --camera "replay:$CLIP" --socket "$T/x.sock" --gallery "$T/gallery.db" \
  2>"$T/bad.log" || rc=$?
if [ "$rc" != 1 ] || ! grep -q "not a listening Unix stream socket" "$T/bad.log"; then
  echo "FAIL: a non-socket fd 3: exit status $rc"; cat "$T/bad.log"; exit 1
fi
echo "ok: a non-socket passed as fd 3 is refused: $(grep -o 'socket activation:.*' "$T/bad.log" | head -1)"
echo "1 passed, 0 failed"
