#!/usr/bin/env bash
# facewatchd talks to systemd's notify socket (sd_notify), tested without
# systemd as PID 1: this test owns NOTIFY_SOCKET (an AF_UNIX datagram socket)
# and sets WATCHDOG_USEC as systemd would for Type=notify with WatchdogSec=1s.
# 1. On the replay clip it must send, in this order: READY=1 (after the first
#    analysed frame), STATUS= with fps and faces, WATCHDOG=1 (every quarter
#    of the watchdog time), on SIGHUP RELOADING=1 then READY=1 again, and on
#    SIGTERM STOPPING=1, last, then exit 0.
# 2. With the test-only fault hook FACEWATCH_TEST_STALL_AFTER_FRAMES the
#    inference thread wedges: WATCHDOG=1 must stop within the watchdog time
#    (so systemd would restart the service) and the log must say why.
# 3. With no camera: READY=1 once loaded, "waiting for the camera" (it is
#    picked up when plugged in), the missing device named in the log.
set -euo pipefail
: "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf 'status_interval = 1\nmax_fps = 10\ndetector = short\n' >"$T/facewatchd.conf"

python3 - "$T" "$FACEWATCHD" "$CLIP" <<'PY'
import os, signal, socket, subprocess, sys, time
T, daemon, clip = sys.argv[1:4]

def run(phase, extra_env, until, camera=None):
    """Start facewatchd with our NOTIFY_SOCKET; call until(msgs, proc, t)
    for each datagram (and once a second); return the datagrams, each with
    the time it arrived."""
    path = os.path.join(T, "notify-%s.sock" % phase)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000", **extra_env)
    log = open(os.path.join(T, "daemon-%s.log" % phase), "w")
    p = subprocess.Popen([daemon, "--config", os.path.join(T, "facewatchd.conf"),
                          "--camera", camera or "replay:" + clip, "--loop", "--fps", "30",
                          "--socket", os.path.join(T, "fw-%s.sock" % phase),
                          "--gallery", os.path.join(T, "gallery.db")],
                         env=env, stderr=log)
    msgs, t0 = [], time.time()
    try:
        while p.poll() is None:
            if time.time() - t0 > 60:
                raise SystemExit("%s: timed out; got %r" % (phase, msgs))
            try:
                m = s.recv(4096).decode()  # then the time: when it came
                msgs.append((time.time() - t0, m))
            except socket.timeout:
                pass
            until(msgs, p, time.time() - t0)
        rc = p.wait()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return msgs, rc

def show(phase, msgs):
    print("--- %s: %d datagrams" % (phase, len(msgs)))
    for t, m in msgs:
        if m != "WATCHDOG=1":
            print("  %.2f %s" % (t, m.replace("\n", " | ")))
    print("  WATCHDOG=1 x %d" % sum(m == "WATCHDOG=1" for t, m in msgs))
    print(open(os.path.join(T, "daemon-%s.log" % phase)).read(), end="")

# ---- 1. the whole life: READY, STATUS, WATCHDOG, RELOADING, READY, STOPPING
state = {"hup": None, "term": False}
def life(msgs, p, t):
    kinds = [m for _, m in msgs]
    status = [m for m in kinds if m.startswith("STATUS=camera")]
    dogs = sum(m == "WATCHDOG=1" for m in kinds)
    if state["hup"] is None and status and dogs >= 4:
        p.send_signal(signal.SIGHUP)
        state["hup"] = len(msgs)
    elif state["hup"] is not None and not state["term"] and \
            sum(m == "WATCHDOG=1" for m in kinds[state["hup"]:]) >= 4:
        p.send_signal(signal.SIGTERM)
        state["term"] = True
