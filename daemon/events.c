/* The event server (protocol v1) and the inference -> main thread queue.
 * The contract is in events.h; the protocol in docs/protocol.md. */
#include "daemon/events.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/fw.h"

#define DEFAULT_MAX_LINE 65536
#define DEFAULT_MAX_QUEUE (256 * 1024)
#define DEFAULT_MAX_CLIENTS 1024
#define DEFAULT_RATE 20.0
#define FD_RESERVE 64          /* fds left for the rest of the daemon */
#define ACCEPT_BATCH 64        /* accepts per dispatch: a connect storm cannot starve clients */
#define READ_BUDGET (128 * 1024) /* bytes read from one client per wakeup, for fairness */
#define OUT_KEEP (64 * 1024)   /* an emptied output buffer larger than this is freed */

/* The v1 events: the index is the bit in a client's subscription mask.
 * Opt-in events go only to clients that named them in a subscribe. */
static const struct {
	const char *name;
	bool opt_in;
} event_names[] = {
	{ "face_appeared", false },
	{ "face_identified", false },
	{ "face_left", false },
	{ "unknown_face", false },
	{ "presence", false },
	{ "attention", false },
	{ "frame", true },
	{ "status", false },
	{ "enroll_progress", true },
	{ "preview", true },
};
#define N_EVENTS (sizeof event_names / sizeof event_names[0])

struct client {
	struct client *prev, *next; /* live list, or the graveyard once dead */
	int fd;
	struct fw_events_peer peer;
	uint32_t mask;              /* subscribed events, bit = index in event_names */
	uint32_t ev;                /* epoll interest now */
	bool dead;                  /* closed; freed when the outermost call returns */
	bool rd_closed;             /* the peer shut down its sending side */
	bool rate_warned;
	char *in;                   /* partial request line(s), never holding a '\n' between calls */
	size_t in_len, in_cap;
	char *out;                  /* bytes [out_off, out_len) wait for the socket */
	size_t out_off, out_len, out_cap;
	double tokens;              /* rate limit bucket */
	int64_t tokens_ns;
};

struct handler {
	char *name;
	unsigned flags;
	fw_events_request_fn fn;
	void *ctx;
};

