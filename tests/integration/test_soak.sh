#!/usr/bin/env bash
# Soak: facewatchd on a looping replay of the clip at 30 fps for
# FW_SOAK_SECONDS (default 600; CTest label "soak", timeout 720 s), with a
# gallery of one and a client subscribed to every event. Every 5 s it samples
# the daemon's RSS (/proc/PID/status VmRSS), open fds (/proc/PID/fd) and its
# status answer (frames, drops, queue_depth, queue_high, queue_drops,
# clients_dropped, cpu) into FW_BUILD_DIR/soak.csv, and asserts:
#   - RSS flat after warm-up (the first min(60 s, a fifth)): the fitted
#     trend over the rest projects less than 2 MiB (or 2 %) of growth, and
#     the last quarter's median is within 2 MiB of the first quarter's;
#   - the fd count flat (max - min <= 1 after warm-up: the sampler's own
#     connection);
#   - queue depth bounded (< 32 of 256) and queue_high not growing after
#     warm-up beyond 32; no result ever dropped from the queue;
#   - every replayed frame accounted for: analysed + dropped (reported) +
#     damaged = captured, to within the frames in flight (the ring's 4);
#     the replay kept its pace (captured within 10 % of 30 fps x time);
#   - the client saw every event (seq without a gap) and was never dropped.
set -euo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$FACECTL" enroll --gallery "$T/gallery.db" lin-manuel-miranda \
  "$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png" >/dev/null
PYTHONPATH=$(dirname "$0")/../support python3 - "$T" <<'PY'
import os, statistics, sys, time
import faultlib as fl

T = sys.argv[1]
P = fl.env_paths()
DUR = float(os.environ.get("FW_SOAK_SECONDS", "600"))
EVERY = 5.0
WARM = min(60.0, DUR / 5)
csv_path = os.path.join(os.environ.get("FW_BUILD_DIR", T), "soak.csv")
D = fl.clip_daemon(T, "status_interval = 10\n")
proc, sock, log_path = D.proc, D.sock, D.log_path
check = fl.Checks()
# a client subscribed to everything, reading throughout
ev = fl.Events(D, ["face_appeared", "face_identified", "face_left", "unknown_face", "presence",
                   "frame", "status"])

cols = ["t_s", "rss_kb", "fds", "captured", "frames", "drops", "corrupt", "fps", "cpu",
        "queue_depth", "queue_high", "queue_drops", "clients", "clients_dropped"]
rows = []
t0 = time.time()
print("soak: %.0f s, a sample every %.0f s, warm-up %.0f s; samples in %s" % (DUR, EVERY, WARM, csv_path),
      flush=True)
with open(csv_path, "w") as out:
    out.write(",".join(cols) + "\n")
    k = 0
    while True:
        now = time.time() - t0
        if proc.poll() is not None:
            check(False, "the daemon exited during the soak (status %s)" % proc.returncode)
            break
        fds = fl.proc_fds(proc.pid)     # before the sampler's own connection
        rss = fl.proc_rss_kb(proc.pid)
        st = fl.status(sock)
        row = dict(st, t_s=round(now, 1), rss_kb=rss, fds=fds)
        rows.append(row)
        out.write(",".join(str(row.get(c, "")) for c in cols) + "\n")
        out.flush()
        if k % 12 == 0:
            print("  t=%4.0f s  rss %d KiB  fds %d  frames %d  drops %d  queue %d/%d  cpu %.1f %%"
                  % (now, rss, fds, st["frames"], st["drops"], st["queue_depth"], st["queue_high"],
                     st["cpu"]), flush=True)
        k += 1
        if now >= DUR:
            break
        time.sleep(max(0.0, t0 + k * EVERY - time.time()))
elapsed = time.time() - t0
ended_early = [e["why"] for e in ev.since(0, "reader-ended")]
seqs, kinds = [], {}
for e in ev.all():
    if "seq" in e:
        seqs.append(e["seq"])
        kinds[e["event"]] = kinds.get(e["event"], 0) + 1
rc = fl.stop(proc)
check(rc == 0, "SIGTERM after the soak: exit status %s" % rc)

after = [r for r in rows if r["t_s"] >= WARM]
if len(after) >= 4:
    ts = [r["t_s"] for r in after]
    rss = [r["rss_kb"] for r in after]
    mt, mr = statistics.fmean(ts), statistics.fmean(rss)
    slope = sum((t - mt) * (r - mr) for t, r in zip(ts, rss)) / max(sum((t - mt) ** 2 for t in ts), 1e-9)
    span = ts[-1] - ts[0]
    growth = slope * span
    bound = max(2048, 0.02 * mr)
    q = max(len(rss) // 4, 1)
    first_q, last_q = statistics.median(rss[:q]), statistics.median(rss[-q:])
    check(growth < bound, "RSS trend after warm-up: %+.1f KiB/min, %+.0f KiB over %.0f s (bound %.0f KiB)"
          % (slope * 60, growth, span, bound))
    check(last_q - first_q < 2048, "RSS last quarter median %d KiB vs first quarter %d KiB (%+d)"
          % (last_q, first_q, last_q - first_q))
    fds = [r["fds"] for r in after]
    check(max(fds) - min(fds) <= 1, "fd count flat after warm-up: %d..%d" % (min(fds), max(fds)))
    qd = max(r["queue_depth"] for r in rows)
    check(qd < 32, "queue depth bounded: at most %d waiting (capacity 256)" % qd)
    check(after[-1]["queue_high"] <= max(after[0]["queue_high"], 32),
          "queue high-water mark not growing: %d after warm-up, %d at the end"
          % (after[0]["queue_high"], after[-1]["queue_high"]))
else:
    check(False, "too few samples after warm-up (%d): FW_SOAK_SECONDS too short" % len(after))
last = rows[-1]
check(last["queue_drops"] == 0, "no result dropped between inference and the event server (%d)"
      % last["queue_drops"])
inflight = last["captured"] - (last["frames"] + last["drops"] + last["corrupt"])
check(-1 <= inflight <= 6, "every frame accounted for: captured %d = analysed %d + dropped %d + "
      "damaged %d + %d in flight" % (last["captured"], last["frames"], last["drops"],
                                      last["corrupt"], inflight))
pace = last["captured"] / max(last["t_s"], 1e-9)
check(abs(pace - 30) < 3, "the replay kept its pace: %.2f frames/s captured" % pace)
gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
check(not ended_early, "the client stayed connected until the end%s" % (": " + ended_early[0] if ended_early else ""))
check(gaps == 0 and len(seqs) > 0, "the client saw %d events (%s) without a seq gap (%d gaps)"
      % (len(seqs), ", ".join("%s %d" % kv for kv in sorted(kinds.items())), gaps))
check(last["clients_dropped"] == 0, "no client dropped (%d)" % last["clients_dropped"])
log = open(log_path).read()
check(not fl.sanitizer_report(log), "no sanitizer report")
cpus = [r["cpu"] for r in after] or [0]
print("summary: %.0f s, %d samples; RSS %d -> %d KiB (max %d); fds %d; frames analysed %d, "
      "dropped %d (reported), damaged %d; queue high %d; cpu median %.1f %% of a core; csv %s"
      % (elapsed, len(rows), rows[0]["rss_kb"], last["rss_kb"], max(r["rss_kb"] for r in rows),
         last["fds"], last["frames"], last["drops"], last["corrupt"], last["queue_high"],
         statistics.median(cpus), csv_path))
if check.failures:
    print("--- daemon log (last 30 lines)\n" + "\n".join(log.splitlines()[-30:]))
    sys.exit(1)
PY