msgs, rc = run("life", {}, life)
show("life", msgs)
kinds = [m.split("\n")[0] for _, m in msgs]
assert rc == 0, "exit status %d after SIGTERM" % rc
# (WATCHDOG=1 may come first: systemd's watchdog runs from the start)
first = next(m for _, m in msgs if m != "WATCHDOG=1")
assert first.startswith("READY=1\n"), "the first notification is not READY=1: %r" % first
assert "STATUS=watching" in first, first
i_ready = kinds.index("READY=1")
i_status = next(i for i, (_, m) in enumerate(msgs) if m.startswith("STATUS=camera ok,"))
assert " fps, " in msgs[i_status][1] and " face" in msgs[i_status][1], msgs[i_status][1]
i_reload = kinds.index("RELOADING=1")
i_dog = kinds.index("WATCHDOG=1", i_ready)
assert i_ready < i_status < i_reload and i_dog < i_reload, "READY, STATUS, WATCHDOG not before RELOADING"
assert kinds[i_reload + 1:].count("READY=1") == 1, "no single READY=1 after RELOADING=1"
i_ready2 = kinds.index("READY=1", i_reload)
assert "WATCHDOG=1" in kinds[i_ready2:], "no WATCHDOG=1 after the reload"
assert kinds[-1] == "STOPPING=1" and kinds.count("STOPPING=1") == 1, "STOPPING=1 not last, once"
# pings at a quarter of WATCHDOG_USEC: 4 a second (allow scheduling slack)
dogs = [t for t, m in msgs if m == "WATCHDOG=1"]
rate = (len(dogs) - 1) / (dogs[-1] - dogs[0])
assert 2.5 <= rate <= 6, "WATCHDOG=1 %.1f a second, expected about 4" % rate
print("ok: READY, STATUS, WATCHDOG (%.1f/s), RELOADING, READY, STOPPING in order; exit 0" % rate)

# ---- 2. a wedged inference thread: the pings stop
state = {"stalled_at": None, "term": False}
def wedge(msgs, p, t):
    log = open(os.path.join(T, "daemon-stall.log")).read()
    if state["stalled_at"] is None and "inference thread stalls now" in log:
        state["stalled_at"] = t
    if state["stalled_at"] is not None and t - state["stalled_at"] > 3 and not state["term"]:
        p.send_signal(signal.SIGTERM)
        state["term"] = True
msgs, rc = run("stall", {"FACEWATCH_TEST_STALL_AFTER_FRAMES": "15"}, wedge)
show("stall", msgs)
log = open(os.path.join(T, "daemon-stall.log")).read()
assert state["stalled_at"] is not None, "the fault hook never stalled the inference thread"
assert any(m.startswith("READY=1") for _, m in msgs), "never READY"
dogs = [t for t, m in msgs if m == "WATCHDOG=1"]
assert dogs, "no WATCHDOG=1 before the stall"
last = dogs[-1]
# the heartbeat counts as fresh for half the watchdog time (0.5 s), plus a tick
assert last < state["stalled_at"] + 0.8, \
    "WATCHDOG=1 went on %.2f s after the stall" % (last - state["stalled_at"])
assert "watchdog: the inference thread has not run for" in log, "no log line about the stall"
assert rc == 0
print("ok: the stalled pipeline stopped WATCHDOG=1 %.2f s after the stall (watchdog 1 s)"
      % (last - state["stalled_at"]))

# ---- 3. no camera: READY=1 once the models and gallery are loaded, saying
# it waits for one (a camera plugged in later is picked up, so failing the
# start would gain nothing), the watchdog fed, and a clean stop
state = {"term": False}
def nocam(msgs, p, t):
    kinds = [m for _, m in msgs]
    if not state["term"] and any(m.startswith("READY=1") for m in kinds) and \
            kinds.count("WATCHDOG=1") >= 4:
        p.send_signal(signal.SIGTERM)
        state["term"] = True
msgs, rc = run("nocam", {}, nocam, camera="/dev/video-facewatch-test-absent")
show("nocam", msgs)
ready = [(t, m) for t, m in msgs if m.startswith("READY=1")]
assert len(ready) == 1 and "STATUS=waiting for the camera" in ready[0][1], ready
assert ready[0][0] < 20, "READY=1 only after %.1f s" % ready[0][0]
log = open(os.path.join(T, "daemon-nocam.log")).read()
assert "/dev/video-facewatch-test-absent" in log, "the log does not name the missing camera"
assert msgs[-1][1].startswith("STOPPING=1") and rc == 0, (msgs[-1], rc)
print("ok: no camera: READY=1 after %.2f s, waiting for the camera; the log names it; exit 0"
      % ready[0][0])
PY
echo "1 passed, 0 failed"
