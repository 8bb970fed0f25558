#include "daemon/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"
#include "daemon/paths.h"
#include "daemon/photo.h"

void fw_config_defaults(struct fw_config *c)
{
	memset(c, 0, sizeof *c);
	c->detector = FW_DETECTOR_AUTO;
	c->tier = FW_KERNELS_FAST;
	c->precision = FW_PRECISION_INT8;
	c->threshold = FW_EMBED_SAME_THRESHOLD;
	c->width = 640;
	c->height = 480;
	c->fps = 30;
	c->max_fps = 10;
	c->status_interval_s = 10;
	c->socket_mode = 0660;
	c->max_request_bytes = 65536;
	c->requests_per_sec = 20;
	fw_paths_socket(c->socket_path, sizeof c->socket_path); /* shared with facectl */
	fw_presence_config_default(&c->presence);
	fw_tracker_config_default(&c->tracker);
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

/* One key = value. Returns 0, or -1 with *why set. */
int fw_config_set(struct fw_config *c, const char *key, const char *v, const char **why)
{
	long x;

	/* a value that does not fit is refused, never cut: a trusted_group
	 * cut short could name another group, a path another file */
#define COPY(field)                                                                \
	do {                                                                       \
		if (strlen(v) >= sizeof c->field) {                                \
			*why = "is too long";                                      \
			return -1;                                                 \
		}                                                                  \
		memcpy(c->field, v, strlen(v) + 1);                                \
	} while (0)
#define INT(field, lo, hi)                                                         \
	do {                                                                       \
		if (parse_int(v, lo, hi, &x)) {                                    \
			*why = "expects a whole number in range (see docs/facewatchd.conf)"; \
			return -1;                                                 \
		}                                                                  \
		c->field = x;                                                      \
	} while (0)
	if (!strcmp(key, "camera"))
		COPY(camera);
	else if (!strcmp(key, "loop"))
		INT(loop, 0, 1);
	else if (!strcmp(key, "socket")) {
		if (!*v) /* `socket =` (as documented): the default place */
			fw_paths_socket(c->socket_path, sizeof c->socket_path);
		else
			COPY(socket_path);
	}
	else if (!strcmp(key, "gallery"))
		COPY(gallery);
	else if (!strcmp(key, "models"))
		COPY(models);
	else if (!strcmp(key, "detector")) {
		if (fw_parse_detector(v, &c->detector)) {
			*why = "expects short, full or auto";
			return -1;
		}
	} else if (!strcmp(key, "precision")) {
		if (!strcmp(v, "int8"))
			c->precision = FW_PRECISION_INT8;
		else if (!strcmp(v, "float"))
			c->precision = FW_PRECISION_FLOAT;
		else {
			*why = "expects int8 or float";
			return -1;
		}
	} else if (!strcmp(key, "threshold")) {
		char *end;
		float t = strtof(v, &end);
		if (end == v || *end || !(t > -1 && t < 1)) {
			*why = "expects a cosine similarity between -1 and 1";
			return -1;
		}
		c->threshold = t;
	} else if (!strcmp(key, "width"))
		INT(width, 16, 8192);
	else if (!strcmp(key, "height"))
		INT(height, 16, 8192);
	else if (!strcmp(key, "fps"))
		INT(fps, 0, 240);
	else if (!strcmp(key, "max_fps"))
		INT(max_fps, 0, 240);
	else if (!strcmp(key, "status_interval"))
		INT(status_interval_s, 0, 86400);
	else if (!strcmp(key, "trusted_group"))
		COPY(trusted_group);
	else if (!strcmp(key, "socket_group"))
		COPY(socket_group);
	else if (!strcmp(key, "socket_mode")) {
		char *end;
		unsigned long m;
		errno = 0;
		m = strtoul(v, &end, 8);
		/* owner read and write (the daemon's own clients), nothing
		 * beyond rwx for group and others */
		if (errno || *v < '0' || *v > '7' || *end || m > 0777 ||
		    (m & 0600) != 0600) {
			*why = "expects octal permissions from 0600 to 0777 (e.g. 0660)";
			return -1;
		}
		c->socket_mode = (unsigned)m;
	} else if (!strcmp(key, "max_request_bytes"))
		INT(max_request_bytes, 256, 16 << 20);
	else if (!strcmp(key, "requests_per_sec")) {
		char *end;
		float r = strtof(v, &end);
		if (end == v || *end || !(r >= 0.1f && r <= 1e5f)) {
			*why = "expects a number of requests per second from 0.1 to 100000";
			return -1;
		}
		c->requests_per_sec = r;
	}
	else if (!strcmp(key, "arrive_ms"))
		INT(presence.arrive_ms, 0, 3600000);
	else if (!strcmp(key, "lost_ms"))
		INT(presence.lost_ms, 0, 3600000);
	else if (!strcmp(key, "leave_ms"))
		INT(presence.leave_ms, 0, 86400000);
	else if (!strcmp(key, "anyone_leave_ms"))
		INT(presence.anyone_leave_ms, 0, 86400000);
	else if (!strcmp(key, "face_lost_ms"))
		INT(tracker.lost_ms, 0, 3600000);
	else if (!strcmp(key, "unknown_ms"))
		INT(tracker.unknown_ms, 0, 86400000);
	else if (!strcmp(key, "refresh_ms"))
		INT(tracker.refresh_ms, 100, 3600000);
	else {
		*why = "unknown key";
		return -1;
	}
	return 0;
#undef COPY
#undef INT
}

/* INI-like: `key = value` lines; '#' or ';' start a comment line; a
 * [section] header is accepted and ignored (all keys are unique). */
int fw_config_read(struct fw_config *c, FILE *f, const char *name)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0, bad = 0, err = 0;

	while ((len = getline(&line, &cap, f)) >= 0) {
		char *k = line, *v, *e;
		const char *why = NULL;

		n++;
		if (len > FW_CONFIG_LINE_MAX) {
			fw_log(FW_LOG_ERROR, "%s:%d: line longer than %d bytes", name, n,
			       FW_CONFIG_LINE_MAX);
			bad = 1;
			continue;
		}
		if (memchr(line, 0, (size_t)len)) {
			fw_log(FW_LOG_ERROR, "%s:%d: a NUL byte; is this a text file?", name, n);
			bad = 1;
			continue;
		}
		while (*k == ' ' || *k == '\t')
			k++;
		e = k + strlen(k);
		while (e > k && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (!*k || *k == '#' || *k == ';' || *k == '[')
			continue;
		v = strchr(k, '=');
		if (!v) {
			fw_log(FW_LOG_ERROR, "%s:%d: expected `key = value`", name, n);
			bad = 1;
			continue;
		}
		e = v;
		*v++ = 0;
		while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		if (fw_config_set(c, k, v, &why)) {
			fw_log(FW_LOG_ERROR, "%s:%d: %.64s: %s", name, n, k, why);
			bad = 1;
		}
	}
	if (ferror(f)) {
		err = errno == ENOMEM ? FW_ENOMEM : FW_EIO;
		fw_log(FW_LOG_ERROR, "%s: cannot read the configuration: %s", name, strerror(errno));
	}
	free(line);
	return err ? err : bad ? FW_EINVAL : 0;
}

int fw_config_load(struct fw_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	int err;

	if (!f) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot read the configuration: %s", path, strerror(errno));
		return err;
	}
	err = fw_config_read(c, f, path);
	fclose(f);
	return err;
}
