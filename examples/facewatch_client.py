#!/usr/bin/env python3
"""facewatch_client: a client for facewatchd's event socket (protocol v1,
docs/protocol.md), with the Python standard library only. Copy it next to
your script, or import it from here.

    import facewatch_client as fw

    # one connection: the hello, requests, events
    with fw.Connection() as c:
        print("present now:", c.hello["present"])
        print(c.request("status")["fps"])
        c.subscribe(["presence"])
        for ev in c.events():
            print(ev["identity"], ev["state"])

    # for a service: every event, forever, reconnecting when the daemon
    # restarts (each connection starts with its hello)
    for ev in fw.watch(events=["presence", "unknown_face"]):
        ...

Run it to see the events:  python3 facewatch_client.py [--socket PATH] [--events a,b]
"""
import json
import os
import socket
import sys
import time

PROTOCOL = 1


class FacewatchError(Exception):
    """The daemon refused a request, spoke another protocol, or went away."""


def default_socket():
    """The daemon's default socket path, as facewatchd and facectl work it
    out: $FACEWATCH_SOCKET (this library's own override), else
    $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR or /run/facewatch, + /facewatch.sock."""
    if os.environ.get("FACEWATCH_SOCKET"):
        return os.environ["FACEWATCH_SOCKET"]
    d = (os.environ.get("RUNTIME_DIRECTORY") or os.environ.get("XDG_RUNTIME_DIR")
         or "/run/facewatch")
    return os.path.join(d, "facewatch.sock")


class Connection:
    """One connection to facewatchd. Reads the hello at once (self.hello).
    Events that arrive while a request waits for its answer are kept and
    come out of events() in order, so nothing is lost."""

    def __init__(self, path=None, timeout=10.0):
        self.path = path or default_socket()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError:
            self._sock.close()
            raise
        self._file = self._sock.makefile("rb")
        self._pending = []   # events read while waiting for an answer
        self._next_id = 1
        self.hello = self._read()
        if self.hello is None or self.hello.get("event") != "hello":
            self.close()
            raise FacewatchError("%s: no hello from facewatchd" % self.path)
        if self.hello.get("protocol") != PROTOCOL:
            self.close()
            raise FacewatchError("%s: facewatchd speaks protocol %r; this client knows %d"
                                 % (self.path, self.hello.get("protocol"), PROTOCOL))
        self._sock.settimeout(None)  # events may be minutes apart

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._file.close()
        finally:
            self._sock.close()

    def _read(self):
        """The next message (a dict), or None when the daemon closed."""
        line = self._file.readline()
        if not line:
            return None
        return json.loads(line)

    def request(self, name, **members):
        """Send one request and return its answer (a dict without "ok"/"id").
        Raises FacewatchError with the daemon's words when it refuses."""
        rid = self._next_id
        self._next_id += 1
        req = dict(members, request=name, id=rid)
        self._sock.sendall(json.dumps(req, separators=(",", ":")).encode() + b"\n")
        while True:
            msg = self._read()
            if msg is None:
                raise FacewatchError("%s: facewatchd closed the connection" % self.path)
            if "event" in msg:
                self._pending.append(msg)
            elif msg.get("id") == rid:
                if not msg.get("ok"):
                    raise FacewatchError(msg.get("error", "request %s failed" % name))
                return {k: v for k, v in msg.items() if k not in ("ok", "id")}

    def subscribe(self, events=None):
        """Receive only these events (a list of names); None: the default
        (every event but "frame"). Returns the subscription in force."""
        if events is None:
            return self.request("subscribe")["events"]
        return self.request("subscribe", events=list(events))["events"]

    def events(self):
        """Yield each event (a dict) until the daemon closes the connection."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            msg = self._read()
            if msg is None:
                return
            if "event" in msg:
                yield msg


def watch(path=None, events=None, backoff=(0.25, 8.0), log=sys.stderr):
    """Every event, forever: connects (waiting for the daemon if it is not
    there), subscribes, yields the hello and then each event, and when the
    daemon goes away connects again with backoff. Each connection's first
    event is its hello: its "present" is who is at the desk now, so a
    script that follows presence resets its state there. Events published
    while disconnected are not replayed."""
    delay = backoff[0]
    said = False
    while True:
        try:
            with Connection(path) as c:
                if said and log:
                    print("facewatch: connected again", file=log)
                said = False
                delay = backoff[0]
                sub = c.subscribe(events) if events is not None else None
                yield c.hello
                for ev in c.events():
                    if sub is None or ev["event"] in sub:
                        yield ev
            if log:
                print("facewatch: the daemon went away; reconnecting", file=log)
                said = True
        except (OSError, FacewatchError) as e:
            if isinstance(e, FacewatchError) and "protocol" in str(e):
                raise
            if not said and log:
                print("facewatch: %s; retrying (backoff up to %g s)" % (e, backoff[1]), file=log)
                said = True
        time.sleep(delay)
        delay = min(delay * 2, backoff[1])


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Print facewatchd's events as they come.")
    ap.add_argument("--socket", help="the daemon's socket (default: %s)" % default_socket())
    ap.add_argument("--events", help="comma-separated event names (default: all but frame)")
    a = ap.parse_args(argv)
    events = a.events.split(",") if a.events else None
    try:
        for ev in watch(a.socket, events):
            if ev["event"] == "hello":
                print("connected; present now:", ", ".join(ev.get("present", [])) or "nobody")
            elif ev["event"] == "presence":
                print(ev["ts"], ev["identity"], ev["state"])
            else:
                print(json.dumps(ev))
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
