/* facectl preview: the preview window attached to a running facewatchd.
 *
 * Asks the daemon for its preview memory (the `preview` request: a memfd
 * passed with SCM_RIGHTS, docs/protocol.md), subscribes to the `preview`
 * event, and for the newest announced frame copies the slot out of the
 * shared memory (checking the slot's generation before and after, so a
 * frame the daemon overwrote meanwhile is skipped, never shown torn),
 * decodes it here (MJPEG: at the window's size) and draws it with the
 * event's results. All the work happens in this process: the daemon only
 * copies each frame once into the memory while someone watches.
 *
 * Lines are read as they come; only the newest `preview` event is drawn,
 * so a slow window skips frames instead of falling behind (and the daemon
 * never waits for it: it disconnects a client that stops reading).
 */
#include "daemon/facectl_preview.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "capture/jpeg.h"
#include "core/fw.h"
#include "daemon/paths.h"
#include "daemon/preview.h"
#include "display/display.h"

#define WHO "facectl preview"
#define POLL_MS 10

struct viewer {
	int fd;                       /* the connection */
	int shm_fd;
	const uint8_t *shm;
	size_t shm_bytes, header_bytes, slot_bytes;
	unsigned slots;
	char *in;                     /* partial lines */
	size_t in_len, in_cap;
	json_t *latest;               /* the newest preview event not drawn yet */
	json_t *shown;                /* the faces of the last frame drawn */
	int failed;                   /* the daemon refused or went away: exit 1 */

	struct fw_display *disp;
	struct fw_jpeg *jpeg;
	uint8_t *copy;                /* one slot's bytes, copied out */
	struct fw_image rgb;
	size_t rgb_cap;
	struct fw_preview_result r;
	long frames;
};

static void usage(FILE *f)
{
	fputs("usage: facectl preview [--socket PATH] [--frames N] [--snapshot FILE.jpg]\n"
	      "\n"
	      "Shows the running facewatchd's camera picture with boxes, names and timings,\n"
	      "without stopping the service or opening the camera. Only for peers the daemon\n"
	      "trusts (root, its user, its trusted group): the picture is the camera's.\n"
	      "Keys: q/Esc close, f full screen, k keypoints, s snapshot (current directory).\n"
	      "\n"
	      "  --socket PATH      the daemon's socket (default: as facewatchd's)\n"
	      "  --frames N         close after showing N frames (0: run until closed) and\n"
	      "                     print {\"frames\", \"faces\" (of the last one), \"width\",\n"
	      "                     \"height\" (the window's), \"snapshot\"} as JSON\n"
	      "  --snapshot FILE    with --frames: save the last frame shown as a JPEG\n",
	      f);
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Read what is there, keeping any fd that comes along. 0, or -1 at EOF / error. */
static int read_some(struct viewer *v)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * 4)]; } u;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	if (v->in_cap - v->in_len < 65536) {
		size_t cap = v->in_cap ? v->in_cap * 2 : 131072;
		char *p = realloc(v->in, cap);
		if (!p)
			return -1;
		v->in = p;
		v->in_cap = cap;
	}
	iov.iov_base = v->in + v->in_len;
	iov.iov_len = v->in_cap - v->in_len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.b;
	mh.msg_controllen = sizeof u.b;
	n = recvmsg(v->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			if (v->shm_fd < 0)
				v->shm_fd = fd;
			else
				close(fd);
		}
	}
	v->in_len += (size_t)n;
	return 0;
}

