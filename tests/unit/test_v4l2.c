/* V4L2 capture against the fake camera (tests/support/fakecam.c, linked in):
 * format negotiation (MJPEG preferred, YUYV fallback, RGB24 through libv4l2
 * for a grey-only IR camera), streaming with increasing sequence and
 * timestamps, choosing a camera by stable name, and enumeration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "capture/source.h"
#include "capture/v4l2.h"
#include "core/fw.h"
#include "fakecam.h"
#include "testutil.h"

#define CLIP "data/video/short_hamilton_clip.mjpeg"
#define BY_ID "usb-Fake_Camera_1234-video-index0"
#define BY_PATH "pci-0000:00:14.0-usb-0:1:1.0-video-index0"

/* A private /dev: video0 (claimed by fakecam), video1 (a plain file, not a
 * device), and the udev-style stable names. */
static char dev_dir[64], node[128];
static char last_error[1024];

static void log_sink(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == FW_LOG_ERROR)
		snprintf(last_error, sizeof last_error, "%s", msg);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fclose(f);
}

static void link_name(const char *kind, const char *name, const char *target)
{
	char p[256];

	snprintf(p, sizeof p, "%s/v4l/%s/%s", dev_dir, kind, name);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	char p[256];

	(void)state;
	snprintf(dev_dir, sizeof dev_dir, "/tmp/fw_v4l2_XXXXXX");
	assert_non_null(mkdtemp(dev_dir));
	snprintf(node, sizeof node, "%s/video0", dev_dir);
	touch(node);
	snprintf(p, sizeof p, "%s/video1", dev_dir);
	touch(p);
	snprintf(p, sizeof p, "%s/v4l", dev_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/v4l/by-id", dev_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/v4l/by-path", dev_dir);
	mkdir(p, 0755);
	link_name("by-id", BY_ID, "../../video0");
	link_name("by-path", BY_PATH, "../../video0");
	last_error[0] = 0;
	fw_log_set_sink(log_sink, NULL);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	fw_log_set_sink(NULL, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dev_dir);
	return system(cmd);
}

static void fake(unsigned formats, int fps, const char *card)
{
	struct fakecam_config c = { .path = node, .mjpeg = tu_shared(CLIP), .formats = formats,
				    .fps = fps, .card = card };

	assert_int_equal(fakecam_configure(&c), 0);
}

static struct fw_source *open_cam(const struct fw_v4l2_options *extra, int w, int h, int fps)
{
	struct fw_v4l2_options v = { 0 };
	struct fw_source_options o = { .kind = FW_SOURCE_V4L2, .uri = BY_ID, .width = w,
				       .height = h, .fps = fps, .v4l2 = &v };
	struct fw_source *s = NULL;

	if (extra)
		v = *extra;
	v.dev_dir = dev_dir;
	assert_int_equal(fw_source_open(&s, &o), 0);
	return s;
}

static void test_negotiate_mjpeg_preferred(void **state)
{
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_v4l2_options yuyv_first = { .prefer = FW_PIXFMT_YUYV };

	(void)state;
	fake(FAKECAM_MJPEG | FAKECAM_YUYV, 30, NULL);
	s = open_cam(NULL, 640, 480, 30);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.format, FW_PIXFMT_MJPEG);
	/* the camera's only MJPEG size, though it does not cover 640x480 */
	assert_int_equal(st.width, 640);
	assert_int_equal(st.height, 360);
	assert_int_equal(st.fps_num, 30);
	assert_int_equal(st.fps_den, 1);
	assert_true(fw_source_frame_bytes(s) >= 640 * 360 * 3);
	fw_source_close(s);

	s = open_cam(&yuyv_first, 640, 480, 15);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.format, FW_PIXFMT_YUYV);
	assert_int_equal(st.width, 640);
	assert_int_equal(st.height, 480);
	assert_int_equal(st.fps_num, 15); /* the camera offers 30 and 15 */
	fw_source_close(s);
}

/* A camera without MJPEG: YUYV at the wanted size, or the smallest size that
 * covers it; frames convert to the fake's bars. */
