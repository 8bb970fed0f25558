/* facectl commands through the running daemon; see daemon/facectl_live.h.
 *
 * One blocking connection per command: send the request(s), read lines
 * (events and answers) until the answer to our request comes, with a
 * receive timeout so a daemon that hangs does not hang facectl. Progress
 * events are printed as they come: their JSON line on stdout, a sentence
 * on stderr.
 */
#include "daemon/facectl_live.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "capture/source.h"
#include "core/detector.h"
#include "core/fw.h"
#include "core/model.h"
#include "core/quality.h"
#include "daemon/camcheck.h"
#include "daemon/paths.h"

#define ANSWER_SLACK_S 15 /* beyond the request's own time: the daemon is busy */

struct conn {
	int fd;
	FILE *in;
	char path[PATH_MAX];
	const char *who;
};

static int conn_open(struct conn *c, const char *socket_path, const char *who, char *why,
		     size_t why_len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	c->who = who;
	c->in = NULL;
	if (socket_path)
		snprintf(c->path, sizeof c->path, "%s", socket_path);
	else if (fw_paths_socket(c->path, sizeof c->path)) {
		snprintf(why, why_len, "the default socket path is too long; give --socket PATH");
		return -1;
	}
	if (strlen(c->path) >= sizeof a.sun_path) {
		snprintf(why, why_len, "%s: too long for a Unix socket path", c->path);
		return -1;
	}
	memcpy(a.sun_path, c->path, strlen(c->path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		if (c->fd >= 0)
			close(c->fd);
		if (e == ENOENT || e == ECONNREFUSED)
			snprintf(why, why_len, "no facewatchd on %s: is the service running? "
				 "(systemctl status facewatch, or give --socket PATH)", c->path);
		else if (e == EACCES)
			snprintf(why, why_len, "%s: permission denied; the socket is for its owner "
				 "and group only (ls -l %s)", c->path, c->path);
		else
			snprintf(why, why_len, "cannot connect to facewatchd on %s: %s", c->path,
				 strerror(e));
		return -1;
	}
	c->in = fdopen(c->fd, "r");
	if (!c->in) {
		close(c->fd);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->in)
		fclose(c->in); /* closes fd */
	c->in = NULL;
}

static int conn_send(struct conn *c, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t len, off = 0;

	json_decref(req);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len++] = '\n';
	while (off < len) {
		ssize_t w = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			free(s);
			return -errno;
		}
		off += (size_t)w;
	}
	free(s);
	return 0;
}

/* The next JSON object from the daemon, waiting at most until deadline
 * (CLOCK_MONOTONIC s). NULL: timed out, closed, or garbage (*why). */
static json_t *conn_next(struct conn *c, double deadline, const char **why)
{
	static char *line;
	static size_t cap;
	struct timespec now;

	for (;;) {
		struct timeval tv;
		ssize_t n;
		double left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = deadline - (now.tv_sec + now.tv_nsec / 1e9);
		if (left <= 0) {
			*why = "timed out waiting for the daemon's answer";
			return NULL;
		}
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		errno = 0;
		n = getline(&line, &cap, c->in);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				clearerr(c->in);
				continue;
			}
			*why = "the daemon closed the connection";
			return NULL;
		}
		json_t *m = json_loadb(line, (size_t)n, 0, NULL);
		if (json_is_object(m))
			return m;
		json_decref(m);
	}
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : def;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_line(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
}

static int is_answer(const json_t *m, const char *id)
{
	const char *got = json_string_value(json_object_get(m, "id"));
	return json_object_get(m, "ok") && got && !strcmp(got, id);
}

/* A refusal: the daemon's error, and the status 1. */
static int refused(const char *who, const json_t *m)
{
	const char *e = json_string_value(json_object_get(m, "error"));
	json_t *copy = json_deep_copy(m);

	json_object_del(copy, "id");
	print_line(copy);
	json_decref(copy);
	fprintf(stderr, "%s: %s\n", who, e ? e : "refused");
	return 1;
}

