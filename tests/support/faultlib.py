"""Shared helpers for the fault-injection integration tests (tests/integration/
test_fault_*.sh, test_soak.sh): start facewatchd, talk protocol v1 to it,
collect its events, read its /proc figures, print ok/FAIL lines. Standard
library only."""
import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")


def env_paths():
    e = os.environ
    shared = e["FW_SHARED_DIR"]
    return {
        "facectl": e["FACECTL"], "facewatchd": e["FACEWATCHD"],
        "clip": os.path.join(shared, "data/video/short_hamilton_clip.mjpeg"),
        "photo": os.path.join(shared, "data/recognition/images/face_recognition_examples/"
                              "lin-manuel-miranda.png"),
        "models": e["FW_MODELS_DIR"],
    }


def sanitizer_report(text):
    return next((m for m in SANITIZER_MARKS if m in text), None)


def connect(path, deadline, proc=None):
    """A connected socket, or None when proc exits or the deadline passes."""
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return None
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.02)
    return None


class Client:
    """A protocol v1 client: lines in, JSON objects out."""

    def __init__(self, path, deadline=None, proc=None, timeout=10):
        self.sock = connect(path, deadline or time.time() + 20, proc)
        if self.sock is None:
            raise OSError("cannot connect to %s" % path)
        self.sock.settimeout(timeout)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)

    def request(self, req):
        """Send a request; return its answer (events before it are skipped)."""
        req = dict(req, id=req.get("id", "r%d" % time.monotonic_ns()))
        self.sock.sendall((json.dumps(req) + "\n").encode())
        while True:
            m = self.line()
            if m.get("id") == req["id"] and "ok" in m:
                return m

    def close(self):
        self.sock.close()


def status(path, timeout=10):
    c = Client(path, timeout=timeout)
    try:
        hello = c.line()
        assert hello["event"] == "hello", hello
        c.request({"request": "subscribe", "events": []})
        return c.request({"request": "status"})
    finally:
        c.close()


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def stop(proc, timeout=15):
    """SIGTERM, then the exit status (None if it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def wait_for(pred, timeout, step=0.1):
    """Poll pred until it is true or timeout seconds pass; its last answer."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Checks:
    """ok/FAIL lines as the tests print them, and the failures kept for the end."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("ok - " if ok else "FAIL - ") + what, flush=True)
        if not ok:
            self.failures.append(what)


class Daemon:
    """facewatchd in T with a config of its own, its socket and gallery in T
    and its stderr in T/daemon.log; killed at exit if a check or an
    exception ends the test early (never a looping daemon left behind).
    args: the camera and whatever else; env: the environment to run in."""

    def __init__(self, T, conf, args, env=None):
        self.sock = os.path.join(T, "fw.sock")
        self.log_path = os.path.join(T, "daemon.log")
        conf_path = os.path.join(T, "fw.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen(
                [env_paths()["facewatchd"], "--config", conf_path, "--socket", self.sock,
                 "--gallery", os.path.join(T, "gallery.db")] + list(args),
                env=env, stdout=subprocess.DEVNULL, stderr=logf)
        atexit.register(lambda: self.proc.poll() is None and self.proc.kill())

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


def clip_daemon(T, conf):
    """A Daemon on the clip, replayed in a loop at 30 fps."""
    return Daemon(T, conf, ["--camera", "replay:" + env_paths()["clip"], "--loop", "--fps", "30"])


class Events:
    """One subscriber that keeps every event with its arrival time, read by
    a thread of its own; a connection that ends adds a "reader-ended" event."""

    def __init__(self, daemon, kinds, timeout=60):
        self.events, self.lock = [], threading.Lock()
        self.client = Client(daemon.sock, time.time() + 30, daemon.proc, timeout=timeout)
        assert self.client.line()["event"] == "hello"
        assert self.client.request({"request": "subscribe", "events": list(kinds)})["ok"]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                e = self.client.line()
                with self.lock:
                    self.events.append((time.time(), e))
        except (OSError, EOFError, ValueError) as e:
            with self.lock:
                self.events.append((time.time(), {"event": "reader-ended", "why": str(e)}))

    def since(self, t, kind):
        with self.lock:
            return [e for (at, e) in self.events if at >= t and e.get("event") == kind]

    def last(self, kind):
        got = self.since(0, kind)
        return got[-1] if got else None

    def all(self):
        with self.lock:
            return [e for (_, e) in self.events]
