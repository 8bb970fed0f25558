/* facectl status and facectl watch: clients of facewatchd's event socket
 * (protocol v1, docs/protocol.md).
 *
 *   facectl status [--socket PATH] [--json]
 *   facectl watch [--socket PATH] [--events a,b,...] [--json] [--exec CMD] [--reconnect]
 *
 * watch is one poll() loop over the socket, a self-pipe written by the
 * SIGINT, SIGTERM and SIGCHLD handlers and, with --reconnect, an inotify
 * watch on the socket's folder (so a restarted daemon is found the moment
 * its socket appears, not at the next backoff tick). Not a signalfd: a
 * signalfd needs the signals blocked in every thread, and OpenBLAS (linked
 * into facectl) starts its threads before main() runs; a SIGTERM delivered
 * to one of them would kill watch outright.
 *
 * --exec runs one command at a time, in event order. While a command runs,
 * watch keeps reading the socket and queues the events in memory: the
 * daemon disconnects a client that stops reading (docs/protocol.md, "Errors
 * and limits"), so a slow command must not stop the reading. Only when
 * WATCH_QUEUE_MAX events wait does watch stop reading; the daemon then
 * drops the connection, and watch says why.
 *
 * Exit status: 0 status answered / watch ended by SIGINT or SIGTERM; 1 no
 * daemon, the daemon went away (without --reconnect) or spoke another
 * protocol; 2 the command line (or the subscription it asks for) is wrong.
 */
#include "daemon/facectl_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/paths.h"

#define LINE_MAX_BYTES (16u << 20) /* longest line taken from the daemon */
#define READ_CHUNK 65536           /* bytes asked of read() at a time */
#define ANSWER_TIMEOUT_MS 5000     /* status: hello and the answer, together */
#define WATCH_QUEUE_MAX 10000      /* events waiting for --exec before reading stops */
#define ENV_MAX 100000             /* longest FACEWATCH_* value: the kernel takes at
				    * most 128 KiB per string, 2 MiB in all */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000
#define BACKOFF_SOCKET_MS 20       /* after the socket appears: the daemon binds, then
				    * listens; a connect in between is refused */
#define SUBSCRIBE_ID "facectl-subscribe"
#define STATUS_ID "facectl-status"

/* ---- the connection ----------------------------------------------------- */

/* Lines as they come off a socket: partial reads are kept until their '\n'
 * arrives; the buffer grows to LINE_MAX_BYTES for a long line. */
struct lines {
	char *buf;
	size_t start;   /* first byte not yet returned */
	size_t len;     /* bytes held */
	size_t cap;
};

static void lines_free(struct lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof *l);
}

/* The next complete line, '\n' (and a '\r' before it) cut off, NUL-terminated
 * in place: 1; 0 when no complete line is held. *line stays valid until the
 * next lines_fill(). */
static int lines_next(struct lines *l, char **line, size_t *n)
{
	char *s = l->buf + l->start, *nl;

	if (l->len == l->start)
		return 0;
	nl = memchr(s, '\n', l->len - l->start);
	if (!nl)
		return 0;
	l->start = (size_t)(nl + 1 - l->buf);
	*nl = 0;
	if (nl > s && nl[-1] == '\r')
		*--nl = 0;
	*line = s;
	*n = (size_t)(nl - s);
	return 1;
}

/* One read() from fd into the buffer: bytes read (> 0), 0 at the end of the
 * stream, -EAGAIN when nothing is there now, -EMSGSIZE for a line longer
 * than LINE_MAX_BYTES, -ENOMEM, or -errno. */
static ssize_t lines_fill(struct lines *l, int fd)
{
	ssize_t r;

	if (l->start) {
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->start = 0;
	}
	if (l->cap - l->len < READ_CHUNK / 4) {
		size_t cap = l->cap ? l->cap * 2 : READ_CHUNK;
		char *b;

		if (l->len >= LINE_MAX_BYTES)
			return -EMSGSIZE;
		b = realloc(l->buf, cap);
		if (!b)
			return -ENOMEM;
		l->buf = b;
		l->cap = cap;
	}
	do
		r = read(fd, l->buf + l->len, l->cap - l->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	l->len += (size_t)r;
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A non-blocking, close-on-exec connection to the socket at path: the fd,
 * or -errno. */
static int connect_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* What a user should read when connecting failed with err. */
static void connect_message(const char *who, const char *path, int err)
{
	switch (-err) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		fprintf(stderr, "%s: no facewatchd on %s: is the service running? "
			"(systemctl status facewatch)\n", who, path);
		break;
	case EACCES:
	case EPERM:
		fprintf(stderr, "%s: %s: permission denied; the socket is for its owner and "
			"group only: ask to be added to its group (ls -l %s)\n", who, path, path);
		break;
	case ENAMETOOLONG:
		fprintf(stderr, "%s: %s: too long for a Unix socket path (%zu bytes at most)\n",
			who, path, sizeof ((struct sockaddr_un *)0)->sun_path - 1);
		break;
	default:
		fprintf(stderr, "%s: cannot connect to facewatchd on %s: %s\n", who, path,
			strerror(-err));
	}
}

/* One request line, whole. The socket is non-blocking; requests are tiny,
 * so waiting for room is rare and short. 0 or -errno. */
static int send_json(int fd, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t len, off = 0;
	int err = 0;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len++] = '\n'; /* json_dumps' NUL becomes the line's end */
	while (off < len) {
		ssize_t w = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, ANSWER_TIMEOUT_MS) == 0) {
				err = -ETIMEDOUT;
				break;
			}
		} else if (errno != EINTR) {
			err = -errno;
			break;
		}
	}
	free(s);
	return err;
}