static int map_shm(struct viewer *v, const json_t *reply)
{
	const struct fw_preview_shm *h;

	if (v->shm_fd < 0) {
		fprintf(stderr, WHO ": the daemon answered but passed no memory (is this "
			"facewatchd new enough?)\n");
		return -1;
	}
	v->shm_bytes = (size_t)json_integer_value(json_object_get(reply, "shm_bytes"));
	v->shm = mmap(NULL, v->shm_bytes, PROT_READ, MAP_SHARED, v->shm_fd, 0);
	if (v->shm == MAP_FAILED) {
		v->shm = NULL;
		fprintf(stderr, WHO ": cannot map the preview memory: %s\n", strerror(errno));
		return -1;
	}
	h = (const struct fw_preview_shm *)v->shm;
	if (memcmp(h->magic, FW_PREVIEW_MAGIC, sizeof h->magic) || h->slots == 0 ||
	    h->header_bytes + (uint64_t)h->slots * h->slot_bytes > v->shm_bytes) {
		fprintf(stderr, WHO ": the preview memory has an unknown layout\n");
		return -1;
	}
	v->slots = h->slots;
	v->header_bytes = h->header_bytes;
	v->slot_bytes = h->slot_bytes;
	v->copy = malloc(v->slot_bytes);
	return v->copy ? 0 : -1;
}

static void handle_line(struct viewer *v, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *ev, *id;

	if (!o)
		return;
	ev = json_string_value(json_object_get(o, "event"));
	id = json_string_value(json_object_get(o, "id"));
	if (ev && !strcmp(ev, "hello")) {
		if (json_integer_value(json_object_get(o, "protocol")) != 1) {
			fprintf(stderr, WHO ": the daemon speaks another protocol version\n");
			v->failed = 1;
		}
	} else if (ev && !strcmp(ev, "preview")) {
		json_decref(v->latest);
		v->latest = o;
		return;
	} else if (id && (!strcmp(id, "preview") || !strcmp(id, "subscribe"))) {
		if (!json_is_true(json_object_get(o, "ok"))) {
			const char *e = json_string_value(json_object_get(o, "error"));
			fprintf(stderr, WHO ": the daemon refused: %s\n", e ? e : "(no reason given)");
			v->failed = 1;
		} else if (!strcmp(id, "preview") && map_shm(v, o)) {
			v->failed = 1;
		}
	}
	json_decref(o);
}

static void handle_input(struct viewer *v)
{
	size_t start = 0;

	for (size_t i = 0; i < v->in_len; i++)
		if (v->in[i] == '\n') {
			handle_line(v, v->in + start, i - start);
			start = i + 1;
		}
	memmove(v->in, v->in + start, v->in_len - start);
	v->in_len -= start;
}

static float num(const json_t *o, const char *key, float dflt)
{
	const json_t *x = json_object_get(o, key);
	return json_is_number(x) ? (float)json_number_value(x) : dflt;
}

static void parse_faces(struct viewer *v, const json_t *ev)
{
	const json_t *faces = json_object_get(ev, "faces"), *f;
	size_t i;

	v->r.n_faces = 0;
	v->r.latency_ms = num(ev, "latency_ms", -1);
	json_array_foreach(faces, i, f) {
		struct fw_display_face *d;
		const json_t *box = json_object_get(f, "box"), *pts = json_object_get(f, "keypoints"), *pt;
		const json_t *lm = json_object_get(f, "landmarks"), *pose = json_object_get(f, "pose");
		const char *name = json_string_value(json_object_get(f, "identity"));
		const char *att = json_string_value(json_object_get(f, "attention"));
		size_t k;

		if (v->r.n_faces == FW_PREVIEW_MAX_FACES || json_array_size(box) != 4)
			break;
		d = &v->r.faces[v->r.n_faces++];
		memset(d, 0, sizeof *d);
		for (int j = 0; j < 4; j++)
			d->box[j] = (float)json_number_value(json_array_get(box, (size_t)j));
		d->box[2] += d->box[0]; /* [x, y, w, h] on the wire */
		d->box[3] += d->box[1];
		d->score = num(f, "score", 0);
		d->similarity = num(f, "similarity", 0);
		d->state = name ? FW_DISPLAY_IDENTIFIED : FW_DISPLAY_UNKNOWN;
		snprintf(d->name, sizeof d->name, "%s", name ? name : "");
		/* landmarks68 = on: the 68 points, the pose axes from the nose
		 * tip (iBUG point 30) and attention, as the daemon's own window */
		if (json_array_size(lm) == 68 && json_is_object(pose)) {
			pts = lm;
			d->has_pose = 1;
			d->yaw = num(pose, "yaw", 0);
			d->pitch = num(pose, "pitch", 0);
			d->roll = num(pose, "roll", 0);
			d->origin[0] = (float)json_number_value(json_array_get(json_array_get(lm, 30), 0));
			d->origin[1] = (float)json_number_value(json_array_get(json_array_get(lm, 30), 1));
		}
		if (att)
			d->attention = !strcmp(att, "looking") ? FW_DISPLAY_LOOKING
				       : !strcmp(att, "away")  ? FW_DISPLAY_AWAY
							       : FW_DISPLAY_ATTENTION_NONE;
		json_array_foreach(pts, k, pt) {
			if (d->n_points == FW_DISPLAY_MAX_POINTS)
				break;
			d->points[d->n_points][0] = (float)json_number_value(json_array_get(pt, 0));
			d->points[d->n_points][1] = (float)json_number_value(json_array_get(pt, 1));
			d->n_points++;
		}
	}
}

