#!/bin/sh
# pause-media-when-away.sh OWNER
#
# Pauses the music or video that is playing when OWNER leaves the desk, and
# resumes it when OWNER is back - only what this script paused: media you
# paused yourself stays paused. Uses playerctl (MPRIS: Spotify, Firefox,
# VLC, mpv with mpv-mpris...). "Leaves" is facewatchd's presence event, so
# the daemon's leave_ms (docs/facewatchd.conf) is the grace time.
#
# Environment: FACEWATCH_SOCKET (default: facectl's), FACECTL (default: facectl).
OWNER=${1:?usage: pause-media-when-away.sh OWNER}
# the "we paused it" mark: per user, gone at reboot
FACEWATCH_MEDIA_MARK=${XDG_RUNTIME_DIR:-/tmp}/facewatch-media-paused.$(id -u)
rm -f "$FACEWATCH_MEDIA_MARK"
export OWNER FACEWATCH_MEDIA_MARK
exec "${FACECTL:-facectl}" watch ${FACEWATCH_SOCKET:+--socket "$FACEWATCH_SOCKET"} \
  --reconnect --events presence --exec '
  [ "$FACEWATCH_IDENTITY" = "$OWNER" ] || exit 0
  case $FACEWATCH_STATE in
  away)
    [ "$(playerctl status 2>/dev/null)" = Playing ] || exit 0
    playerctl pause && : >"$FACEWATCH_MEDIA_MARK" ;;
  present)
    [ -e "$FACEWATCH_MEDIA_MARK" ] || exit 0
    rm -f "$FACEWATCH_MEDIA_MARK"
    playerctl play ;;
  esac'