/* The socket path: --socket, else the daemon's own default (daemon/paths.h). */
static int default_socket(char *buf, size_t len, const char *who)
{
	if (fw_paths_socket(buf, len)) {
		fprintf(stderr, "%s: the default socket path is too long; give --socket PATH\n", who);
		return -1;
	}
	return 0;
}

static const char *str_member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A number member (integer or real): 1 and *v, or 0 when it is missing. */
static int num_member(const json_t *o, const char *key, double *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_number(j))
		return 0;
	*v = json_number_value(j);
	return 1;
}

/* The camera as hello describes it: the daemon sends a name (its source);
 * docs/protocol.md describes an object {device, width, height, fps}. Both
 * are read. */
static void camera_text(const json_t *cam, char *buf, size_t len)
{
	double w, h, fps;

	if (json_is_string(cam)) {
		snprintf(buf, len, "%s", json_string_value(cam));
	} else if (json_is_object(cam)) {
		const char *dev = str_member(cam, "device");
		int n = snprintf(buf, len, "%s", dev ? dev : "?");
		if (n >= 0 && (size_t)n < len && num_member(cam, "width", &w) &&
		    num_member(cam, "height", &h)) {
			int m = snprintf(buf + n, len - (size_t)n, " %.0fx%.0f", w, h);
			if (m >= 0 && (size_t)(n + m) < len && num_member(cam, "fps", &fps))
				snprintf(buf + n + m, len - (size_t)(n + m), " at %g fps", fps);
		}
	} else {
		snprintf(buf, len, "unknown");
	}
}

/* "a, b, c" from hello's "present"; "nobody" (or "someone not enrolled"
 * when anyone_present says a face is there). */
static void present_text(const json_t *hello, char *buf, size_t len)
{
	const json_t *present = json_object_get(hello, "present");
	size_t i, off = 0;
	json_t *v;

	buf[0] = 0;
	json_array_foreach(present, i, v) {
		int n;
		if (!json_is_string(v))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", json_string_value(v));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (!off)
		snprintf(buf, len, "%s",
			 json_is_true(json_object_get(hello, "anyone_present"))
				 ? "someone not enrolled" : "nobody");
}

static int check_protocol(const char *who, const char *path, const json_t *hello)
{
	json_t *p = json_object_get(hello, "protocol");

	if (json_is_integer(p) && json_integer_value(p) == 1)
		return 0;
	if (json_is_integer(p))
		fprintf(stderr, "%s: facewatchd on %s speaks protocol %" JSON_INTEGER_FORMAT
			"; this facectl knows protocol 1 only: install a facectl of the same "
			"version as the daemon\n", who, path, json_integer_value(p));
	else
		fprintf(stderr, "%s: %s: the first line is not a facewatchd hello; is it "
			"facewatchd's socket?\n", who, path);
	return -1;
}

/* ---- facectl status ----------------------------------------------------- */

static void status_usage(FILE *f)
{
	fputs("usage: facectl status [--socket PATH] [--json]\n"
	      "\n"
	      "Asks the running facewatchd how it is doing: camera, frames per second,\n"
	      "dropped frames, CPU, latency, gallery, who is present.\n"
	      "\n"
	      "  --socket PATH  the daemon's socket (default: as facewatchd's:\n"
	      "                 $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR or /run/facewatch,\n"
	      "                 + /facewatch.sock)\n"
	      "  --json         one JSON object: the daemon's answer to the status\n"
	      "                 request (fps, drops, cpu, latency_p50_ms, ...; \"ok\" and\n"
	      "                 \"id\" left out) with the connection's hello as \"hello\"\n"
	      "\n"
	      "Exit status: 0 answered, 1 no daemon or no answer, 2 bad command line.\n",
	      f);
}

static void print_status(const char *path, const json_t *hello, const json_t *st)
{
	char cam[512], present[4096];
	const char *state = str_member(st, "camera"), *kernels = str_member(st, "kernels");
	double v, a, b;

	camera_text(json_object_get(hello, "camera"), cam, sizeof cam);
	present_text(hello, present, sizeof present);
	printf("facewatchd on %s (protocol 1)\n", path);
	printf("camera    %s%s%s%s\n", cam, state ? " (" : "", state ? state : "", state ? ")" : "");
	if (num_member(st, "fps", &v)) {
		printf("fps       %.1f", v);
		if (num_member(st, "drops", &a))
			printf(", %.0f frames dropped", a);
		if (num_member(st, "corrupt", &a) && a > 0)
			printf(", %.0f corrupt", a);
		if (num_member(st, "frames", &a))
			printf(" (%.0f frames since start)", a);
		putchar('\n');
	}
	if (num_member(st, "cpu", &v))
		printf("cpu       %.1f %% of one core%s%s%s\n", v, kernels ? " (" : "",
		       kernels ? kernels : "", kernels ? " kernels)" : "");
	if (num_member(st, "latency_p50_ms", &a) && num_member(st, "latency_p99_ms", &b))
		printf("latency   p50 %.1f ms, p99 %.1f ms (capture to event)\n", a, b);
	if (num_member(st, "gallery_identities", &a)) {
		printf("gallery   %.0f %s", a, a == 1 ? "identity" : "identities");
		if (num_member(st, "gallery_templates", &b))
			printf(", %.0f %s", b, b == 1 ? "template" : "templates");
		putchar('\n');
	} else if (num_member(hello, "gallery", &a) || num_member(hello, "gallery_size", &a)) {
		printf("gallery   %.0f %s\n", a, a == 1 ? "identity" : "identities");
	}
	printf("present   %s\n", present);
	if (num_member(st, "clients", &v))
		printf("clients   %.0f\n", v);
}

int fw_cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *who = "facectl status";
	char path[PATH_MAX];
	struct lines in = { 0 };
	json_t *hello = NULL, *answer = NULL, *req;
	int64_t deadline;
	int json = 0, fd, c, rc = 1, err;

	path[0] = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(path, sizeof path, "%s", optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", who, argv[optind]);
		return 2;
	}
	if (!path[0] && default_socket(path, sizeof path, who))
		return 2;
	fd = connect_socket(path);
	if (fd < 0) {
		connect_message(who, path, fd);
		return 1;
	}
	req = json_pack("{ss ss}", "request", "status", "id", STATUS_ID);
	err = send_json(fd, req);
	json_decref(req);
	/* a daemon that closed at once still sent its hello or an error line:
	 * read what is there before judging */
	deadline = now_ms() + ANSWER_TIMEOUT_MS;
	while (!hello || !answer) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *line;
		size_t n;
		ssize_t r;
		int64_t left = deadline - now_ms();

		while ((!hello || !answer) && lines_next(&in, &line, &n)) {
			json_t *m = json_loadb(line, n, 0, NULL);
			const char *ev = str_member(m, "event");
			if (ev && !strcmp(ev, "hello") && !hello) {
				hello = m;
				continue;
			}
			if (json_object_get(m, "ok") && !json_is_true(json_object_get(m, "ok"))) {
				const char *e = str_member(m, "error");
				fprintf(stderr, "%s: facewatchd on %s: %s\n", who, path, e ? e : "error");
				json_decref(m);
				goto out;
			}
			if (!answer && json_is_true(json_object_get(m, "ok")) &&
			    !strcmp(str_member(m, "id") ? str_member(m, "id") : "", STATUS_ID)) {
				answer = m;
				continue;
			}
			json_decref(m); /* an event: not asked for */
		}
		if (hello && answer)
			break;
		if (left <= 0) {
			fprintf(stderr, "%s: facewatchd on %s did not answer within %d s\n", who, path,
				ANSWER_TIMEOUT_MS / 1000);
			goto out;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			goto out;
		r = lines_fill(&in, fd);
		if (r == -EAGAIN)
			continue;
		if (r <= 0) {
			if (r == 0 || r == -ECONNRESET)
				fprintf(stderr, "%s: facewatchd on %s closed the connection before "
					"answering%s\n", who, path, err ? " (the request could not be sent)" : "");
			else
				fprintf(stderr, "%s: reading from %s: %s\n", who, path, strerror((int)-r));
			goto out;
		}
	}
	if (check_protocol(who, path, hello))
		goto out;
	if (json) {
		json_t *o = json_deep_copy(answer);
		char *s;
		json_object_del(o, "ok");
		json_object_del(o, "id");
		json_object_set(o, "hello", hello);
		s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		print_status(path, hello, answer);
	}
	rc = fflush(stdout) ? 1 : 0;
out:
	json_decref(hello);
	json_decref(answer);
	lines_free(&in);
	close(fd);
	return rc;
}

