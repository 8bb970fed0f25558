#!/usr/bin/env bash
# Allocation failure at each allocation of start-up, on the real programs:
# tests/support/failalloc.c (preloaded) makes the Nth allocation after
# main() fail. For every N up to the number of allocations a clean run
# makes (K, counted first), or a sample when that is large:
#   facectl detect PHOTO   exits 0 with exactly the clean run's output, or
#                          non-zero with a message on stderr;
#   facectl enroll         (into a copy of a gallery of one) the same, and the
#                          gallery afterwards lists as before or as after,
#                          never in between;
#   facewatchd             (replay clip, gallery of one) exits non-zero with a
#                          message, or starts: a client gets its hello and
#                          SIGTERM stops it (exit 0, or 1 with a message);
# never a signal, a sanitizer report, or a hang (20 s per run).
# Sampling: every N <= FW_FAILALLOC_DENSE (default 300: argument parsing,
# configuration, the models, the gallery), then evenly spaced N up to K, so
# that at most FW_FAILALLOC_RUNS (default 400) runs are made per program
# (facectl detect has ~100 points and runs them all; facewatchd ~1600, about
# 0.15 s a run); facectl enroll (~1000 points, 0.3 s a run) gets every N
# <= 60 and FW_FAILALLOC_ENROLL_RUNS (default 150) in all. FW_FAILALLOC_RUNS=0
# runs every N of all three (about 10 minutes).
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
if [ -z "${FAILALLOC_SO:-}" ]; then echo "SKIP: FAILALLOC_SO not set (libfailalloc.so)"; exit 77; fi
# (gcc links the sanitizer runtimes dynamically, clang statically: look for them in the binary)
if grep -qa '__asan_init\|__tsan_init\|__msan_init' "$FACEWATCHD"; then
  echo "SKIP: a sanitizer build owns malloc; allocation failure is injected in plain builds"
  exit 77
fi
export FACEWATCH_MODELS=$FW_MODELS_DIR
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda \
  "$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png" >/dev/null
PYTHONPATH=$(dirname "$0")/../support python3 - "$T" <<'PY'
import os, subprocess, sys, time, json, signal
import faultlib as fl

T = sys.argv[1]
P = fl.env_paths()
SO = os.environ["FAILALLOC_SO"]
DENSE = int(os.environ.get("FW_FAILALLOC_DENSE", "300"))
RUNS = int(os.environ.get("FW_FAILALLOC_RUNS", "400"))
REPORT = os.path.join(T, "report")
failures = []

def env(n):
    e = dict(os.environ, LD_PRELOAD=SO, FAILALLOC_N=str(n), FAILALLOC_REPORT=REPORT)
    e.pop("FAILALLOC_BACKTRACE", None)
    return e

def report():
    try:
        words = open(REPORT).read().split()
        return int(words[1]), int(words[3])    # count, failed (0: not reached)
    except (OSError, IndexError, ValueError):
        return 0, 0

def sample_n(k, runs, dense_n):
    if RUNS <= 0 or k <= runs:
        return list(range(1, k + 1))
    dense = list(range(1, min(dense_n, k) + 1))
    rest = runs - len(dense)
    step = (k - len(dense)) / max(rest, 1)
    return dense + sorted({len(dense) + 1 + int(i * step) for i in range(rest)} | {k})

def sample(k):
    return sample_n(k, RUNS, DENSE)

def bad(prog, n, why, err=""):
    failures.append((prog, n, why))
    print("FAIL: %s, allocation %d fails: %s" % (prog, n, why))
    tail = "\n".join(err.strip().splitlines()[-6:])
    if tail:
        print("   stderr: " + tail.replace("\n", "\n           "))
    print("   (rerun: FAILALLOC_N=%d FAILALLOC_BACKTRACE=1 LD_PRELOAD=%s ...)" % (n, SO))

def judge_exit(prog, n, rc, err):
    """Checks common to every ending: no signal, no sanitizer report."""
    if rc is None:
        bad(prog, n, "hung (no exit within 20 s)", err); return False
    if rc < 0 or rc >= 128:
        bad(prog, n, "killed by signal %d" % (-rc if rc < 0 else rc - 128), err); return False
    s = fl.sanitizer_report(err)
    if s:
        bad(prog, n, "sanitizer report: " + s, err); return False
    return True

def message(err):
    return "\n".join(l for l in err.splitlines() if not l.startswith("failalloc")).strip()

# ---- facectl detect ----------------------------------------------------
cmd = [P["facectl"], "detect", P["photo"]]
ref = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
assert ref.returncode == 0 and '"faces":[{' in ref.stdout, ref
subprocess.run(cmd, env=env(0), capture_output=True, timeout=60)
k_ctl = report()[0]
print("facectl detect: %d allocations after main()" % k_ctl)
assert k_ctl > 10, "the allocation counter saw nothing: is the preload working?"
ns = sample(k_ctl)
t0 = time.time()
exits = {"error": 0, "ok": 0}
for n in ns:
    try:
        r = subprocess.run(cmd, env=env(n), capture_output=True, text=True, timeout=20)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, "", (e.stderr or b"").decode(errors="replace")
    if not judge_exit("facectl detect", n, rc, err):
        continue
    if rc == 0:
        if out != ref.stdout:
            bad("facectl detect", n, "exit 0 with a different output: %r" % out[:200], err)
        exits["ok"] += 1
    elif not message(err):
        bad("facectl detect", n, "exit %d with nothing on stderr" % rc, err)
    else:
        exits["error"] += 1
