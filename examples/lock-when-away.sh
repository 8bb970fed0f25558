#!/usr/bin/env bash
# lock-when-away.sh OWNER [GRACE_SECONDS]
#
# Locks the screen once OWNER has been away from the desk for GRACE seconds
# (default 30). A glance away shorter than that locks nothing; after a lock,
# nothing more happens until OWNER is back and leaves again.
#
# "Away" is facewatchd's presence event, which already waits leave_ms
# (default 10 s, docs/facewatchd.conf) without seeing OWNER; the grace here
# comes on top: the screen locks leave_ms + GRACE after OWNER was last seen.
#
# Environment:
#   LOCK_COMMAND      what locks (default: loginctl lock-session
#                     $XDG_SESSION_ID, the caller's session when that is
#                     unset). A systemd user service is in no session: import
#                     XDG_SESSION_ID at login, or use "loginctl lock-sessions".
#   FACEWATCH_SOCKET  the daemon's socket (default: facectl's)
#   FACECTL           the facectl program (default: facectl on PATH)
# Needs: facectl, jq, bash 5.
#
# Not facectl watch --exec, unlike the other examples: the grace is a timer
# that must outlive one event's command and be cancelled by the next event;
# one bash loop with `read -t` does that without background jobs or files.
set -euo pipefail
OWNER=${1:?usage: lock-when-away.sh OWNER [GRACE_SECONDS]}
GRACE=${2:-30}
[[ $GRACE =~ ^[0-9]+$ ]] || { echo "lock-when-away: GRACE_SECONDS must be a whole number, not '$GRACE'" >&2; exit 2; }
sock=()
[ -n "${FACEWATCH_SOCKET:-}" ] && sock=(--socket "$FACEWATCH_SOCKET")

now_us() { echo "${EPOCHREALTIME/./}"; }

# One word per change of OWNER's presence: "present" or "away". A (re)connection's
# hello says "present" when OWNER is there already; it never starts a lock.
"${FACECTL:-facectl}" watch "${sock[@]}" --reconnect --json --events hello,presence |
  jq --unbuffered -r --arg o "$OWNER" '
    if .event == "hello" then (if any(.present[]?; . == $o) then "present" else empty end)
    elif .event == "presence" and .identity == $o then .state
    else empty end' |
  {
    due=      # when to lock (µs since the epoch); empty: no lock pending
    locked=0
    while :; do
      if [ -n "$due" ]; then
        left=$((due - $(now_us)))
        if [ $left -le 0 ]; then
          echo "lock-when-away: $OWNER away for ${GRACE} s: locking" >&2
          ${LOCK_COMMAND:-loginctl lock-session ${XDG_SESSION_ID:-}} || echo "lock-when-away: the lock command failed" >&2
          due= locked=1
          continue
        fi
        # wait for the next word, at most until the lock is due
        rc=0
        read -r -t "$((left / 1000000)).$(printf %06d $((left % 1000000)))" state || rc=$?
        if [ $rc -gt 128 ]; then continue    # timed out: lock now
        elif [ $rc != 0 ]; then break; fi     # facectl ended
      else
        read -r state || break
      fi
      case $state in
        away) [ -z "$due" ] && [ $locked = 0 ] && due=$(($(now_us) + GRACE * 1000000)) ;;
        present) due= locked=0 ;;
      esac
    done
  }