/* ---- facectl watch: what one event becomes -------------------------------- */

/* "13:37:02" in local time from the event's ts (RFC 3339 UTC), or the ts
 * itself when it is not in that form. */
static void local_time(const json_t *ev, char *buf, size_t len)
{
	const char *ts = str_member(ev, "ts");
	struct tm tm = { 0 }, lt;
	time_t t;

	if (ts && sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t = timegm(&tm);
		if (t != (time_t)-1 && localtime_r(&t, &lt) && strftime(buf, len, "%H:%M:%S", &lt))
			return;
	}
	if (!ts) {
		t = time(NULL);
		if (localtime_r(&t, &lt) && strftime(buf, len, "%H:%M:%S", &lt))
			return;
	}
	snprintf(buf, len, "%s", ts ? ts : "?");
}

static const char *identity_or(const json_t *ev, const char *unknown)
{
	const char *id = str_member(ev, "identity");
	return id ? id : unknown;
}

/* One line for a person to read: "13:37:02 presence alice present". */
static void print_human(const json_t *ev)
{
	const char *name = str_member(ev, "event");
	char when[64];
	double track = 0, a, b, c, d;

	local_time(ev, when, sizeof when);
	num_member(ev, "track", &track);
	printf("%s %s", when, name);
	if (!strcmp(name, "presence")) {
		printf(" %s %s", identity_or(ev, "?"), str_member(ev, "state") ? str_member(ev, "state") : "?");
	} else if (!strcmp(name, "face_appeared")) {
		json_t *box = json_object_get(ev, "box");
		printf(" track %.0f", track);
		if (json_array_size(box) == 4)
			printf(" at %.0f,%.0f %.0fx%.0f", json_number_value(json_array_get(box, 0)),
			       json_number_value(json_array_get(box, 1)),
			       json_number_value(json_array_get(box, 2)),
			       json_number_value(json_array_get(box, 3)));
		if (num_member(ev, "score", &a))
			printf(" (score %.2f)", a);
	} else if (!strcmp(name, "face_identified")) {
		const char *id = str_member(ev, "identity");
		printf(" track %.0f %s", track, id ? id : "unknown");
		if (num_member(ev, "similarity", &a))
			printf(" (%ssimilarity %.2f)", id ? "" : "closest ", a);
	} else if (!strcmp(name, "face_left")) {
		printf(" track %.0f (%s)", track, identity_or(ev, "unknown"));
		if (num_member(ev, "duration_ms", &a))
			printf(" after %.1f s", a / 1000);
	} else if (!strcmp(name, "attention")) {
		/* "attention track 3 alice away (yaw -41, pitch -3)"; no track: the person */
		if (json_object_get(ev, "track"))
			printf(" track %.0f", track);
		printf(" %s %s", identity_or(ev, "unknown"),
		       str_member(ev, "state") ? str_member(ev, "state") : "?");
		if (num_member(ev, "yaw", &a) && num_member(ev, "pitch", &b))
			printf(" (yaw %.0f, pitch %.0f)", a, b);
	} else if (!strcmp(name, "unknown_face")) {
		printf(" track %.0f", track);
		if (num_member(ev, "seen_ms", &a))
			printf(" not recognised for %.1f s", a / 1000);
	} else if (!strcmp(name, "status")) {
		if (num_member(ev, "fps", &a))
			printf(" %.1f fps", a);
		if (num_member(ev, "drops", &a))
			printf(", %.0f dropped", a);
		if (num_member(ev, "cpu", &a))
			printf(", cpu %.1f %%", a);
		if (num_member(ev, "latency_p50_ms", &c) && num_member(ev, "latency_p99_ms", &d))
			printf(", latency p50 %.1f ms p99 %.1f ms", c, d);
	} else if (!strcmp(name, "frame")) {
		printf(" %zu faces", json_array_size(json_object_get(ev, "faces")));
		if (num_member(ev, "latency_ms", &b))
			printf(", latency %.1f ms", b);
	} else if (!strcmp(name, "hello")) {
		char cam[512], present[4096];
		camera_text(json_object_get(ev, "camera"), cam, sizeof cam);
		present_text(ev, present, sizeof present);
		printf(" camera %s; present: %s", cam, present);
	} else {
		/* an event this facectl does not know (protocol v1 may add
		 * some): its members as JSON */
		json_t *rest = json_deep_copy(ev);
		char *s;
		json_object_del(rest, "event");
		json_object_del(rest, "seq");
		json_object_del(rest, "ts");
		s = json_dumps(rest, JSON_COMPACT | JSON_REAL_PRECISION(6));
		if (s)
			printf(" %s", s);
		free(s);
		json_decref(rest);
	}
	putchar('\n');
}

