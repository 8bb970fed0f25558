#!/usr/bin/env bash
# facewatch under a real systemd: the host's own /usr booted as a container
# (systemd-nspawn --volatile=yes), with what `cmake --install` put under
# /opt/facewatch, its units in /etc/systemd/system and a drop-in that points
# the camera at the replay clip (no device needed). A check unit inside:
#   1. enrolls lin-manuel-miranda into the service's gallery, as the
#      facewatch user sysusers.d made;
#   2. connects to /run/facewatch/facewatch.sock: socket activation starts
#      facewatch.service, and the client gets hello;
#   3. waits for the unit to be active (Type=notify: READY=1) with a
#      STATUS= line, and for the journal to hold face_identified with the
#      structured fields EVENT=, IDENTITY=, CAMERA=; `systemctl reload`
#      reloads in the same process (SIGHUP logged, still active);
#   4. injects an inference stall (FACEWATCH_TEST_STALL_AFTER_FRAMES, a
#      test-only fault hook) and waits for systemd's watchdog to kill and
#      restart the service (NRestarts >= 1);
#   5. starts facewatch@video0.socket: a client on its own socket
#      (/run/facewatch/video0/) starts facewatch@video0.service, which
#      keeps its gallery in its own state directory.
# Then it powers the container off and the test reads what it wrote.
set -euo pipefail
: "${FW_BUILD_DIR:?}" "${FW_SHARED_DIR:?}"
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
PHOTO=$FW_SHARED_DIR/data/recognition/images/face_recognition_examples/lin-manuel-miranda.png
command -v systemd-nspawn >/dev/null ||
  { echo "SKIP: systemd-nspawn not installed (package systemd-container)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: systemd-nspawn needs root"; exit 77; }
[ -x /lib/systemd/systemd ] || { echo "SKIP: no systemd in this /usr to boot"; exit 77; }
T=$(mktemp -d)
trap '[ -n "${FW_KEEP_TMP:-}" ] || rm -rf "$T"' EXIT

DESTDIR=$T/stage cmake --install "$FW_BUILD_DIR" --prefix /opt/facewatch >/dev/null
U=$T/stage/opt/facewatch/lib/systemd/system
mkdir -p "$T/dropin" "$T/out"
cat >"$T/dropin/replay.conf" <<'CONF'
# test: the replay clip instead of a camera, a short watchdog
[Service]
ExecStart=
ExecStart=/opt/facewatch/bin/facewatchd --config /opt/facewatch/etc/facewatch/facewatchd.conf --camera replay:/opt/clip.mjpeg --loop --detector short
WatchdogSec=3s
CONF
cat >"$T/facewatch-check.service" <<'UNIT'
[Unit]
Description=facewatch check (test)
Wants=facewatch.socket
After=facewatch.socket
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/bin/bash /opt/check.sh
StandardOutput=file:/out/check.log
StandardError=inherit
UNIT
cat >"$T/check.sh" <<'CHECK'
set -u
say() { echo "$*"; echo "$*" >>/out/result; }
now() { date +%s; }
prop() { systemctl show facewatch.service -p "$1" --value; }
# setpriv, not runuser: no PAM configuration in the empty /etc
setpriv --reuid=facewatch --regid=facewatch --clear-groups /opt/facewatch/bin/facectl enroll \
  --gallery /var/lib/facewatch/gallery.db lin-manuel-miranda /opt/photo.png >/dev/null &&
  say "enrolled=yes"
say "before_connect=$(prop ActiveState)"
python3 - <<'PY' >>/out/result 2>&1
import json, socket, time
s = socket.socket(socket.AF_UNIX)
s.connect("/run/facewatch/facewatch.sock")
s.settimeout(30)
t0 = time.time()
e = json.loads(s.makefile().readline())
print("hello=%s protocol=%s after=%.1fs" % (e.get("event"), e.get("protocol"), time.time() - t0))
PY
t=$(now); while [ "$(prop ActiveState)" != active ] && [ $(( $(now) - t )) -lt 30 ]; do sleep 0.2; done
say "state=$(prop ActiveState)/$(prop SubState) type=$(prop Type) watchdog=$(prop WatchdogUSec) user=$(prop User)"
# STATUS= follows the status events (status_interval = 10 s by default)
t=$(now); until prop StatusText | grep -q fps || [ $(( $(now) - t )) -ge 15 ]; do sleep 0.5; done
say "status=$(prop StatusText)"
t=$(now)
until journalctl -u facewatch.service EVENT=face_identified IDENTITY=lin-manuel-miranda -o verbose -q | grep -q "CAMERA="; do
  [ $(( $(now) - t )) -lt 30 ] || break
  sleep 0.5
done
say "journal_identified=$(journalctl -u facewatch.service EVENT=face_identified -o verbose -q | grep -c '^ *IDENTITY=lin-manuel-miranda$')"
say "journal_camera=$(journalctl -u facewatch.service EVENT=face_identified -o verbose -q | sed -n 's/^ *CAMERA=//p' | head -1)"
# systemctl reload: SIGHUP, the configuration and gallery read again, the
# same process still running
pid=$(prop MainPID)
systemctl reload facewatch.service
t=$(now)
until journalctl -u facewatch.service -q -o cat | grep -q 'SIGHUP: reloading'; do
  [ $(( $(now) - t )) -lt 15 ] || break
  sleep 0.2