struct fw_events {
	struct fw_events_options opt; /* defaults filled in; opt.path not kept */
	char *path;                 /* the socket file we created (NULL if adopted) */
	dev_t path_dev;
	ino_t path_ino;
	int listen_fd, epfd;
	int spare_fd;               /* held to accept-and-close when fds run out */
	uid_t euid;
	struct client *clients, *graveyard;
	unsigned nclients;
	int depth;                  /* nesting of public calls: the dead are freed at 0 */
	uint64_t next_id;
	struct handler *handlers;
	size_t nhandlers;
	char *scratch;              /* serialised message + '\n' */
	size_t scratch_cap;
	size_t last_len;         /* bytes of the last published line in scratch; 0: none */
	bool fd_warned;             /* "out of fds" logged; cleared when an accept works */
	int pass_fd;                /* fw_events_reply_fd(): attach to the next send; -1 none */
	bool passed;                /* ... and it went */
	struct fw_events_stats st;
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* RFC 3339, UTC, milliseconds: 2026-11-22T13:37:00.123Z */
static void format_ts(char buf[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

static int event_index(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < N_EVENTS; i++)
		if (!strcmp(event_names[i].name, name))
			return (int)i;
	return -1;
}

static uint32_t default_mask(void)
{
	uint32_t m = 0;

	for (size_t i = 0; i < N_EVENTS; i++)
		if (!event_names[i].opt_in)
			m |= 1u << i;
	return m;
}

/* "client 7 (pid 1234 "python3", uid 1000)" for logs. The command name
 * costs three system calls: only for messages above DEBUG, which are rare. */
static const char *peer_desc(const struct client *c, enum fw_log_level level, char *buf,
			     size_t size)
{
	char path[64], comm[32] = "";
	int fd = -1;

	if (level < FW_LOG_DEBUG) {
		snprintf(path, sizeof path, "/proc/%d/comm", (int)c->peer.pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0) {
		ssize_t n = read(fd, comm, sizeof comm - 1);
		close(fd);
		if (n > 0) {
			comm[n] = 0;
			comm[strcspn(comm, "\n")] = 0;
		}
	}
	if (comm[0])
		snprintf(buf, size, "client %llu (pid %d \"%s\", uid %u)",
			 (unsigned long long)c->peer.id, (int)c->peer.pid, comm, (unsigned)c->peer.uid);
	else
		snprintf(buf, size, "client %llu (pid %d, uid %u)",
			 (unsigned long long)c->peer.id, (int)c->peer.pid, (unsigned)c->peer.uid);
	return buf;
}

/* Serialise o as one line in srv->scratch (no allocation once it is big
 * enough). Numbers keep 6 significant digits: 0.1 reads "0.1", not
 * "0.10000000000000001". */
static int serialize(struct fw_events *srv, const json_t *o, size_t *len)
{
	srv->last_len = 0; /* scratch is about to hold another line */
	const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(6);
	size_t n = json_dumpb(o, srv->scratch, srv->scratch_cap, flags);

	if (n == 0)
		return FW_ENOMEM;
	if (n + 1 > srv->scratch_cap) {
		size_t cap = srv->scratch_cap ? srv->scratch_cap : 4096;
		while (cap < n + 1)
			cap *= 2;
		char *p = realloc(srv->scratch, cap);
		if (!p)
			return FW_ENOMEM;
		srv->scratch = p;
		srv->scratch_cap = cap;
		n = json_dumpb(o, srv->scratch, srv->scratch_cap, flags);
		if (n == 0 || n + 1 > srv->scratch_cap)
			return FW_ENOMEM;
	}
	srv->scratch[n] = '\n';
	*len = n + 1;
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

static void client_set_interest(struct fw_events *srv, struct client *c)
{
	uint32_t ev = (c->rd_closed ? 0 : EPOLLIN) | (c->out_len > c->out_off ? EPOLLOUT : 0);
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev == c->ev || c->dead)
		return;
	/* EPOLLHUP/EPOLLERR come whatever the interest: a half-closed client
	 * with nothing to send still tells us when it goes. */
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->ev = ev;
}

static void client_close(struct fw_events *srv, struct client *c, enum fw_log_level level,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void client_close(struct fw_events *srv, struct client *c, enum fw_log_level level,
			 const char *fmt, ...)
{
	char who[128], why[256];
	va_list ap;

	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	fw_log(level, "events: %s: %s", peer_desc(c, level, who, sizeof who), why);

	/* Leave the epoll set explicitly: close() alone does not when another
	 * process holds a duplicate of the socket (a child forked before it
	 * exec'd), and the stale entry would fire later with a freed pointer. */
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->graveyard;
	srv->graveyard = c;
	srv->nclients--;
}

static void client_free(struct client *c)
{
	free(c->in);
	free(c->out);
	free(c);
}

/* The dead are freed only when no call is under way: an epoll batch or a
 * handler further up the stack may still hold a pointer to them. */
static void leave(struct fw_events *srv)
{
	if (--srv->depth > 0)
		return;
	while (srv->graveyard) {
		struct client *c = srv->graveyard;
		srv->graveyard = c->next;
		client_free(c);
	}
}

static void client_flush(struct fw_events *srv, struct client *c)
{
	while (!c->dead && c->out_len > c->out_off) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(srv, c, FW_LOG_DEBUG, "gone while sending (%s)", strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->dead)
		return;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	client_set_interest(srv, c);
}

/* send(), with srv->pass_fd attached (SCM_RIGHTS) when one is waiting. */
static ssize_t send_some(struct fw_events *srv, int fd, const char *buf, size_t len)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof u.b };
	struct cmsghdr *cm;
	ssize_t n;

	if (srv->pass_fd < 0)
		return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	memset(&u, 0, sizeof u);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &srv->pass_fd, sizeof(int));
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		srv->pass_fd = -1;
		srv->passed = true;
	}
	return n;
}

/* Send a line, or queue what the socket does not take now. Never blocks. */
static int client_send(struct fw_events *srv, struct client *c, const char *buf, size_t len)
{
	size_t pending;

	if (c->dead)
		return -ENOTCONN;
	pending = c->out_len - c->out_off;
	if (pending == 0) {
		ssize_t n;
		do
			n = send_some(srv, c->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			int err = errno;
			client_close(srv, c, FW_LOG_DEBUG, "gone while sending (%s)", strerror(err));
			return -err;
		}
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return 0;
	}
	if (pending > 0 && pending + len > srv->opt.max_queue_bytes) {
		srv->st.dropped_slow++;
		client_close(srv, c, FW_LOG_WARN,
			     "disconnected: not reading (%zu bytes waiting, limit %zu)",
			     pending, srv->opt.max_queue_bytes);
		return -ENOBUFS;
	}
	if (c->out_cap - c->out_len < len) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, pending);
			c->out_off = 0;
			c->out_len = pending;
		}
		if (c->out_cap - c->out_len < len) {
			size_t cap = c->out_cap ? c->out_cap : 4096;
			while (cap < pending + len)
				cap *= 2;
			char *p = realloc(c->out, cap);
			if (!p) {
				client_close(srv, c, FW_LOG_WARN, "disconnected: out of memory for its queue");
				return FW_ENOMEM;
			}
			c->out = p;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	client_set_interest(srv, c);
	return 0;
}

static int client_send_json(struct fw_events *srv, struct client *c, const json_t *o)
{
	size_t len;
	int rc;

	if (c->dead)
		return -ENOTCONN;
	rc = serialize(srv, o, &len);
	if (rc < 0)
		return rc;
	return client_send(srv, c, srv->scratch, len);
}

