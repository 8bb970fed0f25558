/* V4L2 capture when the camera misbehaves (fake camera, fault injection):
 * unplugged mid-stream and back, busy in another process, corrupt and
 * truncated frames, a stalled stream, and a consumer slower than the camera.
 * Each fault is survived without reopening the source from outside, and
 * logged once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

static char dev_dir[64], node[128];

/* --- log capture (the capture thread logs too) ------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int n_warn, n_info;
static char warns[8][512], infos[8][512];

static void log_sink(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&log_lock);
	if (level <= FW_LOG_WARN) {
		snprintf(warns[n_warn % 8], sizeof warns[0], "%s", msg);
		n_warn++;
	} else if (level == FW_LOG_INFO) {
		snprintf(infos[n_info % 8], sizeof infos[0], "%s", msg);
		n_info++;
	}
	pthread_mutex_unlock(&log_lock);
}

static int warnings(void)
{
	int n;

	pthread_mutex_lock(&log_lock);
	n = n_warn;
	pthread_mutex_unlock(&log_lock);
	return n;
}

static int info_has(const char *needle)
{
	int found = 0;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < n_info && i < 8; i++)
		found |= strstr(infos[i], needle) != NULL;
	pthread_mutex_unlock(&log_lock);
	return found;
}

static int setup(void **state)
{
	char p[256];
	FILE *f;

	(void)state;
	snprintf(dev_dir, sizeof dev_dir, "/tmp/fw_v4l2f_XXXXXX");
	assert_non_null(mkdtemp(dev_dir));
	snprintf(node, sizeof node, "%s/video0", dev_dir);
	f = fopen(node, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(p, sizeof p, "%s/v4l", dev_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/v4l/by-id", dev_dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/v4l/by-id/%s", dev_dir, BY_ID);
	assert_int_equal(symlink("../../video0", p), 0);
	n_warn = n_info = 0;
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

static void fake(int fps)
{
	struct fakecam_config c = { .path = node, .mjpeg = tu_shared(CLIP),
				    .formats = FAKECAM_MJPEG, .fps = fps };

	assert_int_equal(fakecam_configure(&c), 0);
}

/* A camera by its by-id name, with short retry and stall times. */
static int open_cam(struct fw_source **s, int fps, int stall_ms, int wait)
{
	struct fw_v4l2_options v = { .dev_dir = dev_dir, .stall_ms = stall_ms,
				     .retry_min_ms = 20, .retry_max_ms = 100, .wait = wait };
	struct fw_source_options o = { .kind = FW_SOURCE_V4L2, .uri = BY_ID, .width = 640,
				       .height = 360, .fps = fps, .v4l2 = &v };

	return fw_source_open(s, &o);
}

/* Reads until a frame arrives or ms pass; 0 or -EAGAIN. */
static int read_frame(struct fw_source *s, struct fw_ring *r, int ms, struct fw_frame **out)
{
	int64_t end = fw_monotonic_ns() + (int64_t)ms * 1000000;

	while (fw_monotonic_ns() < end) {
		int err = fw_source_read(s, r, 50);

		if (err == 0)
			return fw_ring_take(r, 0, out);
		if (err != -EAGAIN)
			return err;
	}
	return -EAGAIN;
}

/* Reads for ms, expecting nothing; returns frames that still came. */
static int read_nothing(struct fw_source *s, struct fw_ring *r, int ms)
{
	int64_t end = fw_monotonic_ns() + (int64_t)ms * 1000000;
	int frames = 0;

	while (fw_monotonic_ns() < end) {
		struct fw_frame *f;

		if (fw_source_read(s, r, 50) == 0 && fw_ring_take(r, 0, &f) == 0) {
			fw_ring_release(r, f);
			frames++;
		}
	}
	return frames;
}

static void read_some(struct fw_source *s, struct fw_ring *r, int n)
{
	for (int i = 0; i < n; i++) {
		struct fw_frame *f;

		assert_int_equal(read_frame(s, r, 2000, &f), 0);
		fw_ring_release(r, f);
	}
}

/* Unplugged mid-stream: the source notices (ENODEV), says so once, keeps
 * retrying with backoff, and resumes when the camera returns; the
 * frames after say session 2. */