done
sleep 1
say "reload=$(journalctl -u facewatch.service -q -o cat | grep -c 'SIGHUP: reloading') state=$(prop ActiveState) same_pid=$([ "$(prop MainPID)" = "$pid" ] && echo yes || echo no)"
say "nrestarts_before=$(prop NRestarts)"
systemctl set-environment FACEWATCH_TEST_STALL_AFTER_FRAMES=20
systemctl restart facewatch.service
t=$(now)
while [ "$(prop NRestarts)" -lt 1 ] && [ $(( $(now) - t )) -lt 40 ]; do sleep 0.5; done
say "nrestarts=$(prop NRestarts) after=$(( $(now) - t ))s"
say "watchdog_log=$(journalctl -u facewatch.service -q -o cat | grep -c 'Watchdog timeout')"
say "stall_log=$(journalctl -u facewatch.service -q -o cat | grep -c 'inference thread stalls now')"
journalctl -u facewatch.service -q -o short-monotonic >/out/journal.txt 2>&1
# the per-camera template: its own socket and state directory
systemctl unset-environment FACEWATCH_TEST_STALL_AFTER_FRAMES
systemctl start facewatch@video0.socket
python3 - <<'PY' >>/out/result 2>&1
import json, socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/facewatch/video0/facewatch.sock")
s.settimeout(30)
print("instance_hello=%s" % json.loads(s.makefile().readline()).get("event"))
PY
t=$(now)
while [ "$(systemctl show facewatch@video0.service -p ActiveState --value)" != active ] &&
      [ $(( $(now) - t )) -lt 20 ]; do sleep 0.2; done
say "instance=$(systemctl show facewatch@video0.service -p ActiveState --value) gallery=$(ls /var/lib/facewatch/video0/gallery.db 2>&1)"
journalctl -u facewatch@video0.service -q -o short-monotonic >/out/journal-video0.txt 2>&1
systemctl stop facewatch@video0.service facewatch@video0.socket
say "done=yes"
CHECK

# --volatile=yes: an empty /etc on tmpfs; Debian's /etc/alternatives is
# bound in so libopenblas.so.0 (an alternative) resolves.
# SIGTERM (from timeout) makes nspawn halt the container cleanly
ALTERNATIVES=
[ -d /etc/alternatives ] && ALTERNATIVES=yes
rc=0
timeout 150 systemd-nspawn -D / --volatile=yes --register=no --keep-unit -q --machine="fwtest-$$" \
  ${ALTERNATIVES:+--bind-ro=/etc/alternatives} \
  --bind-ro="$T/stage/opt/facewatch:/opt/facewatch" \
  --bind-ro="$U/facewatch.service:/etc/systemd/system/facewatch.service" \
  --bind-ro="$U/facewatch.socket:/etc/systemd/system/facewatch.socket" \
  --bind-ro="$T/dropin:/etc/systemd/system/facewatch.service.d" \
  --bind-ro="$U/facewatch@.service:/etc/systemd/system/facewatch@.service" \
  --bind-ro="$U/facewatch@.socket:/etc/systemd/system/facewatch@.socket" \
  --bind-ro="$T/dropin:/etc/systemd/system/facewatch@.service.d" \
  --bind-ro="$T/stage/opt/facewatch/lib/sysusers.d/facewatch.conf:/etc/sysusers.d/facewatch.conf" \
  --bind-ro="$T/stage/opt/facewatch/lib/tmpfiles.d/facewatch.conf:/etc/tmpfiles.d/facewatch.conf" \
  --bind-ro="$T/facewatch-check.service:/etc/systemd/system/facewatch-check.service" \
  --bind-ro="$T/check.sh:/opt/check.sh" \
  --bind-ro="$CLIP:/opt/clip.mjpeg" --bind-ro="$PHOTO:/opt/photo.png" \
  --bind="$T/out:/out" \
  -b systemd.firstboot=off systemd.unit=facewatch-check.service >"$T/nspawn.log" 2>&1 || rc=$?
touch "$T/out/result"
echo "--- what the check unit saw (nspawn exit status $rc)"
cat "$T/out/result"
if ! grep -q '^done=yes' "$T/out/result"; then
  # systemd never came up in the container: nspawn itself cannot run here
  # (no namespaces, a container without privileges, ...), not our units
  if ! grep -q "Reached target" "$T/nspawn.log"; then
    echo "SKIP: systemd-nspawn could not boot systemd here (exit status $rc):"
    tail -5 "$T/nspawn.log"; exit 77
  fi
  echo "--- nspawn"; tail -30 "$T/nspawn.log"; cat "$T/out/check.log" 2>/dev/null
fi
fail=0
want() { grep -qE "^$1" "$T/out/result" || { echo "FAIL: expected $1"; fail=1; }; }
want 'enrolled=yes'
want 'before_connect=inactive'
want 'hello=hello protocol=1 '
want 'state=active/running type=notify watchdog=3s user=facewatch'
want 'status=camera ok, [0-9.]+ fps, [0-9]+ faces?, 1 identities'
want 'journal_identified=[1-9]'
want 'journal_camera=replay:/opt/clip.mjpeg'
want 'reload=1 state=active same_pid=yes'
want 'nrestarts_before=0'
want 'nrestarts=[1-9]'
want 'watchdog_log=[1-9]'
want 'stall_log=[1-9]'
want 'instance_hello=hello'
want 'instance=active gallery=/var/lib/facewatch/video0/gallery.db'
if [ $fail != 0 ]; then
  echo "--- journal of facewatch.service"; tail -40 "$T/out/journal.txt" 2>/dev/null || true
  exit 1
fi
echo "1 passed, 0 failed"