/* {"ok": rc == 0, "id": id, <fields but ok/id/error>, "error": ...} */
static int send_reply(struct fw_events *srv, struct client *c, const json_t *id, int rc,
		      json_t *fields)
{
	json_t *o = json_object();
	const char *key;
	json_t *v;
	int err;

	if (!o)
		return FW_ENOMEM;
	json_object_set_new(o, "ok", json_boolean(rc == 0));
	if (id)
		json_object_set(o, "id", (json_t *)id);
	if (fields && json_is_object(fields)) {
		json_object_foreach(fields, key, v) {
			if (strcmp(key, "ok") && strcmp(key, "id") && strcmp(key, "error"))
				json_object_set(o, key, v);
		}
	}
	if (rc < 0) {
		const char *msg = fields ? json_string_value(json_object_get(fields, "error")) : NULL;
		json_object_set_new(o, "error", json_string(msg ? msg : fw_strerror(rc)));
	}
	err = client_send_json(srv, c, o);
	json_decref(o);
	return err;
}

/* Replace each byte that does not start or belong to a complete UTF-8
 * sequence with '?'. */
static void utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 :
			*p >= 0xe0 && *p <= 0xef ? 3 : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
		int k = 1;

		while (k < n && (p[k] & 0xc0) == 0x80)
			k++;
		if (n == 0 || k < n) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

static void reply_error(struct fw_events *srv, struct client *c, const json_t *id,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct fw_events *srv, struct client *c, const json_t *id,
			const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *f;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	f = json_pack("{ss}", "error", msg);
	if (!f) {
		/* A quoted name cut inside a UTF-8 sequence (%.64s), or invalid
		 * bytes echoed in a parse error: '?' for each bad byte. */
		utf8_repair(msg);
		f = json_pack("{ss}", "error", msg);
	}
	if (!f) {
		/* what is left (overlong forms, surrogates): plain ASCII */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		f = json_pack("{ss}", "error", msg);
	}
	send_reply(srv, c, id, FW_EINVAL, f);
	json_decref(f);
}

/* ---- requests ------------------------------------------------------------ */

static bool take_token(struct fw_events *srv, struct client *c)
{
	int64_t t = now_ns();
	double burst = srv->opt.request_burst;

	if (srv->opt.requests_per_sec < 0)
		return true;
	c->tokens += (double)(t - c->tokens_ns) * 1e-9 * srv->opt.requests_per_sec;
	if (c->tokens > burst)
		c->tokens = burst;
	c->tokens_ns = t;
	if (c->tokens < 1.0)
		return false;
	c->tokens -= 1.0;
	return true;
}

static void request_subscribe(struct fw_events *srv, struct client *c, json_t *req, const json_t *id)
{
	json_t *events = json_object_get(req, "events");
	json_t *v, *list, *reply;
	uint32_t mask = 0;
	size_t i;

	if (!events) {
		mask = default_mask();
	} else if (!json_is_array(events)) {
		reply_error(srv, c, id, "\"events\" must be a list of event names");
		return;
	} else {
		json_array_foreach(events, i, v) {
			int k = event_index(json_string_value(v));
			if (k < 0) {
				char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				reply_error(srv, c, id, "unknown event %.64s (known: face_appeared, "
					    "face_identified, face_left, presence, frame, status, "
					    "enroll_progress, preview)",
					    s ? s : "?");
				free(s);
				return;
			}
			mask |= 1u << k;
		}
	}
	c->mask = mask;
	list = json_array();
	for (i = 0; i < N_EVENTS; i++)
		if (mask & (1u << i))
			json_array_append_new(list, json_string(event_names[i].name));
	reply = json_object();
	json_object_set_new(reply, "events", list);
	send_reply(srv, c, id, 0, reply);
	json_decref(reply);
}

static const struct handler *find_handler(const struct fw_events *srv, const char *name)
{
	for (size_t i = 0; i < srv->nhandlers; i++)
		if (!strcmp(srv->handlers[i].name, name))
			return &srv->handlers[i];
	return NULL;
}

