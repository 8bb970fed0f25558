/* The event server: protocol v1 (docs/protocol.md) on a Unix stream socket,
 * and the queue that carries results from the inference thread to it.
 *
 * Where it runs. Everything except the queue's push side belongs to the
 * daemon's main thread. The server owns one epoll fd of its own (the
 * listener and every client are in it); the main loop waits on that fd like
 * on any other and calls fw_events_dispatch() when it is readable. One fd
 * for the main loop to know, whatever the number of clients; the nested
 * epoll fd is readable exactly while the server has work.
 *
 *   main thread                                    inference thread
 *   fw_events_create(&srv, &opt)
 *   fw_events_queue_create(&q, 64, sizeof(struct result))
 *   epoll_ctl(ep, ADD, fw_events_fd(srv), EPOLLIN)
 *   epoll_ctl(ep, ADD, fw_events_queue_fd(q), EPOLLIN)
 *   for (;;) {                                     for (;;) {
 *     epoll_wait(ep, ...)                            ... detect, track, match
 *     srv fd:  fw_events_dispatch(srv, 0)            fw_events_queue_push(q, &r)
 *     q fd:    while (fw_events_queue_pop(q, &r) > 0)   (never blocks; when the
 *                fw_events_publish_new(srv,              queue is full the result
 *                    json_pack("{ss si ...}",            is dropped and counted)
 *                        "event", "face_left", ...))   }
 *     timerfd: fw_events_publish_new(srv, status)  (periodic status)
 *   }
 *
 * Publishing never blocks: every client socket is non-blocking; what the
 * kernel does not take at once waits in that client's own queue, and a
 * client whose queue would pass opt.max_queue_bytes is disconnected (logged
 * with the reason). So a client either receives every event it subscribed
 * to, in order, or is disconnected: seq gaps only ever mean "filtered".
 *
 * Errors are values: 0 or a negative FW_E* / -errno code (fw_strerror());
 * the message for a human goes through fw_log() where the peer is known.
 * SIGPIPE: the server sends with MSG_NOSIGNAL and never raises it.
 *
 * Ownership: fw_events_create() allocates, fw_events_destroy() frees the
 * server, closes every client and the listener, and removes the socket file
 * it created (never one it adopted). JSON values passed in are borrowed
 * unless the function name ends in _new (jansson's convention: _new steals
 * the reference, even on failure).
 */
#ifndef FW_DAEMON_EVENTS_H
#define FW_DAEMON_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define FW_EVENTS_PROTOCOL 1

struct fw_events;

/* Who is on the other end of a connection: SO_PEERCRED at connect time. */
struct fw_events_peer {
	uint64_t id;   /* connection number, 1, 2, ...; never reused in a daemon's life */
	pid_t pid;
	uid_t uid;
	gid_t gid;     /* primary group */
	bool trusted;  /* root, the daemon's own euid, or in opt.trusted_gid
			  (primary or supplementary group, SO_PEERGROUPS) */
};

/* Request handler flags. */
#define FW_EVENTS_MUTATING 1u /* changes state (enroll, forget, ...): trusted peers only */

/* Returned by a handler that answers later with fw_events_reply(). */
#define FW_EVENTS_LATER 1

/* Answers one request on the main thread. `req` is the parsed request
 * (borrowed; it holds "request" and maybe "id"). Add the answer's fields to
 * `reply`, an empty object; the server adds "ok" and echoes "id".
 *   return 0           -> {"ok":true, "id":..., <reply fields>}
 *   return < 0         -> {"ok":false, "id":..., "error": <reply's "error"
 *                         string if set, else fw_strerror(code)>}
 *   return FW_EVENTS_LATER -> nothing now; answer with fw_events_reply(srv,
 *                         peer->id, id, ...) when done (keep a reference to
 *                         the "id" value, json_incref).
 * A handler may publish events and send replies; it must not call
 * fw_events_dispatch() or fw_events_destroy(). */
typedef int (*fw_events_request_fn)(void *ctx, const struct fw_events_peer *peer,
				    json_t *req, json_t *reply);

