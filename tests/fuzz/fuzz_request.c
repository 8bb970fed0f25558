/* Fuzz target: the event server's request lines (daemon/events.c), driven
 * the way a client drives it: a real fw_events server on an abstract Unix
 * socket, one new connection per input that sends the input's bytes
 * (a few at a time or all at once, as the first byte says), shuts its
 * sending side and reads every answer. The server answers or closes that
 * connection (a line over its limit); it never crashes, and every line it
 * sends is one JSON object with "ok" or "event".
 * The server's limits are small here (max_line 512) so that inputs reach
 * the oversize path; "status" and "later" (an answer given after the
 * handler returns) stand for the daemon's requests, "forget" for a
 * mutating one. Seeds: corpus/fuzz_request/ (requests from
 * docs/protocol.md, partial lines, CRLF, invalid UTF-8, an oversized
 * line). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "core/fw.h"
#include "daemon/events.h"

#define MAX_LINE 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

static struct sockaddr_un addr = { .sun_family = AF_UNIX };
static socklen_t addr_len;

static int req_status(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)peer, (void)req;
	json_object_set_new(reply, "fps", json_real(29.9));
	return 0;
}

static int req_forget(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	const char *name = json_string_value(json_object_get(req, "identity"));

	(void)ctx, (void)peer;
	if (!name) {
		json_object_set_new(reply, "error", json_string("forget needs \"identity\""));
		return FW_EINVAL;
	}
	json_object_set_new(reply, "forgotten", json_string(name));
	return 0;
}

static int req_later(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	struct fw_events *srv = ctx;

	(void)reply;
	fw_events_reply(srv, peer->id, json_object_get(req, "id"), 0, NULL);
	return FW_EVENTS_LATER;
}

static struct fw_events *server(void)
{
	static struct fw_events *srv;
	int fd;

	if (srv)
		return srv;
	/* abstract namespace: nothing on the filesystem to clean up */
	snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "fw-fuzz-request-%d", (int)getpid());
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, addr_len) || listen(fd, 16))
		abort();
	struct fw_events_options o = { .listen_fd = fd, .max_line = MAX_LINE,
				       .max_queue_bytes = 1 << 16 };
	if (fw_events_create(&srv, &o))
		abort();
	if (fw_events_add_request(srv, "status", 0, req_status, NULL) ||
	    fw_events_add_request(srv, "forget", FW_EVENTS_MUTATING, req_forget, NULL) ||
	    fw_events_add_request(srv, "later", 0, req_later, srv))
		abort();
	return srv;
}

/* Every complete line the server sent: one JSON object, an answer or an
 * event. */
static void check_lines(char *buf, size_t *len)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(buf + start, '\n', *len - start))) {
		size_t n = (size_t)(nl - (buf + start));
		json_t *o = json_loadb(buf + start, n, 0, NULL);
		if (!json_is_object(o) ||
		    (!json_object_get(o, "ok") && !json_object_get(o, "event")))
			abort();
		json_decref(o);
		start += n + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

/* Read what the server sent so far: 1 when the server closed. */
static int drain(int c, char *buf, size_t cap, size_t *len)
{
	for (;;) {
		ssize_t n = recv(c, buf + *len, cap - *len, MSG_DONTWAIT);
		if (n > 0) {
			*len += (size_t)n;
			check_lines(buf, len);
			if (*len == cap)
				abort(); /* a line longer than any answer can be */
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return 1;
		if (errno == EAGAIN)
			return 0;
	}
}

static int server_busy(struct fw_events *srv)
{
	struct pollfd p = { .fd = fw_events_fd(srv), .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_events *srv;
	static char buf[1 << 17];
	size_t len = 0, off = 0, step;
	struct fw_events_stats st;
	int c, closed = 0;

	fw_log_set_sink(quiet, NULL);
	srv = server();
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&addr, addr_len))
		abort();
	fw_events_dispatch(srv, 0); /* accept; the hello */
	/* first byte: how many bytes per send (0 = all at once), so lines
	 * arrive whole and in pieces */
	step = size ? data[0] % 8 : 0;
	if (size) {
		data++;
		size--;
	}
	while (off < size && !closed) {
		size_t want = step && size - off > step ? step : size - off;
		ssize_t n = send(c, data + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* the server closed this connection (oversize) */
		fw_events_dispatch(srv, 0);
		closed = drain(c, buf, sizeof buf, &len);
	}
	shutdown(c, SHUT_WR);
	/* an event between the answers: to whoever subscribed to it */
	fw_events_publish_new(srv, json_pack("{ss ss ss}", "event", "presence", "identity", "anyone",
					     "state", "present"));
	while (!closed) {
		int busy = server_busy(srv);
		size_t before = len;
		if (busy)
			fw_events_dispatch(srv, 0);
		closed = drain(c, buf, sizeof buf, &len);
		if (!busy && len == before)
			break; /* answered everything; nothing more is coming */
	}
	close(c);
	do {
		fw_events_dispatch(srv, 0);
		fw_events_get_stats(srv, &st);
	} while (st.clients > 0 && server_busy(srv));
	fw_events_get_stats(srv, &st);
	if (st.clients > 0) {
		/* the close must reach the server at once (EPOLLHUP) */
		fw_events_dispatch(srv, 10);
		fw_events_get_stats(srv, &st);
		if (st.clients > 0)
			abort();
	}
	return 0;
}