static void handle_line(struct fw_events *srv, struct client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *id, *reply;
	const struct handler *h;
	const char *name;
	int rc;

	/* blank lines (an interactive user pressing Enter) are not requests */
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	srv->st.requests++;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	id = req && json_is_object(req) ? json_object_get(req, "id") : NULL;
	if (!take_token(srv, c)) {
		srv->st.rate_limited++;
		if (!c->rate_warned) {
			char who[128];
			fw_log(FW_LOG_INFO, "events: %s: over the request rate limit (%g/s)",
			       peer_desc(c, FW_LOG_INFO, who, sizeof who), srv->opt.requests_per_sec);
			c->rate_warned = true;
		}
		reply_error(srv, c, id, "rate limit: at most %g requests per second (burst %u)",
			    srv->opt.requests_per_sec, srv->opt.request_burst);
		goto out;
	}
	if (!req) {
		reply_error(srv, c, NULL, "malformed JSON at column %d: %s", jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(req)) {
		reply_error(srv, c, NULL, "a request must be a JSON object, e.g. {\"request\":\"status\"}");
		goto out;
	}
	name = json_string_value(json_object_get(req, "request"));
	if (!name) {
		reply_error(srv, c, id, "missing \"request\" (a string, e.g. \"status\")");
		goto out;
	}
	if (!strcmp(name, "subscribe")) {
		request_subscribe(srv, c, req, id);
		goto out;
	}
	h = find_handler(srv, name);
	if (!h) {
		reply_error(srv, c, id, "unknown request \"%.64s\"", name);
		goto out;
	}
	if ((h->flags & FW_EVENTS_MUTATING) && !c->peer.trusted) {
		char who[128], uid[32] = "", grp[48] = "";
		srv->st.denied++;
		fw_log(FW_LOG_INFO, "events: %s: \"%s\" refused (not a trusted peer)",
		       peer_desc(c, FW_LOG_INFO, who, sizeof who), name);
		if (srv->euid != 0)
			snprintf(uid, sizeof uid, "uid %u", (unsigned)srv->euid);
		if (srv->opt.trusted_gid)
			snprintf(grp, sizeof grp, "members of group %u", (unsigned)srv->opt.trusted_gid);
		/* "root", "root or uid 980", "root, uid 980 or members of group 975" */
		reply_error(srv, c, id, "permission denied: \"%.64s\" changes the daemon's state; "
			    "only root%s%s%s%s may ask (you are uid %u)", name,
			    uid[0] ? (grp[0] ? ", " : " or ") : "", uid,
			    grp[0] ? " or " : "", grp, (unsigned)c->peer.uid);
		goto out;
	}
	reply = json_object();
	if (!reply) {
		send_reply(srv, c, id, FW_ENOMEM, NULL);
		goto out;
	}
	rc = h->fn(h->ctx, &c->peer, req, reply);
	if (rc != FW_EVENTS_LATER)
		send_reply(srv, c, id, rc, reply); /* a no-op if the handler's publish dropped c */
	json_decref(reply);
out:
	json_decref(req);
}

/* A line longer than max_line: say so if the socket takes it, then close.
 * What the client still sends is read and thrown away first (a bounded
 * amount): closing with unread data makes the client's next read after
 * the error line fail with ECONNRESET rather than see a plain EOF. */
static void close_oversize(struct fw_events *srv, struct client *c)
{
	char sink[4096];

	srv->st.dropped_oversize++;
	reply_error(srv, c, NULL, "request line longer than %zu bytes; closing the connection",
		    srv->opt.max_line);
	for (int i = 0; !c->dead && i < 64; i++)
		if (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	client_close(srv, c, FW_LOG_WARN, "disconnected: request line longer than %zu bytes",
		     srv->opt.max_line);
}

static void client_read(struct fw_events *srv, struct client *c, size_t budget)
{
	size_t limit = srv->opt.max_line + 1; /* a whole line and its '\n' */

	while (!c->dead && !c->rd_closed && budget > 0) {
		if (c->in_cap - c->in_len == 0) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			if (cap > limit)
				cap = limit;
			char *p = realloc(c->in, cap);
			if (!p) {
				client_close(srv, c, FW_LOG_WARN, "disconnected: out of memory");
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(srv, c, FW_LOG_DEBUG, "read failed (%s)", strerror(errno));
			return;
		}
		if (n == 0) {
			/* Half-close: `echo '{"request":"subscribe"}' | socat ...`
			 * still gets its events until it really goes (EPOLLHUP).
			 * A last line without its '\n' (printf '...' | socat) is
			 * still a request. */
			if (c->in_len > 0) {
				size_t len = c->in_len;
				c->in_len = 0;
				handle_line(srv, c, c->in, len);
				if (c->dead)
					return;
			}
			c->rd_closed = true;
			client_set_interest(srv, c);
			break;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;

		/* the bytes before the new ones hold no '\n' */
		size_t start = 0, scan = c->in_len;
		char *nl;
		c->in_len += (size_t)n;
		while ((nl = memchr(c->in + scan, '\n', c->in_len - scan))) {
			size_t end = (size_t)(nl - c->in);
			if (end - start > srv->opt.max_line) {
				close_oversize(srv, c);
				return;
			}
			handle_line(srv, c, c->in + start, end - start);
			if (c->dead)
				return;
			start = scan = end + 1;
		}
		if (start > 0) {
			memmove(c->in, c->in + start, c->in_len - start);
			c->in_len -= start;
		}
		if (c->in_len >= limit) {
			close_oversize(srv, c);
			return;
		}
		if (c->in_len == 0 && c->in_cap > 4096) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
}

/* ---- accepting ----------------------------------------------------------- */

static bool peer_in_group(int fd, gid_t gid)
{
	gid_t groups[64], *g = groups;
	socklen_t len = sizeof groups;
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE)
			return false;
		g = malloc(len);
		if (!g || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (g[i] == gid)
			found = true;
	if (g != groups)
		free(g);
	return found;
}

static json_t *make_hello(struct fw_events *srv)
{
	char ts[32];
	json_t *o = json_object(), *extra = NULL;
	const char *key;
	json_t *v;

	if (!o)
		return NULL;
	format_ts(ts);
	json_object_set_new(o, "event", json_string("hello"));
	json_object_set_new(o, "seq", json_integer((json_int_t)srv->st.seq));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "protocol", json_integer(FW_EVENTS_PROTOCOL));
	if (srv->opt.hello)
		extra = srv->opt.hello(srv->opt.ctx);
	if (json_is_object(extra)) {
		json_object_foreach(extra, key, v) {
			if (strcmp(key, "event") && strcmp(key, "seq") && strcmp(key, "ts") &&
			    strcmp(key, "protocol"))
				json_object_set(o, key, v);
		}
	}
	json_decref(extra);
	return o;
}

/* Best effort: one line to a connection we are about to close unseen. */
static void refuse(struct fw_events *srv, int fd, const char *why)
{
	json_t *o = json_pack("{sbss}", "ok", 0, "error", why);
	size_t len;

	if (o && serialize(srv, o, &len) == 0 &&
	    send(fd, srv->scratch, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing to do: the peer sees the close */
	}
	json_decref(o);
	close(fd);
}

static void client_add(struct fw_events *srv, int fd)
{
	struct client *c = calloc(1, sizeof *c);
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct epoll_event e = { .events = EPOLLIN };
	json_t *hello;
	char who[128];

	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		fw_log(FW_LOG_WARN, "events: new connection dropped: %s",
		       c ? strerror(errno) : "out of memory");
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->peer.id = ++srv->next_id;
	c->peer.pid = cred.pid;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.trusted = cred.uid == 0 || cred.uid == srv->euid ||
			  (srv->opt.trusted_gid &&
			   (cred.gid == srv->opt.trusted_gid || peer_in_group(fd, srv->opt.trusted_gid)));
	c->mask = default_mask();
	c->tokens = srv->opt.request_burst;
	c->tokens_ns = now_ns();
	c->ev = EPOLLIN;
	e.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		fw_log(FW_LOG_WARN, "events: new connection dropped: epoll: %s", strerror(errno));
		free(c);
		close(fd);
		return;
	}
	c->next = srv->clients;
	if (c->next)
		c->next->prev = c;
	srv->clients = c;
	srv->nclients++;
	srv->st.accepted++;
	fw_log(FW_LOG_DEBUG, "events: %s connected%s", peer_desc(c, FW_LOG_DEBUG, who, sizeof who),
	       c->peer.trusted ? " (trusted)" : "");

	hello = make_hello(srv);
	if (!hello) {
		client_close(srv, c, FW_LOG_WARN, "disconnected: out of memory for its hello");
		return;
	}
	client_send_json(srv, c, hello);
	json_decref(hello);
}

static void accept_clients(struct fw_events *srv)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
				/* Out of fds: the pending connection would keep the
				 * listener readable forever (a busy loop). Spend the
				 * spare fd to take it and close it with a reason. */
				if (!srv->fd_warned)
					fw_log(FW_LOG_WARN, "events: out of file descriptors (%u clients); "
					       "refusing connections until some leave (raise LimitNOFILE=)",
					       srv->nclients);
				srv->fd_warned = true;
				close(srv->spare_fd);
				fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd >= 0) {
					srv->st.refused++;
					refuse(srv, fd, "server out of file descriptors; try again later");
				}
				srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd < 0)
					return;
				continue;
			}
			if (!srv->fd_warned)
				fw_log(FW_LOG_WARN, "events: accept: %s", strerror(errno));
			srv->fd_warned = true;
			return;
		}
		srv->fd_warned = false;
		if (srv->nclients >= srv->opt.max_clients) {
			char why[96];
			srv->st.refused++;
			snprintf(why, sizeof why, "too many clients (%u); try again later",
				 srv->opt.max_clients);
			fw_log(FW_LOG_WARN, "events: connection refused: %s", why);
			refuse(srv, fd, why);
			continue;
		}
		client_add(srv, fd);
	}
}