/* Set FACEWATCH_<var> from a member of the event: strings as they are,
 * integers in decimal, reals with %g, null and missing as "". */
static void env_member(const char *var, const json_t *v)
{
	char buf[64];

	if (json_is_string(v))
		setenv(var, json_string_length(v) <= ENV_MAX ? json_string_value(v) : "", 1);
	else if (json_is_integer(v)) {
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		setenv(var, buf, 1);
	} else if (json_is_real(v)) {
		snprintf(buf, sizeof buf, "%g", json_real_value(v));
		setenv(var, buf, 1);
	} else {
		setenv(var, "", 1);
	}
}

/* The environment of an --exec command (documented in watch_usage and
 * docs/protocol.md). Every variable is set, empty when the event has no
 * such member, so a stale value from watch's own environment never leaks
 * into a command. Runs in the forked child. */
static void set_event_env(const json_t *ev, const char *line, size_t len)
{
	const json_t *dur = json_object_get(ev, "duration_ms");

	env_member("FACEWATCH_EVENT", json_object_get(ev, "event"));
	env_member("FACEWATCH_SEQ", json_object_get(ev, "seq"));
	env_member("FACEWATCH_TS", json_object_get(ev, "ts"));
	env_member("FACEWATCH_IDENTITY", json_object_get(ev, "identity"));
	env_member("FACEWATCH_STATE", json_object_get(ev, "state"));
	env_member("FACEWATCH_TRACK", json_object_get(ev, "track"));
	env_member("FACEWATCH_SIMILARITY", json_object_get(ev, "similarity"));
	env_member("FACEWATCH_DURATION_MS", dur ? dur : json_object_get(ev, "seen_ms"));
	setenv("FACEWATCH_JSON", len <= ENV_MAX ? line : "", 1);
}

/* ---- who is present, for FACEWATCH_PRESENT -------------------------------- */

/* watch follows the presence events itself (with --exec it subscribes to
 * them whatever --events says), so a command for any event can ask "is
 * alice at the desk?" without keeping state between runs. present is a
 * JSON array of names, as hello's "present". */
static void present_update(json_t **present, const json_t *ev, const char *name)
{
	const char *who = str_member(ev, "identity"), *state = str_member(ev, "state");
	size_t i;
	json_t *v;

	if (!strcmp(name, "hello")) {
		json_decref(*present);
		*present = json_is_array(json_object_get(ev, "present"))
				   ? json_deep_copy(json_object_get(ev, "present")) : json_array();
		return;
	}
	if (strcmp(name, "presence") || !who || !state || !strcmp(who, "anyone") || !*present)
		return;
	json_array_foreach(*present, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), who)) {
			if (strcmp(state, "present"))
				json_array_remove(*present, i);
			return;
		}
	if (!strcmp(state, "present"))
		json_array_append_new(*present, json_string(who));
}

