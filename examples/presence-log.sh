#!/bin/sh
# presence-log.sh: every presence change as "time identity state", e.g.
#   2026-11-22T13:55:27.312Z alice away
# with nothing but socat and jq: the protocol (docs/protocol.md) is JSON lines
# on a Unix socket, so one pipeline is a whole client. The subscription keeps
# the daemon from sending the rest; -t keeps socat reading after it.
S=${FACEWATCH_SOCKET:-${RUNTIME_DIRECTORY:-${XDG_RUNTIME_DIR:-/run/facewatch}}/facewatch.sock}

echo '{"request":"subscribe","events":["presence"]}' | socat -t 1000000000 - "UNIX-CONNECT:$S" | jq --unbuffered -r 'select(.event == "presence") | "\(.ts) \(.identity) \(.state)"'