/* ---- creating the listener ---------------------------------------------- */

static int create_socket_file(struct fw_events *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc, err;

	if (strlen(path) >= sizeof sa.sun_path) {
		fw_log(FW_LOG_ERROR, "events: socket path %s is too long (at most %zu bytes)",
		       path, sizeof sa.sun_path - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fw_log(FW_LOG_ERROR, "events: %s exists and is not a socket; "
			       "not replacing it (remove it or choose another path)", path);
			return -EEXIST;
		}
		/* A socket file: in use if something accepts connections on it. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
		err = rc < 0 ? errno : 0;
		close(fd);
		if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
			fw_log(FW_LOG_ERROR, "events: %s: another process listens on this socket "
			       "(is facewatchd already running?)", path);
			return -EADDRINUSE;
		}
		if (err != ECONNREFUSED && err != ENOENT) {
			fw_log(FW_LOG_ERROR, "events: %s: cannot tell whether the socket is in use: %s",
			       path, strerror(err));
			return -err;
		}
		if (err == ECONNREFUSED) {
			fw_log(FW_LOG_INFO, "events: removing stale socket %s", path);
			if (unlink(path) < 0 && errno != ENOENT) {
				err = errno;
				fw_log(FW_LOG_ERROR, "events: cannot remove stale socket %s: %s",
				       path, strerror(err));
				return -err;
			}
		}
	} else if (errno != ENOENT) {
		err = errno;
		fw_log(FW_LOG_ERROR, "events: %s: %s", path, strerror(err));
		return -err;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* bind() creates the file with 0777 & ~umask. A umask of exactly
	 * ~mode makes it right from its first instant, whatever the umask the
	 * daemon inherited; chmod afterwards settles ACL-masked directories.
	 * The umask is process-wide: this runs at start-up, before threads. */
	old = umask(~srv->opt.mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	err = errno;
	umask(old);
	if (rc < 0) {
		fw_log(FW_LOG_ERROR, "events: cannot create socket %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	if (srv->opt.socket_gid && srv->opt.socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, srv->opt.socket_gid) < 0) {
		err = errno;
		fw_log(FW_LOG_ERROR, "events: cannot give socket %s to group %u: %s",
		       path, (unsigned)srv->opt.socket_gid, strerror(err));
		goto fail;
	}
	if (chmod(path, srv->opt.mode) < 0 || stat(path, &st) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		err = errno;
		fw_log(FW_LOG_ERROR, "events: socket %s: %s", path, strerror(err));
		goto fail;
	}
	srv->path = strdup(path);
	if (!srv->path) {
		err = ENOMEM;
		goto fail;
	}
	srv->path_dev = st.st_dev;
	srv->path_ino = st.st_ino;
	srv->listen_fd = fd;
	return 0;
fail:
	unlink(path);
	close(fd);
	return -err;
}

static int adopt_socket(struct fw_events *srv, int fd)
{
	int type = 0, domain = 0, listening = 0, flags;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len)) < 0 ||
	    (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) < 0 ||
	    type != SOCK_STREAM || domain != AF_UNIX || !listening) {
		fw_log(FW_LOG_ERROR, "events: inherited fd %d is not a listening Unix stream socket "
		       "(check ListenStream= in the .socket unit)", fd);
		return FW_EINVAL;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	srv->listen_fd = fd;
	return 0;
}

/* Enough fds for max_clients: raise the soft limit towards the hard one
 * (systemd gives services 1024 soft / 512Ki hard; select() users are the
 * reason the soft limit is low, and this daemon does not use select). */
static void fit_fd_limit(struct fw_events *srv)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)srv->opt.max_clients + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need)
		rl.rlim_cur = need;
	else
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < need) {
		unsigned max = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : FD_RESERVE;
		fw_log(FW_LOG_WARN, "events: open-file limit %llu allows %u clients, not %u "
		       "(raise LimitNOFILE=)", (unsigned long long)rl.rlim_cur, max,
		       srv->opt.max_clients);
		srv->opt.max_clients = max;
	}
}

