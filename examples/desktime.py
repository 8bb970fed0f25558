#!/usr/bin/env python3
"""desktime: how long each person sat at the desk, per day.

    desktime.py record            follow facewatchd and log every stay
    desktime.py today             today's totals per person
    desktime.py day 2026-11-21    another day's
    desktime.py today --csv       identity,seconds (for a spreadsheet)

A stay starts with a presence "present" event and ends with "away" (so the
daemon's arrive_ms and leave_ms, docs/facewatchd.conf, shape it). "anyone"
is the time any face, known or not, was at the desk. Stays go to an SQLite
database (default ~/.local/share/facewatch/desktime.db, or --db); a stay
that crosses midnight counts for both days, and one still going counts up
to now. If the recorder or the daemon stops, the stays open then end at the
next connection's hello for the people no longer present.

Standard library only; uses facewatch_client.py from the same folder.
"""
import argparse
import csv
import datetime as dt
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facewatch_client as fw  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS stays (
    identity TEXT NOT NULL,
    start REAL NOT NULL,   -- unix seconds
    end REAL               -- NULL while the stay goes on
);
CREATE INDEX IF NOT EXISTS stays_open ON stays(identity) WHERE end IS NULL;
"""


def default_db():
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "facewatch", "desktime.db")


def open_db(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def ts_seconds(ts):
    """The event's ts (RFC 3339 UTC, "2026-11-22T13:37:00.123Z") as unix seconds."""
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def arrive(db, who, t):
    if not db.execute("SELECT 1 FROM stays WHERE identity=? AND end IS NULL", (who,)).fetchone():
        db.execute("INSERT INTO stays(identity, start) VALUES (?, ?)", (who, t))


def leave(db, who, t):
    db.execute("UPDATE stays SET end=max(start, ?) WHERE identity=? AND end IS NULL", (t, who))


def record(db, socket_path):
    for ev in fw.watch(socket_path, ["presence"]):
        if ev["event"] == "hello":
            # who is here now: stays open for anyone else ended while we
            # were not listening (their end is not known better than now)
            now = ts_seconds(ev["ts"]) if "ts" in ev else time.time()
            here = set(ev.get("present", []))
            if ev.get("anyone_present"):
                here.add("anyone")
            for (who,) in db.execute("SELECT identity FROM stays WHERE end IS NULL").fetchall():
                if who not in here:
                    leave(db, who, now)
            for who in here:
                arrive(db, who, now)
        elif ev["event"] == "presence":
            t = ts_seconds(ev["ts"])
            if ev["state"] == "present":
                arrive(db, ev["identity"], t)
            else:
                leave(db, ev["identity"], t)
        db.commit()


def totals(db, day):
    """{identity: seconds} for a local calendar day (a datetime.date)."""
    start = dt.datetime.combine(day, dt.time()).astimezone().timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).astimezone().timestamp()
    now = time.time()
    out = {}
    for who, s, e in db.execute("SELECT identity, start, coalesce(end, ?) FROM stays "
                                "WHERE start < ? AND coalesce(end, ?) > ?", (now, end, now, start)):
        out[who] = out.get(who, 0.0) + min(e, end) - max(s, start)
    return out


def hms(seconds):
    s = int(round(seconds))
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def report(db, day, as_csv):
    t = totals(db, day)
    rows = sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["identity", "seconds"])
        for who, s in rows:
            w.writerow([who, "%.1f" % s])
        return
    print("desk time on %s" % day.isoformat())
    if not rows:
        print("  nobody")
    for who, s in rows:
        print("  %9s  %s" % (hms(s), "(anyone at all)" if who == "anyone" else who))


def main(argv):
    ap = argparse.ArgumentParser(description="Desk time per person and day, from facewatchd.")
    ap.add_argument("--db", default=default_db(), help="the SQLite file (default: %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="follow the daemon and log every stay")
    r.add_argument("--socket", help="the daemon's socket (default: %s)" % fw.default_socket())
    t = sub.add_parser("today", help="today's totals")
    t.add_argument("--csv", action="store_true", help="identity,seconds lines")
    d = sub.add_parser("day", help="one day's totals")
    d.add_argument("date", help="YYYY-MM-DD")
    d.add_argument("--csv", action="store_true", help="identity,seconds lines")
    a = ap.parse_args(argv)
    db = open_db(a.db)
    if a.cmd == "record":
        try:
            record(db, a.socket)
        except KeyboardInterrupt:
            return 0
    elif a.cmd == "today":
        report(db, dt.date.today(), a.csv)
    else:
        try:
            day = dt.date.fromisoformat(a.date)
        except ValueError:
            ap.error("day: '%s' is not a date like 2026-11-21" % a.date)
        report(db, day, a.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
