/* The preview hub (daemon/preview.h): viewers get the newest frame and its
 * results, the producer never runs out of ring slots because of them, and
 * socket viewers get the frame bytes through a sealed, read-only memfd
 * passed with SCM_RIGHTS, announced by `preview` events; untrusted peers
 * are refused. A real event server on a temporary socket, a real client. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "core/fw.h"
#include "daemon/events.h"
#include "daemon/preview.h"
#include "testutil.h"

#define SLOTS (4 + FW_PREVIEW_RING_REFS)
#define NOBODY 65534

static char tmpdir[64];

static struct fw_frame *produce(struct fw_ring *r, uint8_t fill, size_t bytes)
{
	struct fw_frame *f = fw_ring_write_begin(r);

	assert_non_null(f);
	memset(f->data, fill, bytes);
	f->bytes = bytes;
	f->format = FW_PIXFMT_MJPEG;
	f->width = 64, f->height = 48;
	f->sequence = fill;
	fw_ring_write_commit(r, f);
	return f;
}

static struct fw_preview_result result_with_box(float x)
{
	struct fw_preview_result r;

	memset(&r, 0, sizeof r);
	r.n_faces = 1;
	r.faces[0].box[0] = x, r.faces[0].box[1] = 10, r.faces[0].box[2] = x + 20;
	r.faces[0].box[3] = 40;
	r.faces[0].state = FW_DISPLAY_IDENTIFIED;
	snprintf(r.faces[0].name, sizeof r.faces[0].name, "alice");
	r.faces[0].similarity = 0.7f;
	r.faces[0].n_points = 1;
	r.faces[0].points[0][0] = x + 5, r.faces[0].points[0][1] = 20;
	r.latency_ms = 12.5f;
	return r;
}

/* The pipeline's own loop: take the newest, hand it to the preview, release. */
static uint8_t pipeline_step(struct fw_ring *ring, struct fw_preview *p, uint8_t fill)
{
	struct fw_frame *f;
	struct fw_preview_result r = result_with_box(fill);

	produce(ring, fill, 100);
	assert_int_equal(fw_ring_take(ring, 0, &f), 0);
	fw_preview_publish(p, f, &r, NULL);
	fw_ring_release(ring, f);
	return fill;
}

static void test_viewer_gets_newest_once(void **state)
{
	struct fw_ring *ring;
	struct fw_preview *p;
	struct fw_frame *f;
	struct fw_preview_result r;
	uint64_t last = UINT64_MAX;

	(void)state;
	assert_int_equal(fw_ring_create(&ring, SLOTS, 256), 0);
	assert_int_equal(fw_preview_create(&p, ring, NULL), 0);
	assert_int_equal(fw_preview_take(p, &last, &f, &r, NULL), 0);
	pipeline_step(ring, p, 1);
	pipeline_step(ring, p, 2);
	pipeline_step(ring, p, 3);
	assert_int_equal(fw_preview_take(p, &last, &f, &r, NULL), 1);
	assert_int_equal(f->sequence, 3);
	assert_int_equal(f->data[99], 3);
	assert_int_equal(r.n_faces, 1);
	assert_true(r.faces[0].box[0] == 3.0f);
	assert_string_equal(r.faces[0].name, "alice");
	fw_preview_release(p, f);
	/* nothing new: nothing again */
	assert_int_equal(fw_preview_take(p, &last, &f, &r, NULL), 0);
	fw_preview_destroy(p);
	fw_ring_destroy(ring);
}

/* Viewers that hold their frames (a slow window, the socket copy) never
 * make the capture thread drop frames for lack of a ring slot, while the
 * inference thread holds the frame it works on. */
