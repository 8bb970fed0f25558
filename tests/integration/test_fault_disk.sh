#!/usr/bin/env bash
# The gallery on a full disk, on a read-only file system, and under kill -9:
# `facectl enroll` into a gallery on a small tmpfs (mounted here: needs root,
# as CI has; skipped with a reason otherwise) that is
#   - full, at several fill levels (0 to 256 KiB left): each enrolment either
#     lands whole or fails with a message naming the gallery file and saying
#     the disk is full and what to do; the people enrolled before are all
#     still listed, facewatchd starts and loads them (it only reads), the
#     file passes `facectl doctor`, and once space is freed enrolment works
#     again;
#   - remounted read-only: enrolment fails naming the file and the read-only
#     file system; `facectl list` still reads every identity, and facewatchd
#     starts on it and loads the gallery (it writes nothing there);
#   - killed with SIGKILL at random moments while enrolling (10 times): the
#     gallery opens after each, passes doctor, holds everyone enrolled before
#     and the victim whole or not at all.
set -uo pipefail
: "${FACECTL:?}" "${FACEWATCHD:?}" "${FW_SHARED_DIR:?}" "${FW_MODELS_DIR:?}"
export FACEWATCH_MODELS=$FW_MODELS_DIR
T=$(mktemp -d)
M=$T/mnt
mkdir -p "$M"
cleanup() { [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null; umount "$M" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if ! mount -t tmpfs -o size=1m,mode=0700 tmpfs "$M" 2>"$T/mount.err"; then
  echo "SKIP: cannot mount a small tmpfs to fill ($(cat "$T/mount.err")); this test needs root"
  exit 77
fi
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
G=$M/state/gallery.db
fc() { "$FACECTL" "$@"; }
names() { fc list --gallery "$G" 2>"$T/list.err" | python3 -c 'import json,sys; print(" ".join(sorted(json.loads(l)["name"] for l in sys.stdin)))'; }
# a different photo for every enrolment (55 photos of five people)
mapfile -t JP < <(ls "$FW_SHARED_DIR"/data/recognition/images/dlib_johns/*/*.jpg | sort)
[ "${#JP[@]}" -ge 53 ] || { echo "FAIL: expected 53+ photos under data/recognition/images/dlib_johns"; exit 1; }

# daemon_check WHAT: facewatchd starts on the gallery, its hello counts
# everyone enrolled, and SIGTERM stops it cleanly
daemon_check() {
  local what=$1 hello n_ids drc
  printf 'status_interval = 0\n' >"$T/fw.conf"
  "$FACEWATCHD" --config "$T/fw.conf" --camera "replay:$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg" \
    --fps 30 --socket "$T/fw.sock" --gallery "$G" 2>"$T/daemon.log" &
  dpid=$!
  hello=$(python3 - "$T/fw.sock" <<'PY'
import socket, sys, time
end = time.time() + 20
while time.time() < end:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.1)
s.settimeout(10)
print(s.makefile().readline().strip())
PY
)
  n_ids=$(echo "$enrolled" | wc -w)
  echo "$hello" | grep -q "\"gallery\":$n_ids" && ok "$what: facewatchd starts and loads the gallery ($n_ids identities)" || { bad "$what: daemon hello: $hello"; cat "$T/daemon.log"; }
  kill -TERM "$dpid"; wait "$dpid"; drc=$?; dpid=
  [ $drc -eq 0 ] && ok "$what: facewatchd stops cleanly" || { bad "$what: daemon exit $drc"; cat "$T/daemon.log"; }
}

# people enrolled while there is room
enrolled=""
for i in 1 2 3; do
  fc enroll --keep-crops --gallery "$G" "p$i" "${JP[$((i - 1))]}" >/dev/null 2>"$T/e.err" || { bad "enrol p$i with room"; cat "$T/e.err"; }
  enrolled="$enrolled p$i"
done
enrolled=${enrolled# }
[ "$(names)" = "$enrolled" ] && ok "three people enrolled on the tmpfs" || bad "enrolled: '$(names)'"

# ---- full disk, at several fill levels
k=0
for left_kb in 0 4 8 16 32 64 128 256; do
  k=$((k + 1))
  rm -f "$M/fill"
  # fill, then give back left_kb
  dd if=/dev/zero of="$M/fill" bs=4k 2>/dev/null
  [ "$left_kb" -gt 0 ] && truncate -s "-${left_kb}K" "$M/fill"
  sync
  fc enroll --keep-crops --gallery "$G" "full$k" "${JP[$((2 + k))]}" >"$T/e.out" 2>"$T/e.err"
  rc=$?
  now=$(names); lrc=$?
  if [ $rc -eq 0 ]; then
    enrolled="$enrolled full$k"
    [ "$now" = "$(echo $enrolled | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" ] && ok "$left_kb KiB left: enrolment fitted and is listed" || bad "$left_kb KiB left: enrolled but list says '$now'"
  elif [ $rc -ge 128 ]; then
    bad "$left_kb KiB left: facectl died (status $rc)"; cat "$T/e.err"
  else
    if grep -q "$G" "$T/e.err" && grep -qi "full" "$T/e.err" && grep -qi "free" "$T/e.err"; then
      ok "$left_kb KiB left: refused with a message naming the file, the full disk and what to do"
    else
      bad "$left_kb KiB left: unclear message: $(cat "$T/e.err")"
    fi
    want=$(echo $enrolled | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
    [ $lrc -eq 0 ] && [ "$now" = "$want" ] && ok "$left_kb KiB left: the gallery still lists everyone ($now)" || bad "$left_kb KiB left: list (status $lrc) says '$now', want '$want': $(cat "$T/list.err")"
  fi
done
# the daemon only reads the gallery: it starts on a full disk too
dd if=/dev/zero of="$M/fill" bs=4k 2>/dev/null
daemon_check "full disk"
rm -f "$M/fill"
fc doctor --gallery "$G" >"$T/doctor.out" 2>&1 && grep -q "integrity ok" "$T/doctor.out" && ok "doctor: the gallery is intact after the full disk" || { bad "doctor after the full disk"; cat "$T/doctor.out"; }
fc enroll --gallery "$G" after-full "${JP[11]}" >/dev/null 2>"$T/e.err" && enrolled="$enrolled after-full" && ok "space freed: enrolment works again" || { bad "enrol after freeing space"; cat "$T/e.err"; }

# ---- read-only file system
want=$(echo $enrolled | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
mount -o remount,ro "$M" || bad "remount read-only"
fc enroll --gallery "$G" ro-person "${JP[12]}" >/dev/null 2>"$T/e.err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "$G" "$T/e.err" && grep -qi "read-only" "$T/e.err"; then
  ok "read-only: enrolment refused, naming the file and the read-only file system"
else
  bad "read-only: status $rc, message: $(cat "$T/e.err")"
fi
now=$(names) && [ "$now" = "$want" ] && ok "read-only: list reads everyone ($now)" || bad "read-only: list says '$now' ($(cat "$T/list.err")), want '$want'"
daemon_check "read-only"
mount -o remount,rw "$M"
fc doctor --gallery "$G" >"$T/doctor.out" 2>&1 && grep -q "integrity ok" "$T/doctor.out" && ok "doctor: intact after the read-only spell" || { bad "doctor after read-only"; cat "$T/doctor.out"; }

# ---- kill -9 while enrolling
whole=0
for i in $(seq 1 10); do
  # facectl itself in the background (not a shell function: $! must be its pid)
  "$FACECTL" enroll --keep-crops --gallery "$G" "victim$i" "${JP[@]:$((9 + 4 * i)):4}" >/dev/null 2>&1 &
  vpid=$!
  # an enrolment of four photos takes 0.3-1 s here: kill anywhere in it
  sleep "$(printf '0.%02d' $(( (RANDOM % 95) + 2 )))"
  kill -9 "$vpid" 2>/dev/null
  wait "$vpid" 2>/dev/null
  now=$(names); lrc=$?
  expect=$(echo $enrolled | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
  got_victim=$(fc list --gallery "$G" 2>/dev/null | python3 -c "
import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e['name'] == 'victim$i': print(e['templates'])")
  rest=$(echo $now | tr ' ' '\n' | grep -v "^victim$i\$" | tr '\n' ' ' | sed 's/ $//')
  if [ $lrc -ne 0 ] || [ "$rest" != "$expect" ]; then
    bad "kill -9 #$i: list status $lrc, '$now' (want '$expect' and maybe victim$i)"
  elif [ -n "$got_victim" ] && [ "$got_victim" != 4 ]; then
    bad "kill -9 #$i: victim$i half there ($got_victim of 4 templates)"
  else
    if [ -n "$got_victim" ]; then
      whole=$((whole + 1))
      ok "kill -9 #$i: everyone still there, victim$i whole (4 templates)"
      enrolled="$enrolled victim$i"
    else
      ok "kill -9 #$i: everyone still there, victim$i absent"
    fi
  fi
done
echo "kill -9: $whole of 10 enrolments were whole when killed (finished), $((10 - whole)) killed before their commit"
fc doctor --gallery "$G" >"$T/doctor.out" 2>&1 && grep -q "integrity ok" "$T/doctor.out" && ok "doctor: intact after 10 kills" || { bad "doctor after kills"; cat "$T/doctor.out"; }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
