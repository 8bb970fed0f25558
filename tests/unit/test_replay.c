/* Replay sources: the shared .mjpeg clip read in place, unpaced and paced
 * at 30 fps, looping; a folder of images in name order with bad files
 * skipped and counted; the capture thread ending the stream. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "capture/source.h"
#include "core/fw.h"
#include "testutil.h"

#define CLIP "data/video/short_hamilton_clip.mjpeg"
#define CLIP_FRAMES 300

static char last_error[512];

static void log_sink(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == FW_LOG_ERROR)
		snprintf(last_error, sizeof last_error, "%s", msg);
}

static int setup(void **state)
{
	(void)state;
	last_error[0] = 0;
	fw_log_set_sink(log_sink, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fw_log_set_sink(NULL, NULL);
	return 0;
}

static void open_clip(struct fw_source **s, struct fw_ring **r, int fps, int loop)
{
	struct fw_source_options o = { .uri = tu_shared(CLIP), .fps = fps, .loop = loop };

	assert_int_equal(fw_source_open(s, &o), 0);
	assert_int_equal(fw_ring_create(r, 4, fw_source_frame_bytes(*s)), 0);
}

/* Unpaced: all 300 frames, in order, each a whole 640x360 JPEG; then the end. */
static void test_mjpeg_unpaced(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_source_stats st;
	int64_t t0 = fw_monotonic_ns(), last_t = 0;

	(void)state;
	open_clip(&s, &r, 0, 0);
	for (int i = 0; i < CLIP_FRAMES; i++) {
		struct fw_frame *f;
		size_t used = 0;

		assert_int_equal(fw_source_read(s, r, 1000), 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		assert_int_equal(f->format, FW_PIXFMT_MJPEG);
		assert_int_equal(f->width, 640);
		assert_int_equal(f->height, 360);
		assert_int_equal(f->sequence, i);
		assert_int_equal(fw_mjpeg_check(f->data, f->bytes, &used, NULL, NULL), 0);
		assert_int_equal(used, f->bytes);
		assert_true(f->t_ns[FW_STAGE_CAPTURED] >= last_t);
		last_t = f->t_ns[FW_STAGE_CAPTURED];
		fw_ring_release(r, f);
	}
	assert_int_equal(fw_source_read(s, r, 1000), -ENODATA);
	/* unpaced means no waiting: 300 frames take far less than 10 s at 30 fps */
	assert_true(fw_monotonic_ns() - t0 < 5000000000ll);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.frames, CLIP_FRAMES);
	assert_int_equal(st.corrupt, 0);
	assert_int_equal(st.state, FW_SOURCE_ENDED);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* Paced at 30 fps: about 30 frames in one second (25..35 allows for a busy
 * machine), and frames are not bunched: no two closer than half a period. */
static void test_mjpeg_paced_30fps(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	int64_t t0, end;
	int frames = 0, bunched = 0;
	int64_t prev = 0;

	(void)state;
	open_clip(&s, &r, 30, 0);
	t0 = fw_monotonic_ns();
	end = t0 + 1000000000;
	for (;;) {
		int64_t now = fw_monotonic_ns();
		int err;

		if (now >= end)
			break;
		err = fw_source_read(s, r, (int)((end - now) / 1000000) + 1);
		if (err == -EAGAIN)
			continue;
		assert_int_equal(err, 0);
		now = fw_monotonic_ns();
		if (now > end)
			break;
		if (prev && now - prev < 1000000000 / 60)
			bunched++;
		prev = now;
		frames++;
	}
	if (frames < 25 || frames > 35)
		fail_msg("%d frames in 1 s at 30 fps", frames);
	assert_true(bunched <= 2);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* Looping: past the end the clip starts again; sequence keeps counting. */
static void test_mjpeg_loop(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_source_stats st;
	struct fw_frame *f;

	(void)state;
	open_clip(&s, &r, 0, 1);
	for (int i = 0; i < CLIP_FRAMES + 20; i++) {
		assert_int_equal(fw_source_read(s, r, 1000), 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		assert_int_equal(f->sequence, i);
		fw_ring_release(r, f);
	}
	fw_source_get_stats(s, &st);
	assert_int_equal(st.loops, 1);
	assert_int_equal(st.frames, CLIP_FRAMES + 20);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* The capture thread drives an unpaced replay to its end and closes the
 * ring: the consumer sees increasing frames, then -EPIPE; what it did not
 * take was counted dropped. */
static void test_capture_thread_to_end(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_capture *c;
	struct fw_ring_stats rs;
	int64_t last = -1;
	unsigned taken = 0;

	(void)state;
	open_clip(&s, &r, 0, 0);
	assert_int_equal(fw_capture_start(&c, s, r), 0);
	for (;;) {
		struct fw_frame *f;
		int err = fw_ring_take(r, 5000, &f);

		if (err == -EPIPE)
			break;
		assert_int_equal(err, 0);
		assert_true((int64_t)f->index > last);
		last = (int64_t)f->index;
		taken++;
		fw_ring_release(r, f);
	}
	fw_capture_stop(c);
	fw_ring_get_stats(r, &rs);
	assert_int_equal(rs.published, CLIP_FRAMES);
	assert_int_equal(last, CLIP_FRAMES - 1);
	assert_int_equal(rs.taken + rs.dropped, CLIP_FRAMES);
	assert_int_equal(rs.taken, taken);
	fw_source_close(s);
	fw_ring_destroy(r);
}

static void test_mjpeg_not_a_recording(void **state)
{
	char path[] = "/tmp/fw_replay_XXXXXX";
	int fd = mkstemp(path);
	struct fw_source *s;
	struct fw_source_options o = { .kind = FW_SOURCE_MJPEG_FILE, .uri = path };

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a jpeg at all\xff\xd8\xff", 20), 20);
	close(fd);
	assert_int_equal(fw_source_open(&s, &o), FW_EFORMAT);
	assert_non_null(strstr(last_error, path));
	assert_non_null(strstr(last_error, "no complete JPEG frame"));
	unlink(path);
}

/* --- folder --------------------------------------------------------------------- */

static void write_jpeg(const char *dir, const char *name, int w, int h)
{
	uint8_t *rgb = calloc((size_t)w * (size_t)h, 3), *jpg = NULL;
	unsigned long len = 0;
	tjhandle tj = tjInitCompress();
	char path[512];
	FILE *f;

	assert_int_equal(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpg, &len, TJSAMP_420, 80, 0), 0);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(jpg, 1, len, f), len);
	fclose(f);
	tjFree(jpg);
	tjDestroy(tj);
	free(rgb);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Images come in byte order of their names (the width tells which file);
 * other files are ignored; a broken JPEG is skipped and counted; looping
 * starts again at the first. */
static void test_folder_order_skip_loop(void **state)
{
	char dir[] = "/tmp/fw_folder_XXXXXX", cmd[600];
	static const int order[] = { 16, 24, 32, 40 }; /* 10.jpg 9.jpg a.jpeg b.JPG */
	struct fw_source_options o = { .loop = 1 };
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_source_stats st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_jpeg(dir, "b.JPG", 40, 8);
	write_jpeg(dir, "a.jpeg", 32, 8);
	write_jpeg(dir, "9.jpg", 24, 8);
	write_jpeg(dir, "10.jpg", 16, 8);
	write_text(dir, "notes.txt", "not an image");
	write_text(dir, "a2.jpg", "broken: not a JPEG");
	o.uri = dir;
	assert_int_equal(fw_source_open(&s, &o), 0);
	assert_int_equal(fw_ring_create(&r, 3, fw_source_frame_bytes(s)), 0);
	for (int i = 0; i < 8; i++) {
		struct fw_frame *f;

		assert_int_equal(fw_source_read(s, r, 1000), 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		assert_int_equal(f->format, FW_PIXFMT_MJPEG);
		assert_int_equal(f->width, order[i % 4]);
		assert_int_equal(f->height, 8);
		assert_int_equal(f->sequence, i);
		fw_ring_release(r, f);
	}
	fw_source_get_stats(s, &st);
	assert_int_equal(st.corrupt, 2); /* a2.jpg, once per pass */
	assert_int_equal(st.loops, 1);
	fw_source_close(s);
	fw_ring_destroy(r);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The shared frames folder, read in place, as fast as possible. */
static void test_folder_shared_frames(void **state)
{
	struct fw_source_options o = { .uri = tu_shared("data/video/hamilton_frames") };
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_jpeg *j;
	struct fw_image img;
	int n = 0;

	(void)state;
	assert_int_equal(fw_source_open(&s, &o), 0); /* AUTO: a directory is a folder */
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(fw_image_alloc(&img, 160, 90), 0);
	for (;;) {
		struct fw_frame *f;
		int err = fw_source_read(s, r, 1000);

		if (err == -ENODATA)
			break;
		assert_int_equal(err, 0);
		assert_int_equal(fw_ring_take(r, 0, &f), 0);
		if (n % 50 == 0) {
			assert_int_equal(fw_frame_to_rgb(j, f, 4, &img, 160 * 90 * 3), 0);
			assert_int_equal(img.width, f->width / 4);
		}
		fw_ring_release(r, f);
		n++;
	}
	assert_int_equal(n, 300);
	fw_image_free(&img);
	fw_jpeg_destroy(j);
	fw_source_close(s);
	fw_ring_destroy(r);
}

static void test_folder_empty(void **state)
{
	char dir[] = "/tmp/fw_empty_XXXXXX";
	struct fw_source_options o = { .kind = FW_SOURCE_FOLDER };
	struct fw_source *s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	o.uri = dir;
	assert_int_equal(fw_source_open(&s, &o), FW_EFORMAT);
	assert_non_null(strstr(last_error, dir));
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mjpeg_unpaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mjpeg_paced_30fps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mjpeg_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_thread_to_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mjpeg_not_a_recording, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_order_skip_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_shared_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