/* Draw the newest announced frame. 1 drawn, 0 skipped (overwritten meanwhile). */
static int draw_latest(struct viewer *v)
{
	const json_t *ev = v->latest;
	const struct fw_preview_slot *s;
	struct fw_preview_slot hdr;
	struct fw_display_picture pic;
	struct fw_display_hud hud;
	json_int_t slot = json_integer_value(json_object_get(ev, "slot"));
	uint64_t gen = (uint64_t)json_integer_value(json_object_get(ev, "gen"));
	int ww, wh, err;

	if (!v->shm || slot < 0 || (unsigned)slot >= v->slots)
		return 0;
	s = (const struct fw_preview_slot *)(v->shm + v->header_bytes + (size_t)slot * v->slot_bytes);
	if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen)
		return 0;
	memcpy(&hdr, s, sizeof hdr);
	if (hdr.bytes > v->slot_bytes - sizeof hdr)
		return 0;
	memcpy(v->copy, (const uint8_t *)s + sizeof hdr, hdr.bytes);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->gen, __ATOMIC_RELAXED) != gen)
		return 0; /* the daemon wrote a newer frame into it meanwhile */
	if (hdr.format == FW_PIXFMT_MJPEG &&
	    (size_t)hdr.width * hdr.height * 3 > v->rgb_cap) {
		free(v->rgb.data);
		v->rgb_cap = (size_t)hdr.width * hdr.height * 3;
		v->rgb.data = malloc(v->rgb_cap);
		if (!v->rgb.data)
			v->rgb_cap = 0;
	}
	fw_display_size(v->disp, &ww, &wh);
	err = fw_preview_picture(v->jpeg, (enum fw_pixfmt)hdr.format, (int)hdr.width,
				 (int)hdr.height, (int)hdr.stride, v->copy, hdr.bytes, ww, wh,
				 &v->rgb, v->rgb_cap, &pic);
	if (err)
		return 0;
	parse_faces(v, ev);
	memset(&hud, 0, sizeof hud);
	hud.fps = num(ev, "fps", -1);
	hud.latency_ms = v->r.latency_ms;
	hud.dropped = (int64_t)num(ev, "drops", -1);
	hud.cpu = num(ev, "cpu", -1);
	const char *isa = json_string_value(json_object_get(ev, "kernels"));
	snprintf(hud.isa, sizeof hud.isa, "%s", isa ? isa : "");
	fw_display_draw(v->disp, &pic, v->r.faces, v->r.n_faces, &hud);
	json_decref(v->shown);
	v->shown = json_incref(json_object_get(ev, "faces"));
	return 1;
}