/* ---- public: server ------------------------------------------------------ */

int fw_events_create(struct fw_events **out, const struct fw_events_options *opt)
{
	struct fw_events *srv;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	int rc;

	*out = NULL;
	if (!opt || (opt->path ? !opt->path[0] : opt->listen_fd < 0))
		return FW_EINVAL;
	srv = calloc(1, sizeof *srv);
	if (!srv)
		return FW_ENOMEM;
	srv->opt = *opt;
	srv->opt.path = NULL;
	srv->listen_fd = srv->epfd = srv->spare_fd = srv->pass_fd = -1;
	srv->euid = geteuid();
	if (!srv->opt.mode)
		srv->opt.mode = 0660;
	srv->opt.mode &= 07777;
	if (srv->opt.trusted_gid == (gid_t)-1)
		srv->opt.trusted_gid = 0;
	if (!srv->opt.max_line)
		srv->opt.max_line = DEFAULT_MAX_LINE;
	if (!srv->opt.max_queue_bytes)
		srv->opt.max_queue_bytes = DEFAULT_MAX_QUEUE;
	if (!srv->opt.max_clients)
		srv->opt.max_clients = DEFAULT_MAX_CLIENTS;
	if (srv->opt.requests_per_sec == 0)
		srv->opt.requests_per_sec = DEFAULT_RATE;
	if (!srv->opt.request_burst) {
		double b = srv->opt.requests_per_sec * 2;
		srv->opt.request_burst = b > 10 ? (b < 1e6 ? (unsigned)b : 1000000u) : 10;
	}
	fit_fd_limit(srv);

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		rc = -errno;
		goto fail;
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	rc = opt->path ? create_socket_file(srv, opt->path) : adopt_socket(srv, opt->listen_fd);
	if (rc < 0)
		goto fail;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &e) < 0) {
		rc = -errno;
		if (!srv->path)
			srv->listen_fd = -1; /* not ours until we succeed */
		goto fail;
	}
	fw_log(FW_LOG_DEBUG, "events: listening on %s (protocol %d, up to %u clients)",
	       srv->path ? srv->path : "an inherited socket", FW_EVENTS_PROTOCOL,
	       srv->opt.max_clients);
	*out = srv;
	return 0;