/* Content of the hello each client gets on connect: a new object (or NULL)
 * with camera, models, gallery_size, present, ... (docs/protocol.md). The
 * server adds "event":"hello", "seq", "ts" and "protocol":1. Called on the
 * main thread at every accept: keep it cheap. */
typedef json_t *(*fw_events_hello_fn)(void *ctx);

/* What the user (or the unit file) set. Zero means "the default" for every
 * number, so `{ .path = p }` or `{ .listen_fd = SD_LISTEN_FDS_START }` is a
 * complete configuration. */
struct fw_events_options {
	const char *path;     /* create a socket here (see fw_events_create), or NULL: */
	int listen_fd;        /* adopt this listening socket (sd_listen_fds: fd 3);
				 used only when path is NULL. Once fw_events_create()
				 succeeds the server owns it (and closes it). */

	mode_t mode;          /* socket file permissions; 0 -> 0660 */
	gid_t socket_gid;     /* chown the socket file to this group; (gid_t)-1 or 0 -> leave */
	gid_t trusted_gid;    /* members may send mutating requests (as may root and
				 the daemon's own euid); (gid_t)-1 or 0 -> nobody else */

	size_t max_line;          /* longest request line in bytes (without '\n'); 0 -> 65536 */
	size_t max_queue_bytes;   /* per-client output queue beyond the kernel's
				     socket buffer; 0 -> 262144. One message is
				     always taken into an empty queue, whatever
				     its size. */
	unsigned max_clients;     /* 0 -> 1024; the next one gets an error line and is closed */
	double requests_per_sec;  /* per-client request rate (token bucket); 0 -> 20, < 0 -> unlimited */
	unsigned request_burst;   /* bucket size; 0 -> 2 * requests_per_sec, at least 10 */

	fw_events_hello_fn hello;
	void *ctx;                /* passed to hello */
};

struct fw_events_stats {
	uint64_t seq;             /* last seq published (0: none yet) */
	unsigned clients;         /* connected now */
	uint64_t accepted;        /* connections accepted since start */
	uint64_t refused;         /* over max_clients, or fds exhausted */
	uint64_t dropped_slow;    /* disconnected: output queue full */
	uint64_t dropped_oversize;/* disconnected: request line too long */
	uint64_t requests;        /* request lines answered (any outcome) */
	uint64_t rate_limited;    /* requests refused by the rate limit */
	uint64_t denied;          /* mutating requests refused to untrusted peers */
};

/* Start listening. With opt->path: refuses to replace anything that is not
 * a socket (-EEXIST) or a socket someone still listens on (-EADDRINUSE); a
 * stale socket file (connect refused) is removed. The file gets opt->mode
 * exactly, whatever the umask (bound under umask 0177, then chmod: never
 * wider than asked, even for an instant). With opt->listen_fd: it must be
 * a listening AF_UNIX stream socket (FW_EINVAL otherwise); it is made
 * non-blocking and close-on-exec.
 * Raises the RLIMIT_NOFILE soft limit (up to the hard limit) when
 * max_clients needs it, and lowers max_clients with a warning when it
 * cannot. Free with fw_events_destroy(). */
int fw_events_create(struct fw_events **out, const struct fw_events_options *opt);
void fw_events_destroy(struct fw_events *srv);

/* Add a request ("status", "list", "enroll", ...). `subscribe` is built in;
 * the rest are the daemon's: its `status` answer carries fps, drops, cpu,
 * latency_p50_ms, latency_p99_ms and `clients` from fw_events_get_stats(),
 * `list` the gallery's identities (docs/protocol.md).
 * name is copied. FW_EINVAL for a duplicate or reserved name. Call before
 * the first dispatch or at any time on the main thread. */
int fw_events_add_request(struct fw_events *srv, const char *name, unsigned flags,
			  fw_events_request_fn fn, void *ctx);

/* The fd the main loop waits on (EPOLLIN). Owned by the server. */
int fw_events_fd(const struct fw_events *srv);

/* Accept, read requests, answer, flush queued output: whatever is ready,
 * waiting at most timeout_ms for something to be (0: do not wait; -1:
 * forever, for a program whose only loop this is). 0, or a negative code
 * when epoll itself fails. Problems with one client close that client only. */