/* The names, one per line (names cannot hold control characters), for
 * FACEWATCH_PRESENT; malloc'd, NULL when out of memory. */
static char *present_lines(const json_t *present)
{
	size_t i, len = 1;
	json_t *v;
	char *s, *p;

	json_array_foreach(present, i, v)
		len += json_string_length(v) + 1;
	s = p = malloc(len);
	if (!s)
		return NULL;
	*p = 0;
	json_array_foreach(present, i, v) {
		if (p != s)
			*p++ = '\n';
		memcpy(p, json_string_value(v), json_string_length(v));
		p += json_string_length(v);
		*p = 0;
	}
	return s;
}

/* ---- facectl watch: the loop ---------------------------------------------- */

struct pending {
	struct pending *next;
	json_t *ev;
	char *present;   /* FACEWATCH_PRESENT as it was after this event */
	size_t len;      /* of line, without the '\n' */
	char line[];     /* the event's line as the daemon sent it */
};

struct watch_options {
	char socket[PATH_MAX];
	json_t *events;      /* names to subscribe to (array), or NULL: the daemon's default */
	int want_hello;      /* "hello" was named in --events (handled here, not by the daemon) */
	int json;
	const char *exec;
	int reconnect;
};

struct watch {
	struct watch_options o;
	const char *who;

	int fd;              /* the connection, -1 while there is none */
	struct lines in;
	int connected_before;/* a connection has ended: say so when the next one works */
	int waiting_said;    /* "waiting for facewatchd" written for this outage */
	int backoff_ms;
	int64_t retry_at;    /* --reconnect: next attempt (monotonic ms) */

	int sfd;             /* the self-pipe's read end: one byte per signal, its number */
	int ifd, wd;         /* inotify on the socket's folder (--reconnect), -1 when off */
	char sock_dir[PATH_MAX];
	const char *sock_base;

	struct pending *head, **tail;
	unsigned queued;
	json_t *present;     /* names present (hello, then presence events) */
	pid_t child;         /* the command running now, 0 when none */
	char child_event[64];
	json_int_t child_seq;

	int stopping;        /* SIGINT/SIGTERM received (count) */
	int rc;              /* exit status once the loop ends */
	int done;
};

static void watch_usage(FILE *f)
{
	fputs("usage: facectl watch [--socket PATH] [--events a,b,...] [--json] [--exec CMD]\n"
	      "                     [--reconnect]\n"
	      "\n"
	      "Follows facewatchd's events (docs/protocol.md) and prints one line for each:\n"
	      "  13:37:02 presence lin-manuel-miranda present\n"
	      "  13:37:05 face_left track 4 (lin-manuel-miranda) after 6.5 s\n"
	      "\n"
	      "  --socket PATH     the daemon's socket (default: as facewatchd's:\n"
	      "                    $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR or /run/facewatch,\n"
	      "                    + /facewatch.sock)\n"
	      "  --events LIST     only these events, comma-separated: face_appeared,\n"
	      "                    face_identified, face_left, unknown_face, presence,\n"
	      "                    attention, status, frame\n"
	      "                    (frame is never sent unless named), and hello (the\n"
	      "                    daemon's state, once per connection: useful with\n"
	      "                    --reconnect). Default: every event but frame and hello.\n"
	      "  --json            print each event as the daemon sent it: one JSON line\n"
	      "  --exec CMD        run CMD with /bin/sh -c for each event, instead of\n"
	      "                    printing it. Commands run one at a time, in event order:\n"
	      "                    a slow one delays the next, never overlaps it (events\n"
	      "                    that come meanwhile wait in memory). A command that\n"
	      "                    fails is reported on stderr and watching goes on.\n"
	      "                    Its stdin is the event's JSON line; its environment has:\n"
	      "                      FACEWATCH_EVENT        presence, face_left, ...\n"
	      "                      FACEWATCH_SEQ          the event's sequence number\n"
	      "                      FACEWATCH_TS           its time, RFC 3339 UTC\n"
	      "                      FACEWATCH_IDENTITY     the name; \"anyone\" in presence of\n"
	      "                                             any face; empty when unknown\n"
	      "                      FACEWATCH_STATE        present or away (presence)\n"
	      "                      FACEWATCH_TRACK        the face's track number\n"
	      "                      FACEWATCH_SIMILARITY   cosine similarity (face_identified)\n"
	      "                      FACEWATCH_DURATION_MS  how long the track lasted (face_left),\n"
	      "                                             or went unrecognised (unknown_face)\n"
	      "                      FACEWATCH_JSON         the whole event (empty over 100 kB)\n"
	      "                      FACEWATCH_PRESENT      who is present now (after this event),\n"
	      "                                             one name per line; empty: nobody\n"
	      "                    A variable the event has no member for is set but empty.\n"
	      "  --reconnect       when the daemon is not there or goes away, wait for it\n"
	      "                    (backoff 0.25 s to 8 s, and at once when its socket\n"
	      "                    appears) instead of exiting\n"
	      "\n"
	      "Example: lock the screen when alice leaves\n"
	      "  facectl watch --events presence --exec \\\n"
	      "    'case \"$FACEWATCH_IDENTITY $FACEWATCH_STATE\" in \"alice away\") loginctl lock-session;; esac'\n"
	      "\n"
	      "SIGINT or SIGTERM ends watch (status 0) once the running command, if any,\n"
	      "has ended; a second one sends that command SIGTERM. Exit status 1: no daemon,\n"
	      "or it went away (without --reconnect); 2: bad command line or --events.\n",
	      f);
}