int fw_live_enroll(const char *socket, const char *name, int count, int timeout_s)
{
	const char *who = "facectl enroll --camera", *why = NULL;
	struct conn c;
	char msg[PATH_MAX + 256];
	double deadline;
	int rc = 1;

	if (conn_open(&c, socket, who, msg, sizeof msg)) {
		fprintf(stderr, "%s: %s; --camera enrols through the running daemon (or enrol "
			"from photos: facectl enroll %s IMAGE...)\n", who, msg, name);
		return 1;
	}
	/* progress events first: they are opt-in */
	if (conn_send(&c, json_pack("{ss s[s] ss}", "request", "subscribe", "events",
				    "enroll_progress", "id", "s")) ||
	    conn_send(&c, json_pack("{ss ss si si ss}", "request", "enroll", "name", name, "count",
				    count, "timeout", timeout_s, "id", "e"))) {
		fprintf(stderr, "%s: cannot send to %s: %s\n", who, c.path, strerror(errno));
		goto out;
	}
	fprintf(stderr, "%s: look at the camera, alone, and turn your head a little between "
		"views (%d views, at most %d s)\n", who, count, timeout_s);
	deadline = mono_now() + timeout_s + ANSWER_SLACK_S;
	for (;;) {
		json_t *m = conn_next(&c, deadline, &why);
		const char *ev;

		if (!m) {
			fprintf(stderr, "%s: %s (%s)\n", who, why, c.path);
			goto out;
		}
		ev = json_string_value(json_object_get(m, "event"));
		if (ev && !strcmp(ev, "enroll_progress") &&
		    !strcmp(str_or(m, "name", ""), name)) {
			const char *reason = json_string_value(json_object_get(m, "reason"));
			const char *advice = json_string_value(json_object_get(m, "advice"));
			json_t *copy = json_deep_copy(m);
			json_object_del(copy, "seq");
			json_object_del(copy, "ts");
			print_line(copy);
			json_decref(copy);
			if (reason && !strcmp(reason, "taken"))
				fprintf(stderr, "%s: view %lld of %lld taken\n", who,
					(long long)json_integer_value(json_object_get(m, "taken")),
					(long long)json_integer_value(json_object_get(m, "count")));
			else
				fprintf(stderr, "%s: waiting: %s\n", who, advice ? advice : reason ? reason : "?");
		} else if (is_answer(m, "s") && !json_is_true(json_object_get(m, "ok"))) {
			/* an older daemon without enroll_progress: enrol without progress */
		} else if (is_answer(m, "e")) {
			if (json_is_true(json_object_get(m, "ok"))) {
				json_t *copy = json_deep_copy(m);
				const char *warn = json_string_value(json_object_get(m, "warning"));
				json_object_del(copy, "id");
				json_object_del(copy, "ok");
				print_line(copy);
				json_decref(copy);
				if (warn)
					fprintf(stderr, "%s: warning: %s\n", who, warn);
				fprintf(stderr, "%s: %s enrolled with %lld views; the daemon recognises "
					"them from now on\n", who, name,
					(long long)json_integer_value(json_object_get(m, "templates_added")));
				rc = 0;
			} else {
				rc = refused(who, m);
			}
			json_decref(m);
			break;
		}
		json_decref(m);
	}
out:
	conn_close(&c);
	return rc;
}

int fw_live_not(const char *socket, const char *name, long track)
{
	const char *who = "facectl not", *why = NULL;
	struct conn c;
	char msg[PATH_MAX + 256];
	json_t *req;
	int rc = 1;

	if (conn_open(&c, socket, who, msg, sizeof msg)) {
		fprintf(stderr, "%s: %s; --track and --last correct the running daemon's "
			"decisions (or give a photo: facectl not %s IMAGE...)\n", who, msg, name);
		return 1;
	}
	req = track > 0 ? json_pack("{ss ss sI ss}", "request", "not", "name", name, "track",
				    (json_int_t)track, "id", "n")
			: json_pack("{ss ss ss ss}", "request", "not", "name", name, "track", "last",
				    "id", "n");
	if (conn_send(&c, json_pack("{ss s[] ss}", "request", "subscribe", "events", "id", "s")) ||
	    conn_send(&c, req)) {
		fprintf(stderr, "%s: cannot send to %s: %s\n", who, c.path, strerror(errno));
		goto out;
	}
	for (;;) {
		json_t *m = conn_next(&c, mono_now() + ANSWER_SLACK_S, &why);
		if (!m) {
			fprintf(stderr, "%s: %s (%s)\n", who, why, c.path);
			goto out;
		}
		if (is_answer(m, "n")) {
			if (json_is_true(json_object_get(m, "ok"))) {
				json_t *copy = json_deep_copy(m);
				const char *warn = json_string_value(json_object_get(m, "warning"));
				json_object_del(copy, "id");
				json_object_del(copy, "ok");
				print_line(copy);
				json_decref(copy);
				if (warn)
					fprintf(stderr, "%s: warning: %s\n", who, warn);
				else
					fprintf(stderr, "%s: track %lld's face is kept as not %s; faces "
						"closer to it than to %s's own are not taken for %s\n", who,
						(long long)json_integer_value(json_object_get(m, "track")),
						name, name, name);
				rc = 0;
			} else {
				rc = refused(who, m);
			}
			json_decref(m);
			break;
		}
		json_decref(m);
	}
out:
	conn_close(&c);
	return rc;
}

