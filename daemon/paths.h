/* Where facewatch's files are by default: one rule, used by facewatchd and
 * by facectl, so a client finds the daemon without being told.
 *
 * Thread-safety: reads the environment only; callable from any thread that
 * does not race setenv().
 */
#ifndef FW_DAEMON_PATHS_H
#define FW_DAEMON_PATHS_H

#include <stddef.h>

/* The event socket (docs/protocol.md): $RUNTIME_DIRECTORY/facewatch.sock
 * (set by systemd's RuntimeDirectory=), else $XDG_RUNTIME_DIR/facewatch.sock
 * (a user's own daemon), else /run/facewatch/facewatch.sock. Empty
 * variables count as unset. Writes into buf (caller's, len bytes): 0, or
 * -ENAMETOOLONG when the path does not fit (buf then holds it cut short). */
int fw_paths_socket(char *buf, size_t len);

#endif