/* --events a,b,c -> the names for subscribe, "hello" kept apart. */
static int parse_events(struct watch_options *o, const char *who, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;

	if (!copy)
		return -1;
	json_decref(o->events);
	o->events = json_array();
	o->want_hello = 0;
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(tok, "hello"))
			o->want_hello = 1;
		else
			json_array_append_new(o->events, json_string(tok));
	}
	free(copy);
	if (!o->want_hello && json_array_size(o->events) == 0) {
		fprintf(stderr, "%s: --events needs at least one event name\n", who);
		return -1;
	}
	return 0;
}

/* Is this event one the user asked for? The daemon filters already; this
 * covers the events sent before the subscription took effect. */
static int wanted(const struct watch_options *o, const char *name)
{
	size_t i;
	json_t *v;

	if (!strcmp(name, "hello"))
		return o->want_hello;
	if (!o->events)
		return strcmp(name, "frame") != 0;
	json_array_foreach(o->events, i, v)
		if (!strcmp(json_string_value(v), name))
			return 1;
	return 0;
}

static void queue_clear(struct watch *w)
{
	while (w->head) {
		struct pending *p = w->head;
		w->head = p->next;
		json_decref(p->ev);
		free(p->present);
		free(p);
	}
	w->tail = &w->head;
	w->queued = 0;
}

static void disconnect(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	lines_free(&w->in);
}

/* Start the command for the oldest waiting event. */
static void start_command(struct watch *w)
{
	struct pending *p = w->head;
	int mfd;
	pid_t pid;

	w->head = p->next;
	if (!w->head)
		w->tail = &w->head;
	w->queued--;
	/* stdin: the line in an unlinked memory file, so a command that never
	 * reads its stdin cannot block watch, whatever the line's size */
	mfd = memfd_create("facewatch-event", MFD_CLOEXEC);
	if (mfd < 0 || write(mfd, p->line, p->len + 1) != (ssize_t)(p->len + 1) ||
	    lseek(mfd, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot pass the event to the command: %s\n", w->who, strerror(errno));
		goto done;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: cannot start the command: %s\n", w->who, strerror(errno));
		goto done;
	}
	if (pid == 0) {
		/* the child: single-threaded like its parent, so setenv is safe */
		p->line[p->len] = 0;
		dup2(mfd, STDIN_FILENO);
		set_event_env(p->ev, p->line, p->len);
		setenv("FACEWATCH_PRESENT", p->present ? p->present : "", 1);
		execl("/bin/sh", "sh", "-c", w->o.exec, (char *)NULL);
		fprintf(stderr, "%s: /bin/sh: %s\n", w->who, strerror(errno));
		_exit(127);
	}
	w->child = pid;
	snprintf(w->child_event, sizeof w->child_event, "%s", str_member(p->ev, "event"));
	w->child_seq = json_integer_value(json_object_get(p->ev, "seq"));
done:
	if (mfd >= 0)
		close(mfd);
	json_decref(p->ev);
	free(p->present);
	free(p);
}

static void reap(struct watch *w)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid != w->child)
			continue;
		w->child = 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			fprintf(stderr, "%s: the command exited with status %d (event %s, seq %"
				JSON_INTEGER_FORMAT ")\n", w->who, WEXITSTATUS(st), w->child_event,
				w->child_seq);
		else if (WIFSIGNALED(st))
			fprintf(stderr, "%s: the command was killed by signal %d, %s (event %s, seq %"
				JSON_INTEGER_FORMAT ")\n", w->who, WTERMSIG(st), strsignal(WTERMSIG(st)),
				w->child_event, w->child_seq);
	}
}

/* One event the user wants: printed now, or queued for --exec. */
static void deliver(struct watch *w, json_t *ev, const char *line, size_t len)
{
	struct pending *p;

	if (!w->o.exec) {
		if (w->o.json)
			printf("%s\n", line);
		else
			print_human(ev);
		fflush(stdout);
		return;
	}
	p = malloc(sizeof *p + len + 1);
	if (!p) {
		fprintf(stderr, "%s: out of memory: event seq %" JSON_INTEGER_FORMAT " not run\n",
			w->who, json_integer_value(json_object_get(ev, "seq")));
		return;
	}
	p->next = NULL;
	p->present = w->present ? present_lines(w->present) : NULL;
	p->ev = json_incref(ev);
	p->len = len;
	memcpy(p->line, line, len);
	p->line[len] = '\n';
	*w->tail = p;
	w->tail = &p->next;
	w->queued++;
}

