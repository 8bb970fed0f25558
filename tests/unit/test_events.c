/* The event server and the inference -> main queue, as a client sees them:
 * a real socket in a temporary directory, the server's loop driven by the
 * test (fw_events_dispatch with timeout 0 between client reads), clients
 * as plain blocking sockets, and forked children for other uids. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/fw.h"
#include "daemon/events.h"

#define NOBODY 65534

static char tmpdir[64];

static const char *sock_path(const char *name)
{
	static char path[8][128];
	static int k;

	k = (k + 1) % 8;
	snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
	return path[k];
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this thread: unlike wall time, not inflated when a loaded
 * machine preempts the test. */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- what the server logged ---------------------------------------------- */

#define NLOG 256
static char logs[NLOG][320];
static enum fw_log_level log_levels[NLOG];
static int nlogs;

static void log_sink(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	snprintf(logs[nlogs % NLOG], sizeof logs[0], "%s", msg);
	log_levels[nlogs % NLOG] = level;
	nlogs++;
	if (getenv("FW_TEST_VERBOSE"))
		fprintf(stderr, "[log %d] %s\n", level, msg);
}

static bool logged(enum fw_log_level level, const char *needle)
{
	int first = nlogs > NLOG ? nlogs - NLOG : 0;

	for (int i = first; i < nlogs; i++)
		if (log_levels[i % NLOG] == level && strstr(logs[i % NLOG], needle))
			return true;
	return false;
}

/* ---- the daemon side: hello content and request handlers ----------------- */

static int forget_calls;

static json_t *hello_cb(void *ctx)
{
	(void)ctx;
	return json_pack("{s{sssisisi} s{ssss} si s[s]}",
			 "camera", "device", "/dev/video0", "width", 640, "height", 480, "fps", 30,
			 "models", "detector", "blazeface-short", "embedder", "mobilefacenet",
			 "gallery_size", 2, "present", "alice");
}

static int status_cb(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)peer, (void)req;
	json_object_set_new(reply, "fps", json_real(29.5));
	json_object_set_new(reply, "drops", json_integer(3));
	json_object_set_new(reply, "cpu", json_real(2.1));
	json_object_set_new(reply, "latency_p50_ms", json_real(4.2));
	json_object_set_new(reply, "latency_p99_ms", json_real(9.8));
	return 0;
}

static int list_cb(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)peer, (void)req;
	json_object_set_new(reply, "identities", json_pack("[ss]", "alice", "bob"));
	return 0;
}

static int forget_cb(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)peer;
	forget_calls++;
	json_object_set(reply, "forgotten", json_object_get(req, "identity"));
	return 0;
}

static int fail_cb(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)peer;
	if (json_is_true(json_object_get(req, "explain")))
		json_object_set_new(reply, "error", json_string("no face in /tmp/x.jpg: try a closer photo"));
	return FW_ENOFACE;
}

static uint64_t later_client;
static json_t *later_id;

static int later_cb(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	(void)ctx, (void)reply;
	later_client = peer->id;
	later_id = json_incref(json_object_get(req, "id"));
	return FW_EVENTS_LATER;
}

static struct fw_events_options defaults(const char *name)
{
	struct fw_events_options o = {
		.path = sock_path(name), .hello = hello_cb, /* listen_fd 0: unused with a path */
	};
	return o;
}

static struct fw_events *start(const struct fw_events_options *o)
{
	struct fw_events *srv;

	assert_int_equal(fw_events_create(&srv, o), 0);
	assert_int_equal(fw_events_add_request(srv, "status", 0, status_cb, NULL), 0);
	assert_int_equal(fw_events_add_request(srv, "list", 0, list_cb, NULL), 0);
	assert_int_equal(fw_events_add_request(srv, "forget", FW_EVENTS_MUTATING, forget_cb, NULL), 0);
	return srv;
}

static void pump(struct fw_events *srv)
{
	for (int i = 0; i < 8; i++)
		assert_int_equal(fw_events_dispatch(srv, 0), 0);
}

static unsigned nclients(const struct fw_events *srv)
{
	struct fw_events_stats st;

	fw_events_get_stats(srv, &st);
	return st.clients;
}

/* ---- a test client ------------------------------------------------------- */

struct tc {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
};

static void tc_open(struct tc *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof *c);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void tc_close(struct tc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Read what the socket has now (without waiting). True if bytes came. */
static bool tc_fill(struct tc *c)
{
	bool got = false;

	while (!c->eof) {
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			c->buf = realloc(c->buf, c->cap);
			assert_non_null(c->buf);
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			got = true;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = true; /* EOF, or ECONNRESET after the server closed */
		break;
	}
	return got;
}

/* The next complete line already received, parsed; NULL if none. */
static json_t *tc_take(struct tc *c)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	json_error_t err;
	json_t *j;

	if (!nl)
		return NULL;
	j = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &err);
	if (!j)
		fail_msg("server sent a line that is not JSON: %s: %.*s", err.text,
			 (int)(nl - c->buf), c->buf);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return j;
}

/* The next line, running the server until it comes (5 s at most); NULL
 * when the server closed the connection first. */
static json_t *tc_next(struct fw_events *srv, struct tc *c)
{
	double deadline = now_ms() + 5000;

	for (;;) {
		json_t *j = tc_take(c);
		if (j)
			return j;
		if (c->eof)
			return NULL;
		assert_int_equal(fw_events_dispatch(srv, 0), 0);
		if (!tc_fill(c)) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			poll(&p, 1, 1);
		}
		if (now_ms() > deadline)
			fail_msg("no line from the server within 5 s");
	}
}

static void tc_send(struct tc *c, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/* Send a request line; return the next line that is an answer ("ok"),
 * checking that nothing else comes before it. */
static json_t *tc_request(struct fw_events *srv, struct tc *c, const char *line)
{
	json_t *j;

	tc_send(c, line);
	j = tc_next(srv, c);
	assert_non_null(j);
	if (!json_object_get(j, "ok")) {
		char *s = json_dumps(j, 0);
		fail_msg("expected an answer, got %s", s);
	}
	return j;
}

static void expect_hello(struct fw_events *srv, struct tc *c)
{
	json_t *h = tc_next(srv, c);

	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "event")), "hello");
	assert_int_equal(json_integer_value(json_object_get(h, "protocol")), 1);
	json_decref(h);
}