fail:
	fw_events_destroy(srv);
	return rc;
}

void fw_events_destroy(struct fw_events *srv)
{
	if (!srv)
		return;
	srv->depth++;
	while (srv->clients)
		client_close(srv, srv->clients, FW_LOG_DEBUG, "server shutting down");
	leave(srv);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->path) {
		struct stat st;
		/* only our own socket: a newer daemon may have replaced it */
		if (stat(srv->path, &st) == 0 && st.st_dev == srv->path_dev &&
		    st.st_ino == srv->path_ino)
			unlink(srv->path);
		free(srv->path);
	}
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	for (size_t i = 0; i < srv->nhandlers; i++)
		free(srv->handlers[i].name);
	free(srv->handlers);
	free(srv->scratch);
	free(srv);
}

int fw_events_add_request(struct fw_events *srv, const char *name, unsigned flags,
			  fw_events_request_fn fn, void *ctx)
{
	struct handler *h;

	if (!name || !name[0] || !fn || !strcmp(name, "subscribe") || find_handler(srv, name))
		return FW_EINVAL;
	h = realloc(srv->handlers, (srv->nhandlers + 1) * sizeof *h);
	if (!h)
		return FW_ENOMEM;
	srv->handlers = h;
	h = &srv->handlers[srv->nhandlers];
	h->name = strdup(name);
	if (!h->name)
		return FW_ENOMEM;
	h->flags = flags;
	h->fn = fn;
	h->ctx = ctx;
	srv->nhandlers++;
	return 0;
}

int fw_events_fd(const struct fw_events *srv)
{
	return srv->epfd;
}