static void handle_line(struct watch *w, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *m;
	const char *ev;

	if (!len)
		return;
	m = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(m)) {
		fprintf(stderr, "%s: facewatchd sent a line that is not a JSON object (%s); "
			"skipped\n", w->who, m ? "not an object" : jerr.text);
		json_decref(m);
		return;
	}
	ev = str_member(m, "event");
	if (ev)
		present_update(&w->present, m, ev);
	if (json_object_get(m, "ok")) {
		const char *id = str_member(m, "id"), *e = str_member(m, "error");
		if (json_is_true(json_object_get(m, "ok"))) {
			/* the subscription's answer: nothing to say */
		} else if (id && !strcmp(id, SUBSCRIBE_ID)) {
			fprintf(stderr, "%s: facewatchd refused --events: %s\n", w->who, e ? e : "error");
			w->rc = 2;
			w->done = 1;
		} else {
			fprintf(stderr, "%s: facewatchd on %s: %s\n", w->who, w->o.socket, e ? e : "error");
		}
	} else if (ev && !strcmp(ev, "hello")) {
		char present[4096];
		if (check_protocol(w->who, w->o.socket, m)) {
			w->rc = 1;
			w->done = 1;
		} else {
			w->backoff_ms = BACKOFF_MIN_MS;
			if (w->connected_before || w->waiting_said) {
				present_text(m, present, sizeof present);
				fprintf(stderr, "%s: connected to facewatchd on %s; present now: %s\n",
					w->who, w->o.socket, present);
			}
			w->waiting_said = 0;
			if (wanted(&w->o, ev))
				deliver(w, m, line, len);
		}
	} else if (ev && wanted(&w->o, ev)) {
		deliver(w, m, line, len);
	}
	json_decref(m);
}

/* Connect and subscribe. 0, or -errno from connect (nothing said yet). */
static int watch_connect(struct watch *w)
{
	json_t *req;
	int fd = connect_socket(w->o.socket), err;

	if (fd < 0)
		return fd;
	w->fd = fd;
	/* sent at once, before the hello is read: the fewer events under the
	 * default subscription, the better (wanted() drops those anyway) */
	if (w->o.events) {
		json_t *sub = json_copy(w->o.events);
		/* --exec: presence too, for FACEWATCH_PRESENT (wanted() keeps
		 * them from the command unless asked for) */
		if (w->o.exec && sub && !wanted(&w->o, "presence"))
			json_array_append_new(sub, json_string("presence"));
		req = json_pack("{ss so ss}", "request", "subscribe", "events", sub, "id",
				SUBSCRIBE_ID);
		err = send_json(fd, req);
		json_decref(req);
		if (err) {
			disconnect(w);
			return err;
		}
	}
	return 0;
}

/* The daemon closed the connection (or it broke, or sent what cannot be
 * read: why is 0 or -errno): say so, then wait for it (--reconnect) or end
 * once the waiting commands have run. */
static void lost(struct watch *w, ssize_t why)
{
	char reason[128];

	int was_full = w->queued >= WATCH_QUEUE_MAX;

	disconnect(w);
	w->connected_before = 1;
	if (w->stopping || w->done)
		return;
	if (why == 0)
		snprintf(reason, sizeof reason, "connection closed");
	else if (why == -EMSGSIZE)
		snprintf(reason, sizeof reason, "it sent a line longer than %u MiB; "
			 "watch closed the connection", LINE_MAX_BYTES >> 20);
	else
		snprintf(reason, sizeof reason, "%s", strerror((int)-why));
	fprintf(stderr, "%s: facewatchd on %s went away (%s)%s%s\n", w->who, w->o.socket, reason,
		was_full ? "; --exec commands were too slow for the events, so watch had "
			   "stopped reading and the daemon dropped it" : "",
		w->o.reconnect ? "; waiting for it to come back" : "");
	w->waiting_said = w->o.reconnect;
	if (w->o.reconnect) {
		w->retry_at = now_ms() + w->backoff_ms;
	} else {
		w->rc = 1;
		if (w->queued)
			fprintf(stderr, "%s: running the %u commands still waiting, then exiting\n",
				w->who, w->queued);
	}
}

static void read_socket(struct watch *w)
{
	/* at most a few reads per wakeup, so signals and children are seen
	 * between bursts */
	for (int i = 0; i < 16 && w->fd >= 0 && !w->done; i++) {
		ssize_t r = lines_fill(&w->in, w->fd);
		char *line;
		size_t n;

		if (r == -EAGAIN)
			return;
		if (r < 0 && r != -ECONNRESET) {
			lost(w, r);
			return;
		}
		while (!w->done && lines_next(&w->in, &line, &n))
			handle_line(w, line, n);
		if (r == 0 || r == -ECONNRESET) {
			lost(w, r);
			return;
		}
	}
}

/* --reconnect: watch the socket's folder so a new socket there is tried at
 * once. The folder may itself come and go (systemd's RuntimeDirectory=):
 * then the watch is set up again at the next attempt. */
static void arm_inotify(struct watch *w)
{
	if (w->ifd < 0 || w->wd >= 0)
		return;
	w->wd = inotify_add_watch(w->ifd, w->sock_dir,
				  IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
}

static void read_inotify(struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(w->ifd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (e->mask & IN_IGNORED)
					w->wd = -1;
			} else if (e->len && !strcmp(e->name, w->sock_base)) {
				/* the socket is (re)made: try now */
				w->retry_at = now_ms();
				w->backoff_ms = BACKOFF_SOCKET_MS;
			}
			p += sizeof *e + e->len;
		}
	}
}

static void try_reconnect(struct watch *w)
{
	int err;

	arm_inotify(w); /* first: a socket made during the attempt is still seen */
	err = watch_connect(w);
	if (!err)
		return;
	if (!w->waiting_said) {
		connect_message(w->who, w->o.socket, err);
		fprintf(stderr, "%s: waiting for facewatchd (--reconnect)\n", w->who);
		w->waiting_said = 1;
	}
	w->retry_at = now_ms() + w->backoff_ms;
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	ssize_t r;

	/* a full pipe loses the byte: harmless, reap() collects every child
	 * and one SIGINT byte already stops watch */
	r = write(sig_pipe[1], &b, 1);
	(void)r;
	errno = saved;
}

