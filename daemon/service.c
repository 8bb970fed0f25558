/* systemd glue for facewatchd. See service.h. */
#include "daemon/service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "core/fw.h"

struct fw_service {
	char camera[256];
	int journal;             /* logs go to the journal */
	int debug;               /* FACEWATCH_DEBUG: DEBUG lines too */
	int ready, reloading, stopping;
	uint64_t watchdog_usec;  /* 0: no watchdog */
	int watchdog_fd;
	int stalled;             /* the last tick found the heartbeat stale */
	atomic_llong beat_ns;    /* inference thread -> main: last pass, CLOCK_MONOTONIC */
	uint64_t stall_after;    /* test hook: frames before the inference thread stalls */
	int stall_logged;        /* inference thread only */
};

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* stderr is the journal's stream: $JOURNAL_STREAM is "device:inode" of it
 * (systemd sets it for StandardError=journal). The variable alone is not
 * enough: a shell started from a service inherits it with another stderr. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* $FACEWATCH_LOG=journal|stderr decides; else the journal when stderr is
 * the journal's stream or we run as a unit ($INVOCATION_ID). */
static int log_to_journal(void)
{
	const char *force = getenv("FACEWATCH_LOG");

	if (force && !strcmp(force, "stderr"))
		return 0;
	if (force && !strcmp(force, "journal"))
		return 1;
	return stderr_is_journal() || getenv("INVOCATION_ID") != NULL;
}

static int syslog_priority(enum fw_log_level level)
{
	switch (level) {
	case FW_LOG_ERROR: return LOG_ERR;
	case FW_LOG_WARN: return LOG_WARNING;
	case FW_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

static void journal_sink(enum fw_log_level level, const char *msg, void *ctx)
{
	struct fw_service *s = ctx;

	/* as on stderr: DEBUG only when asked for (fw_log leaves it to the sink) */
	if (level == FW_LOG_DEBUG && !s->debug)
		return;
	if (sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", syslog_priority(level),
			    "CAMERA=%s", s->camera, "SYSLOG_IDENTIFIER=facewatchd", NULL) < 0)
		/* no journald after all (INVOCATION_ID without one): stderr */
		fprintf(stderr, "facewatch: %s%s\n",
			level == FW_LOG_ERROR ? "error: " : level == FW_LOG_WARN ? "warning: " : "",
			msg);
}

int fw_service_open(struct fw_service **out, const char *camera)
{
	struct fw_service *s = calloc(1, sizeof *s);
	const char *stall = getenv("FACEWATCH_TEST_STALL_AFTER_FRAMES");
	uint64_t usec = 0;

	*out = NULL;
	if (!s)
		return FW_ENOMEM;
	snprintf(s->camera, sizeof s->camera, "%s", camera && *camera ? camera : "default");
	s->watchdog_fd = -1;
	s->debug = getenv("FACEWATCH_DEBUG") != NULL;
	atomic_store(&s->beat_ns, mono_ns());
	if (stall && *stall)
		s->stall_after = strtoull(stall, NULL, 10);
	/* WATCHDOG_PID (when set) must be ours: a child does not inherit it */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uint64_t tick = usec / 4 < 10000 ? 10000 : usec / 4;
		struct itimerspec its = {
			.it_interval = { (time_t)(tick / 1000000), (long)(tick % 1000000) * 1000 },
			.it_value = { (time_t)(tick / 1000000), (long)(tick % 1000000) * 1000 },
		};
		s->watchdog_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (s->watchdog_fd < 0 || timerfd_settime(s->watchdog_fd, 0, &its, NULL) < 0) {
			int err = -errno;
			if (s->watchdog_fd >= 0)
				close(s->watchdog_fd);
			free(s);
			return err;
		}
		s->watchdog_usec = usec;
	}
	s->journal = log_to_journal();
	if (s->journal)
		fw_log_set_sink(journal_sink, s);
	*out = s;
	return 0;
}

void fw_service_close(struct fw_service *s)
{
	if (!s)
		return;
	fw_service_stopping(s);
	if (s->journal)
		fw_log_set_sink(NULL, NULL);
	if (s->watchdog_fd >= 0)
		close(s->watchdog_fd);
	free(s);
}