json_t *fw_live_camera(const char *socket, char *why, size_t why_len)
{
	const char *err = NULL;
	json_t *cam = NULL;
	struct conn c;

	if (conn_open(&c, socket, "facectl doctor", why, why_len))
		return NULL;
	if (conn_send(&c, json_pack("{ss s[] ss}", "request", "subscribe", "events", "id", "s"))) {
		snprintf(why, why_len, "cannot send to %s", c.path);
		goto out;
	}
	/* a few seconds of frames: ask again while the daemon has seen fewer */
	for (int attempt = 0; attempt < 6; attempt++) {
		json_t *m;
		char id[16];

		snprintf(id, sizeof id, "d%d", attempt);
		if (conn_send(&c, json_pack("{ss ss}", "request", "doctor", "id", id))) {
			snprintf(why, why_len, "cannot send to %s", c.path);
			goto out;
		}
		while ((m = conn_next(&c, mono_now() + ANSWER_SLACK_S, &err)) && !is_answer(m, id))
			json_decref(m);
		if (!m) {
			snprintf(why, why_len, "%s (%s)", err, c.path);
			goto out;
		}
		if (!json_is_true(json_object_get(m, "ok"))) {
			const char *e = json_string_value(json_object_get(m, "error"));
			snprintf(why, why_len, "facewatchd on %s: %s", c.path, e ? e : "doctor refused");
			json_decref(m);
			goto out;
		}
		json_decref(cam);
		cam = json_incref(json_object_get(m, "camera"));
		json_decref(m);
		if (json_real_value(json_object_get(cam, "seconds")) >= 3.0)
			break;
		sleep(1);
	}
out:
	conn_close(&c);
	return cam;
}

#define LOCAL_MAX_DETS 32
#define LOCAL_ASK_FPS 30

/* One analysed frame -> one camcheck sample (as daemon/facewatchd.c's
 * enroll_frame() makes them). */
static void local_sample(struct fw_camcheck *cc, const struct fw_frame *f, const struct fw_image *img,
			 struct fw_detection *dets, int n)
{
	struct fw_camcheck_sample s = { .t_ns = f->t_ns[FW_STAGE_CAPTURED], .sequence = f->sequence,
					.session = f->session, .luma = fw_quality_luma(img, NULL) };
	float sx = (float)f->width / img->width;

	for (int i = 0; i < n; i++) {
		float w = (dets[i].x2 - dets[i].x1) * sx;
		if (dets[i].score < 0.6f)
			continue;
		if (w > s.face_max) {
			float box[4] = { dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2 };
			s.face_luma = fw_quality_luma(img, box);
		}
		s.face_min = s.faces ? fminf(s.face_min, w) : w;
		s.face_max = fmaxf(s.face_max, w);
		s.faces++;
	}
	fw_camcheck_add(cc, &s);
}