static bool ok_of(const json_t *j)
{
	return json_is_true(json_object_get(j, "ok"));
}

static const char *error_of(const json_t *j)
{
	const char *e = json_string_value(json_object_get(j, "error"));
	return e ? e : "";
}

static const char *event_of(const json_t *j)
{
	const char *e = json_string_value(json_object_get(j, "event"));
	return e ? e : "";
}

static long long seq_of(const json_t *j)
{
	return json_integer_value(json_object_get(j, "seq"));
}

/* 2026-11-22T13:37:00.123Z */
static bool is_rfc3339_ms(const char *s)
{
	const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (!s || strlen(s) != strlen(pat))
		return false;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	return strncmp(s, "2020", 4) >= 0;
}

static void publish(struct fw_events *srv, const char *fmt, ...)
{
	json_error_t err;
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	e = json_vpack_ex(&err, 0, fmt, ap);
	va_end(ap);
	if (!e)
		fail_msg("json_pack: %s", err.text);
	assert_int_equal(fw_events_publish_new(srv, e), 0);
}

/* ---- the socket file ----------------------------------------------------- */

static void test_socket_file_mode(void **state)
{
	static const mode_t umasks[] = { 0, 022, 077, 0777 };

	(void)state;
	for (size_t i = 0; i < sizeof umasks / sizeof umasks[0]; i++) {
		struct fw_events_options o = defaults("mode.sock");
		struct fw_events *srv;
		struct stat st;
		mode_t old = umask(umasks[i]);

		assert_int_equal(fw_events_create(&srv, &o), 0);
		umask(old);
		assert_int_equal(lstat(o.path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0660);
		fw_events_destroy(srv);
		assert_int_equal(lstat(o.path, &st), -1); /* removed on destroy */
	}
	{
		struct fw_events_options o = defaults("mode600.sock");
		struct fw_events *srv;
		struct stat st;

		o.mode = 0600;
		assert_int_equal(fw_events_create(&srv, &o), 0);
		assert_int_equal(lstat(o.path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		fw_events_destroy(srv);
	}
}

/* Not a socket: refused and left alone. A socket someone listens on:
 * refused, and that server keeps working. A stale socket: replaced. */
static void test_socket_file_refuses_to_clobber(void **state)
{
	struct fw_events_options o = defaults("clobber.sock");
	struct fw_events *srv, *srv2;
	char buf[16] = "";
	struct tc c;
	int fd;

	(void)state;
	fd = open(o.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep me", 7), 7);
	close(fd);
	assert_int_equal(fw_events_create(&srv, &o), -EEXIST);
	assert_null(srv);
	fd = open(o.path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof buf), 7);
	close(fd);
	assert_string_equal(buf, "keep me");
	assert_int_equal(unlink(o.path), 0);

	srv = start(&o);
	assert_int_equal(fw_events_create(&srv2, &o), -EADDRINUSE);
	assert_true(logged(FW_LOG_ERROR, "another process listens"));
	tc_open(&c, o.path);
	expect_hello(srv, &c);
	tc_close(&c);
	fw_events_destroy(srv);

	/* a stale socket file: bound, never listened on, owner gone */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", o.path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
		close(fd);
	}
	srv = start(&o);
	assert_true(logged(FW_LOG_INFO, "removing stale socket"));
	tc_open(&c, o.path);
	expect_hello(srv, &c);
	tc_close(&c);
	fw_events_destroy(srv);

	{
		char longpath[200];
		memset(longpath, 'a', sizeof longpath - 1);
		longpath[sizeof longpath - 1] = 0;
		o.path = longpath;
		assert_int_equal(fw_events_create(&srv, &o), -ENAMETOOLONG);
	}
	{
		struct fw_events_options none = { .path = NULL, .listen_fd = -1 };
		assert_int_equal(fw_events_create(&srv, &none), FW_EINVAL);
		none.path = "";
		assert_int_equal(fw_events_create(&srv, &none), FW_EINVAL);
	}
}

/* Socket activation: the server takes the listening fd it is given. */
static void test_adopt_listen_fd(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fw_events_options o = { .listen_fd = -1, .hello = hello_cb };
	struct fw_events *srv;
	struct stat st;
	struct tc c;
	int fd;

	(void)state;
	/* a socket that is not listening is refused and stays the caller's */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	o.listen_fd = fd;
	assert_int_equal(fw_events_create(&srv, &o), FW_EINVAL);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path("activated.sock"));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 16), 0);
	o.listen_fd = fd;
	srv = start(&o);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	tc_open(&c, sa.sun_path);
	expect_hello(srv, &c);
	tc_close(&c);
	fw_events_destroy(srv);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed: it was the server's */
	/* the file belongs to whoever made it (systemd): not removed */
	assert_int_equal(lstat(sa.sun_path, &st), 0);
	unlink(sa.sun_path);
}

/* ---- protocol ------------------------------------------------------------ */

static void test_hello_on_connect(void **state)
{
	struct fw_events_options o = defaults("hello.sock");
	struct fw_events *srv = start(&o);
	struct tc c;
	json_t *h;

	(void)state;
	tc_open(&c, o.path);
	h = tc_next(srv, &c);
	assert_non_null(h);
	assert_string_equal(event_of(h), "hello");
	assert_int_equal(json_integer_value(json_object_get(h, "protocol")), FW_EVENTS_PROTOCOL);
	assert_int_equal(json_integer_value(json_object_get(h, "protocol")), 1);
	assert_int_equal(seq_of(h), 0);
	assert_true(is_rfc3339_ms(json_string_value(json_object_get(h, "ts"))));
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "camera"), "device")),
			    "/dev/video0");
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "models"), "embedder")),
			    "mobilefacenet");
	assert_int_equal(json_integer_value(json_object_get(h, "gallery_size")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(h, "present"), 0)), "alice");
	json_decref(h);
	tc_close(&c);

	/* hello's seq is the last event published: the next one is seq + 1 */
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "alice", "state", "present");
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "anyone", "state", "present");
	tc_open(&c, o.path);
	h = tc_next(srv, &c);
	assert_int_equal(seq_of(h), 2);
	json_decref(h);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "alice", "state", "away");
	h = tc_next(srv, &c);
	assert_int_equal(seq_of(h), 3);
	json_decref(h);
	tc_close(&c);
	fw_events_destroy(srv);
}

