/* capture_probe: facewatch's capture path against a real V4L2 driver, for
 * the qemu kernel test (run.sh boots a Debian kernel with vivid and
 * v4l2loopback and runs this inside the guest).
 *
 *   capture_probe DEVICE mjpeg|yuyv FRAMES FPS [options]
 *     --expect FILE.mjpeg   every captured MJPEG frame must be byte for byte
 *                           one of FILE's frames (what the feeder sent)
 *     --unplug DRIVER_DIR DEVNAME
 *                           after 5 frames, unbind DEVNAME from the driver
 *                           (DRIVER_DIR/unbind) while streaming, wait until
 *                           the source reports the camera absent, bind it
 *                           again and wait for frames to come back; then the
 *                           measured run
 *
 * It opens DEVICE as the daemon does (fw_source_open, libv4l2, 640x480) and
 * runs the capture thread into a 4-slot ring until FRAMES frames have been
 * published; this thread takes the newest each time and decodes it at full
 * size and at the detector's scale (fw_frame_to_rgb), as the inference
 * thread would. It prints one line per phase, "FWQ key=value ...", which the
 * host script checks; the exit status is 0 only when the format was the one
 * asked for and every frame taken was decoded (and, with --expect, was one
 * of the file's frames).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "capture/source.h"
#include "capture/v4l2.h"
#include "core/fw.h"
#include "core/image.h"

#define MAX_CLIP_FRAMES 4096

struct probe {
	struct fw_source *src;
	struct fw_ring *ring;
	struct fw_capture *cap;
	struct fw_jpeg *jpeg;
	struct fw_image full, small;
	size_t full_cap, small_cap;
	unsigned clip_crc[MAX_CLIP_FRAMES];
	int nclip;
	/* what the consumer saw since the last reset */
	int taken, decoded, unknown, flat;
	int64_t first_ns, last_ns;    /* CAPTURED time of the first and last frame taken */
	uint64_t first_idx, last_idx; /* their ring publication numbers */
	uint32_t first_seq, last_seq;
	uint32_t last_session;
};

static int fail(const char *what)
{
	printf("FWQ fail reason=\"%s\"\n", what);
	return 1;
}

/* CRC of every frame of the clip the feeder plays. */
static int load_expect(struct probe *p, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;
	size_t pos = 0, start, size;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	while (p->nclip < MAX_CLIP_FRAMES &&
	       fw_mjpeg_next(buf, (size_t)len, &pos, &start, &size, NULL) == 0)
		p->clip_crc[p->nclip++] = fw_crc32(0, buf + start, size);
	free(buf);
	return p->nclip ? 0 : -ENODATA;
}

/* A decoded picture that is one colour means the driver or the decode gave
 * nothing: count it. Both vivid's bars and the clip are far from flat. */
