#!/usr/bin/env bash
# The systemd units as `cmake --install` writes them: every file in place,
# `systemd-analyze verify` silent on every unit (system, per-camera
# template and an instance of it, user session), the system service's
# exposure score at most 2.0 (printed), also with the MQTT drop-in, and the
# sysusers.d and tmpfiles.d entries accepted by systemd's own tools (into a
# scratch root).
set -euo pipefail
: "${FW_BUILD_DIR:?}"
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (package systemd)"; exit 77; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cmake --install "$FW_BUILD_DIR" --prefix "$T/inst" >"$T/install.log"
for f in bin/facewatchd bin/facectl etc/facewatch/facewatchd.conf \
         share/facewatch/models/blazeface_short.fwm share/facewatch/models/blazeface_full.fwm \
         share/facewatch/models/onet.fwm share/facewatch/models/mobilefacenet.fwm \
         share/doc/facewatch/systemd.md share/doc/facewatch/protocol.md \
         lib/systemd/system/facewatch.service lib/systemd/system/facewatch.socket \
         lib/systemd/system/facewatch@.service lib/systemd/system/facewatch@.socket \
         lib/systemd/user/facewatch.service lib/systemd/user/facewatch.socket \
         lib/sysusers.d/facewatch.conf lib/tmpfiles.d/facewatch.conf \
         share/facewatch/systemd/mqtt.conf; do
  [ -e "$T/inst/$f" ] || bad "cmake --install did not install $f"
done
grep -q "^ExecStart=$T/inst/bin/facewatchd --config $T/inst/etc/facewatch/facewatchd.conf\$" \
  "$T/inst/lib/systemd/system/facewatch.service" ||
  bad "facewatch.service does not run the installed binary with the installed configuration"
if grep -l '@[A-Z_]*@' "$T"/inst/lib/systemd/*/*; then bad "a placeholder was left in a unit"; fi

# verify prints nothing for a good unit (it exits 0 even for bad values)
verify() { # label, args...
  local out label=$1
  shift
  out=$("$@" 2>&1) || true
  if [ -n "$out" ]; then bad "$label: systemd-analyze verify said:"; echo "$out"; else echo "ok: verify $label"; fi
}
S=$T/inst/lib/systemd/system
cd "$S"
verify "facewatch.service+socket" systemd-analyze verify --man=no facewatch.service facewatch.socket
verify "facewatch@.service+socket" systemd-analyze verify --man=no facewatch@.service facewatch@.socket
mkdir "$T/inst/instance"
cp facewatch@.service "$T/inst/instance/facewatch@video0.service"
cp facewatch@.socket "$T/inst/instance/facewatch@video0.socket"
cd "$T/inst/instance"
verify "facewatch@video0.service+socket" systemd-analyze verify --man=no facewatch@video0.service facewatch@video0.socket
grep -q '^ListenStream=/run/facewatch/%i/facewatch.sock$' "$S/facewatch@.socket" ||
  bad "the template's socket is not per instance"
cd "$T/inst/lib/systemd/user"
mkdir -m 700 "$T/xdg"
XDG_RUNTIME_DIR=$T/xdg verify "user facewatch.service+socket" \
  systemd-analyze verify --user --man=no facewatch.service facewatch.socket

# exposure score: lower is better; 2.0 is the goal (issue 9)
cd "$S"
out=$(systemd-analyze security --offline=true facewatch.service 2>&1) || true
score=$(echo "$out" | sed -n 's/.*Overall exposure level for facewatch.service: \([0-9.]*\).*/\1/p')
echo "exposure score (systemd-analyze security --offline=true facewatch.service): ${score:-none}"
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  bad "exposure score ${score:-none} is above 2.0"; echo "$out" | grep '✗' || true
fi
cd "$T/inst/instance"
out=$(systemd-analyze security --offline=true ./facewatch@video0.service 2>&1) || true
iscore=$(echo "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "exposure score (facewatch@video0.service): ${iscore:-none}"
[ "$iscore" = "$score" ] || bad "the per-camera instance is not sandboxed like facewatch.service"

# the MQTT drop-in (docs/mqtt.md) on the system service: verify still
# silent, the service may now use IPv4/IPv6 but only towards loopback and
# private ranges, and the exposure stays at most 2.0
cd "$S"
mkdir facewatch.service.d
cp "$T/inst/share/facewatch/systemd/mqtt.conf" facewatch.service.d/
verify "facewatch.service + mqtt.conf" systemd-analyze verify --man=no facewatch.service
# security --offline reads the unit file alone: the same settings appended
# to its [Service] section (a drop-in adds to it the same way)
# (a second [Service] section merges into the first, as a drop-in does)
cp facewatch.service "$T/inst/instance/facewatch-mqtt.service"
cp facewatch.socket "$T/inst/instance/"
grep -v '^\(#\|$\)' facewatch.service.d/mqtt.conf >>"$T/inst/instance/facewatch-mqtt.service"
cd "$T/inst/instance"
verify "facewatch-mqtt.service" systemd-analyze verify --man=no facewatch-mqtt.service
out=$(systemd-analyze security --offline=true ./facewatch-mqtt.service 2>&1) || true
mscore=$(echo "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "exposure score with the MQTT drop-in: ${mscore:-none}"
if [ -z "$mscore" ] || ! awk -v s="$mscore" 'BEGIN { exit !(s <= 2.0) }'; then
  bad "exposure with the MQTT drop-in ${mscore:-none} is above 2.0"; echo "$out" | grep '✗' || true
fi
echo "$out" | grep -q '✗ RestrictAddressFamilies=~AF_(INET|INET6)' ||
  bad "the MQTT drop-in did not open IPv4/IPv6 (security found no AF_INET)"
echo "$out" | grep -q '✗ PrivateNetwork=' || bad "the MQTT drop-in did not lift PrivateNetwork="
echo "$out" | grep -q 'IPAddressDeny=.*does not define' && bad "the MQTT drop-in allows any IP address"
echo "$out" | grep -q 'IPAddressDeny=.*allow list with non-localhost entries' ||
  bad "the MQTT drop-in's allow list is not what security reports"

# sysusers then tmpfiles into a scratch root: the user exists, and the
# state directory is its own (mode 0750)
mkdir -p "$T/root/etc"
systemd-sysusers --root="$T/root" "$T/inst/lib/sysusers.d/facewatch.conf" 2>/dev/null
grep -q '^facewatch:' "$T/root/etc/passwd" || bad "sysusers.d entry made no facewatch user"
systemd-tmpfiles --create --root="$T/root" "$T/inst/lib/tmpfiles.d/facewatch.conf"
uid=$(awk -F: '$1 == "facewatch" { print $3 }' "$T/root/etc/passwd")
st=$(stat -c '%u %a' "$T/root/var/lib/facewatch" 2>/dev/null || echo none)
[ "$st" = "$uid 750" ] || bad "tmpfiles.d: /var/lib/facewatch is '$st', not '$uid 750'"

[ $fail = 0 ] && echo "1 passed, 0 failed" || exit 1