static void test_yuyv_fallback(void **state)
{
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_ring *r;
	struct fw_frame *f;
	struct fw_image img;

	(void)state;
	fake(FAKECAM_YUYV, 0, NULL);
	s = open_cam(NULL, 800, 600, 30);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.format, FW_PIXFMT_YUYV);
	assert_int_equal(st.width, 1280);
	assert_int_equal(st.height, 720);
	fw_source_close(s);

	s = open_cam(NULL, 640, 480, 30);
	assert_int_equal(fw_ring_create(&r, 3, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_source_read(s, r, 2000), 0);
	assert_int_equal(fw_ring_take(r, 0, &f), 0);
	assert_int_equal(f->format, FW_PIXFMT_YUYV);
	assert_int_equal(f->width, 640);
	assert_int_equal(f->height, 480);
	assert_int_equal(f->stride, 1280);
	assert_int_equal(f->bytes, 640 * 480 * 2);
	assert_int_equal(fw_image_alloc(&img, 160, 120), 0);
	assert_int_equal(fw_frame_to_rgb(NULL, f, 4, &img, 160 * 120 * 3), 0);
	/* bars of Y 60 and 200, grey: R = G = B */
	for (int x = 0; x < 160; x += 7) {
		const uint8_t *p = img.data + 60 * (size_t)img.stride + (size_t)x * 3;

		assert_true(abs(p[0] - p[1]) <= 1 && abs(p[1] - p[2]) <= 1);
	}
	fw_image_free(&img);
	fw_ring_release(r, f);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* 20 frames at 60 fps: sequence and capture time increase, capture is
 * before dequeue, every frame is a whole JPEG that decodes at 1/4. */
static void test_stream_sequence_timestamps(void **state)
{
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_ring *r;
	struct fw_jpeg *j;
	struct fw_image img;
	int64_t last_t = 0;
	int64_t last_seq = -1;

	(void)state;
	fake(FAKECAM_MJPEG, 60, NULL);
	s = open_cam(NULL, 640, 360, 60);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(fw_image_alloc(&img, 160, 90), 0);
	for (int i = 0; i < 20; i++) {
		struct fw_frame *f;

		assert_int_equal(fw_source_read(s, r, 2000), 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		assert_int_equal(f->format, FW_PIXFMT_MJPEG);
		assert_true((int64_t)f->sequence > last_seq);
		last_seq = f->sequence;
		assert_int_equal(f->session, 1);
		assert_true(f->t_ns[FW_STAGE_CAPTURED] > last_t);
		last_t = f->t_ns[FW_STAGE_CAPTURED];
		assert_true(f->t_ns[FW_STAGE_CAPTURED] <= f->t_ns[FW_STAGE_DEQUEUED]);
		assert_true(f->t_ns[FW_STAGE_DEQUEUED] - f->t_ns[FW_STAGE_CAPTURED] < 1000000000);
		assert_int_equal(f->device_ts_ns, f->t_ns[FW_STAGE_CAPTURED]); /* monotonic stamps */
		assert_int_equal(fw_jpeg_decode(j, f->data, f->bytes, 4, &img, 160 * 90 * 3), 0);
		fw_frame_mark(f, FW_STAGE_DECODED);
		assert_true(f->t_ns[FW_STAGE_DECODED] >= f->t_ns[FW_STAGE_DEQUEUED]);
		fw_ring_release(r, f);
	}
	fw_source_get_stats(s, &st);
	assert_int_equal(st.frames, 20);
	assert_int_equal(st.state, FW_SOURCE_OK);
	assert_int_equal(st.corrupt + st.truncated, 0);
	fw_image_free(&img);
	fw_jpeg_destroy(j);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* v4l2loopback (the kernel test found it) never marks a buffer DONE in
 * QUERYBUF: frames must still flow, at the camera's pace, when poll says
 * one is ready. */
static void test_loopback_never_done(void **state)
{
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_ring *r;
	int64_t t0;

	(void)state;
	fake(FAKECAM_MJPEG, 60, NULL);
	fakecam_set_no_done(1);
	s = open_cam(NULL, 640, 360, 60);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	t0 = fw_monotonic_ns();
	for (int i = 0; i < 12; i++) {
		struct fw_frame *f;

		assert_int_equal(fw_source_read(s, r, 2000), 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		assert_int_equal(fw_mjpeg_check(f->data, f->bytes, NULL, NULL, NULL), 0);
		fw_ring_release(r, f);
	}
	/* 12 frames at 60 fps: well under the 5 s stall time */
	assert_true(fw_monotonic_ns() - t0 < 2000000000LL);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.frames, 12);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(st.state, FW_SOURCE_OK);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* A camera named by path, through a symlink, by index, by stable name, or
 * by a unique part of one; an unknown or ambiguous name is refused. */
static void test_select_by_name(void **state)
{
	char path[256], p[256];
	static const char *const names[] = { BY_ID, BY_PATH, "Fake_Camera", "0", NULL };

	(void)state;
	fake(FAKECAM_MJPEG, 30, NULL);
	for (int i = 0; names[i]; i++) {
		path[0] = 0;
		assert_int_equal(fw_v4l2_resolve(dev_dir, names[i], path, sizeof path), 0);
		if (strcmp(path, node))
			fail_msg("'%s' resolved to '%s', not '%s'", names[i], path, node);
	}
	snprintf(p, sizeof p, "%s/v4l/by-id/%s", dev_dir, BY_ID);
	assert_int_equal(fw_v4l2_resolve(dev_dir, p, path, sizeof path), 0);
	assert_string_equal(path, node);
	assert_int_equal(fw_v4l2_resolve(dev_dir, "Logitech", path, sizeof path), -ENOENT);

	/* a second camera whose name also contains Fake_Camera */
	snprintf(p, sizeof p, "%s/video2", dev_dir);
	touch(p);
	link_name("by-id", "usb-Fake_Camera_5678-video-index0", "../../video2");
	assert_int_equal(fw_v4l2_resolve(dev_dir, "Fake_Camera", path, sizeof path), FW_EINVAL);
	assert_non_null(strstr(last_error, "ambiguous"));
	assert_non_null(strstr(last_error, "Fake_Camera_5678"));
	assert_int_equal(fw_v4l2_resolve(dev_dir, "Camera_5678", path, sizeof path), 0);
	assert_string_equal(path, p);
}

static void test_list_devices(void **state)
{
	struct fw_v4l2_device *d;
	int n;
	char fcc[5];

	(void)state;
	fake(FAKECAM_MJPEG | FAKECAM_YUYV, 30, NULL);
	assert_int_equal(fw_v4l2_list(dev_dir, &d, &n), 0);
	assert_int_equal(n, 1); /* video1 is not a device */
	assert_string_equal(d[0].path, node);
	assert_int_equal(d[0].index, 0);
	assert_int_equal(d[0].error, 0);
	assert_int_equal(d[0].nby_id, 1);
	assert_string_equal(d[0].by_id[0], BY_ID);
	assert_int_equal(d[0].nby_path, 1);
	assert_string_equal(d[0].by_path[0], BY_PATH);
	assert_string_equal(d[0].driver, "fakecam");
	assert_string_equal(d[0].card, "Fake Camera");
	assert_string_equal(d[0].bus, "usb-0000:00:14.0-1");
	assert_int_equal(d[0].ir, 0);
	/* native formats only: libv4l's emulated RGB3/BGR3/YU12/YV12 left out */
	assert_int_equal(d[0].nformats, 2);
	assert_string_equal(fw_v4l2_fourcc_str(d[0].formats[0].fourcc, fcc), "MJPG");
	assert_int_equal(d[0].formats[0].compressed, 1);
	assert_int_equal(d[0].formats[0].nsizes, 1);
	assert_int_equal(d[0].formats[0].sizes[0].width, 640);
	assert_int_equal(d[0].formats[0].sizes[0].height, 360);
	assert_int_equal(d[0].formats[0].sizes[0].nrates, 2);
	assert_int_equal(d[0].formats[0].sizes[0].interval[0].num, 1);
	assert_int_equal(d[0].formats[0].sizes[0].interval[0].den, 30);
	assert_string_equal(fw_v4l2_fourcc_str(d[0].formats[1].fourcc, fcc), "YUYV");
	assert_int_equal(d[0].formats[1].nsizes, 4);
	assert_int_equal(d[0].formats[1].sizes[3].width, 1280);
	free(d);
}

/* An IR camera that only sends greyscale: listed as IR, and captured as
 * RGB24 converted by libv4l2. */
static void test_ir_camera_grey_only(void **state)
{
	struct fw_v4l2_device *d;
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_ring *r;
	struct fw_frame *f;
	int n;

	(void)state;
	fake(FAKECAM_GREY, 0, "Integrated IR Camera");
	assert_int_equal(fw_v4l2_list(dev_dir, &d, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(d[0].ir, 1);
	assert_int_equal(d[0].nformats, 1);
	free(d);

	s = open_cam(NULL, 640, 480, 30);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.format, FW_PIXFMT_RGB24);
	assert_int_equal(st.width, 640);
	assert_int_equal(st.height, 480);
	assert_int_equal(fw_ring_create(&r, 3, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_source_read(s, r, 2000), 0);
	assert_int_equal(fw_ring_take(r, 0, &f), 0);
	assert_int_equal(f->format, FW_PIXFMT_RGB24);
	assert_int_equal(f->stride, 640 * 3);
	assert_int_equal(f->bytes, 640 * 480 * 3);
	for (int x = 0; x < 640; x += 13) {
		const uint8_t *p = f->data + 100 * (size_t)f->stride + (size_t)x * 3;

		assert_true(p[0] == p[1] && p[1] == p[2]);
		assert_true(p[0] == 60 || p[0] == 200);
	}
	fw_ring_release(r, f);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* No camera: an error naming it, unless asked to wait for it. */
static void test_missing_camera(void **state)
{
	struct fw_v4l2_options v = { .dev_dir = dev_dir, .device = BY_ID, .wait = 1,
				     .retry_min_ms = 20 };
	struct fw_source_options o = { .kind = FW_SOURCE_V4L2, .uri = "usb-Nothing-video-index0" };
	struct fw_source *s;
	struct fw_source_stats st;
	struct fw_ring *r;

	(void)state;
	fake(FAKECAM_MJPEG, 30, NULL);
	assert_int_equal(fw_source_open(&s, &o), -ENOENT);
	assert_non_null(strstr(last_error, "usb-Nothing-video-index0"));
	assert_non_null(strstr(last_error, "not there"));

	fakecam_unplug();
	o.uri = BY_ID;
	o.v4l2 = &v;
	assert_int_equal(fw_source_open(&s, &o), 0);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_ABSENT);
	assert_int_equal(fw_ring_create(&r, 3, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_source_read(s, r, 100), -EAGAIN);
	/* plugged in later: found without reopening the source */
	fakecam_replug();
	assert_int_equal(fw_source_read(s, r, 3000), 0);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_OK);
	fw_source_close(s);
	fw_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiate_mjpeg_preferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yuyv_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_sequence_timestamps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_never_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ir_camera_grey_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_camera, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