static int is_flat(const struct fw_image *img)
{
	int lo = 255, hi = 0;

	for (int y = 0; y < img->height; y += 3)
		for (int x = 0; x < img->width * 3; x += 7) {
			int v = img->data[(size_t)y * (size_t)img->stride + (size_t)x];

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	return hi - lo < 32;
}

/* Takes the newest frame from the ring (the capture thread fills it at the
 * camera's pace; frames this slow consumer skips are the ring's drops, as
 * in the daemon) and decodes it at full size and at the detector's scale.
 * 1 a frame, 0 none within timeout_ms. */
static int take_frame(struct probe *p, int timeout_ms)
{
	struct fw_frame *f;
	int denom;

	if (fw_ring_take(p->ring, timeout_ms, &f))
		return 0;
	if (!p->taken++) {
		p->first_ns = f->t_ns[FW_STAGE_CAPTURED];
		p->first_idx = f->index;
		p->first_seq = f->sequence;
	}
	p->last_ns = f->t_ns[FW_STAGE_CAPTURED];
	p->last_idx = f->index;
	p->last_seq = f->sequence;
	p->last_session = f->session;
	if (f->format == FW_PIXFMT_MJPEG && p->nclip) {
		unsigned crc = fw_crc32(0, f->data, f->bytes);
		int known = 0;

		for (int i = 0; i < p->nclip && !known; i++)
			known = p->clip_crc[i] == crc;
		p->unknown += !known;
	}
	denom = fw_jpeg_pick_scale(f->width, f->height, 160, 120);
	if (fw_frame_to_rgb(p->jpeg, f, 1, &p->full, p->full_cap) == 0 &&
	    fw_frame_to_rgb(p->jpeg, f, denom, &p->small, p->small_cap) == 0) {
		p->decoded++;
		p->flat += is_flat(&p->full) || is_flat(&p->small);
	}
	fw_ring_release(p->ring, f);
	return 1;
}

static void reset_counts(struct probe *p)
{
	p->taken = p->decoded = p->flat = p->unknown = 0;
}

static int write_sysfs(const char *dir, const char *file, const char *value)
{
	char path[512];
	int fd, ok;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	ok = close(fd) == 0 && ok;
	return ok ? 0 : -errno;
}

/* Unbind while streaming, see the source notice, bind, see frames again. */
static int unplug(struct probe *p, const char *drv, const char *dev)
{
	struct fw_source_stats st;
	int64_t t0, t_absent = 0, t_back = 0;
	uint32_t session0 = p->last_session;
	int err;

	t0 = fw_monotonic_ns();
	err = write_sysfs(drv, "unbind", dev);
	if (err) {
		printf("FWQ unplug unbind_error=\"%s\"\n", fw_strerror(err));
		return 1;
	}
	/* frames already queued may still arrive; then the device is gone */
	while (fw_monotonic_ns() - t0 < 10000000000LL) {
		take_frame(p, 50);
		fw_source_get_stats(p->src, &st);
		if (st.state == FW_SOURCE_ABSENT || st.state == FW_SOURCE_FAILED) {
			t_absent = fw_monotonic_ns();
			break;
		}
	}
	if (!t_absent) {
		printf("FWQ unplug absent=0\n");
		return 1;
	}
	printf("FWQ unplug absent=1 state=%s error=\"%s\" after_ms=%lld\n",
	       fw_source_state_name(st.state), fw_strerror(st.error),
	       (long long)((t_absent - t0) / 1000000));
	/* unplugged for a while: the source keeps retrying without a fuss */
	for (int64_t t = fw_monotonic_ns(); fw_monotonic_ns() - t < 1000000000LL;)
		take_frame(p, 100);
	reset_counts(p);
	err = write_sysfs(drv, "bind", dev);
	if (err) {
		printf("FWQ unplug bind_error=\"%s\"\n", fw_strerror(err));
		return 1;
	}
	t0 = fw_monotonic_ns();
	while (fw_monotonic_ns() - t0 < 20000000000LL && p->taken < 5)
		if (take_frame(p, 200) && !t_back)
			t_back = fw_monotonic_ns();
	fw_source_get_stats(p->src, &st);
	printf("FWQ unplug back=%d frames_after=%d state=%s reopens=%llu session_before=%u "
	       "session_after=%u back_ms=%lld\n",
	       t_back != 0, p->taken, fw_source_state_name(st.state),
	       (unsigned long long)st.reopens, session0, p->last_session,
	       t_back ? (long long)((t_back - t0) / 1000000) : -1LL);
	return t_back && p->taken >= 5 && st.state == FW_SOURCE_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct probe p = { 0 };
	struct fw_v4l2_options vo = { .retry_min_ms = 100, .retry_max_ms = 400,
				      .stall_ms = 3000 };
	struct fw_source_options so = { .kind = FW_SOURCE_V4L2, .v4l2 = &vo };
	struct fw_source_stats st;
	const char *expect = NULL, *drv = NULL, *devname = NULL;
	int want_frames, fps, err, bad = 0;
	enum fw_pixfmt want;
	char fcc[5];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5) {
		fprintf(stderr, "usage: capture_probe DEVICE mjpeg|yuyv FRAMES FPS "
				"[--expect FILE] [--unplug DRIVER_DIR DEVNAME]\n");
		return 2;
	}
	want = !strcmp(argv[2], "yuyv") ? FW_PIXFMT_YUYV : FW_PIXFMT_MJPEG;
	want_frames = atoi(argv[3]);
	fps = atoi(argv[4]);
	for (int i = 5; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = argv[++i];
		else if (!strcmp(argv[i], "--unplug") && i + 2 < argc) {
			drv = argv[++i];
			devname = argv[++i];
		} else {
			fprintf(stderr, "capture_probe: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (expect && (err = load_expect(&p, expect)) != 0) {
		fprintf(stderr, "capture_probe: %s: %s\n", expect, fw_strerror(err));
		return 2;
	}
	so.uri = argv[1];
	so.width = 640;
	so.height = 480;
	so.fps = fps;
	vo.prefer = want;
	err = fw_source_open(&p.src, &so);
	if (err) {
		printf("FWQ open device=%s error=\"%s\"\n", argv[1], fw_strerror(err));
		return 1;
	}
	fw_source_get_stats(p.src, &st);
	printf("FWQ open device=%s format=%s size=%dx%d fps=%d/%d\n", argv[1],
	       fw_pixfmt_name(st.format), st.width, st.height, st.fps_num, st.fps_den);
	if (st.format != want)
		return fail("negotiated another format than asked");
	p.full_cap = (size_t)st.width * (size_t)st.height * 3;
	p.small_cap = p.full_cap;
	if (fw_ring_create(&p.ring, 4, fw_source_frame_bytes(p.src)) || fw_jpeg_create(&p.jpeg) ||
	    fw_image_alloc(&p.full, st.width, st.height) ||
	    fw_image_alloc(&p.small, st.width, st.height))
		return fail("out of memory");

	err = fw_capture_start(&p.cap, p.src, p.ring);
	if (err)
		return fail("cannot start the capture thread");
	if (drv) {
		/* a few frames, the unplug, then the measured run */
		for (int64_t t0 = fw_monotonic_ns();
		     p.taken < 5 && fw_monotonic_ns() - t0 < 10000000000LL;)
			take_frame(&p, 200);
		bad |= unplug(&p, drv, devname);
	}
	reset_counts(&p);
	/* want_frames published by the capture thread, as many of them
	 * decoded as this thread keeps up with */
	for (int64_t t0 = fw_monotonic_ns(); fw_monotonic_ns() - t0 < 30000000000LL;) {
		take_frame(&p, 200);
		if (p.taken && p.last_idx - p.first_idx + 1 >= (uint64_t)want_frames)
			break;
	}
	fw_capture_stop(p.cap);
	fw_source_get_stats(p.src, &st);
	{
		double secs = (double)(p.last_ns - p.first_ns) * 1e-9;
		uint64_t published = p.taken ? p.last_idx - p.first_idx + 1 : 0;

		/* fps: frames the capture thread published a second (the
		 * ring's publication numbers over the driver's timestamps);
		 * seq_fps: the driver's own frame counter a second */
		printf("FWQ capture format=%s fourcc=%s frames=%llu taken=%d decoded=%d flat=%d "
		       "unknown=%d fps=%.1f seq_fps=%.1f rate=%.1f dropped=%llu corrupt=%llu "
		       "truncated=%llu\n",
		       fw_pixfmt_name(st.format),
		       fw_v4l2_fourcc_str(st.format == FW_PIXFMT_MJPEG ? 0x47504a4du : 0x56595559u, fcc),
		       (unsigned long long)published, p.taken, p.decoded, p.flat, p.unknown,
		       secs > 0 ? (double)(published - 1) / secs : 0.0,
		       secs > 0 ? (double)(p.last_seq - p.first_seq) / secs : 0.0,
		       st.fps_den ? (double)st.fps_num / st.fps_den : 0.0,
		       (unsigned long long)st.dropped, (unsigned long long)st.corrupt,
		       (unsigned long long)st.truncated);
		if (published < (uint64_t)want_frames || p.decoded != p.taken || p.flat || p.unknown)
			bad = 1;
	}
	fw_jpeg_destroy(p.jpeg);
	fw_image_free(&p.full);
	fw_image_free(&p.small);
	fw_source_close(p.src);
	fw_ring_destroy(p.ring);
	return bad;
}