/* Two clients see the same events, in order, under the same seq numbers. */
static void test_events_ordered_same_seq(void **state)
{
	struct fw_events_options o = defaults("order.sock");
	struct fw_events *srv = start(&o);
	struct fw_events_stats st;
	struct tc a, b;
	long long first;
	json_t *e;

	(void)state;
	tc_open(&a, o.path);
	tc_open(&b, o.path);
	expect_hello(srv, &a);
	expect_hello(srv, &b);

	/* not v1 events: refused, seq untouched */
	assert_int_equal(fw_events_publish_new(srv, json_pack("{ss}", "event", "nonsense")), FW_EINVAL);
	assert_int_equal(fw_events_publish_new(srv, json_pack("{si}", "track", 1)), FW_EINVAL);
	assert_int_equal(fw_events_publish_new(srv, json_pack("[i]", 1)), FW_EINVAL);
	assert_int_equal(fw_events_publish_new(srv, NULL), FW_ENOMEM);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.seq, 0);

	for (int i = 0; i < 100; i++) {
		switch (i % 5) {
		case 0:
			publish(srv, "{ss si s[iiii] sf}", "event", "face_appeared", "track", i,
				"box", 10, 20, 30 + i, 40, "score", 0.5);
			break;
		case 1:
			publish(srv, "{ss si ss sf}", "event", "face_identified", "track", i,
				"identity", "alice", "similarity", 0.75);
			break;
		case 2:
			publish(srv, "{ss si sn sf}", "event", "face_identified", "track", i,
				"identity", "similarity", 0.25);
			break;
		case 3:
			publish(srv, "{ss si ss si}", "event", "face_left", "track", i,
				"identity", "bob", "duration_ms", 1500);
			break;
		case 4:
			publish(srv, "{ss s[] sf}", "event", "frame", "faces", "latency_ms", 7.5);
			break;
		}
	}
	first = 0;
	for (int i = 0; i < 100; i++) {
		if (i % 5 == 4)
			continue; /* frames are opt-in: nobody asked */
		json_t *ea = tc_next(srv, &a), *eb = tc_next(srv, &b);
		assert_non_null(ea);
		assert_non_null(eb);
		assert_int_equal(seq_of(ea), i + 1);
		assert_int_equal(seq_of(eb), seq_of(ea));
		assert_string_equal(event_of(ea), event_of(eb));
		assert_int_equal(json_integer_value(json_object_get(ea, "track")), i);
		assert_true(is_rfc3339_ms(json_string_value(json_object_get(ea, "ts"))));
		if (i % 5 == 0) {
			assert_string_equal(event_of(ea), "face_appeared");
			assert_int_equal(json_integer_value(json_array_get(json_object_get(ea, "box"), 2)), 30 + i);
			assert_true(json_real_value(json_object_get(ea, "score")) == 0.5);
		}
		if (i % 5 == 2)
			assert_true(json_is_null(json_object_get(ea, "identity")));
		if (i % 5 == 3)
			assert_int_equal(json_integer_value(json_object_get(ea, "duration_ms")), 1500);
		first = first ? first : seq_of(ea);
		json_decref(ea);
		json_decref(eb);
	}
	assert_int_equal(first, 1);
	/* nothing else is waiting: the next line is the answer */
	e = tc_request(srv, &a, "{\"request\":\"status\"}\n");
	assert_true(ok_of(e));
	json_decref(e);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.seq, 100);
	tc_close(&a);
	tc_close(&b);
	fw_events_destroy(srv);
}

/* The event names before the answer to a status request. */
static int events_until_answer(struct fw_events *srv, struct tc *c, const char **names, int max)
{
	static const char *const known[] = {
		"face_appeared", "face_identified", "face_left", "presence", "frame", "status",
	};
	int n = 0;
	json_t *j;

	tc_send(c, "{\"request\":\"status\",\"id\":\"end\"}\n");
	while ((j = tc_next(srv, c)) && !json_object_get(j, "ok")) {
		assert_true(n < max);
		names[n] = "other";
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			if (!strcmp(event_of(j), known[i]))
				names[n] = known[i];
		n++;
		json_decref(j);
	}
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "end");
	json_decref(j);
	return n;
}

static void publish_mix(struct fw_events *srv)
{
	publish(srv, "{ss si s[iiii] sf}", "event", "face_appeared", "track", 1, "box", 1, 2, 3, 4,
		"score", 0.9);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "alice", "state", "present");
	publish(srv, "{ss si ss sf}", "event", "face_identified", "track", 1, "identity", "alice",
		"similarity", 0.8);
	publish(srv, "{ss s[{si s[iiii]}] sf}", "event", "frame", "faces", "track", 1,
		"box", 1, 2, 3, 4, "latency_ms", 6.0);
	publish(srv, "{ss sf si sf sf sf}", "event", "status", "fps", 30.0, "drops", 0, "cpu", 2.0,
		"latency_p50_ms", 4.0, "latency_p99_ms", 9.0);
}