print("facectl detect: %d runs (N = 1..%d%s) in %.0f s: %d exited with a message, %d "
      "succeeded with the right output" % (len(ns), k_ctl, "" if len(ns) == k_ctl else
      ", sampled", time.time() - t0, exits["error"], exits["ok"]))

# ---- facectl enroll (SQLite, the models, the photo) ----------------------
import shutil
photos = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(
    os.environ["FW_SHARED_DIR"], "data/recognition/images/dlib_johns")) for f in fs if f.endswith(".jpg"))
base = os.path.join(T, "base.db")
subprocess.run([P["facectl"], "enroll", "--gallery", base, "first", photos[0]], check=True,
               capture_output=True, timeout=60)
g = os.path.join(T, "enrol.db")
def fresh():
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(g + suffix):
            os.remove(g + suffix)
    shutil.copy(base, g)
def listed():
    r = subprocess.run([P["facectl"], "list", "--gallery", g], capture_output=True, text=True, timeout=60)
    if r.returncode:
        return None
    return {e["name"]: e["templates"] for e in map(json.loads, r.stdout.splitlines())}
cmd = [P["facectl"], "enroll", "--gallery", g, "second", photos[20]]
fresh()
subprocess.run(cmd, env=env(0), capture_output=True, timeout=60)
k_en = report()[0]
print("facectl enroll: %d allocations after main()" % k_en)
ns = sample_n(k_en, int(os.environ.get("FW_FAILALLOC_ENROLL_RUNS", "150")), 60)
t0 = time.time()
exits = {"error": 0, "ok": 0}
for n in ns:
    fresh()
    try:
        r = subprocess.run(cmd, env=env(n), capture_output=True, text=True, timeout=20)
        rc, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = None, (e.stderr or b"").decode(errors="replace")
    if not judge_exit("facectl enroll", n, rc, err):
        continue
    now = listed()
    if now is None:
        bad("facectl enroll", n, "the gallery cannot be listed afterwards", err)
    elif rc == 0 and now != {"first": 1, "second": 1}:
        bad("facectl enroll", n, "exit 0 but the gallery holds %r" % now, err)
    elif rc != 0 and now not in ({"first": 1}, {"first": 1, "second": 1}):
        bad("facectl enroll", n, "the gallery is neither before nor after: %r" % now, err)
    elif rc != 0 and not message(err):
        bad("facectl enroll", n, "exit %d with nothing on stderr" % rc, err)
    else:
        exits["ok" if rc == 0 else "error"] += 1
print("facectl enroll: %d runs (N = 1..%d%s) in %.0f s: %d exited with a message, %d succeeded; "
      "the gallery before or after, whole, every time" % (len(ns), k_en, "" if len(ns) == k_en
      else ", sampled", time.time() - t0, exits["error"], exits["ok"]))

# ---- facewatchd ----------------------------------------------------------
def daemon(n, sock):
    cmdline = [P["facewatchd"], "--camera", "replay:" + P["clip"], "--fps", "30",
               "--socket", sock, "--gallery", os.path.join(T, "gallery.db")]
    errf = open(os.path.join(T, "daemon.err"), "w+")
    proc = subprocess.Popen(cmdline, env=env(n), stdout=subprocess.DEVNULL, stderr=errf)
    deadline = time.time() + 20
    served = None
    s = fl.connect(sock, deadline, proc)
    if s is not None:
        s.settimeout(max(deadline - time.time(), 0.1))
        try:
            line = s.makefile("rb").readline()
            served = bool(line) and json.loads(line).get("event") == "hello"
        except (OSError, ValueError):
            served = False
        s.close()
    hung = proc.poll() is None and s is None
    rc = None if hung else fl.stop(proc)
    if hung:
        proc.kill(); proc.wait()
    errf.seek(0)
    err = errf.read()
    errf.close()
    return rc, served, err

sock = os.path.join(T, "k.sock")
rc, served, err = daemon(0, sock)
k_d = report()[0]
assert rc == 0 and served, (rc, served, err)
print("facewatchd: %d allocations from main() to its first client's hello and a SIGTERM" % k_d)
ns = sample(k_d)
t0 = time.time()
kinds = {"exited with a message": 0, "started and stopped cleanly": 0}
for n in ns:
    sock = os.path.join(T, "s%d.sock" % n)
    rc, served, err = daemon(n, sock)
    reached = report()[1] == n
    if not judge_exit("facewatchd", n, rc, err):
        continue
    if served is None:
        # never listened: it must have exited by itself, with a message
        if rc == 0:
            bad("facewatchd", n, "exited 0 without ever serving", err)
        elif not message(err):
            bad("facewatchd", n, "exit %d with nothing on stderr" % rc, err)
        else:
            kinds["exited with a message"] += 1
    else:
        # it started; a client may have been turned away only if this
        # run's failure was reached
        if not served and not reached:
            bad("facewatchd", n, "a client got no hello", err)
        elif rc not in (0, 1) or (rc == 1 and not message(err)):
            bad("facewatchd", n, "after SIGTERM: exit %s, stderr %r" % (rc, message(err)[-200:]), err)
        else:
            kinds["started and stopped cleanly"] += 1
    if os.path.exists(sock) and rc is not None:
        bad("facewatchd", n, "socket file left behind", err)
print("facewatchd: %d runs (N = 1..%d%s) in %.0f s: %s" % (len(ns), k_d,
      "" if len(ns) == k_d else ", sampled", time.time() - t0,
      ", ".join("%d %s" % (v, k) for k, v in kinds.items())))
if failures:
    print("%d failing allocation points" % len(failures))
    sys.exit(1)
print("ok: no crash, no hang, no silent failure")
PY
