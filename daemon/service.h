/* facewatchd as a systemd service: readiness and status notifications, the
 * watchdog, socket activation and journal logging (libsystemd).
 *
 * Everything here is harmless without systemd: sd_notify() does nothing
 * when $NOTIFY_SOCKET is unset, there is no listening fd without
 * $LISTEN_FDS, no watchdog without $WATCHDOG_USEC, and logs go to stderr
 * unless stderr is the journal. So the daemon calls these unconditionally.
 *
 * The watchdog proves the pipeline runs, not just the main loop: the
 * inference thread stamps a heartbeat every pass of its loop (with or
 * without a frame), and the main loop sends WATCHDOG=1 on its own timer
 * only while that heartbeat is fresh (younger than half the watchdog
 * time). A wedged inference thread therefore stops the pings and systemd
 * restarts the service (WatchdogSec=, Restart=on-failure).
 *
 * Thread-safety: fw_service_heartbeat() and fw_service_test_stall() from
 * the inference thread; everything else from the main thread.
 * fw_service_open() installs the journal log sink, so it must run before
 * any other thread starts (fw_log_set_sink's rule).
 */
#ifndef FW_DAEMON_SERVICE_H
#define FW_DAEMON_SERVICE_H

#include <stdint.h>

#include <jansson.h>

struct fw_service;

/* camera: the name logs carry in CAMERA= ("" or NULL: "default").
 * Reads $WATCHDOG_USEC, decides where logs go (the journal when
 * $JOURNAL_STREAM names our stderr or $INVOCATION_ID is set;
 * $FACEWATCH_LOG=stderr or =journal overrides that), and reads
 * the test-only fault hook $FACEWATCH_TEST_STALL_AFTER_FRAMES. 0 or
 * FW_ENOMEM / -errno (the watchdog timer). Free with fw_service_close(). */
int fw_service_open(struct fw_service **out, const char *camera);
/* Sends STOPPING=1 if not sent yet, restores the default log sink, frees. */
void fw_service_close(struct fw_service *s);

/* The listening socket systemd passed (socket activation: a .socket unit,
 * or systemd-socket-activate): its fd, or -1 when none was passed.
 * FW_EINVAL (logged) when systemd passed something else than exactly one
 * listening AF_UNIX stream socket. Call once. */
int fw_service_listen_fd(void);

/* Logs go to the journal (with CAMERA=, PRIORITY=, and for events EVENT=,
 * IDENTITY=) rather than to stderr. */
int fw_service_journal(const struct fw_service *s);

/* READY=1 with STATUS=status, once: the camera streams (or is being waited
 * for), the models and the gallery are loaded. Later calls do nothing
 * unless a reload is in progress, which they end (READY=1 again). */
void fw_service_ready(struct fw_service *s, const char *status);
int fw_service_is_ready(const struct fw_service *s);
/* STATUS=text (printf style). */
void fw_service_status(struct fw_service *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* RELOADING=1 (SIGHUP); end it with fw_service_ready(). */
void fw_service_reloading(struct fw_service *s);
/* STOPPING=1 (once). */
void fw_service_stopping(struct fw_service *s);

/* The watchdog: a timer fd (CLOCK_MONOTONIC) the main loop waits on for
 * EPOLLIN, ticking at a quarter of the watchdog time; -1 when systemd asked
 * for no watchdog. On each tick call fw_service_watchdog_tick(): it sends
 * WATCHDOG=1 if the heartbeat is fresh and logs (once per stall) when it is
 * not. */
int fw_service_watchdog_fd(const struct fw_service *s);
void fw_service_watchdog_tick(struct fw_service *s);
/* The watchdog time systemd asked for, in microseconds (0: none). */
uint64_t fw_service_watchdog_usec(const struct fw_service *s);

/* From the inference thread, once per pass of its loop. */
void fw_service_heartbeat(struct fw_service *s);

/* FOR TESTS ONLY (a fault hook): with $FACEWATCH_TEST_STALL_AFTER_FRAMES=N,
 * returns 1 once `frames` analysed frames reach N, and the inference
 * thread then stops (sleeps without a heartbeat) as a wedged pipeline
 * would, so a test can watch the watchdog restart the service. 0 always
 * when the variable is unset. */
int fw_service_test_stall(struct fw_service *s, uint64_t frames);

/* An event as clients got it, into the journal as one record with EVENT=,
 * IDENTITY=, TRACK= and CAMERA= (presence, face_identified, face_left,
 * unknown_face at PRIORITY=6, face_appeared at 7; frame and status are not
 * logged). Does nothing when logs go to stderr. Borrows ev. */
void fw_service_log_event(struct fw_service *s, const json_t *ev);

#endif