int fw_events_dispatch(struct fw_events *srv, int timeout_ms);

/* Publish one event to every client subscribed to it. `event` is an object
 * with "event" naming a v1 event (face_appeared, face_identified, face_left,
 * presence, frame, status, preview) and its fields; the server sends
 * {"event", "seq", "ts", <the other fields>}: seq is the next number of the
 * daemon-wide sequence (the same for every client), ts the wall-clock time
 * now (RFC 3339, ms, UTC). Never blocks. 0; FW_EINVAL (not an object, no or
 * unknown "event"; nothing published, seq unchanged); FW_ENOMEM. */
int fw_events_publish(struct fw_events *srv, const json_t *event);
/* Same, stealing `event` (so json_pack()'s result can be passed directly;
 * NULL gives FW_ENOMEM). */
int fw_events_publish_new(struct fw_events *srv, json_t *event);

/* The line (ending in '\n') the last fw_events_publish() sent, exactly as
 * clients received it (with seq and ts); NULL when another line was built
 * since (a reply, a hello). Valid until the next call into the server. */
const char *fw_events_last_line(const struct fw_events *srv, size_t *len);

/* Answer a request a handler deferred (FW_EVENTS_LATER), in the same format
 * as an immediate answer. client is peer->id; id the request's "id" (or
 * NULL); rc and reply as a handler's. A client that has gone is not an
 * error: returns -ENOTCONN and does nothing. Borrows id and reply. */
int fw_events_reply(struct fw_events *srv, uint64_t client, const json_t *id,
		    int rc, json_t *reply);

/* fw_events_reply(), with the file descriptor fd passed along (SCM_RIGHTS
 * on the reply's first byte; the client gets its own copy, the caller
 * keeps fd). Works only when nothing is queued for the client before the
 * reply: -EAGAIN then, and nothing is sent. -EAGAIN also when the socket
 * took no byte at once (the reply is then queued without the fd). */
int fw_events_reply_fd(struct fw_events *srv, uint64_t client, const json_t *id, int rc,
		       json_t *reply, int fd);

/* How many clients are subscribed to an event now (e.g. to skip work
 * nobody would receive). */
unsigned fw_events_subscribers(const struct fw_events *srv, const char *event);

void fw_events_get_stats(const struct fw_events *srv, struct fw_events_stats *st);

/* ---- the inference -> main thread queue -------------------------------
 *
 * A bounded FIFO of fixed-size records (the caller's struct, copied in and
 * out) with an eventfd that is readable while records wait. Slots are
 * allocated once; push and pop never allocate.
 * Thread-safety: fw_events_queue_push() from any thread; pop from one
 * consumer thread (the main loop). push never blocks on the consumer: the
 * only wait is a mutex held for one memcpy.
 */
struct fw_events_queue;

struct fw_events_queue_stats {
	uint64_t pushed;   /* records accepted */
	uint64_t dropped;  /* records refused because the queue was full */
	uint64_t popped;
	unsigned high;     /* most records ever waiting at once */
};

/* capacity >= 1 records of item_bytes > 0. 0, FW_EINVAL, FW_ENOMEM or
 * -errno (eventfd). Free with fw_events_queue_destroy() after both threads
 * have stopped using it. */
int fw_events_queue_create(struct fw_events_queue **out, unsigned capacity, size_t item_bytes);
void fw_events_queue_destroy(struct fw_events_queue *q);

/* Copy item_bytes from item into the queue. 0, or -EAGAIN when full: the
 * record is dropped (the newest loses, so what is queued stays in order)
 * and counted. Never blocks. */
int fw_events_queue_push(struct fw_events_queue *q, const void *item);

/* Copy the oldest record into out: 1; or 0 when none is waiting. Clears
 * the eventfd itself (before it looks for the last time), so "pop until 0
 * whenever the fd is readable" never misses a record. */
int fw_events_queue_pop(struct fw_events_queue *q, void *out);

/* Readable (EPOLLIN) while records may be waiting. Owned by the queue. */
int fw_events_queue_fd(const struct fw_events_queue *q);

void fw_events_queue_get_stats(struct fw_events_queue *q, struct fw_events_queue_stats *st);

#endif