static void test_unplug_and_return(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_frame *f;
	struct fw_source_stats st;
	struct fakecam_stats fs;

	(void)state;
	fake(100);
	assert_int_equal(open_cam(&s, 100, 5000, 0), 0);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	read_some(s, r, 5);

	fakecam_unplug();
	assert_true(read_nothing(s, r, 500) <= 1);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_ABSENT);
	assert_true(st.error == -ENODEV || st.error == -ENOENT);
	assert_int_equal(st.reopens, 1);
	assert_int_equal(warnings(), 1);
	print_message("logged: %s\n", warns[0]);
	assert_non_null(strstr(warns[0], "disconnected"));
	assert_non_null(strstr(warns[0], BY_ID));

	fakecam_replug();
	assert_int_equal(read_frame(s, r, 3000, &f), 0);
	assert_int_equal(f->session, 2);
	fw_ring_release(r, f);
	read_some(s, r, 3);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_OK);
	assert_int_equal(warnings(), 1); /* the retries while away said nothing */
	assert_true(info_has("is back"));
	fakecam_get_stats(&fs);
	assert_int_equal(fs.opens, 2);
	assert_int_equal(fs.open_fds, 1);
	fw_source_close(s);
	fakecam_get_stats(&fs);
	assert_int_equal(fs.open_fds, 0);
	fw_ring_destroy(r);
}

/* Busy: the message names the device and the process holding it (found in
 * /proc); with wait the source retries quietly and starts when it is free. */
static void test_busy_names_holder(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_frame *f;
	struct fw_source_stats st;
	char link[64], target[256], comm[64] = "", holder[96];
	pid_t pid;
	int ready = 0;

	(void)state;
	fake(100);
	/* another program holding the node open: sleep, with the node on stdin */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exec sleep 30 <\"$0\"", node, (char *)NULL);
		_exit(127);
	}
	snprintf(link, sizeof link, "/proc/%d/fd/0", (int)pid);
	for (int i = 0; i < 200 && !ready; i++) {
		ssize_t n = readlink(link, target, sizeof target - 1);
		FILE *c;

		snprintf(holder, sizeof holder, "/proc/%d/comm", (int)pid);
		if ((c = fopen(holder, "r"))) {
			if (!fgets(comm, sizeof comm, c))
				comm[0] = 0;
			fclose(c);
		}
		ready = n > 0 && (target[n] = 0, !strcmp(target, node)) && !strncmp(comm, "sleep", 5);
		if (!ready)
			usleep(10000);
	}
	assert_true(ready);
	fakecam_set_busy(1);

	assert_int_equal(open_cam(&s, 100, 5000, 0), -EBUSY);
	snprintf(holder, sizeof holder, "sleep (pid %d)", (int)pid);
	assert_int_equal(warnings(), 1);
	print_message("logged: %s\n", warns[0]);
	assert_non_null(strstr(warns[0], node));
	assert_non_null(strstr(warns[0], "busy"));
	if (!strstr(warns[0], holder))
		fail_msg("'%s' does not name '%s'", warns[0], holder);

	assert_int_equal(open_cam(&s, 100, 5000, 1), 0);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	assert_int_equal(read_nothing(s, r, 300), 0);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_BUSY);
	assert_int_equal(warnings(), 2); /* once for this source, not per retry */

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	fakecam_set_busy(0);
	assert_int_equal(read_frame(s, r, 3000, &f), 0);
	fw_ring_release(r, f);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_OK);
	assert_true(info_has("is back"));
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* Damaged frames never reach the ring: scrambled and error-flagged ones
 * count as corrupt, short ones as truncated, each exactly once. */
static void test_corrupt_and_truncated_skipped(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_source_stats st;
	struct fakecam_stats fs;
	struct fw_jpeg *j;
	struct fw_image img;

	(void)state;
	fake(100);
	assert_int_equal(open_cam(&s, 100, 5000, 0), 0);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(fw_image_alloc(&img, 160, 90), 0);
	read_some(s, r, 2);
	fakecam_inject(FAKECAM_CORRUPT, 3);
	fakecam_inject(FAKECAM_TRUNCATE, 2);
	fakecam_inject(FAKECAM_ERRFLAG, 1);
	for (int i = 0; i < 10; i++) {
		struct fw_frame *f;

		assert_int_equal(read_frame(s, r, 2000, &f), 0);
		assert_int_equal(fw_mjpeg_check(f->data, f->bytes, NULL, NULL, NULL), 0);
		assert_int_equal(fw_jpeg_decode(j, f->data, f->bytes, 4, &img, 160 * 90 * 3), 0);
		fw_ring_release(r, f);
	}
	fakecam_get_stats(&fs);
	assert_int_equal(fs.faulted, 6);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.corrupt, 4);
	assert_int_equal(st.truncated, 2);
	assert_int_equal(st.state, FW_SOURCE_OK);
	assert_int_equal(warnings(), 0);
	fw_image_free(&img);
	fw_jpeg_destroy(j);
	fw_source_close(s);
	fw_ring_destroy(r);
}