int fw_events_dispatch(struct fw_events *srv, int timeout_ms)
{
	struct epoll_event evs[64];
	int n;

	n = epoll_wait(srv->epfd, evs, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	srv->depth++;
	for (int i = 0; i < n; i++) {
		struct client *c = evs[i].data.ptr;
		uint32_t ev = evs[i].events;

		if (!c) {
			accept_clients(srv);
			continue;
		}
		if (c->dead)
			continue;
		if (ev & EPOLLIN)
			client_read(srv, c, READ_BUDGET);
		if (!c->dead && (ev & EPOLLOUT))
			client_flush(srv, c);
		if (!c->dead && (ev & EPOLLERR)) {
			int err = 0;
			socklen_t len = sizeof err;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			client_close(srv, c, FW_LOG_DEBUG, "socket error (%s)", strerror(err));
		}
		if (!c->dead && (ev & EPOLLHUP)) {
			/* Gone for good. Requests it sent just before still run
			 * (socket buffers bound how much that can be). */
			if (!c->rd_closed)
				client_read(srv, c, SIZE_MAX); /* to EOF, or EAGAIN */
			client_close(srv, c, FW_LOG_DEBUG, "disconnected");
		}
	}
	leave(srv);
	return 0;
}

int fw_events_publish(struct fw_events *srv, const json_t *event)
{
	const char *name = json_string_value(json_object_get(event, "event"));
	int k = event_index(name);
	char ts[32];
	json_t *o, *v;
	const char *key;
	size_t len;
	int rc;

	if (!json_is_object(event) || k < 0) {
		fw_log(FW_LOG_ERROR, "events: not publishing an event named %s (not in protocol v1)",
		       name ? name : "(none)");
		return FW_EINVAL;
	}
	o = json_object();
	if (!o)
		return FW_ENOMEM;
	format_ts(ts);
	json_object_set_new(o, "event", json_string(name));
	json_object_set_new(o, "seq", json_integer((json_int_t)(srv->st.seq + 1)));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_foreach((json_t *)event, key, v) {
		if (strcmp(key, "event") && strcmp(key, "seq") && strcmp(key, "ts"))
			json_object_set(o, key, v);
	}
	rc = serialize(srv, o, &len);
	json_decref(o);
	if (rc < 0)
		return rc;
	srv->st.seq++;
	srv->last_len = len;

	srv->depth++;
	for (struct client *c = srv->clients, *next; c; c = next) {
		next = c->next; /* c may be closed (slow, gone); nothing else can be */
		if (c->mask & (1u << k))
			client_send(srv, c, srv->scratch, len);
	}
	leave(srv);
	return 0;
}

const char *fw_events_last_line(const struct fw_events *srv, size_t *len)
{
	*len = srv->last_len;
	return srv->last_len ? srv->scratch : NULL;
}

int fw_events_publish_new(struct fw_events *srv, json_t *event)
{
	int rc;

	if (!event)
		return FW_ENOMEM;
	rc = fw_events_publish(srv, event);
	json_decref(event);
	return rc;
}

int fw_events_reply(struct fw_events *srv, uint64_t client, const json_t *id, int rc,
		    json_t *reply)
{
	struct client *c;
	int err;

	for (c = srv->clients; c; c = c->next)
		if (c->peer.id == client)
			break;
	if (!c)
		return -ENOTCONN;
	srv->depth++;
	err = send_reply(srv, c, id, rc == FW_EVENTS_LATER ? 0 : rc, reply);
	leave(srv);
	return err;
}

int fw_events_reply_fd(struct fw_events *srv, uint64_t client, const json_t *id, int rc,
		       json_t *reply, int fd)
{
	struct client *c;
	int err;

	for (c = srv->clients; c; c = c->next)
		if (c->peer.id == client)
			break;
	if (!c)
		return -ENOTCONN;
	srv->depth++;
	/* the fd rides on the reply's first byte: only when nothing is queued
	 * before it can that byte go now */
	client_flush(srv, c);
	if (c->dead || c->out_len > c->out_off) {
		err = c->dead ? -ENOTCONN : -EAGAIN;
		leave(srv);
		return err;
	}
	srv->pass_fd = fd;
	srv->passed = false;
	err = send_reply(srv, c, id, rc == FW_EVENTS_LATER ? 0 : rc, reply);
	srv->pass_fd = -1;
	if (!err && !srv->passed)
		err = -EAGAIN; /* the socket took nothing: the reply went out without it */
	leave(srv);
	return err;
}

unsigned fw_events_subscribers(const struct fw_events *srv, const char *event)
{
	int k = event_index(event);
	unsigned n = 0;

	if (k < 0)
		return 0;
	for (const struct client *c = srv->clients; c; c = c->next)
		if (!c->dead && c->mask & (1u << k))
			n++;
	return n;
}

void fw_events_get_stats(const struct fw_events *srv, struct fw_events_stats *st)
{
	*st = srv->st;
	st->clients = srv->nclients;
}

/* ---- public: the inference -> main queue -------------------------------- */

struct fw_events_queue {
	pthread_mutex_t lock;
	unsigned capacity, head, count;
	size_t item_bytes;
	unsigned char *slots;
	int efd;
	struct fw_events_queue_stats st;
};

int fw_events_queue_create(struct fw_events_queue **out, unsigned capacity, size_t item_bytes)
{
	struct fw_events_queue *q;
	int err;

	*out = NULL;
	if (capacity < 1 || item_bytes < 1 || item_bytes > SIZE_MAX / capacity)
		return FW_EINVAL;
	q = calloc(1, sizeof *q);
	if (!q)
		return FW_ENOMEM;
	q->slots = malloc(capacity * item_bytes);
	if (!q->slots) {
		free(q);
		return FW_ENOMEM;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		err = -errno;
		free(q->slots);
		free(q);
		return err;
	}
	pthread_mutex_init(&q->lock, NULL);
	q->capacity = capacity;
	q->item_bytes = item_bytes;
	*out = q;
	return 0;
}

void fw_events_queue_destroy(struct fw_events_queue *q)
{
	if (!q)
		return;
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	free(q->slots);
	free(q);
}

int fw_events_queue_push(struct fw_events_queue *q, const void *item)
{
	bool was_empty;

	pthread_mutex_lock(&q->lock);
	if (q->count == q->capacity) {
		q->st.dropped++;
		pthread_mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	memcpy(q->slots + (size_t)((q->head + q->count) % q->capacity) * q->item_bytes, item,
	       q->item_bytes);
	was_empty = q->count++ == 0;
	q->st.pushed++;
	if (q->count > q->st.high)
		q->st.high = q->count;
	pthread_mutex_unlock(&q->lock);
	/* Wake the consumer on empty -> non-empty only: it pops until empty,
	 * and clears the eventfd before its last look (fw_events_queue_pop).
	 * A non-blocking eventfd write cannot block (the counter would have
	 * to reach 2^64 - 2). */
	if (was_empty) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof one) < 0) {
			/* EAGAIN only: the fd is readable anyway */
		}
	}
	return 0;
}

static bool queue_take(struct fw_events_queue *q, void *out)
{
	bool got = false;

	pthread_mutex_lock(&q->lock);
	if (q->count > 0) {
		memcpy(out, q->slots + (size_t)q->head * q->item_bytes, q->item_bytes);
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		q->st.popped++;
		got = true;
	}
	pthread_mutex_unlock(&q->lock);
	return got;
}

int fw_events_queue_pop(struct fw_events_queue *q, void *out)
{
	uint64_t v;

	if (queue_take(q, out))
		return 1;
	/* Empty: clear the wake-up, then look once more. A push after the
	 * read finds the queue empty and writes the eventfd again; a push
	 * between our two looks is caught by the second. */
	if (read(q->efd, &v, sizeof v) < 0) {
		/* EAGAIN: nothing was signalled */
	}
	return queue_take(q, out) ? 1 : 0;
}

int fw_events_queue_fd(const struct fw_events_queue *q)
{
	return q->efd;
}

void fw_events_queue_get_stats(struct fw_events_queue *q, struct fw_events_queue_stats *st)
{
	pthread_mutex_lock(&q->lock);
	*st = q->st;
	pthread_mutex_unlock(&q->lock);
}
