/* facectl's gallery commands that go through the running daemon
 * (docs/protocol.md: requests enroll, not, doctor):
 *
 *   facectl enroll NAME --camera [--count N] [--timeout S]
 *   facectl not NAME --track ID | --last
 *   facectl doctor's camera checks
 *
 * socket: --socket PATH, or NULL for the daemon's default (daemon/paths.h).
 * Each returns facectl's exit status: 0 done, 1 refused or no daemon.
 */
#ifndef FW_FACECTL_LIVE_H
#define FW_FACECTL_LIVE_H

#include <stddef.h>

#include <jansson.h>

int fw_live_enroll(const char *socket, const char *name, int count, int timeout_s);
/* track 0: the last face identified as NAME */
int fw_live_not(const char *socket, const char *name, long track);

/* The daemon's `doctor` answer's "camera" object (a new reference), after
 * waiting up to a few seconds for it to hold that many seconds of frames.
 * NULL when no daemon answers (*why says so, static or in buf). */
json_t *fw_live_camera(const char *socket, char *why, size_t why_len);

/* The same checks without a daemon: open the camera (a V4L2 device, NULL
 * for the first one, or replay:FILE|FOLDER) and analyse it for `seconds`
 * with the daemon's detector, at most 10 frames a second. NULL when it
 * cannot be opened (*why). */
json_t *fw_local_camera(const char *device, const char *models_dir, int seconds, char *why,
			size_t why_len);

/* Print a camera object (human text, one "camera" block). */
void fw_live_print_camera(const json_t *cam);

#endif
