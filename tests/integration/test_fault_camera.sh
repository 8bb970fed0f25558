#!/usr/bin/env bash
# Camera errors mid-stream, at the daemon: facewatchd watches the fake V4L2
# camera (tests/support/fakecam.c, preloaded; the clip loops at 30 fps)
# while the test injects faults through its control FIFO (FAKECAM_CONTROL):
# corrupt, truncated and error-flagged MJPEG frames, an unplug (ENODEV) and
# one answering EIO, each followed by a replug, EBUSY while reopening, a
# camera that stays open but goes silent (stall), a transfer error (EIO on
# one DQBUF) and a storm of EAGAIN. After each, the
# daemon must have logged what happened once (not once per retry), counted
# what it skipped (status: corrupt, reopens), come back (camera "ok") and
# keep publishing frames and status; it never stalls or dies, and a
# SIGTERM at the end stops it cleanly.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}" "${FAKECAM_SO:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda \
  "$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png" >/dev/null
PYTHONPATH=$(dirname "$0")/../support python3 - "$T" <<'PY'
import os, subprocess, sys, time, re
import faultlib as fl

T = sys.argv[1]
P = fl.env_paths()
fifo = os.path.join(T, "fakecam.ctl")
os.mkfifo(fifo)
open(fifo + ".log", "w").close()
env = dict(os.environ, LD_PRELOAD=os.environ["FAKECAM_SO"], FAKECAM_DEV="/dev/video0",
           FAKECAM_MJPEG=P["clip"], FAKECAM_FPS="30", FAKECAM_CONTROL=fifo)
if "libasan" in subprocess.run(["ldd", P["facewatchd"]], capture_output=True, text=True).stdout:
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
D = fl.Daemon(T, "status_interval = 1\nmax_fps = 10\nface_lost_ms = 1000\n",
              ["--camera", "/dev/video0"], env=env)
proc, log_text, wait_for = D.proc, D.log_text, fl.wait_for
check = fl.Checks()
# one subscriber collects everything: (arrival time, event)
ev = fl.Events(D, ["face_appeared", "face_identified", "face_left", "presence", "frame",
                   "status"], timeout=30)
since = ev.since

def last_status():
    return ev.last("status")

def command(cmd):
    n = len(open(fifo + ".log").read().splitlines())
    with open(fifo, "w") as f:
        f.write(cmd + "\n")
    ok = wait_for(lambda: len(open(fifo + ".log").read().splitlines()) > n, 5)
    assert ok, "fakecam did not take the command %r" % cmd

def healthy(t, what, timeout=15):
    """After t: the camera is ok again, frames and status keep coming."""
    ok = wait_for(lambda: len(since(t, "frame")) >= 10 and
                  (last_status() or {}).get("camera") == "ok" and
                  len(since(t, "status")) >= 2, timeout)
    check(ok and proc.poll() is None, "%s: back to normal (camera ok, %d frames and %d status "
          "events since)" % (what, len(since(t, "frame")), len(since(t, "status"))))

def count(pattern, text):
    return len(re.findall(pattern, text))

# ---- warm up: the camera streams, a face is found and identified
check(wait_for(lambda: since(0, "face_identified"), 30), "the face in the clip is identified")
healthy(0, "start")
base = last_status()

# ---- damaged frames: counted, skipped, nothing else happens
for kind in ("corrupt", "truncate", "errflag"):
    before, t, log0 = last_status(), time.time(), log_text()
    command("%s 15" % kind)
    check(wait_for(lambda: (last_status() or {}).get("corrupt", 0) >= before["corrupt"] + 15, 10),
          "%s frames: status counts 15 more damaged frames (corrupt %d -> %d)"
          % (kind, before["corrupt"], (last_status() or {}).get("corrupt", 0)))
    healthy(t, "%s frames" % kind)
    check(last_status()["reopens"] == before["reopens"], "%s frames: no reopen" % kind)
    new = log_text()[len(log0):]
    check(len(new.splitlines()) <= 1, "%s frames: at most one log line (%d)" % (kind, len(new.splitlines())))