static void test_subscribe_filters(void **state)
{
	struct fw_events_options o = defaults("subscribe.sock");
	struct fw_events *srv = start(&o);
	struct tc a, b, c;
	const char *got[16];
	json_t *r;

	(void)state;
	tc_open(&a, o.path);
	tc_open(&b, o.path);
	tc_open(&c, o.path);
	expect_hello(srv, &a);
	expect_hello(srv, &b);
	expect_hello(srv, &c);

	r = tc_request(srv, &a, "{\"request\":\"subscribe\",\"events\":[\"presence\",\"face_identified\"],\"id\":7}\n");
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	json_decref(r);
	r = tc_request(srv, &b, "{\"request\":\"subscribe\",\"events\":[\"frame\"]}\n");
	assert_true(ok_of(r));
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "events"), 0)), "frame");
	json_decref(r);

	/* mistakes are answered and change nothing */
	r = tc_request(srv, &a, "{\"request\":\"subscribe\",\"events\":[\"presense\"]}\n");
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "unknown event \"presense\""));
	json_decref(r);
	r = tc_request(srv, &a, "{\"request\":\"subscribe\",\"events\":\"presence\"}\n");
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "must be a list"));
	json_decref(r);

	publish_mix(srv);
	assert_int_equal(events_until_answer(srv, &a, got, 16), 2);
	assert_string_equal(got[0], "presence");
	assert_string_equal(got[1], "face_identified");
	assert_int_equal(events_until_answer(srv, &b, got, 16), 1);
	assert_string_equal(got[0], "frame");
	assert_int_equal(events_until_answer(srv, &c, got, 16), 4); /* everything but frame */
	assert_string_equal(got[0], "face_appeared");
	assert_string_equal(got[3], "status");

	/* subscribe without a list: back to the default; [] : nothing at all */
	r = tc_request(srv, &a, "{\"request\":\"subscribe\"}\n");
	/* the default: every v1 event but the opt-in frame (attention included) */
	assert_int_equal(json_array_size(json_object_get(r, "events")), 7);
	json_decref(r);
	r = tc_request(srv, &b, "{\"request\":\"subscribe\",\"events\":[]}\n");
	assert_true(ok_of(r));
	json_decref(r);
	publish_mix(srv);
	assert_int_equal(events_until_answer(srv, &a, got, 16), 4);
	assert_int_equal(events_until_answer(srv, &b, got, 16), 0);

	tc_close(&a);
	tc_close(&b);
	tc_close(&c);
	fw_events_destroy(srv);
}

static void test_malformed_requests_keep_connection(void **state)
{
	struct fw_events_options o = defaults("malformed.sock");
	struct fw_events *srv = start(&o);
	struct tc c;
	json_t *r;

	(void)state;
	tc_open(&c, o.path);
	expect_hello(srv, &c);

	r = tc_request(srv, &c, "{not json\n");
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "malformed JSON"));
	json_decref(r);
	r = tc_request(srv, &c, "{\"request\":\"status\",\"bad\":\"\xff\xfe\"}\n"); /* not UTF-8 */
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "malformed JSON"));
	json_decref(r);
	r = tc_request(srv, &c, "[1,2]\n");
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "must be a JSON object"));
	json_decref(r);
	r = tc_request(srv, &c, "{\"id\":3}\n");
	assert_false(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	assert_non_null(strstr(error_of(r), "missing \"request\""));
	json_decref(r);
	r = tc_request(srv, &c, "{\"request\":\"enrol\",\"id\":\"x\"}\n");
	assert_false(ok_of(r));
	assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
	assert_string_equal(error_of(r), "unknown request \"enrol\"");
	json_decref(r);

	/* a long non-ASCII name, cut inside a UTF-8 sequence in the message:
	 * the answer is still valid JSON with the message */
	{
		char line[256] = "{\"request\":\"a";
		for (int i = 0; i < 40; i++)
			strcat(line, "\xc3\xa9"); /* é */
		strcat(line, "\"}\n");
		r = tc_request(srv, &c, line);
		assert_false(ok_of(r));
		/* 31 whole é, then the first byte of the 32nd, repaired */
		assert_non_null(strstr(error_of(r), "unknown request \"a\xc3\xa9"));
		assert_non_null(strstr(error_of(r), "\xc3\xa9?\""));
		json_decref(r);
	}

	/* blank lines are not requests: the next answer is the status */
	tc_send(&c, "\n\r\n   \n");
	r = tc_request(srv, &c, "{\"request\":\"status\",\"id\":1}\r\n");
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	assert_true(json_real_value(json_object_get(r, "fps")) == 29.5);
	assert_non_null(json_object_get(r, "latency_p99_ms"));
	json_decref(r);
	r = tc_request(srv, &c, "{\"request\":\"list\"}\n");
	assert_true(ok_of(r));
	assert_int_equal(json_array_size(json_object_get(r, "identities")), 2);
	json_decref(r);
	tc_close(&c);
	fw_events_destroy(srv);
}

static void test_partial_lines_assembled(void **state)
{
	struct fw_events_options o = defaults("partial.sock");
	struct fw_events *srv = start(&o);
	struct tc c;
	json_t *r;

	(void)state;
	tc_open(&c, o.path);
	expect_hello(srv, &c);
	tc_send(&c, "{\"request\":");
	pump(srv);
	tc_send(&c, "\"status\",\"i");
	pump(srv);
	assert_false(tc_fill(&c)); /* no answer to half a request */
	r = tc_request(srv, &c, "d\":42}\n");
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 42);
	json_decref(r);

	/* two requests in one write: two answers, in order */
	tc_send(&c, "{\"request\":\"status\",\"id\":1}\n{\"request\":\"list\",\"id\":2}\n");
	r = tc_next(srv, &c);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	json_decref(r);
	r = tc_next(srv, &c);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	tc_close(&c);
	fw_events_destroy(srv);
}

static void test_oversized_line_closes_only_that_client(void **state)
{
	struct fw_events_options o = defaults("oversize.sock");
	struct fw_events *srv = start(&o);
	struct fw_events_stats st;
	struct tc a, b;
	char *big;
	json_t *r;

	(void)state;
	tc_open(&a, o.path);
	tc_open(&b, o.path);
	expect_hello(srv, &a);
	expect_hello(srv, &b);

	big = malloc(70000 + 1);
	memset(big, 'x', 70000);
	big[70000] = 0;
	tc_send(&a, "{\"request\":\"status\",\"pad\":\""); /* never finished */
	tc_send(&a, big);
	free(big);
	r = tc_next(srv, &a);
	assert_non_null(r);
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "longer than 65536 bytes"));
	json_decref(r);
	assert_null(tc_next(srv, &a)); /* then closed */
	assert_true(logged(FW_LOG_WARN, "request line longer than 65536"));

	publish(srv, "{ss ss ss}", "event", "presence", "identity", "bob", "state", "present");
	r = tc_next(srv, &b);
	assert_string_equal(event_of(r), "presence");
	json_decref(r);
	r = tc_request(srv, &b, "{\"request\":\"status\"}\n");
	assert_true(ok_of(r));
	json_decref(r);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.dropped_oversize, 1);
	assert_int_equal(st.clients, 1);
	tc_close(&a);
	tc_close(&b);
	fw_events_destroy(srv);

	/* the limit is configurable and exact: max_line bytes pass, one more does not */
	o = defaults("maxline.sock");
	o.max_line = 100;
	srv = start(&o);
	{
		char line[160];
		const char *req = "{\"request\":\"status\"}";
		size_t n = strlen(req);

		tc_open(&a, o.path);
		expect_hello(srv, &a);
		memcpy(line, req, n);
		memset(line + n, ' ', 100 - n); /* JSON allows trailing spaces */
		strcpy(line + 100, "\n");
		r = tc_request(srv, &a, line);
		assert_true(ok_of(r));
		json_decref(r);
		memset(line + n, ' ', 101 - n);
		strcpy(line + 101, "\n");
		r = tc_request(srv, &a, line);
		assert_false(ok_of(r));
		assert_non_null(strstr(error_of(r), "longer than 100 bytes"));
		json_decref(r);
		assert_null(tc_next(srv, &a));
		tc_close(&a);
	}
	fw_events_destroy(srv);
}