static void test_slow_viewer_never_starves_the_producer(void **state)
{
	struct fw_ring *ring;
	struct fw_preview *p;
	struct fw_frame *window = NULL, *copy = NULL, *f;
	struct fw_preview_result r = result_with_box(1);
	struct fw_ring_stats st;
	uint64_t wlast = UINT64_MAX, clast = UINT64_MAX;

	(void)state;
	assert_int_equal(fw_ring_create(&ring, SLOTS, 256), 0);
	assert_int_equal(fw_preview_create(&p, ring, NULL), 0);
	for (int i = 0; i < 200; i++) {
		produce(ring, (uint8_t)i, 100);
		assert_int_equal(fw_ring_take(ring, 0, &f), 0); /* inference works on f */
		produce(ring, 0xee, 10);                         /* capture goes on meanwhile */
		produce(ring, 0xef, 10);
		fw_preview_publish(p, f, &r, NULL);
		fw_ring_release(ring, f);
		if (i % 10 == 0) {                               /* the window, now and then */
			if (window)
				fw_preview_release(p, window);
			assert_int_equal(fw_preview_take(p, &wlast, &window, &r, NULL), 1);
		}
		if (i % 3 == 1) {                                /* the socket copy, lagging */
			if (copy)
				fw_preview_release(p, copy);
			assert_int_equal(fw_preview_take(p, &clast, &copy, &r, NULL), 1);
		}
	}
	fw_ring_get_stats(ring, &st);
	assert_int_equal(st.overruns, 0);
	fw_preview_release(p, window);
	fw_preview_release(p, copy);
	fw_preview_destroy(p);
	/* every reference is back: all slots can be written again */
	for (int i = 0; i < SLOTS - 1; i++)
		produce(ring, 1, 10);
	fw_ring_get_stats(ring, &st);
	assert_int_equal(st.overruns, 0);
	fw_ring_destroy(ring);
}

struct late_publisher {
	struct fw_ring *ring;
	struct fw_preview *p;
};

static void *publish_later(void *arg)
{
	struct late_publisher *lp = arg;
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	nanosleep(&pause, NULL);
	pipeline_step(lp->ring, lp->p, 9);
	return NULL;
}

/* A viewer sleeps until a frame is published, not for its whole timeout,
 * and not at all when one is already waiting for it. */
static void test_viewer_wakes_on_publish(void **state)
{
	struct fw_ring *ring;
	struct fw_preview *p;
	struct fw_frame *f;
	struct fw_preview_result r;
	struct late_publisher lp;
	struct timespec t0, t1;
	pthread_t th;
	uint64_t last = UINT64_MAX;

	(void)state;
	assert_int_equal(fw_ring_create(&ring, SLOTS, 256), 0);
	assert_int_equal(fw_preview_create(&p, ring, NULL), 0);
	assert_int_equal(fw_preview_wait(p, last, 20), 0);   /* nothing yet: times out */
	pipeline_step(ring, p, 1);
	assert_int_equal(fw_preview_wait(p, last, 20000), 1); /* one waits: at once */
	assert_int_equal(fw_preview_take(p, &last, &f, &r, NULL), 1);
	fw_preview_release(p, f);
	assert_int_equal(fw_preview_wait(p, last, 20), 0);   /* taken: nothing new */
	lp.ring = ring, lp.p = p;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pthread_create(&th, NULL, publish_later, &lp), 0);
	assert_int_equal(fw_preview_wait(p, last, 20000), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	/* woken by the publication (after 0.1 s), long before the 20 s */
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	assert_int_equal(fw_preview_take(p, &last, &f, &r, NULL), 1);
	assert_int_equal(f->sequence, 9);
	fw_preview_release(p, f);
	fw_preview_destroy(p);
	fw_ring_destroy(ring);
}

/* The window's pictures (decoded once, by the pipeline): the scale asked
 * for follows the window's size and only MJPEG frames get one; a picture
 * the window holds is never lent for writing while it shows it, however
 * many frames pass; when every buffer is held, frames go without one. */