int fw_service_listen_fd(void)
{
	int n = sd_listen_fds(1);

	if (n < 0) {
		fw_log(FW_LOG_ERROR, "socket activation: cannot read $LISTEN_FDS: %s", strerror(-n));
		return FW_EINVAL;
	}
	if (n == 0)
		return -1;
	if (n > 1) {
		fw_log(FW_LOG_ERROR, "socket activation: systemd passed %d sockets; facewatchd takes "
		       "exactly one (one ListenStream= in the .socket unit)", n);
		return FW_EINVAL;
	}
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
		fw_log(FW_LOG_ERROR, "socket activation: the socket systemd passed is not a listening "
		       "Unix stream socket (use ListenStream=/path in the .socket unit)");
		return FW_EINVAL;
	}
	return SD_LISTEN_FDS_START;
}

int fw_service_journal(const struct fw_service *s)
{
	return s->journal;
}

void fw_service_ready(struct fw_service *s, const char *status)
{
	if (s->ready && !s->reloading)
		return;
	s->ready = 1;
	s->reloading = 0;
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

int fw_service_is_ready(const struct fw_service *s)
{
	return s->ready;
}

void fw_service_status(struct fw_service *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	(void)s;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", text);
}

void fw_service_reloading(struct fw_service *s)
{
	struct timespec ts;

	s->reloading = 1;
	/* MONOTONIC_USEC: newer systemd (Type=notify-reload) matches the
	 * reload to the request with it; older ones ignore it */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000);
}

void fw_service_stopping(struct fw_service *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int fw_service_watchdog_fd(const struct fw_service *s)
{
	return s->watchdog_fd;
}

uint64_t fw_service_watchdog_usec(const struct fw_service *s)
{
	return s->watchdog_usec;
}

void fw_service_watchdog_tick(struct fw_service *s)
{
	uint64_t ticks;
	long long age_ms;

	if (s->watchdog_fd < 0 || read(s->watchdog_fd, &ticks, sizeof ticks) < 0)
		return;
	age_ms = (mono_ns() - atomic_load(&s->beat_ns)) / 1000000;
	if ((uint64_t)age_ms * 1000 * 2 < s->watchdog_usec) {
		if (s->stalled)
			fw_log(FW_LOG_INFO, "watchdog: the inference thread runs again");
		s->stalled = 0;
		sd_notify(0, "WATCHDOG=1");
		return;
	}
	if (!s->stalled)
		fw_log(FW_LOG_ERROR, "watchdog: the inference thread has not run for %lld ms; "
		       "systemd will restart the service if it does not recover", age_ms);
	s->stalled = 1;
}

void fw_service_heartbeat(struct fw_service *s)
{
	atomic_store(&s->beat_ns, mono_ns());
}

int fw_service_test_stall(struct fw_service *s, uint64_t frames)
{
	if (!s->stall_after || frames < s->stall_after)
		return 0;
	if (!s->stall_logged) {
		s->stall_logged = 1;
		fw_log(FW_LOG_WARN, "FACEWATCH_TEST_STALL_AFTER_FRAMES=%llu: the inference thread "
		       "stalls now (a fault injected for tests)", (unsigned long long)s->stall_after);
	}
	return 1;
}

void fw_service_log_event(struct fw_service *s, const json_t *ev)
{
	const char *event = json_string_value(json_object_get(ev, "event"));
	const char *identity = json_string_value(json_object_get(ev, "identity"));
	const char *state = json_string_value(json_object_get(ev, "state"));
	json_t *track = json_object_get(ev, "track");
	char msg[512];
	int prio = LOG_INFO, n;

	if (!s->journal || !event || !strcmp(event, "frame") || !strcmp(event, "status"))
		return;
	if (!strcmp(event, "face_appeared")) {
		if (!s->debug)
			return;
		prio = LOG_DEBUG;
	}
	n = snprintf(msg, sizeof msg, "%s", event);
	if (json_is_integer(track) && n >= 0 && (size_t)n < sizeof msg)
		n += snprintf(msg + n, sizeof msg - (size_t)n, " track %lld",
			      (long long)json_integer_value(track));
	if (identity && n >= 0 && (size_t)n < sizeof msg)
		n += snprintf(msg + n, sizeof msg - (size_t)n, " %s", identity);
	if (state && n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, " %s", state);
	sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio, "CAMERA=%s", s->camera,
			"EVENT=%s", event, "IDENTITY=%s", identity ? identity : "",
			"TRACK=%lld", json_is_integer(track) ? (long long)json_integer_value(track) : -1LL,
			"SYSLOG_IDENTIFIER=facewatchd", NULL);
}
