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
	fw_paths_socket(c->socket_path, sizeof c->socket_path); /* shared with facectl */
	fw_presence_config_default(&c->presence);
	fw_tracker_config_default(&c->tracker);
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

/* One key = value. Returns 0, or -1 with *why set. */
int fw_config_set(struct fw_config *c, const char *key, const char *v, const char **why)
{
	long x;

#define COPY(field) snprintf(c->field, sizeof c->field, "%s", v)
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
	else if (!strcmp(key, "socket"))
		COPY(socket_path);
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
		if (*end || !(t > -1 && t < 1)) {
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
int fw_config_load(struct fw_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0, bad = 0;

	if (!f) {
		fw_log(FW_LOG_ERROR, "%s: cannot read the configuration: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof line, f)) {
		char *k = line, *v, *e;
		const char *why = NULL;

		n++;
		while (*k == ' ' || *k == '\t')
			k++;
		e = k + strlen(k);
		while (e > k && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (!*k || *k == '#' || *k == ';' || *k == '[')
			continue;
		v = strchr(k, '=');
		if (!v) {
			fw_log(FW_LOG_ERROR, "%s:%d: expected `key = value`", path, n);
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
			fw_log(FW_LOG_ERROR, "%s:%d: %s: %s", path, n, k, why);
			bad = 1;
		}
	}
	fclose(f);
	return bad ? FW_EINVAL : 0;
}
