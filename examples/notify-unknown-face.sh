#!/bin/sh
# notify-unknown-face.sh OWNER
#
# A desktop notification when a face nobody enrolled keeps looking at the
# camera while OWNER is at the desk: someone behind you, reading your
# screen. facewatchd reports such a face once per track, after unknown_ms
# (default 10 s, docs/facewatchd.conf). Strangers while OWNER is away are
# not reported (lock-when-away.sh is for that).
#
# facectl watch keeps track of who is present and hands it to the command
# as FACEWATCH_PRESENT (one name per line), so the command needs no state.
#
# Environment: FACEWATCH_SOCKET (default: facectl's), FACECTL (default: facectl).
OWNER=${1:?usage: notify-unknown-face.sh OWNER}
export OWNER
exec "${FACECTL:-facectl}" watch ${FACEWATCH_SOCKET:+--socket "$FACEWATCH_SOCKET"} \
  --reconnect --events unknown_face --exec '
  printf "%s\n" "$FACEWATCH_PRESENT" | grep -qxF -- "$OWNER" || exit 0
  notify-send --urgency=critical --app-name=facewatch --icon=dialog-warning \
    "Someone is looking at your screen" \
    "A face facewatch does not know has been in view for $((FACEWATCH_DURATION_MS / 1000)) s."'