static bool fd_limit_at_least(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max < need)
		return false;
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void test_200_clients_come_and_go(void **state)
{
	struct fw_events_options o = defaults("many.sock");
	struct fw_events *srv = start(&o);
	enum { N = 200 };
	struct tc *c = calloc(N, sizeof *c);

	(void)state;
	for (int i = 0; i < N; i++)
		tc_open(&c[i], o.path);
	for (int i = 0; i < N; i++)
		expect_hello(srv, &c[i]);
	assert_int_equal(nclients(srv), N);
	for (int i = 0; i < N; i++)
		tc_close(&c[i]);
	for (int k = 0; k < 100 && nclients(srv) > 0; k++)
		fw_events_dispatch(srv, 10);
	assert_int_equal(nclients(srv), 0);
	free(c);
	fw_events_destroy(srv);
}

/* 1000 at once (twice the fds in this process: both ends are here). */
static void test_1000_clients_at_once(void **state)
{
	struct fw_events_options o = defaults("thousand.sock");
	struct fw_events *srv;
	enum { N = 1000 };
	struct tc *c;

	(void)state;
	if (!fd_limit_at_least(2 * N + 200)) {
		print_message("skipped: RLIMIT_NOFILE too low for %d connections in one process\n", N);
		skip();
	}
	srv = start(&o);
	c = calloc(N, sizeof *c);
	for (int i = 0; i < N; i++)
		tc_open(&c[i], o.path);
	for (int i = 0; i < N; i++)
		expect_hello(srv, &c[i]);
	assert_int_equal(nclients(srv), N);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "anyone", "state", "present");
	for (int i = 0; i < N; i++) {
		json_t *e = tc_next(srv, &c[i]);
		assert_int_equal(seq_of(e), 1);
		json_decref(e);
		tc_close(&c[i]);
	}
	for (int k = 0; k < 100 && nclients(srv) > 0; k++)
		fw_events_dispatch(srv, 10);
	assert_int_equal(nclients(srv), 0);
	free(c);
	fw_events_destroy(srv);
}

static void test_max_clients(void **state)
{
	struct fw_events_options o = defaults("max.sock");
	struct fw_events *srv;
	struct fw_events_stats st;
	struct tc c[4];
	json_t *r;

	(void)state;
	o.max_clients = 3;
	srv = start(&o);
	for (int i = 0; i < 3; i++) {
		tc_open(&c[i], o.path);
		expect_hello(srv, &c[i]);
	}
	tc_open(&c[3], o.path);
	r = tc_next(srv, &c[3]);
	assert_false(ok_of(r));
	assert_non_null(strstr(error_of(r), "too many clients"));
	json_decref(r);
	assert_null(tc_next(srv, &c[3]));
	tc_close(&c[3]);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.refused, 1);

	tc_close(&c[0]);
	for (int k = 0; k < 100 && nclients(srv) > 2; k++)
		fw_events_dispatch(srv, 10);
	tc_open(&c[0], o.path);
	expect_hello(srv, &c[0]);
	for (int i = 0; i < 3; i++)
		tc_close(&c[i]);
	fw_events_destroy(srv);
}

/* A client that never reads is dropped when its queue fills; a reader gets
 * every event; no publish call waits for anyone. */
static void test_slow_client_dropped_publisher_never_blocks(void **state)
{
	struct fw_events_options o = defaults("slow.sock");
	struct fw_events *srv;
	struct fw_events_stats st;
	struct tc slow, reader;
	enum { N = 3000 };
	char pad[1001];
	double worst = 0, total = 0, worst_cpu = 0;
	long long expect = 1;
	int slow_lines = 0;
	json_t *e;

	(void)state;
	o.max_queue_bytes = 64 * 1024;
	srv = start(&o);
	tc_open(&slow, o.path);
	tc_open(&reader, o.path);
	expect_hello(srv, &slow);
	expect_hello(srv, &reader);
	memset(pad, 'p', 1000);
	pad[1000] = 0;

	for (int i = 0; i < N; i++) {
		double t0 = now_ms(), c0 = cpu_ms();
		publish(srv, "{ss si s[iiii] sf ss}", "event", "face_appeared", "track", i,
			"box", 1, 2, 3, 4, "score", 0.9, "pad", pad);
		double dt = now_ms() - t0, dc = cpu_ms() - c0;
		worst_cpu = dc > worst_cpu ? dc : worst_cpu;
		worst = dt > worst ? dt : worst;
		total += dt;
		/* the main loop goes on; the reader reads */
		fw_events_dispatch(srv, 0);
		tc_fill(&reader);
		while ((e = tc_take(&reader))) {
			assert_int_equal(seq_of(e), expect);
			expect++;
			json_decref(e);
		}
	}
	while (expect <= N) {
		e = tc_next(srv, &reader);
		assert_non_null(e);
		assert_int_equal(seq_of(e), expect);
		expect++;
		json_decref(e);
	}
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.dropped_slow, 1);
	assert_int_equal(st.clients, 1);
	assert_true(logged(FW_LOG_WARN, "disconnected: not reading"));

	/* the slow client finds what was sent before the drop, in order, then EOF */
	while ((e = tc_next(srv, &slow))) {
		assert_int_equal(seq_of(e), slow_lines + 1);
		slow_lines++;
		json_decref(e);
	}
	assert_true(slow_lines > 0 && slow_lines < N);
	print_message("publish: %d events of ~1 KB to 2 clients: wall worst %.3f ms, mean %.4f ms; "
		      "CPU worst %.3f ms; slow client dropped after %d events\n",
		      N, worst, total / N, worst_cpu, slow_lines);
	/* Generous: a publish that waited for the slow client would never
	 * return at all; this only guards against pathological slowness. */
	assert_true(worst < 1000.0);
	tc_close(&slow);
	tc_close(&reader);
	fw_events_destroy(srv);
}