json_t *fw_local_camera(const char *device, const char *models_dir, int seconds, char *why,
			size_t why_len)
{
	struct fw_source_options so = { .fps = LOCAL_ASK_FPS };
	struct fw_model_options mo = { .tier = FW_KERNELS_FAST, .precision = FW_PRECISION_INT8 };
	struct fw_source *src = NULL;
	struct fw_ring *ring = NULL;
	struct fw_capture *cap = NULL;
	struct fw_detector *det = NULL;
	struct fw_jpeg *jpeg = NULL;
	struct fw_image img = { 0 };
	struct fw_detection dets[LOCAL_MAX_DETS];
	struct fw_camcheck *cc = calloc(1, sizeof *cc);
	struct fw_camcheck_summary sum;
	struct fw_source_stats ss;
	struct fw_camcheck_setup setup;
	char path[PATH_MAX + 32];
	size_t img_cap = 0;
	unsigned analysed = 0;
	double end;
	json_t *out = NULL;
	int err;

	if (!cc) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	fw_camcheck_init(cc);
	if (device && !strncmp(device, "replay:", 7)) {
		so.uri = device + 7;
		so.loop = 1; /* like a camera: frames for as long as we look */
	} else {
		so.kind = FW_SOURCE_V4L2;
		so.uri = device;
	}
	snprintf(path, sizeof path, "%s/blazeface_short.fwm", models_dir);
	if ((err = fw_source_open(&src, &so))) {
		snprintf(why, why_len, "cannot open the camera %s: %s", device ? device : "(the first one)",
			 fw_strerror(err));
		goto out;
	}
	if ((err = fw_ring_create(&ring, 4, fw_source_frame_bytes(src))) ||
	    (err = fw_jpeg_create(&jpeg)) ||
	    (err = fw_detector_open_with(&det, path, FW_DETECTOR_AUTO, &mo)) ||
	    (err = fw_capture_start(&cap, src, ring))) {
		snprintf(why, why_len, "cannot check the camera: %s", fw_strerror(err));
		goto out;
	}
	fprintf(stderr, "facectl doctor: no daemon; watching %s for %d s\n", fw_source_name(src),
		seconds);
	end = mono_now() + seconds;
	while (mono_now() < end) {
		struct fw_frame *f;
		int n, denom;
		size_t need;

		err = fw_ring_take(ring, 200, &f);
		if (err == -EPIPE)
			break;
		if (err)
			continue;
		denom = fw_jpeg_pick_scale_long(f->width, f->height, 320); /* as facewatchd (auto) */
		need = (size_t)f->width * f->height * 3;
		if (need > img_cap) {
			free(img.data);
			img.data = malloc(need);
			img_cap = img.data ? need : 0;
		}
		if (img.data && !fw_frame_to_rgb(jpeg, f, denom, &img, img_cap)) {
			/* the daemon's cadence: the auto detector's tiles every other frame */
			fw_detector_set_tiling(det, (analysed++ & 1) ? 0.0f : FW_DETECTOR_TILE_FRAC,
					       FW_DETECTOR_TILE_OVERLAP);
			n = fw_detector_run(det, &img, dets, LOCAL_MAX_DETS);
			local_sample(cc, f, &img, dets, n > 0 ? n : 0);
		}
		fw_ring_release(ring, f);
		usleep(100 * 1000); /* like the daemon's max_fps 10 */
	}
	fw_camcheck_summarise(cc, &sum);
	fw_source_get_stats(src, &ss);
	setup = (struct fw_camcheck_setup){ .device = fw_source_name(src),
		.state = fw_source_state_name(ss.state),
		.format = ss.format ? fw_pixfmt_name(ss.format) : NULL, .width = ss.width,
		.height = ss.height,
		.fps_negotiated = ss.fps_den ? (double)ss.fps_num / ss.fps_den : 0,
		.fps_asked = so.fps };
	out = fw_camcheck_json(&setup, &sum);
out:
	if (cap)
		fw_capture_stop(cap);
	if (src)
		fw_source_close(src);
	if (ring)
		fw_ring_destroy(ring);
	fw_detector_close(det);
	fw_jpeg_destroy(jpeg);
	free(img.data);
	free(cc);
	return out;
}

void fw_live_print_camera(const json_t *cam)
{
	const json_t *faces = json_object_get(cam, "faces"), *advice = json_object_get(cam, "advice");
	const char *fmt = json_string_value(json_object_get(cam, "format"));
	json_t *fps = json_object_get(cam, "fps"), *b = json_object_get(cam, "brightness");
	json_t *fb = json_object_get(cam, "face_brightness");
	size_t i;
	json_t *a;

	printf("camera     %s (%s): %s %lldx%lld, %d fps asked, %s",
	       str_or(cam, "device", "?"),
	       str_or(cam, "state", "?"), fmt ? fmt : "format unknown",
	       (long long)json_integer_value(json_object_get(cam, "width")),
	       (long long)json_integer_value(json_object_get(cam, "height")),
	       (int)json_integer_value(json_object_get(cam, "fps_asked")),
	       json_is_number(fps) ? "" : "rate not measured yet\n");
	if (json_is_number(fps))
		printf("%.1f measured\n", json_number_value(fps));
	printf("           over %.1f s (%lld frames analysed): brightness %s",
	       json_number_value(json_object_get(cam, "seconds")),
	       (long long)json_integer_value(json_object_get(cam, "samples")), "");
	if (json_is_number(b))
		printf("%.0f of 255", json_number_value(b));
	else
		printf("unknown");
	if (json_is_number(fb))
		printf(" (faces %.0f)", json_number_value(fb));
	printf(", a face in %.0f %% of frames", 100 * json_number_value(json_object_get(faces, "share_of_frames")));
	if (json_object_get(faces, "min_px"))
		printf(", %.0f-%.0f px wide (median %.0f), at most %lld at once",
		       json_number_value(json_object_get(faces, "min_px")),
		       json_number_value(json_object_get(faces, "max_px")),
		       json_number_value(json_object_get(faces, "median_px")),
		       (long long)json_integer_value(json_object_get(faces, "most_at_once")));
	printf("\n");
	json_array_foreach(advice, i, a)
		printf("%-10s %s\n", i ? "" : "advice", json_string_value(a));
	if (!json_array_size(advice))
		printf("camera ok  nothing to change\n");
}