static void test_pictures_lent_and_shown(void **state)
{
	struct fw_ring *ring;
	struct fw_preview *p;
	struct fw_frame *f, *shown = NULL, *other = NULL;
	const struct fw_image *held = NULL, *held2 = NULL, *none = NULL;
	struct fw_image *img, *again;
	struct fw_preview_result r = result_with_box(1);
	struct fw_frame yuyv = { .format = FW_PIXFMT_YUYV, .width = 640, .height = 360 };
	struct fw_frame mjpeg = { .format = FW_PIXFMT_MJPEG, .width = 640, .height = 360 };
	uint64_t last = UINT64_MAX, last2 = UINT64_MAX;
	size_t cap = 0;

	(void)state;
	assert_int_equal(fw_ring_create(&ring, SLOTS, 256), 0);
	assert_int_equal(fw_preview_create(&p, ring, NULL), 0);
	assert_int_equal(fw_preview_want_denom(p, &mjpeg), 0); /* no window */
	fw_preview_want(p, 320, 180);
	assert_int_equal(fw_preview_want_denom(p, &mjpeg), 2);
	assert_int_equal(fw_preview_want_denom(p, &yuyv), 0);   /* shown as it is */
	fw_preview_want(p, 641, 360);
	assert_int_equal(fw_preview_want_denom(p, &mjpeg), 1);
	fw_preview_want(p, 100, 60);
	assert_int_equal(fw_preview_want_denom(p, &mjpeg), 4);

	/* lent until published: the same buffer again */
	img = fw_preview_lend(p, 300, &cap);
	assert_non_null(img);
	assert_true(cap >= 300);
	again = fw_preview_lend(p, 300, &cap);
	assert_ptr_equal(img, again);
	memset(img->data, 7, 300);
	img->width = 10, img->height = 10, img->stride = 30;
	produce(ring, 7, 100);
	assert_int_equal(fw_ring_take(ring, 0, &f), 0);
	fw_preview_publish(p, f, &r, img);
	fw_ring_release(ring, f);
	assert_int_equal(fw_preview_take(p, &last, &shown, &r, &held), 1);
	assert_ptr_equal(held, img);
	assert_int_equal(shown->sequence, 7);

	/* the window keeps showing it while 200 frames pass */
	for (int i = 0; i < 200; i++) {
		uint8_t v = (uint8_t)(10 + i % 200);
		img = fw_preview_lend(p, 300, &cap);
		assert_non_null(img);
		assert_ptr_not_equal(img, held);
		memset(img->data, v, 300);
		produce(ring, v, 100);
		assert_int_equal(fw_ring_take(ring, 0, &f), 0);
		fw_preview_publish(p, f, &r, img);
		fw_ring_release(ring, f);
	}
	for (int i = 0; i < 300; i++)
		assert_int_equal(held->data[i], 7);

	/* a second viewer holds the newest: with the one being lent, all three
	 * buffers are taken; the next frame goes without a picture */
	assert_int_equal(fw_preview_take(p, &last2, &other, &r, &held2), 1);
	assert_non_null(held2);
	assert_ptr_not_equal(held2, held);
	img = fw_preview_lend(p, 300, &cap);      /* the third */
	assert_non_null(img);
	produce(ring, 1, 100);
	assert_int_equal(fw_ring_take(ring, 0, &f), 0);
	fw_preview_publish(p, f, &r, img);        /* the hub's now; held2 only the viewer's */
	fw_ring_release(ring, f);
	assert_null(fw_preview_lend(p, 300, &cap));
	produce(ring, 2, 100);
	assert_int_equal(fw_ring_take(ring, 0, &f), 0);
	fw_preview_publish(p, f, &r, NULL);
	fw_ring_release(ring, f);
	fw_preview_release(p, shown);
	fw_preview_release_picture(p, held);
	assert_int_equal(fw_preview_take(p, &last, &shown, &r, &none), 1);
	assert_null(none);                        /* shown: decoded by the window */
	assert_int_equal(shown->sequence, 2);
	/* released, the buffers can be lent again */
	assert_non_null(fw_preview_lend(p, 300, &cap));
	fw_preview_release(p, shown);
	fw_preview_release(p, other);
	fw_preview_release_picture(p, held2);
	fw_preview_destroy(p);
	fw_ring_destroy(ring);
}

/* MJPEG is decoded no larger than the window; YUYV passes untouched. */
static void test_picture_decodes_at_window_size(void **state)
{
	size_t len, pos = 0, start, size;
	uint8_t *clip = tu_read_file(tu_shared("data/video/short_hamilton_clip.mjpeg"), &len);
	struct fw_jpeg *j;
	struct fw_display_picture pic;
	static uint8_t buf[640 * 480 * 3];
	struct fw_image rgb = { .data = buf };
	static uint8_t yuyv[64 * 48 * 2];

	(void)state;
	assert_non_null(clip);
	assert_int_equal(fw_mjpeg_next(clip, len, &pos, &start, &size, NULL), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(fw_preview_picture(j, FW_PIXFMT_MJPEG, 640, 360, 0, clip + start, size,
					    300, 160, &rgb, sizeof buf, &pic), 0);
	assert_int_equal(pic.format, FW_DISPLAY_RGB24);
	assert_int_equal(pic.width, 320);
	assert_int_equal(pic.height, 180);
	assert_int_equal(pic.coord_width, 640);
	assert_int_equal(pic.coord_height, 360);
	assert_ptr_equal(pic.data, buf);
	assert_int_equal(fw_preview_picture(j, FW_PIXFMT_MJPEG, 640, 360, 0, clip + start, size,
					    0, 0, &rgb, sizeof buf, &pic), 0);
	assert_int_equal(pic.width, 640);
	/* a cut frame is refused, not shown */
	assert_int_not_equal(fw_preview_picture(j, FW_PIXFMT_MJPEG, 640, 360, 0, clip + start,
						size / 2, 0, 0, &rgb, sizeof buf, &pic), 0);
	assert_int_equal(fw_preview_picture(j, FW_PIXFMT_YUYV, 64, 48, 128, yuyv, sizeof yuyv, 0, 0,
					    &rgb, sizeof buf, &pic), 0);
	assert_int_equal(pic.format, FW_DISPLAY_YUYV);
	assert_ptr_equal(pic.data, yuyv);
	assert_int_equal(fw_preview_picture(j, FW_PIXFMT_YUYV, 64, 48, 128, yuyv, 100, 0, 0,
					    &rgb, sizeof buf, &pic), FW_ETRUNC);
	fw_jpeg_destroy(j);
	free(clip);
}

/* ---- socket viewers -------------------------------------------------------- */

struct client {
	int fd, shm_fd;
	char buf[1 << 16];
	size_t len;
};

static void client_open(struct client *c, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof *c);
	c->shm_fd = -1;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
}