/* Clients that go away with data in flight: no SIGPIPE, cleaned up. */
static void test_disconnect_mid_stream(void **state)
{
	struct fw_events_options o = defaults("gone.sock");
	struct fw_events *srv;
	struct tc a, b, c, d;
	void (*old)(int) = signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	char pad[1001];
	json_t *e;

	(void)state;
	srv = start(&o);
	memset(pad, 'q', 1000);
	pad[1000] = 0;
	tc_open(&a, o.path);
	tc_open(&b, o.path);
	tc_open(&c, o.path);
	tc_open(&d, o.path);
	expect_hello(srv, &a);
	expect_hello(srv, &b);
	expect_hello(srv, &c);
	expect_hello(srv, &d);
	e = tc_request(srv, &b, "{\"request\":\"subscribe\",\"events\":[\"presence\"]}\n");
	json_decref(e);

	/* a: a backlog in the kernel and in its queue, then gone */
	for (int i = 0; i < 250; i++)
		publish(srv, "{ss si ss}", "event", "face_left", "track", i, "pad", pad);
	tc_close(&a);
	/* b: gone with nothing pending; the next send to it hits EPIPE at once */
	tc_close(&b);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "bob", "state", "away");
	/* c: gone halfway through a request line */
	tc_send(&c, "{\"request\":\"sta");
	tc_close(&c);
	for (int i = 0; i < 50; i++) {
		publish(srv, "{ss si ss}", "event", "face_left", "track", i, "pad", pad);
		fw_events_dispatch(srv, 0);
	}
	for (int k = 0; k < 100 && nclients(srv) > 1; k++)
		fw_events_dispatch(srv, 10);
	assert_int_equal(nclients(srv), 1);
	/* d never noticed */
	for (int i = 1; i <= 301; i++) {
		e = tc_next(srv, &d);
		assert_int_equal(seq_of(e), i);
		json_decref(e);
	}
	e = tc_request(srv, &d, "{\"request\":\"status\"}\n");
	assert_true(ok_of(e));
	json_decref(e);
	tc_close(&d);
	fw_events_destroy(srv);
	signal(SIGPIPE, old);
}

/* A child forked by the daemon (before it execs something) holds copies of
 * every socket. A client that leaves meanwhile must still leave the
 * server's epoll set: a stale entry would fire later for a reused fd with a
 * freed client (found as a flaky failure of the peer tests, which fork). */
static void test_forked_child_holds_sockets(void **state)
{
	struct fw_events_options o = defaults("fork.sock");
	struct fw_events *srv = start(&o);
	struct tc a, b;
	int gate[2], status;
	pid_t pid;
	json_t *r;

	(void)state;
	tc_open(&a, o.path);
	expect_hello(srv, &a);
	assert_int_equal(pipe(gate), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char x;
		close(gate[1]);
		close(a.fd); /* the client's end is not the daemon's to hold */
		_exit(read(gate[0], &x, 1) < 0); /* wait until the parent is done */
	}
	close(gate[0]);
	tc_close(&a);
	for (int k = 0; k < 100 && nclients(srv) > 0; k++)
		fw_events_dispatch(srv, 10);
	assert_int_equal(nclients(srv), 0);
	tc_open(&b, o.path); /* the server's end likely gets a's old fd number */
	expect_hello(srv, &b);
	pump(srv);
	r = tc_request(srv, &b, "{\"request\":\"status\"}\n");
	assert_true(ok_of(r));
	json_decref(r);
	assert_int_equal(nclients(srv), 1);
	close(gate[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	tc_close(&b);
	fw_events_destroy(srv);
}

/* `echo '{"request":"subscribe",...}' | socat - UNIX-CONNECT:...` closes its
 * sending side at once and keeps reading. */
static void test_half_closed_client_keeps_receiving(void **state)
{
	struct fw_events_options o = defaults("half.sock");
	struct fw_events *srv = start(&o);
	struct tc c;
	json_t *e;

	(void)state;
	tc_open(&c, o.path);
	/* the last line may lack its '\n' when the client shuts down after it */
	tc_send(&c, "{\"request\":\"subscribe\",\"events\":[\"presence\"]}");
	assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
	expect_hello(srv, &c);
	e = tc_next(srv, &c);
	assert_true(ok_of(e));
	json_decref(e);
	pump(srv);
	assert_int_equal(nclients(srv), 1);
	publish(srv, "{ss si}", "event", "face_left", "track", 1);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "alice", "state", "away");
	e = tc_next(srv, &c);
	assert_string_equal(event_of(e), "presence");
	assert_int_equal(seq_of(e), 2);
	json_decref(e);
	tc_close(&c);
	for (int k = 0; k < 100 && nclients(srv) > 0; k++)
		fw_events_dispatch(srv, 10);
	assert_int_equal(nclients(srv), 0);
	fw_events_destroy(srv);
}

static void test_rate_limit(void **state)
{
	struct fw_events_options o = defaults("rate.sock");
	struct fw_events *srv;
	struct fw_events_stats st;
	struct tc c;
	char burst[1024] = "";
	json_t *r;

	(void)state;
	o.requests_per_sec = 1;
	o.request_burst = 5;
	srv = start(&o);
	tc_open(&c, o.path);
	expect_hello(srv, &c);
	for (int i = 0; i < 10; i++)
		snprintf(burst + strlen(burst), sizeof burst - strlen(burst),
			 "{\"request\":\"status\",\"id\":%d}\n", i);
	tc_send(&c, burst);
	for (int i = 0; i < 10; i++) {
		r = tc_next(srv, &c);
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		if (i < 5) {
			assert_true(ok_of(r));
		} else {
			assert_false(ok_of(r));
			assert_non_null(strstr(error_of(r), "rate limit"));
		}
		json_decref(r);
	}
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.rate_limited, 5);
	/* still connected, still receiving */
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "bob", "state", "away");
	r = tc_next(srv, &c);
	assert_string_equal(event_of(r), "presence");
	json_decref(r);
	tc_close(&c);
	fw_events_destroy(srv);
}

