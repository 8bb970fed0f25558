/* facewatchd's settings: defaults, one `key = value` at a time (from the
 * command line or a file), and the configuration file format.
 *
 * docs/facewatchd.conf lists every key with its default. Options given on the
 * command line override the file. Nothing here allocates; a struct fw_config
 * is plain data and may be copied.
 */
#ifndef FW_DAEMON_CONFIG_H
#define FW_DAEMON_CONFIG_H

#include <limits.h>
#include <stdio.h>

#include "core/attention.h"
#include "core/detector.h"
#include "core/kernels/kernels.h"
#include "core/model.h"
#include "core/presence.h"
#include "core/scan.h"
#include "core/tracker.h"

#define FW_CONFIG_LINE_MAX 4096 /* bytes in one line of a configuration file, '\n' included */

struct fw_config {
	char camera[PATH_MAX];     /* "" = the first camera; "replay:PATH" = a file or folder */
	int loop;                  /* replay: start again at the end */
	char socket_path[PATH_MAX];
	char gallery[PATH_MAX];    /* "" = the store's default */
	char models[PATH_MAX];     /* "" = the installed models */
	enum fw_detector_kind detector;
	enum fw_kernel_tier tier;
	enum fw_precision precision; /* int8 where the model is calibrated */
	float threshold;           /* cosine for "same person" */
	int width, height, fps;
	int max_fps;               /* frames analysed per second at most; 0 = every frame */
	int status_interval_s;
	char trusted_group[64];
	unsigned socket_mode;      /* permissions of the socket file (0660) */
	char socket_group[64];     /* group of the socket file; "" = the daemon's */
	int max_request_bytes;     /* longest request line */
	float requests_per_sec;    /* per client; its burst is twice that (at least 10) */
	int print_events;          /* also write every event to stdout, one JSON line each */
	int exit_when_idle;        /* replay: exit once it ended and everyone has left */
	struct fw_presence_config presence;
	struct fw_tracker_config tracker;
	struct fw_scan_config scan;
	int landmarks68;           /* 68 landmarks, head pose and attention on tracked faces */
	float attention_rate_hz;   /* landmark runs per tracked face per second at most */
	struct fw_attention_config attention;
	/* MQTT sink (daemon/mqtt.h, docs/mqtt.md); mqtt_host "" = off */
	char mqtt_host[256];
	int mqtt_port;
	char mqtt_topic_prefix[128];
	char mqtt_node_id[64];        /* "" = from the host name and camera */
	char mqtt_client_id[128];     /* "" = facewatch-<node id> */
	char mqtt_username[128];
	char mqtt_password_file[PATH_MAX];
	char mqtt_discovery_prefix[128]; /* "" = no Home Assistant discovery */
	int mqtt_keepalive_s;
	int mqtt_reconnect_max_s;     /* reconnect backoff: 1 s doubling up to this */
};

/* Every setting at its default. */
void fw_config_defaults(struct fw_config *c);

/* Sets one key from its text value. Returns 0, or -1 with *why pointing at
 * a static phrase saying what the key expects ("unknown key" for a key that
 * does not exist); *c is unchanged then. */
int fw_config_set(struct fw_config *c, const char *key, const char *v, const char **why);

/* Reads `key = value` lines from PATH into *c. Every bad line is logged with
 * the file name and line number; returns 0, FW_EINVAL when a line was bad
 * (the good ones are still applied), or -errno when the file cannot be read. */
int fw_config_load(struct fw_config *c, const char *path);

/* The same from an open stream (a file, a pipe, fmemopen()); `name` names
 * it in messages. A line longer than FW_CONFIG_LINE_MAX bytes, or holding
 * a NUL byte, is one bad line. FW_EIO (or FW_ENOMEM) when reading fails. */
int fw_config_read(struct fw_config *c, FILE *f, const char *name);

/* A reload (SIGHUP): `next` is what the file and the command line say now.
 * Logs each key whose value differs from `running`, old -> new: at INFO the
 * ones the running daemon takes (threshold, max_fps, status_interval, the
 * presence and tracker times), at WARN, saying a restart is needed, the
 * others (camera, socket, models, detector, ...). Returns FW_CONFIG_LIVE
 * and/or FW_CONFIG_RESTART for what it found, 0 when nothing changed. */
#define FW_CONFIG_LIVE 1
#define FW_CONFIG_RESTART 2
int fw_config_compare(const struct fw_config *running, const struct fw_config *next);

/* Copies the keys that apply live from next into running; the rest of
 * running stays as it started. */
void fw_config_apply_live(struct fw_config *running, const struct fw_config *next);

#endif