static void on_signals(struct watch *w)
{
	unsigned char b;

	while (read(w->sfd, &b, 1) == 1) {
		if (b == SIGCHLD) {
			reap(w);
			continue;
		}
		w->stopping++;
		if (w->stopping == 1) {
			disconnect(w);
			if (w->queued)
				fprintf(stderr, "%s: stopping; %u events waiting for --exec are not run\n",
					w->who, w->queued);
			queue_clear(w);
			if (w->child)
				fprintf(stderr, "%s: waiting for the running command (pid %d) to end; "
					"send the signal again to stop it\n", w->who, (int)w->child);
		} else if (w->child) {
			kill(w->child, w->stopping == 2 ? SIGTERM : SIGKILL);
		}
	}
}

static int watch_loop(struct watch *w)
{
	while (!w->done) {
		struct pollfd p[3];
		int np = 0, timeout = -1, i_sock = -1, i_ino = -1;

		if (!w->child && w->head && !w->stopping)
			start_command(w);
		if (w->stopping && !w->child)
			return 0;
		if (w->fd < 0 && !w->o.reconnect && !w->child && !w->head)
			return w->rc ? w->rc : 1;
		if (w->fd < 0 && w->o.reconnect && !w->stopping) {
			int64_t left = w->retry_at - now_ms();
			if (left <= 0) {
				try_reconnect(w);
				continue;
			}
			timeout = (int)left;
		}
		p[np++] = (struct pollfd){ .fd = w->sfd, .events = POLLIN };
		if (w->fd >= 0 && w->queued < WATCH_QUEUE_MAX) {
			i_sock = np;
			p[np++] = (struct pollfd){ .fd = w->fd, .events = POLLIN };
		}
		if (w->fd < 0 && w->ifd >= 0) {
			i_ino = np;
			p[np++] = (struct pollfd){ .fd = w->ifd, .events = POLLIN };
		}
		if (poll(p, (nfds_t)np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", w->who, strerror(errno));
			return 1;
		}
		if (p[0].revents)
			on_signals(w);
		if (i_sock >= 0 && p[i_sock].revents && w->fd >= 0)
			read_socket(w);
		if (i_ino >= 0 && p[i_ino].revents)
			read_inotify(w);
	}
	return w->rc;
}

int fw_cmd_watch(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "exec", required_argument, NULL, 'x' },
		{ "reconnect", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct watch w; /* large (paths): not on the stack */
	struct sigaction sa, old_int, old_term, old_chld;
	char *slash;
	int c, rc = 2, err;

	memset(&w, 0, sizeof w);
	w.who = "facectl watch";
	w.fd = w.sfd = w.ifd = w.wd = -1;
	w.tail = &w.head;
	w.backoff_ms = BACKOFF_MIN_MS;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(w.o.socket, sizeof w.o.socket, "%s", optarg);
			break;
		case 'e':
			if (parse_events(&w.o, w.who, optarg))
				goto out;
			break;
		case 'j':
			w.o.json = 1;
			break;
		case 'x':
			if (!*optarg) {
				fprintf(stderr, "%s: --exec needs a command\n", w.who);
				goto out;
			}
			w.o.exec = optarg;
			break;
		case 'r':
			w.o.reconnect = 1;
			break;
		case 'h':
			watch_usage(stdout);
			rc = 0;
			goto out;
		default:
			watch_usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", w.who, argv[optind]);
		goto out;
	}
	if (!w.o.socket[0] && default_socket(w.o.socket, sizeof w.o.socket, w.who))
		goto out;
	snprintf(w.sock_dir, sizeof w.sock_dir, "%s", w.o.socket);
	slash = strrchr(w.sock_dir, '/');
	if (!slash) {
		snprintf(w.sock_dir, sizeof w.sock_dir, ".");
		w.sock_base = w.o.socket;
	} else {
		w.sock_base = w.o.socket + (slash - w.sock_dir) + 1;
		if (slash == w.sock_dir)
			slash[1] = 0; /* "/x.sock": the root folder */
		else
			*slash = 0;
	}

	/* SIGINT/SIGTERM end the loop cleanly, SIGCHLD says a command ended;
	 * all three reach the loop through the self-pipe. exec() gives the
	 * commands the default handlers back. */
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK)) {
		fprintf(stderr, "%s: pipe: %s\n", w.who, strerror(errno));
		rc = 1;
		goto out;
	}
	w.sfd = sig_pipe[0];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	/* a SIGINT the shell set to ignore (a background job) stays ignored */
	sigaction(SIGINT, NULL, &old_int);
	if (old_int.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGCHLD, &sa, &old_chld);
	if (w.o.reconnect)
		w.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	err = watch_connect(&w);
	if (err) {
		if (!w.o.reconnect) {
			connect_message(w.who, w.o.socket, err);
			rc = 1;
			goto out;
		}
		w.retry_at = now_ms(); /* try_reconnect says why and arms inotify */
	}
	rc = watch_loop(&w);
out:
	if (w.child) /* only when the loop failed: do not leave it unreaped */
		waitpid(w.child, NULL, 0);
	disconnect(&w);
	queue_clear(&w);
	json_decref(w.o.events);
	json_decref(w.present);
	if (w.sfd >= 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGCHLD, &old_chld, NULL);
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
	}
	if (w.ifd >= 0)
		close(w.ifd);
	fflush(stdout);
	return rc;
}