static void test_handler_errors_and_later_replies(void **state)
{
	struct fw_events_options o = defaults("later.sock");
	struct fw_events *srv = start(&o);
	struct tc c;
	json_t *r, *fields;

	(void)state;
	assert_int_equal(fw_events_add_request(srv, "status", 0, status_cb, NULL), FW_EINVAL);
	assert_int_equal(fw_events_add_request(srv, "subscribe", 0, status_cb, NULL), FW_EINVAL);
	assert_int_equal(fw_events_add_request(srv, "snapshot", 0, fail_cb, NULL), 0);
	assert_int_equal(fw_events_add_request(srv, "enroll", FW_EVENTS_MUTATING, later_cb, NULL), 0);
	tc_open(&c, o.path);
	expect_hello(srv, &c);

	r = tc_request(srv, &c, "{\"request\":\"snapshot\"}\n");
	assert_false(ok_of(r));
	assert_string_equal(error_of(r), fw_strerror(FW_ENOFACE));
	json_decref(r);
	r = tc_request(srv, &c, "{\"request\":\"snapshot\",\"explain\":true}\n");
	assert_string_equal(error_of(r), "no face in /tmp/x.jpg: try a closer photo");
	json_decref(r);

	/* answered later: nothing now, the answer (with its id) when done */
	tc_send(&c, "{\"request\":\"enroll\",\"identity\":\"bob\",\"id\":5}\n");
	pump(srv);
	assert_true(later_client > 0);
	publish(srv, "{ss ss ss}", "event", "presence", "identity", "alice", "state", "away");
	r = tc_next(srv, &c);
	assert_string_equal(event_of(r), "presence"); /* events flow meanwhile */
	json_decref(r);
	fields = json_pack("{ss}", "identity", "bob");
	assert_int_equal(fw_events_reply(srv, later_client, later_id, 0, fields), 0);
	r = tc_next(srv, &c);
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	assert_string_equal(json_string_value(json_object_get(r, "identity")), "bob");
	json_decref(r);
	tc_close(&c);
	for (int k = 0; k < 100 && nclients(srv) > 0; k++)
		fw_events_dispatch(srv, 10);
	/* the client has gone: not an error worth more than a code */
	assert_int_equal(fw_events_reply(srv, later_client, later_id, 0, fields), -ENOTCONN);
	json_decref(fields);
	json_decref(later_id);
	later_id = NULL;
	fw_events_destroy(srv);
}

/* ---- peers: who may change things ------------------------------------------ */

/* In a forked child: become nobody (with `group` as a supplementary group
 * when non-zero), connect, try a mutating request and a read-only one.
 * Exit codes say which step failed (no cmocka in the child). */
static int child_peer(const char *path, gid_t group, bool expect_allowed)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	char buf[8192];
	size_t len = 0;
	json_t *j;
	int fd;

	if (group ? setgroups(1, &group) : setgroups(0, NULL))
		return 10;
	if (setgid(NOBODY) || setuid(NOBODY) || getuid() != NOBODY || geteuid() != NOBODY)
		return 11;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa))
		return 12;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	const char *reqs[] = {
		"{\"request\":\"forget\",\"identity\":\"alice\",\"id\":1}\n",
		"{\"request\":\"status\",\"id\":2}\n",
	};
	/* hello, then one answer per request */
	for (int step = 0; step < 3; step++) {
		char *nl;
		if (step > 0 && send(fd, reqs[step - 1], strlen(reqs[step - 1]), MSG_NOSIGNAL) < 0)
			return 13;
		while (!(nl = memchr(buf, '\n', len))) {
			ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
			if (n <= 0)
				return 14;
			len += (size_t)n;
		}
		j = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len);
		if (!j)
			return 15;
		if (step == 1) {
			if (ok_of(j) != expect_allowed)
				return 16;
			if (!expect_allowed && strncmp(error_of(j), "permission denied: ", 19))
				return 17;
			fprintf(stderr, "child (uid %d): forget -> %s\n", NOBODY,
				ok_of(j) ? "ok" : error_of(j));
		}
		if (step == 2 && !ok_of(j))
			return 18;
		json_decref(j);
	}
	close(fd);
	return 0;
}

static int run_child(struct fw_events *srv, const char *path, gid_t group, bool expect_allowed)
{
	pid_t pid = fork();
	int status = -1;
	double deadline = now_ms() + 20000;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_peer(path, group, expect_allowed));
	while (waitpid(pid, &status, WNOHANG) == 0) {
		fw_events_dispatch(srv, 10);
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("child did not finish");
		}
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static struct fw_events *start_for_nobody(const char *name, gid_t trusted)
{
	struct fw_events_options o = defaults(name);

	/* the child, as nobody:nogroup, must reach the socket: the directory
	 * is traversable and the socket belongs to group nogroup (0660) */
	assert_int_equal(chmod(tmpdir, 0711), 0);
	o.socket_gid = NOBODY;
	o.trusted_gid = trusted;
	return start(&o);
}

static void test_untrusted_peer_refused(void **state)
{
	struct fw_events *srv;
	struct fw_events_stats st;
	struct tc c;
	json_t *r;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to fork a child that becomes uid %d\n", NOBODY);
		skip();
	}
	srv = start_for_nobody("peer.sock", 0);
	forget_calls = 0;
	assert_int_equal(run_child(srv, sock_path("peer.sock"), 0, false), 0);
	assert_int_equal(forget_calls, 0);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.denied, 1);
	assert_true(logged(FW_LOG_INFO, "\"forget\" refused"));

	/* root may */
	tc_open(&c, sock_path("peer.sock"));
	expect_hello(srv, &c);
	r = tc_request(srv, &c, "{\"request\":\"forget\",\"identity\":\"alice\"}\n");
	assert_true(ok_of(r));
	assert_string_equal(json_string_value(json_object_get(r, "forgotten")), "alice");
	json_decref(r);
	assert_int_equal(forget_calls, 1);
	tc_close(&c);
	fw_events_destroy(srv);
}