# ---- unplug / replug, with ENODEV and with EIO
for how, errname in (("unplug", "No such device"), ("unplug eio", "Input/output error")):
    before, t, log0 = last_status(), time.time(), len(log_text())
    command(how)
    check(wait_for(lambda: (last_status() or {}).get("camera") == "absent", 10),
          "%s: status says camera absent" % how)
    time.sleep(2.5)   # several retries while it is gone
    check(proc.poll() is None, "%s: still running while the camera is gone" % how)
    command("replug")
    healthy(t, how)
    new = log_text()[log0:]
    check(count(r"disconnected \(%s\)" % errname, new) == 1,
          "%s: 'disconnected (%s)' logged once (%d)" % (how, errname,
          count(r"disconnected \(%s\)" % errname, new)))
    check(count(r"is back", new) == 1, "%s: 'is back' logged once" % how)
    check(len(new.splitlines()) <= 4, "%s: %d log lines in all (at most 4)" % (how, len(new.splitlines())))
    check(last_status()["reopens"] > before["reopens"], "%s: status counts the reopen" % how)

# ---- busy when it comes back: EBUSY on every open until released
before, t, log0 = last_status(), time.time(), len(log_text())
command("unplug")
command("busy 1")
command("replug")
check(wait_for(lambda: (last_status() or {}).get("camera") == "busy", 10), "EBUSY: status says camera busy")
time.sleep(2.5)
command("busy 0")
healthy(t, "EBUSY")
new = log_text()[log0:]
check(count(r"is busy", new) == 1, "EBUSY: 'busy' logged once over several retries (%d)" % count(r"is busy", new))

# ---- a camera that stays open but sends nothing (stall): reopened after 5 s
before, t, log0 = last_status(), time.time(), len(log_text())
command("stall 1")
check(wait_for(lambda: (last_status() or {}).get("reopens", 0) > before["reopens"], 15),
      "stall: the daemon reopens the silent camera")
time.sleep(1)
command("stall 0")
healthy(t, "stall")
new = log_text()[log0:]
check(count(r"sent no frame", new) == 1, "stall: 'sent no frame' logged once (%d)" % count(r"sent no frame", new))

# ---- one transfer error (EIO on DQBUF, the device stays)
before, t, log0 = last_status(), time.time(), len(log_text())
command("eio 1")
healthy(t, "EIO on one DQBUF")
new = log_text()[log0:]
check(1 <= len(new.splitlines()) <= 3, "EIO on one DQBUF: logged (%d lines)" % len(new.splitlines()))
check(last_status()["reopens"] == before["reopens"] + 1, "EIO on one DQBUF: one reopen")

# ---- a storm of EAGAIN (spurious wakeups) for ~2 s: no busy loop, no reopen
def cpu_s():
    with open("/proc/%d/stat" % proc.pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
before, log0 = last_status(), len(log_text())
c0, t = cpu_s(), time.time()
command("eagain 60")
time.sleep(2.0)
c1 = cpu_s()
healthy(t, "EAGAIN storm")
check((c1 - c0) / (time.time() - t) < 0.9, "EAGAIN storm: no busy loop (%.0f %% of a core)"
      % (100 * (c1 - c0) / (time.time() - t)))
check(last_status()["reopens"] == before["reopens"], "EAGAIN storm: no reopen")
new = log_text()[log0:]
check(len(new.splitlines()) <= 1, "EAGAIN storm: at most one log line (%d)" % len(new.splitlines()))

# ---- the end: still identifying people, stops cleanly
st = last_status()
check(st["frames"] > base["frames"], "frames counted throughout (%d -> %d)" % (base["frames"], st["frames"]))
rc = fl.stop(proc)
check(rc == 0, "SIGTERM: exit status %s" % rc)
log = log_text()
check(not fl.sanitizer_report(log), "no sanitizer report")
if check.failures:
    print("--- daemon log\n" + log)
    sys.exit(1)
print("%d damaged frames counted, %d reopens; daemon log:\n%s" % (st["corrupt"], st["reopens"], log))
PY