/* The next line from the daemon (the server loop driven meanwhile), with
 * any fd that came along kept in c->shm_fd. NULL after 3 s. */
static json_t *client_line(struct fw_events *srv, struct client *c)
{
	for (int spins = 0; spins < 300; spins++) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			json_t *o = json_loadb(c->buf, (size_t)(nl - c->buf), 0, NULL);
			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
			return o;
		}
		if (srv)
			fw_events_dispatch(srv, 0);
		union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
		struct iovec iov = { c->buf + c->len, sizeof c->buf - c->len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				     .msg_controllen = sizeof u.b };
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return NULL;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&c->shm_fd, CMSG_DATA(cm), sizeof(int));
		c->len += (size_t)n;
	}
	return NULL;
}

static json_t *client_until(struct fw_events *srv, struct client *c, const char *key,
			    const char *value)
{
	json_t *o;

	while ((o = client_line(srv, c))) {
		const char *v = json_string_value(json_object_get(o, key));
		if (v && !strcmp(v, value))
			return o;
		json_decref(o);
	}
	return NULL;
}

static void client_send(struct client *c, const char *s)
{
	assert_int_equal(send(c->fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

static void test_socket_viewer_gets_frames_in_shared_memory(void **state)
{
	struct fw_events_options eo = { .listen_fd = -1 };
	struct fw_events *srv;
	struct fw_events_stats st;
	struct fw_ring *ring;
	struct fw_preview *p;
	struct client c;
	char path[128];
	json_t *o, *face;
	const uint8_t *shm;
	const struct fw_preview_slot *slot;
	size_t shm_bytes;
	uint64_t seq;

	(void)state;
	snprintf(path, sizeof path, "%s/share.sock", tmpdir);
	eo.path = path;
	assert_int_equal(fw_events_create(&srv, &eo), 0);
	assert_int_equal(fw_ring_create(&ring, SLOTS, 4096), 0);
	assert_int_equal(fw_preview_create(&p, ring, srv), 0);
	assert_int_equal(fw_preview_serve(p), 0);

	client_open(&c, path);
	o = client_until(srv, &c, "event", "hello");
	assert_non_null(o);
	json_decref(o);

	/* before anyone asked: no copy, no event */
	pipeline_step(ring, p, 7);
	fw_events_get_stats(srv, &st);
	seq = st.seq;
	fw_preview_share(p);
	fw_events_get_stats(srv, &st);
	assert_int_equal(st.seq, seq);

	client_send(&c, "{\"request\":\"preview\",\"id\":\"p\"}\n"
			"{\"request\":\"subscribe\",\"events\":[\"preview\"],\"id\":\"s\"}\n");
	o = client_until(srv, &c, "id", "p");
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_true(c.shm_fd >= 0);
	shm_bytes = (size_t)json_integer_value(json_object_get(o, "shm_bytes"));
	assert_int_equal(json_integer_value(json_object_get(o, "slots")), FW_PREVIEW_SLOTS);
	json_decref(o);
	o = client_until(srv, &c, "id", "s");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);

	/* the viewer can read, not write, grow or shrink it */
	shm = mmap(NULL, shm_bytes, PROT_READ, MAP_SHARED, c.shm_fd, 0);
	assert_true(shm != MAP_FAILED);
	assert_memory_equal(((const struct fw_preview_shm *)shm)->magic, FW_PREVIEW_MAGIC, 8);
	assert_true(mmap(NULL, shm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c.shm_fd, 0) == MAP_FAILED);
	assert_int_not_equal(ftruncate(c.shm_fd, 16), 0);

	for (int k = 0; k < 5; k++) {
		uint8_t fill = (uint8_t)(0x40 + k);
		pipeline_step(ring, p, fill);
		fw_preview_share(p);
		o = client_until(srv, &c, "event", "preview");
		assert_non_null(o);
		int s = (int)json_integer_value(json_object_get(o, "slot"));
		assert_int_equal(s, k % FW_PREVIEW_SLOTS);
		slot = (const void *)(shm + ((const struct fw_preview_shm *)shm)->header_bytes +
				      (size_t)s * ((const struct fw_preview_shm *)shm)->slot_bytes);
		assert_int_equal(slot->gen, json_integer_value(json_object_get(o, "gen")));
		assert_int_equal(slot->gen % 2, 0);
		assert_int_equal(slot->bytes, 100);
		assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 100);
		assert_string_equal(json_string_value(json_object_get(o, "format")), "MJPEG");
		assert_int_equal(json_integer_value(json_object_get(o, "width")), 64);
		for (int i = 0; i < 100; i++)
			assert_int_equal(((const uint8_t *)(slot + 1))[i], fill);
		face = json_array_get(json_object_get(o, "faces"), 0);
		assert_true(json_real_value(json_array_get(json_object_get(face, "box"), 0)) == fill);
		assert_string_equal(json_string_value(json_object_get(face, "identity")), "alice");
		assert_int_equal(json_array_size(json_object_get(face, "keypoints")), 1);
		assert_true(json_number_value(json_object_get(o, "latency_ms")) == 12.5);
		json_decref(o);
		/* the same frame twice is shared once */
		fw_events_get_stats(srv, &st);
		seq = st.seq;
		fw_preview_share(p);
		fw_events_get_stats(srv, &st);
		assert_int_equal(st.seq, seq);
	}
	munmap((void *)shm, shm_bytes);
	close(c.shm_fd);
	close(c.fd);
	fw_preview_destroy(p);
	fw_events_destroy(srv);
	fw_ring_destroy(ring);
}

/* A peer the daemon does not trust gets an error and no memory. */
static void test_untrusted_viewer_refused(void **state)
{
	struct fw_events_options eo = { .listen_fd = -1, .mode = 0666 };
	struct fw_events *srv;
	struct fw_ring *ring;
	struct fw_preview *p;
	char path[128];
	pid_t pid;
	int status = -1;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to fork a child that becomes uid %d\n", NOBODY);
		skip();
	}
	assert_int_equal(chmod(tmpdir, 0711), 0);
	snprintf(path, sizeof path, "%s/nobody.sock", tmpdir);
	eo.path = path;
	assert_int_equal(fw_events_create(&srv, &eo), 0);
	assert_int_equal(fw_ring_create(&ring, SLOTS, 4096), 0);
	assert_int_equal(fw_preview_create(&p, ring, srv), 0);
	assert_int_equal(fw_preview_serve(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct client c;
		json_t *o;
		const char *err;
		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(10);
		client_open(&c, path);
		client_send(&c, "{\"request\":\"preview\",\"id\":\"p\"}\n");
		o = client_until(NULL, &c, "id", "p");
		if (!o)
			_exit(11);
		err = json_string_value(json_object_get(o, "error"));
		if (json_is_true(json_object_get(o, "ok")) || c.shm_fd >= 0 || !err ||
		    !strstr(err, "permission denied"))
			_exit(12);
		_exit(0);
	}
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		fw_events_dispatch(srv, 10);
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("child did not finish");
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	fw_preview_destroy(p);
	fw_events_destroy(srv);
	fw_ring_destroy(ring);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/fw-preview-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_viewer_gets_newest_once),
		cmocka_unit_test(test_slow_viewer_never_starves_the_producer),
		cmocka_unit_test(test_viewer_wakes_on_publish),
		cmocka_unit_test(test_pictures_lent_and_shown),
		cmocka_unit_test(test_picture_decodes_at_window_size),
		cmocka_unit_test(test_socket_viewer_gets_frames_in_shared_memory),
		cmocka_unit_test(test_untrusted_viewer_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