static void test_trusted_group_member_allowed(void **state)
{
	struct fw_events *srv;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to fork a child that becomes uid %d\n", NOBODY);
		skip();
	}
	srv = start_for_nobody("group.sock", 4242);
	forget_calls = 0;
	/* a supplementary group counts (SO_PEERGROUPS), not just the primary one */
	assert_int_equal(run_child(srv, sock_path("group.sock"), 4242, true), 0);
	assert_int_equal(forget_calls, 1);
	/* and without that group: refused, even though the socket let it in */
	assert_int_equal(run_child(srv, sock_path("group.sock"), 0, false), 0);
	assert_int_equal(forget_calls, 1);
	fw_events_destroy(srv);
}

/* ---- the inference -> main queue ------------------------------------------- */

struct item {
	uint32_t n;
	char pad[60];
};

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void test_queue_drops_and_counts(void **state)
{
	struct fw_events_queue *q;
	struct fw_events_queue_stats st;
	struct item it = { 0 }, got;

	(void)state;
	assert_int_equal(fw_events_queue_create(&q, 0, 8), FW_EINVAL);
	assert_int_equal(fw_events_queue_create(&q, 4, 0), FW_EINVAL);
	assert_int_equal(fw_events_queue_create(&q, 4, sizeof it), 0);
	assert_false(readable(fw_events_queue_fd(q)));
	assert_int_equal(fw_events_queue_pop(q, &got), 0);
	for (uint32_t i = 0; i < 10; i++) {
		it.n = i;
		assert_int_equal(fw_events_queue_push(q, &it), i < 4 ? 0 : -EAGAIN);
	}
	assert_true(readable(fw_events_queue_fd(q)));
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(fw_events_queue_pop(q, &got), 1);
		assert_int_equal(got.n, i); /* the oldest kept, in order */
	}
	assert_int_equal(fw_events_queue_pop(q, &got), 0);
	assert_false(readable(fw_events_queue_fd(q))); /* drained: quiet */
	fw_events_queue_get_stats(q, &st);
	assert_int_equal(st.pushed, 4);
	assert_int_equal(st.dropped, 6);
	assert_int_equal(st.popped, 4);
	assert_int_equal(st.high, 4);
	it.n = 99;
	assert_int_equal(fw_events_queue_push(q, &it), 0);
	assert_true(readable(fw_events_queue_fd(q)));
	assert_int_equal(fw_events_queue_pop(q, &got), 1);
	assert_int_equal(got.n, 99);
	fw_events_queue_destroy(q);
}

struct producer {
	struct fw_events_queue *q;
	uint32_t n;
	uint64_t refused;
	double worst_ms;
	volatile int done;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct item it = { 0 };

	for (uint32_t i = 0; i < p->n; i++) {
		double t0 = now_ms();
		it.n = i;
		if (fw_events_queue_push(p->q, &it) < 0)
			p->refused++;
		double dt = now_ms() - t0;
		p->worst_ms = dt > p->worst_ms ? dt : p->worst_ms;
	}
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* An inference thread pushing flat out while the main loop drains on the
 * eventfd, slowly: pushes never wait, what is refused is counted, what
 * arrives is in order, and no record is stranded. */
static void test_queue_threads(void **state)
{
	struct producer p = { .n = 200000 };
	struct fw_events_queue_stats st;
	struct item got;
	pthread_t t;
	uint64_t received = 0;
	int64_t last = -1;

	(void)state;
	assert_int_equal(fw_events_queue_create(&p.q, 64, sizeof(struct item)), 0);
	assert_int_equal(pthread_create(&t, NULL, producer_main, &p), 0);
	for (;;) {
		struct pollfd pf = { .fd = fw_events_queue_fd(p.q), .events = POLLIN };
		int done = __atomic_load_n(&p.done, __ATOMIC_ACQUIRE);
		poll(&pf, 1, done ? 0 : 100);
		while (fw_events_queue_pop(p.q, &got) == 1) {
			assert_true((int64_t)got.n > last);
			last = got.n;
			received++;
			if (received % 1000 == 0)
				usleep(200); /* a busy main loop */
		}
		if (done && !readable(fw_events_queue_fd(p.q)))
			break;
	}
	pthread_join(t, NULL);
	assert_int_equal(fw_events_queue_pop(p.q, &got), 0);
	fw_events_queue_get_stats(p.q, &st);
	assert_int_equal(st.pushed + st.dropped, p.n);
	assert_int_equal(st.dropped, p.refused);
	assert_int_equal(st.popped, received);
	assert_int_equal(st.pushed, received);
	assert_true(st.high <= 64);
	print_message("queue: %u pushes, %llu delivered, %llu dropped, worst push %.3f ms\n",
		      p.n, (unsigned long long)received, (unsigned long long)st.dropped, p.worst_ms);
	fw_events_queue_destroy(p.q);
}

/* ---- fixture --------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/fw-events-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	fw_log_set_sink(log_sink, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	fw_log_set_sink(NULL, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_file_mode),
		cmocka_unit_test(test_socket_file_refuses_to_clobber),
		cmocka_unit_test(test_adopt_listen_fd),
		cmocka_unit_test(test_hello_on_connect),
		cmocka_unit_test(test_events_ordered_same_seq),
		cmocka_unit_test(test_subscribe_filters),
		cmocka_unit_test(test_malformed_requests_keep_connection),
		cmocka_unit_test(test_partial_lines_assembled),
		cmocka_unit_test(test_oversized_line_closes_only_that_client),
		cmocka_unit_test(test_200_clients_come_and_go),
		cmocka_unit_test(test_1000_clients_at_once),
		cmocka_unit_test(test_max_clients),
		cmocka_unit_test(test_slow_client_dropped_publisher_never_blocks),
		cmocka_unit_test(test_disconnect_mid_stream),
		cmocka_unit_test(test_forked_child_holds_sockets),
		cmocka_unit_test(test_half_closed_client_keeps_receiving),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_handler_errors_and_later_replies),
		cmocka_unit_test(test_untrusted_peer_refused),
		cmocka_unit_test(test_trusted_group_member_allowed),
		cmocka_unit_test(test_queue_drops_and_counts),
		cmocka_unit_test(test_queue_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
