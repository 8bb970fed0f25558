#include "daemon/config.h"

#include <errno.h>
#include <stddef.h>
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
	fw_scan_config_default(&c->scan);
	c->attention_rate_hz = 5;
	fw_attention_config_default(&c->attention);
	c->mqtt_port = 1883;
	snprintf(c->mqtt_topic_prefix, sizeof c->mqtt_topic_prefix, "facewatch");
	snprintf(c->mqtt_discovery_prefix, sizeof c->mqtt_discovery_prefix, "homeassistant");
	c->mqtt_keepalive_s = 30;
	c->mqtt_reconnect_max_s = 60;
}

/* An MQTT topic level (or several, for prefixes): no wildcards, no NUL,
 * not empty unless allowed. */
static int topic_ok(const char *v, int allow_empty, int allow_slash)
{
	if (!*v)
		return allow_empty;
	for (; *v; v++)
		if (*v == '+' || *v == '#' || (*v == '/' && !allow_slash))
			return 0;
	return 1;
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

/* landmarks68 = on|off and the attention_* keys. */
static int set_attention(struct fw_config *c, const char *key, const char *v, const char **why)
{
	char *end;
	float f = strtof(v, &end);
	long x;

	if (!strcmp(key, "landmarks68")) {
		if (strcmp(v, "on") && strcmp(v, "off")) {
			*why = "expects on or off";
			return -1;
		}
		c->landmarks68 = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(key, "attention_rate_hz") || !strcmp(key, "attention_yaw_deg") ||
	    !strcmp(key, "attention_pitch_deg")) {
		int rate = key[10] == 'r';

		if (end == v || *end || !(f > 0) || f > (rate ? 60 : 90)) {
			*why = rate ? "expects runs per second, above 0 and at most 60"
				    : "expects degrees, above 0 and at most 90";
			return -1;
		}
		if (rate)
			c->attention_rate_hz = f;
		else if (key[10] == 'y')
			c->attention.yaw_deg = f;
		else
			c->attention.pitch_deg = f;
		return 0;
	}
	if (!strcmp(key, "attention_away_ms") || !strcmp(key, "attention_back_ms") ||
	    !strcmp(key, "attention_smooth_ms")) {
		if (parse_int(v, 0, 3600000, &x)) {
			*why = "expects a whole number of milliseconds, 0 to 3600000";
			return -1;
		}
		if (key[10] == 'a')
			c->attention.away_ms = x;
		else if (key[10] == 'b')
			c->attention.back_ms = x;
		else
			c->attention.smooth_ms = x;
		return 0;
	}
	*why = "unknown key";
	return -1;
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
		/* `socket =` (the shipped file) means the default, not "" */
		if (*v)
			COPY(socket_path);
		else
			fw_paths_socket(c->socket_path, sizeof c->socket_path);
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
		if (fw_parse_precision(v, &c->precision)) {
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
		/* the tracker's votes decide who a face is in the daemon: the
		 * same threshold, or the setting would change nothing there */
		c->tracker.same_threshold = t;
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
	else if (!strcmp(key, "improve_ms"))
		INT(tracker.improve_ms, 0, 3600000);
	else if (!strcmp(key, "near_ms"))
		INT(tracker.near_ms, 0, 3600000);
	else if (!strcmp(key, "scan_full_ms"))
		INT(scan.full_ms, 0, 60000);
	else if (!strcmp(key, "scan_still_ms"))
		INT(scan.still_ms, 0, 60000);
	else if (!strcmp(key, "scan_regions"))
		INT(scan.regions, 0, 1);
	else if (!strcmp(key, "scan_still_fps"))
		INT(scan.still_fps, 0, 240);
	else if (!strcmp(key, "scan_settled_fps"))
		INT(scan.settled_fps, 0, 240);
	else if (!strcmp(key, "scan_still_diff")) {
		char *end;
		float t = strtof(v, &end);
		if (*end || !(t >= 0 && t <= 255)) {
			*why = "expects grey levels between 0 and 255";
			return -1;
		}
		c->scan.still_diff = t;
	}
	else if (!strncmp(key, "attention_", 10) || !strcmp(key, "landmarks68"))
		return set_attention(c, key, v, why);
	else if (!strcmp(key, "mqtt_host"))
		COPY(mqtt_host);
	else if (!strcmp(key, "mqtt_port"))
		INT(mqtt_port, 1, 65535);
	else if (!strcmp(key, "mqtt_topic_prefix") || !strcmp(key, "mqtt_discovery_prefix")) {
		int disc = key[5] == 'd';
		if (!topic_ok(v, disc, 1) || strlen(v) >= sizeof c->mqtt_topic_prefix) {
			*why = "expects an MQTT topic without + or # (at most 127 bytes)";
			return -1;
		}
		if (disc)
			COPY(mqtt_discovery_prefix);
		else
			COPY(mqtt_topic_prefix);
	} else if (!strcmp(key, "mqtt_node_id")) {
		if (strlen(v) >= sizeof c->mqtt_node_id || strspn(v, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(v)) {
			*why = "expects letters, digits, _ and - only (at most 63), or empty for automatic";
			return -1;
		}
		COPY(mqtt_node_id);
	} else if (!strcmp(key, "mqtt_client_id"))
		COPY(mqtt_client_id);
	else if (!strcmp(key, "mqtt_username"))
		COPY(mqtt_username);
	else if (!strcmp(key, "mqtt_password_file"))
		COPY(mqtt_password_file);
	else if (!strcmp(key, "mqtt_keepalive"))
		INT(mqtt_keepalive_s, 5, 65535);
	else if (!strcmp(key, "mqtt_reconnect_max"))
		INT(mqtt_reconnect_max_s, 1, 3600);
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

/* ---- reload: which keys changed, and which of them apply live ----------- */

enum key_type { K_STR, K_INT, K_I64, K_FLOAT, K_DETECTOR, K_PRECISION };

struct key_info {
	const char *key;
	size_t off, size;
	enum key_type type;
	int live;  /* the running daemon takes the new value (fw_config_apply_live) */
};

#define KEY(name, field, type, live) \
	{ name, offsetof(struct fw_config, field), sizeof ((struct fw_config *)0)->field, type, live }
static const struct key_info keys[] = {
	KEY("camera", camera, K_STR, 0),
	KEY("loop", loop, K_INT, 0),
	KEY("socket", socket_path, K_STR, 0),
	KEY("gallery", gallery, K_STR, 0),
	KEY("models", models, K_STR, 0),
	KEY("detector", detector, K_DETECTOR, 0),
	KEY("precision", precision, K_PRECISION, 0),
	KEY("width", width, K_INT, 0),
	KEY("height", height, K_INT, 0),
	KEY("fps", fps, K_INT, 0),
	KEY("trusted_group", trusted_group, K_STR, 0),
	KEY("socket_mode", socket_mode, K_INT, 0),
	KEY("socket_group", socket_group, K_STR, 0),
	KEY("max_request_bytes", max_request_bytes, K_INT, 0),
	KEY("requests_per_sec", requests_per_sec, K_FLOAT, 0),
	KEY("threshold", threshold, K_FLOAT, 1),
	KEY("max_fps", max_fps, K_INT, 1),
	KEY("status_interval", status_interval_s, K_INT, 1),
	KEY("arrive_ms", presence.arrive_ms, K_I64, 1),
	KEY("lost_ms", presence.lost_ms, K_I64, 1),
	KEY("leave_ms", presence.leave_ms, K_I64, 1),
	KEY("anyone_leave_ms", presence.anyone_leave_ms, K_I64, 1),
	KEY("face_lost_ms", tracker.lost_ms, K_I64, 1),
	KEY("unknown_ms", tracker.unknown_ms, K_I64, 1),
	KEY("refresh_ms", tracker.refresh_ms, K_I64, 1),
	KEY("improve_ms", tracker.improve_ms, K_I64, 1),
	KEY("near_ms", tracker.near_ms, K_I64, 1),
	KEY("scan_full_ms", scan.full_ms, K_I64, 1),
	KEY("scan_still_ms", scan.still_ms, K_I64, 1),
	KEY("scan_still_diff", scan.still_diff, K_FLOAT, 1),
	KEY("scan_regions", scan.regions, K_INT, 1),
	KEY("scan_still_fps", scan.still_fps, K_INT, 1),
	KEY("scan_settled_fps", scan.settled_fps, K_INT, 1),
};
#undef KEY

static void key_text(const struct key_info *k, const struct fw_config *c, char *buf, size_t len)
{
	const char *p = (const char *)c + k->off;

	switch (k->type) {
	case K_STR: snprintf(buf, len, "'%s'", p); break;
	case K_INT: snprintf(buf, len, "%d", *(const int *)p); break;
	case K_I64: snprintf(buf, len, "%lld", (long long)*(const int64_t *)p); break;
	case K_FLOAT: snprintf(buf, len, "%g", *(const float *)p); break;
	case K_DETECTOR: {
		enum fw_detector_kind d = *(const enum fw_detector_kind *)p;
		snprintf(buf, len, "%s", d == FW_DETECTOR_AUTO ? "auto"
			 : d == FW_DETECTOR_FULL ? "full" : "short");
		break;
	}
	case K_PRECISION:
		snprintf(buf, len, "%s",
			 *(const enum fw_precision *)p == FW_PRECISION_FLOAT ? "float" : "int8");
		break;
	}
}

static int key_differs(const struct key_info *k, const struct fw_config *a, const struct fw_config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;

	/* strings by value: bytes after the NUL may differ */
	return k->type == K_STR ? strcmp(pa, pb) != 0 : memcmp(pa, pb, k->size) != 0;
}

int fw_config_compare(const struct fw_config *running, const struct fw_config *next)
{
	struct fw_config rest = *running;
	int mask = 0;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_info *k = &keys[i];
		char was[PATH_MAX + 8], now[PATH_MAX + 8];

		memcpy((char *)&rest + k->off, (const char *)next + k->off, k->size);
		if (!key_differs(k, running, next))
			continue;
		key_text(k, running, was, sizeof was);
		key_text(k, next, now, sizeof now);
		if (k->live) {
			fw_log(FW_LOG_INFO, "reload: %s %s -> %s", k->key, was, now);
			mask |= FW_CONFIG_LIVE;
		} else {
			fw_log(FW_LOG_WARN, "reload: %s %s -> %s needs a restart to take effect",
			       k->key, was, now);
			mask |= FW_CONFIG_RESTART;
		}
	}
	rest.tracker.same_threshold = next->tracker.same_threshold; /* follows threshold */
	/* a setting this table does not know (a key added since) */
	if (memcmp(&rest, next, sizeof rest)) {
		fw_log(FW_LOG_WARN, "reload: other settings changed; they need a restart to take effect");
		mask |= FW_CONFIG_RESTART;
	}
	return mask;
}

void fw_config_apply_live(struct fw_config *running, const struct fw_config *next)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].live)
			memcpy((char *)running + keys[i].off, (const char *)next + keys[i].off,
			       keys[i].size);
	running->tracker.same_threshold = next->tracker.same_threshold; /* follows threshold */
}
