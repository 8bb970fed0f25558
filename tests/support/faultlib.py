"""Shared helpers for the fault-injection integration tests (tests/integration/
test_fault_*.sh, test_soak.sh): start facewatchd, talk protocol v1 to it,
read its /proc figures. Standard library only."""
import json
import os
import signal
import socket
import subprocess
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