/* A stream that stops (no frame for the stall time) is reopened, again and
 * again while it stays stalled, with one warning; it resumes by itself. */
static void test_stall_reopens(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_frame *f;
	struct fw_source_stats st;
	struct fakecam_stats fs;

	(void)state;
	fake(100);
	assert_int_equal(open_cam(&s, 100, 150, 0), 0);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	read_some(s, r, 3);
	fakecam_set_stall(1);
	assert_true(read_nothing(s, r, 700) <= 1);
	fw_source_get_stats(s, &st);
	assert_true(st.stalls >= 2);
	assert_int_equal(st.state, FW_SOURCE_STALLED);
	assert_int_equal(warnings(), 1);
	print_message("logged: %s\n", warns[0]);
	assert_non_null(strstr(warns[0], "no frame"));
	fakecam_get_stats(&fs);
	assert_true(fs.opens >= 3);

	fakecam_set_stall(0);
	assert_int_equal(read_frame(s, r, 2000, &f), 0);
	fw_ring_release(r, f);
	fw_source_get_stats(s, &st);
	assert_int_equal(st.state, FW_SOURCE_OK);
	assert_true(info_has("is back"));
	assert_int_equal(warnings(), 1);
	fw_source_close(s);
	fw_ring_destroy(r);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Camera at 50 fps, consumer at ~16 fps, through the capture thread: the
 * consumer always gets the newest frame (age about half a frame, not a
 * growing backlog), the ring counts what it skipped, the driver loses
 * nothing. */
static void test_slow_consumer(void **state)
{
	struct fw_source *s;
	struct fw_ring *r;
	struct fw_capture *c;
	struct fw_ring_stats rs;
	struct fw_source_stats st;
	int64_t ages[64], end, last = -1;
	int n = 0;

	(void)state;
	fake(50);
	assert_int_equal(open_cam(&s, 50, 5000, 0), 0);
	assert_int_equal(fw_ring_create(&r, 4, fw_source_frame_bytes(s)), 0);
	assert_int_equal(fw_capture_start(&c, s, r), 0);
	end = fw_monotonic_ns() + 1200000000;
	while (fw_monotonic_ns() < end && n < 64) {
		struct fw_frame *f;
		struct timespec work = { 0, 60 * 1000000 }; /* 3 camera frames */

		assert_int_equal(fw_ring_take(r, 1000, &f), 0);
		ages[n++] = fw_monotonic_ns() - f->t_ns[FW_STAGE_CAPTURED];
		assert_true((int64_t)f->index > last);
		last = (int64_t)f->index;
		nanosleep(&work, NULL);
		fw_ring_release(r, f);
	}
	fw_capture_stop(c);
	fw_ring_get_stats(r, &rs);
	fw_source_get_stats(s, &st);
	qsort(ages, (size_t)n, sizeof ages[0], cmp_i64);
	print_message("taken %d, ring dropped %llu, median age %.1f ms, max %.1f ms\n", n,
		      (unsigned long long)rs.dropped, ages[n / 2] / 1e6, ages[n - 1] / 1e6);
	assert_true(n >= 10);
	assert_true(rs.dropped >= rs.taken); /* about 2 of every 3 skipped */
	assert_true(rs.published - rs.taken - rs.dropped <= 1);
#ifndef __SANITIZE_THREAD__
	/* a queue would age frames by 3 periods per frame taken; newest-wins
	 * keeps the median within 2 periods (40 ms) */
	if (ages[n / 2] > 40000000)
		fail_msg("median frame age %.1f ms at take", ages[n / 2] / 1e6);
	assert_true(st.dropped <= 2);
#else
	/* ThreadSanitizer slows the capture thread several times over: on a
	 * loaded machine it can miss a 20 ms frame period. This tree is here
	 * for the races; the timing is asserted in the plain build. */
	print_message("driver dropped %llu (not asserted under TSan)\n",
		      (unsigned long long)st.dropped);
#endif
	fw_source_close(s);
	fw_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unplug_and_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_names_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_and_truncated_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