int fw_cmd_preview(int argc, char **argv)
{
	enum { O_SOCKET = 256, O_FRAMES, O_SNAPSHOT };
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "frames", required_argument, NULL, O_FRAMES },
		{ "snapshot", required_argument, NULL, O_SNAPSHOT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char req[] = "{\"request\":\"preview\",\"id\":\"preview\"}\n"
				  "{\"request\":\"subscribe\",\"events\":[\"preview\"],\"id\":\"subscribe\"}\n";
	struct viewer v = { .fd = -1, .shm_fd = -1 };
	char path[4096] = "";
	const char *snapshot = NULL;
	long max_frames = 0;
	int c, rc = 1;

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end;
		switch (c) {
		case O_SOCKET: snprintf(path, sizeof path, "%s", optarg); break;
		case O_FRAMES:
			max_frames = strtol(optarg, &end, 10);
			if (*end || max_frames < 0) {
				fprintf(stderr, WHO ": --frames takes a number of frames, not '%s'\n", optarg);
				return 2;
			}
			break;
		case O_SNAPSHOT: snapshot = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, WHO ": unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (snapshot && !max_frames) {
		fprintf(stderr, WHO ": --snapshot needs --frames N (press s in the window otherwise)\n");
		return 2;
	}
	if (!path[0] && fw_paths_socket(path, sizeof path)) {
		fprintf(stderr, WHO ": the default socket path is too long; give --socket PATH\n");
		return 2;
	}
	v.fd = connect_to(path);
	if (v.fd < 0) {
		fprintf(stderr, WHO ": cannot connect to facewatchd on %s: %s\n", path,
			fw_strerror(v.fd));
		return 1;
	}
	if (send(v.fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
		fprintf(stderr, WHO ": %s: %s\n", path, strerror(errno));
		goto done;
	}
	if (fw_jpeg_create(&v.jpeg) ||
	    fw_display_open(&v.disp, &(struct fw_display_options){ .title = "facewatch preview" }))
		goto done;

	while (!v.failed) {
		struct pollfd p = { .fd = v.fd, .events = POLLIN };
		if (fw_display_poll(v.disp) == FW_DISPLAY_QUIT) {
			rc = 0;
			break;
		}
		if (poll(&p, 1, POLL_MS) > 0) {
			if (read_some(&v) < 0) {
				fprintf(stderr, WHO ": facewatchd on %s closed the connection\n", path);
				break;
			}
			handle_input(&v);
		}
		if (v.latest && !v.failed) {
			int drawn = draw_latest(&v);
			json_decref(v.latest);
			v.latest = NULL;
			if (!drawn)
				continue;
			v.frames++;
			if (max_frames && v.frames >= max_frames) {
				rc = snapshot && fw_display_snapshot(v.disp, snapshot, NULL, 0) ? 1 : 0;
				if (!rc) {
					/* what was shown last, as the daemon described it */
					int ww, wh;
					fw_display_size(v.disp, &ww, &wh);
					json_t *o = json_pack("{sI sO* ss* si si}", "frames",
							      (json_int_t)v.frames, "faces", v.shown,
							      "snapshot", snapshot, "width", ww,
							      "height", wh);
					char *line = o ? json_dumps(o, JSON_COMPACT |
								    JSON_REAL_PRECISION(6)) : NULL;
					if (line)
						puts(line);
					free(line);
					json_decref(o);
				}
				break;
			}
			fw_display_present(v.disp);
		}
	}
done:
	json_decref(v.latest);
	json_decref(v.shown);
	fw_display_close(v.disp);
	fw_jpeg_destroy(v.jpeg);
	if (v.shm)
		munmap((void *)v.shm, v.shm_bytes);
	if (v.shm_fd >= 0)
		close(v.shm_fd);
	if (v.fd >= 0)
		close(v.fd);
	free(v.copy);
	free(v.rgb.data);
	free(v.in);
	return rc;
}
