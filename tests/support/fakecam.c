/* fakecam: fake V4L2 camera by symbol interposition. See fakecam.h.
 *
 * Frames are produced lazily: the timerfd counts ticks since it was last
 * read, and every ioctl that looks at the queue (DQBUF, QUERYBUF) first
 * turns the pending ticks into frames (filling queued buffers, or counting
 * drops). No thread, so tests stay deterministic.
 *
 * Inside the shim only the real_* functions are used for open/close/mmap/
 * stat: the interposed ones take the lock, and the lock is not recursive.
 */
#include "fakecam.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#define FC_MAX_FDS 8
#define FC_MAX_BUFS 16
#define FC_MAX_FRAMES 4096

enum buf_state { B_DEQUEUED, B_QUEUED, B_DONE };

struct fc_buf {
	enum buf_state state;
	uint64_t order;        /* FIFO position among queued/done buffers */
	uint32_t bytesused, sequence, flags;
	struct timeval ts;
};

struct fc_fd {
	int fd;                /* the timerfd handed to the application; -1 = free */
	int dead;              /* opened before an unplug: ENODEV forever */
	int nonblock;
	int memfd;
	uint8_t *mem;          /* the shim's own mapping of the buffers */
	size_t buf_size, mem_size;
	int nbuf;
	struct fc_buf bufs[FC_MAX_BUFS];
	int streaming;
};

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_stat)(const char *restrict, struct stat *restrict);
static int (*real_fstat)(int, struct stat *);
static long (*real_syscall)(long, ...);

static struct {
	int configured;
	char path[512], canon[512];
	unsigned formats;
	int fps;               /* 0 = unpaced */
	char card[32];
	/* MJPEG source frames */
	uint8_t *mj;
	size_t mj_len, mj_max;
	size_t frame_off[FC_MAX_FRAMES], frame_len[FC_MAX_FRAMES];
	int nframes, mj_w, mj_h;
	/* device state */
	int present, busy, stalled;
	int no_done; /* QUERYBUF never says DONE, as v4l2loopback */
	uint64_t max_frames; /* FAKECAM_FRAMES: stall after this many frames; 0 = never */
	int fault[3];
	int dq_eio, dq_eagain; /* the next DQBUFs fail with EIO / EAGAIN */
	int dead_err;          /* what an unplugged device answers: ENODEV or EIO */
	uint32_t fourcc;
	int w, h, cur_fps;
	uint32_t sequence;
	uint64_t frame_no, order;
	int64_t last_tick_ns;
	struct fc_fd fds[FC_MAX_FDS];
	struct fakecam_stats stats;
} fc;

static void resolve_real(void)
{
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
	real_stat = (int (*)(const char *restrict, struct stat *restrict))dlsym(RTLD_NEXT, "stat");
	real_fstat = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
	real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	for (int i = 0; i < FC_MAX_FDS; i++)
		fc.fds[i].fd = -1;
}

static void init(void)
{
	pthread_once(&once, resolve_real);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* --- MJPEG file: split by markers (independent of the code under test) --- */

static int split_frames(void)
{
	size_t p = 0;

	fc.nframes = 0;
	fc.mj_max = 0;
	while (p + 4 <= fc.mj_len && fc.nframes < FC_MAX_FRAMES) {
		size_t s, q;

		if (fc.mj[p] != 0xff || fc.mj[p + 1] != 0xd8) {
			p++;
			continue;
		}
		s = p;
		q = p + 2;
		/* header segments by length up to SOS, then scan for EOI */
		while (q + 4 <= fc.mj_len && fc.mj[q] == 0xff) {
			uint8_t m = fc.mj[q + 1];
			size_t len = (size_t)fc.mj[q + 2] << 8 | fc.mj[q + 3];

			if (m == 0xc0 || m == 0xc1 || m == 0xc2) {
				fc.mj_h = fc.mj[q + 5] << 8 | fc.mj[q + 6];
				fc.mj_w = fc.mj[q + 7] << 8 | fc.mj[q + 8];
			}
			q += 2 + len;
			if (m == 0xda)
				break;
		}
		while (q + 1 < fc.mj_len && !(fc.mj[q] == 0xff && fc.mj[q + 1] == 0xd9))
			q++;
		if (q + 1 >= fc.mj_len)
			break;
		fc.frame_off[fc.nframes] = s;
		fc.frame_len[fc.nframes] = q + 2 - s;
		if (q + 2 - s > fc.mj_max)
			fc.mj_max = q + 2 - s;
		fc.nframes++;
		p = q + 2;
	}
	return fc.nframes > 0 ? 0 : -1;
}

static int load_mjpeg(const char *path)
{
	int fd = real_open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	free(fc.mj);
	fc.mj = NULL;
	fc.mj_len = 0;
	if (fd < 0)
		return -1;
	if (real_fstat(fd, &st) != 0 || st.st_size <= 0 || !(fc.mj = malloc((size_t)st.st_size))) {
		real_close(fd);
		return -1;
	}
	while (fc.mj_len < (size_t)st.st_size) {
		ssize_t n = read(fd, fc.mj + fc.mj_len, (size_t)st.st_size - fc.mj_len);

		if (n <= 0)
			break;
		fc.mj_len += (size_t)n;
	}
	real_close(fd);
	return split_frames();
}

/* --- configuration ------------------------------------------------------------ */

static void set_path(const char *p)
{
	char buf[4096];
	const char *c = realpath(p, buf) ? buf : p;

	/* paths longer than this are not claimed, rather than cut */
	if (strlen(p) < sizeof fc.path)
		memcpy(fc.path, p, strlen(p) + 1);
	if (strlen(c) < sizeof fc.canon)
		memcpy(fc.canon, c, strlen(c) + 1);
}

static int configure_locked(const struct fakecam_config *c)
{
	int err = 0;

	set_path(c->path ? c->path : "/dev/video0");
	snprintf(fc.card, sizeof fc.card, "%s", c->card ? c->card : "Fake Camera");
	fc.fps = c->fps > 0 ? c->fps : 0;
	fc.formats = c->formats;
	if (c->mjpeg)
		err = load_mjpeg(c->mjpeg);
	if (!fc.formats)
		fc.formats = c->mjpeg && !err ? FAKECAM_MJPEG : FAKECAM_YUYV;
	if (err)
		fc.formats &= ~(unsigned)FAKECAM_MJPEG;
	if (!fc.formats)
		fc.formats = FAKECAM_YUYV;
	fc.present = 1;
	fc.busy = fc.stalled = fc.no_done = 0;
	memset(fc.fault, 0, sizeof fc.fault);
	fc.dq_eio = fc.dq_eagain = 0;
	fc.dead_err = ENODEV;
	memset(&fc.stats, 0, sizeof fc.stats);
	fc.fourcc = fc.formats & FAKECAM_MJPEG  ? V4L2_PIX_FMT_MJPEG
		    : fc.formats & FAKECAM_YUYV ? V4L2_PIX_FMT_YUYV
						: V4L2_PIX_FMT_GREY;
	fc.w = fc.fourcc == V4L2_PIX_FMT_MJPEG ? fc.mj_w : 640;
	fc.h = fc.fourcc == V4L2_PIX_FMT_MJPEG ? fc.mj_h : 480;
	fc.cur_fps = fc.fps ? fc.fps : 30;
	fc.configured = 1;
	return err;
}

/* First use without fakecam_configure(): the environment decides. */
static void configure_from_env(void)
{
	struct fakecam_config c = { 0 };
	const char *fps = getenv("FAKECAM_FPS"), *fmts = getenv("FAKECAM_FORMATS");

	c.path = getenv("FAKECAM_DEV");
	c.mjpeg = getenv("FAKECAM_MJPEG");
	c.card = getenv("FAKECAM_CARD");
	c.fps = fps ? atoi(fps) : 30;
	if (fmts) {
		if (strstr(fmts, "mjpeg"))
			c.formats |= FAKECAM_MJPEG;
		if (strstr(fmts, "yuyv"))
			c.formats |= FAKECAM_YUYV;
		if (strstr(fmts, "grey"))
			c.formats |= FAKECAM_GREY;
	}
	configure_locked(&c);
	if (getenv("FAKECAM_FRAMES"))
		fc.max_frames = strtoull(getenv("FAKECAM_FRAMES"), NULL, 10);
}

static void lock(void)
{
	init();
	pthread_mutex_lock(&lk);
	/* Not before the environment exists: an ASan runtime loaded after
	 * this preloaded shim calls mmap() (so ours) while the dynamic loader
	 * initialises it, before libc has set environ; configuring then would
	 * fix the camera to YUYV without FAKECAM_MJPEG. Nothing of ours is
	 * open yet, so those early calls pass straight through. */
	if (!fc.configured && environ)
		configure_from_env();
}

static void unlock(void)
{
	pthread_mutex_unlock(&lk);
}

int fakecam_configure(const struct fakecam_config *c)
{
	int err;

	lock();
	err = configure_locked(c);
	unlock();
	return err ? -1 : 0;
}

/* --- timer --------------------------------------------------------------------- */

static void arm(struct fc_fd *f)
{
	struct itimerspec it = { 0 };

	if (f->dead || !fc.present) {
		it.it_value.tv_nsec = 1; /* expired at once and stays readable */
	} else if (f->streaming && !fc.stalled) {
		if (fc.fps) {
			long period = 1000000000L / fc.cur_fps;

			it.it_value.tv_nsec = period;
			it.it_interval.tv_nsec = period;
		} else {
			it.it_value.tv_nsec = 1; /* unpaced: always a frame due */
		}
	}
	/* all zero: disarmed, which also clears pending ticks */
	timerfd_settime(f->fd, 0, &it, NULL);
	fc.last_tick_ns = now_ns();
}

/* --- frames -------------------------------------------------------------------- */

static int bytes_per_pixel_x2(uint32_t fourcc)
{
	return fourcc == V4L2_PIX_FMT_YUYV ? 4 : 2; /* YUYV 2 B/px, GREY 1 B/px */
}

static size_t sizeimage(void)
{
	if (fc.fourcc == V4L2_PIX_FMT_MJPEG)
		return (fc.mj_max + 4095) & ~(size_t)4095;
	return (size_t)fc.w * (size_t)fc.h * (size_t)bytes_per_pixel_x2(fc.fourcc) / 2;
}

static void fill(struct fc_fd *f, struct fc_buf *b, int idx, int64_t ts_ns)
{
	uint8_t *dst = f->mem + (size_t)idx * f->buf_size;
	int fault = -1;

	for (int k = 0; k < 3; k++) {
		if (fc.fault[k] > 0) {
			fc.fault[k]--;
			fault = k;
			break;
		}
	}
	b->flags = 0;
	if (fc.fourcc == V4L2_PIX_FMT_MJPEG) {
		int n = (int)(fc.frame_no % (uint64_t)fc.nframes);
		size_t len = fc.frame_len[n];

		if (len > f->buf_size)
			len = f->buf_size;
		memcpy(dst, fc.mj + fc.frame_off[n], len);
		b->bytesused = (uint32_t)len;
	} else {
		/* moving vertical bars: one row computed, then copied */
		int bpp2 = bytes_per_pixel_x2(fc.fourcc), rowb = fc.w * bpp2 / 2;

		for (int x = 0; x < fc.w; x++) {
			uint8_t y = (uint8_t)((((x + (int)fc.frame_no * 8) / 40) & 1) ? 200 : 60);

			if (fc.fourcc == V4L2_PIX_FMT_YUYV) {
				dst[2 * x] = y;
				dst[2 * x + 1] = 128;
			} else {
				dst[x] = y;
			}
		}
		for (int r = 1; r < fc.h; r++)
			memcpy(dst + (size_t)r * (size_t)rowb, dst, (size_t)rowb);
		b->bytesused = (uint32_t)((size_t)rowb * (size_t)fc.h);
	}
	if (fault == FAKECAM_CORRUPT) {
		/* scrambled: the SOI is gone, junk in the middle */
		for (uint32_t i = 0; i < b->bytesused; i += 7)
			dst[i] ^= 0x5a;
		dst[0] = 0;
	} else if (fault == FAKECAM_TRUNCATE) {
		b->bytesused /= 2;
	} else if (fault == FAKECAM_ERRFLAG) {
		b->flags |= V4L2_BUF_FLAG_ERROR;
	}
	if (fault >= 0)
		fc.stats.faulted++;
	b->flags |= V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_EOF;
	b->sequence = fc.sequence;
	b->ts.tv_sec = ts_ns / 1000000000;
	b->ts.tv_usec = ts_ns % 1000000000 / 1000;
	b->state = B_DONE;
	b->order = fc.order++;
	fc.stats.frames++;
}

static struct fc_buf *oldest(struct fc_fd *f, enum buf_state st, int *idx)
{
	struct fc_buf *best = NULL;

	for (int i = 0; i < f->nbuf; i++) {
		if (f->bufs[i].state == st && (!best || f->bufs[i].order < best->order)) {
			best = &f->bufs[i];
			*idx = i;
		}
	}
	return best;
}

/* One sensor frame: into the oldest queued buffer, or dropped. */
static void tick(struct fc_fd *f, int64_t ts_ns)
{
	int idx = -1;
	struct fc_buf *b = oldest(f, B_QUEUED, &idx);

	if (b)
		fill(f, b, idx, ts_ns);
	else
		fc.stats.dropped++;
	fc.sequence++;
	fc.frame_no++;
	if (fc.max_frames && fc.frame_no >= fc.max_frames)
		fc.stalled = 1; /* the recording is over: the device stays open, silent */
}

/* Turn the ticks since the last look into frames. */
static void produce(struct fc_fd *f)
{
	uint64_t n = 0;
	int64_t now, period;

	if (!f->streaming || f->dead || !fc.present || fc.stalled)
		return;
	if (!fc.fps) {
		int idx;

		if (!oldest(f, B_DONE, &idx) && oldest(f, B_QUEUED, &idx))
			tick(f, now_ns());
		return;
	}
	if (read(f->fd, &n, sizeof n) != (ssize_t)sizeof n || n == 0)
		return;
	if (n > 1000)
		n = 1000;
	now = now_ns();
	period = 1000000000 / fc.cur_fps;
	for (uint64_t i = 0; i < n; i++)
		tick(f, now - (int64_t)(n - 1 - i) * period);
}

/* --- ioctls --------------------------------------------------------------------- */

static const struct {
	unsigned bit;
	uint32_t fourcc;
	const char *desc;
} formats[] = {
	{ FAKECAM_MJPEG, V4L2_PIX_FMT_MJPEG, "Motion-JPEG" },
	{ FAKECAM_YUYV, V4L2_PIX_FMT_YUYV, "YUYV 4:2:2" },
	{ FAKECAM_GREY, V4L2_PIX_FMT_GREY, "8-bit Greyscale" },
};

static const int raw_sizes[][2] = { { 160, 120 }, { 320, 240 }, { 640, 480 }, { 1280, 720 } };

static int offered(uint32_t fourcc)
{
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (formats[i].fourcc == fourcc)
			return !!(fc.formats & formats[i].bit);
	return 0;
}

static int size_offered(uint32_t fourcc, int w, int h)
{
	if (fourcc == V4L2_PIX_FMT_MJPEG)
		return w == fc.mj_w && h == fc.mj_h;
	for (size_t i = 0; i < 4; i++)
		if (raw_sizes[i][0] == w && raw_sizes[i][1] == h)
			return 1;
	return 0;
}

static void fill_format(struct v4l2_pix_format *p, uint32_t fourcc, int w, int h)
{
	memset(p, 0, sizeof *p);
	p->pixelformat = fourcc;
	p->width = (uint32_t)w;
	p->height = (uint32_t)h;
	p->field = V4L2_FIELD_NONE;
	p->colorspace = fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_COLORSPACE_JPEG : V4L2_COLORSPACE_SRGB;
	if (fourcc == V4L2_PIX_FMT_MJPEG) {
		p->bytesperline = 0;
		p->sizeimage = (uint32_t)((fc.mj_max + 4095) & ~(size_t)4095);
	} else {
		p->bytesperline = (uint32_t)(w * bytes_per_pixel_x2(fourcc) / 2);
		p->sizeimage = p->bytesperline * (uint32_t)h;
	}
}

/* TRY_FMT logic: a supported format and the nearest offered size. */
static void adjust_format(struct v4l2_pix_format *p)
{
	uint32_t fourcc = offered(p->pixelformat) ? p->pixelformat : fc.fourcc;
	int w = (int)p->width, h = (int)p->height;

	if (fourcc == V4L2_PIX_FMT_MJPEG) {
		w = fc.mj_w;
		h = fc.mj_h;
	} else if (!size_offered(fourcc, w, h)) {
		long best = -1;
		int bw = 640, bh = 480;

		for (size_t i = 0; i < 4; i++) {
			long d = labs((long)raw_sizes[i][0] * raw_sizes[i][1] - (long)w * h);

			if (best < 0 || d < best) {
				best = d;
				bw = raw_sizes[i][0];
				bh = raw_sizes[i][1];
			}
		}
		w = bw;
		h = bh;
	}
	fill_format(p, fourcc, w, h);
}

static void free_buffers(struct fc_fd *f)
{
	if (f->mem)
		munmap(f->mem, f->mem_size);
	if (f->memfd >= 0)
		real_close(f->memfd);
	f->mem = NULL;
	f->memfd = -1;
	f->nbuf = 0;
	f->mem_size = f->buf_size = 0;
}

static void fill_vbuf(struct fc_fd *f, int i, struct v4l2_buffer *vb)
{
	struct fc_buf *b = &f->bufs[i];

	vb->index = (uint32_t)i;
	vb->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	vb->memory = V4L2_MEMORY_MMAP;
	vb->length = (uint32_t)f->buf_size;
	vb->m.offset = (uint32_t)((size_t)i * f->buf_size);
	vb->bytesused = b->state == B_DEQUEUED ? b->bytesused : 0;
	vb->flags = V4L2_BUF_FLAG_MAPPED |
		    (b->flags & ~(uint32_t)(V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE));
	if (b->state == B_QUEUED)
		vb->flags |= V4L2_BUF_FLAG_QUEUED;
	if (b->state == B_DONE)
		vb->flags |= V4L2_BUF_FLAG_DONE;
	vb->field = V4L2_FIELD_NONE;
	vb->sequence = b->sequence;
	vb->timestamp = b->ts;
}

static int do_ioctl(struct fc_fd *f, unsigned long req, void *arg)
{
	if (f->dead || !fc.present)
		return -fc.dead_err;
	switch (req) {
	case VIDIOC_QUERYCAP: {
		struct v4l2_capability *c = arg;

		memset(c, 0, sizeof *c);
		snprintf((char *)c->driver, sizeof c->driver, "fakecam");
		snprintf((char *)c->card, sizeof c->card, "%s", fc.card);
		snprintf((char *)c->bus_info, sizeof c->bus_info, "usb-0000:00:14.0-1");
		c->version = (6u << 16) | (1u << 8);
		c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
		c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	case VIDIOC_ENUM_FMT: {
		struct v4l2_fmtdesc *d = arg;
		unsigned k = 0;

		if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
			if (!(fc.formats & formats[i].bit))
				continue;
			if (k++ == d->index) {
				uint32_t index = d->index, type = d->type;

				memset(d, 0, sizeof *d);
				d->index = index;
				d->type = type;
				d->pixelformat = formats[i].fourcc;
				d->flags = formats[i].fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
				snprintf((char *)d->description, sizeof d->description, "%s", formats[i].desc);
				return 0;
			}
		}
		return -EINVAL;
	}
	case VIDIOC_ENUM_FRAMESIZES: {
		struct v4l2_frmsizeenum *s = arg;

		if (!offered(s->pixel_format))
			return -EINVAL;
		s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
		if (s->pixel_format == V4L2_PIX_FMT_MJPEG) {
			if (s->index != 0)
				return -EINVAL;
			s->discrete.width = (uint32_t)fc.mj_w;
			s->discrete.height = (uint32_t)fc.mj_h;
			return 0;
		}
		if (s->index >= 4)
			return -EINVAL;
		s->discrete.width = (uint32_t)raw_sizes[s->index][0];
		s->discrete.height = (uint32_t)raw_sizes[s->index][1];
		return 0;
	}
	case VIDIOC_ENUM_FRAMEINTERVALS: {
		struct v4l2_frmivalenum *iv = arg;
		int nominal = fc.fps ? fc.fps : 30;

		if (!offered(iv->pixel_format) ||
		    !size_offered(iv->pixel_format, (int)iv->width, (int)iv->height) || iv->index > 1)
			return -EINVAL;
		iv->type = V4L2_FRMIVAL_TYPE_DISCRETE;
		iv->discrete.numerator = iv->index == 0 ? 1 : 2;
		iv->discrete.denominator = (uint32_t)nominal;
		return 0;
	}
	case VIDIOC_G_FMT:
	case VIDIOC_S_FMT:
	case VIDIOC_TRY_FMT: {
		struct v4l2_format *fm = arg;

		if (fm->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		if (req == VIDIOC_G_FMT) {
			fill_format(&fm->fmt.pix, fc.fourcc, fc.w, fc.h);
			return 0;
		}
		if (req == VIDIOC_S_FMT && f->nbuf)
			return -EBUSY;
		adjust_format(&fm->fmt.pix);
		if (req == VIDIOC_S_FMT) {
			fc.fourcc = fm->fmt.pix.pixelformat;
			fc.w = (int)fm->fmt.pix.width;
			fc.h = (int)fm->fmt.pix.height;
		}
		return 0;
	}
	case VIDIOC_G_PARM:
	case VIDIOC_S_PARM: {
		struct v4l2_streamparm *p = arg;
		int nominal = fc.fps ? fc.fps : 30;

		if (p->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		if (req == VIDIOC_S_PARM) {
			struct v4l2_fract t = p->parm.capture.timeperframe;

			if (f->streaming)
				return -EBUSY;
			/* the offered rates are nominal and nominal/2 */
			if (t.numerator && t.denominator)
				fc.cur_fps = (double)t.denominator / t.numerator <= nominal * 0.75
						     ? (nominal + 1) / 2
						     : nominal;
		}
		memset(&p->parm, 0, sizeof p->parm);
		p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
		p->parm.capture.timeperframe.numerator = 1;
		p->parm.capture.timeperframe.denominator = (uint32_t)fc.cur_fps;
		p->parm.capture.readbuffers = 0;
		return 0;
	}
	case VIDIOC_ENUMINPUT: {
		struct v4l2_input *in = arg;

		if (in->index != 0)
			return -EINVAL;
		memset(in, 0, sizeof *in);
		snprintf((char *)in->name, sizeof in->name, "Camera 1");
		in->type = V4L2_INPUT_TYPE_CAMERA;
		return 0;
	}
	case VIDIOC_G_INPUT:
		*(int *)arg = 0;
		return 0;
	case VIDIOC_S_INPUT:
		return *(int *)arg == 0 ? 0 : -EINVAL;
	case VIDIOC_REQBUFS: {
		struct v4l2_requestbuffers *rb = arg;
		unsigned n = rb->count;

		if (rb->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || rb->memory != V4L2_MEMORY_MMAP)
			return -EINVAL;
		if (f->streaming)
			return -EBUSY;
		free_buffers(f);
		memset(rb->reserved, 0, sizeof rb->reserved);
		rb->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
		if (n == 0)
			return 0;
		if (n < 2)
			n = 2;
		if (n > FC_MAX_BUFS)
			n = FC_MAX_BUFS;
		f->buf_size = (sizeimage() + 4095) & ~(size_t)4095;
		f->mem_size = f->buf_size * n;
		f->memfd = memfd_create("fakecam", MFD_CLOEXEC);
		if (f->memfd < 0 || ftruncate(f->memfd, (off_t)f->mem_size) != 0)
			goto nomem;
		f->mem = real_mmap(NULL, f->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
		if (f->mem == MAP_FAILED) {
			f->mem = NULL;
			goto nomem;
		}
		memset(f->bufs, 0, sizeof f->bufs);
		f->nbuf = (int)n;
		rb->count = n;
		return 0;
nomem:
		free_buffers(f);
		return -ENOMEM;
	}
	case VIDIOC_QUERYBUF:
	case VIDIOC_QBUF:
	case VIDIOC_DQBUF: {
		struct v4l2_buffer *vb = arg;
		int idx = -1;

		if (vb->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || vb->memory != V4L2_MEMORY_MMAP)
			return -EINVAL;
		if (req != VIDIOC_DQBUF && vb->index >= (uint32_t)f->nbuf)
			return -EINVAL;
		produce(f);
		if (req == VIDIOC_QUERYBUF) {
			fill_vbuf(f, (int)vb->index, vb);
			if (fc.no_done)
				vb->flags = (vb->flags & ~(uint32_t)V4L2_BUF_FLAG_DONE) |
					    V4L2_BUF_FLAG_QUEUED;
			return 0;
		}
		if (req == VIDIOC_QBUF) {
			struct fc_buf *b = &f->bufs[vb->index];

			if (b->state != B_DEQUEUED)
				return -EINVAL;
			b->state = B_QUEUED;
			b->order = fc.order++;
			fill_vbuf(f, (int)vb->index, vb);
			return 0;
		}
		if (!f->streaming)
			return -EINVAL;
		if (fc.dq_eio > 0) {
			/* a transfer error: uvcvideo's EIO with the device still there */
			fc.dq_eio--;
			return -EIO;
		}
		if (!oldest(f, B_DONE, &idx))
			return -EAGAIN; /* the caller blocks if the fd is blocking */
		if (fc.dq_eagain > 0) {
			/* a storm of spurious wakeups: a frame is done, yet DQBUF
			 * says "nothing yet" (the frame stays for later) */
			fc.dq_eagain--;
			return -EAGAIN;
		}
		f->bufs[idx].state = B_DEQUEUED;
		fill_vbuf(f, idx, vb);
		return 0;
	}
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF: {
		if (*(int *)arg != V4L2_BUF_TYPE_VIDEO_CAPTURE)
			return -EINVAL;
		if (req == VIDIOC_STREAMON) {
			if (!f->nbuf)
				return -EINVAL;
			if (!f->streaming) {
				f->streaming = 1;
				fc.sequence = 0;
				fc.stats.streamons++;
				arm(f);
			}
			return 0;
		}
		f->streaming = 0;
		for (int i = 0; i < f->nbuf; i++)
			f->bufs[i].state = B_DEQUEUED;
		arm(f);
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

/* --- fd table --------------------------------------------------------------------- */

static struct fc_fd *find_fd(int fd)
{
	if (fd < 0)
		return NULL;
	for (int i = 0; i < FC_MAX_FDS; i++)
		if (fc.fds[i].fd == fd)
			return &fc.fds[i];
	return NULL;
}

static int is_our_path(const char *p)
{
	return p && (!strcmp(p, fc.path) || !strcmp(p, fc.canon));
}

static int fake_open(int flags)
{
	struct fc_fd *f = NULL;
	int fd;

	if (!fc.present)
		return -ENOENT;
	if (fc.busy)
		return -EBUSY;
	for (int i = 0; i < FC_MAX_FDS; i++) {
		if (fc.fds[i].fd >= 0 && !fc.fds[i].dead)
			return -EBUSY; /* one open at a time */
		if (fc.fds[i].fd < 0 && !f)
			f = &fc.fds[i];
	}
	if (!f)
		return -EMFILE;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(f, 0, sizeof *f);
	f->fd = fd;
	f->memfd = -1;
	f->nonblock = !!(flags & O_NONBLOCK);
	fc.stats.opens++;
	return fd;
}

static void fake_close(struct fc_fd *f)
{
	free_buffers(f);
	real_close(f->fd);
	f->fd = -1;
}

/* Blocking DQBUF: wait on the timerfd outside the lock. */
static int dqbuf_blocking(int fd, void *arg)
{
	for (;;) {
		struct fc_fd *f;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int err;

		lock();
		f = find_fd(fd);
		err = f ? do_ioctl(f, VIDIOC_DQBUF, arg) : -EBADF;
		unlock();
		if (err != -EAGAIN)
			return err;
		poll(&p, 1, 100);
	}
}

static int fake_ioctl(int fd, unsigned long req, void *arg, int *handled)
{
	struct fc_fd *f;
	int err, nonblock;

	lock();
	f = find_fd(fd);
	*handled = f != NULL;
	if (!f) {
		unlock();
		return 0;
	}
	req = (unsigned int)req; /* as libv4l2 and the kernel: 32-bit request */
	err = do_ioctl(f, req, arg);
	nonblock = f->nonblock;
	unlock();
	if (err == -EAGAIN && req == VIDIOC_DQBUF && !nonblock)
		err = dqbuf_blocking(fd, arg);
	return err;
}

static void fake_stat(struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_mode = S_IFCHR | 0660;
	st->st_rdev = makedev(81, 0);
	st->st_nlink = 1;
	st->st_blksize = 4096;
}

static int fail(int err)
{
	errno = -err;
	return -1;
}

/* --- control API ------------------------------------------------------------------- */

void fakecam_inject(enum fakecam_fault f, int frames)
{
	lock();
	if ((unsigned)f < 3)
		fc.fault[f] += frames;
	unlock();
}

void fakecam_unplug(void)
{
	lock();
	fc.present = 0;
	for (int i = 0; i < FC_MAX_FDS; i++) {
		if (fc.fds[i].fd >= 0) {
			fc.fds[i].dead = 1;
			arm(&fc.fds[i]); /* wake pollers: the fd is readable, DQBUF says ENODEV */
		}
	}
	unlock();
}

void fakecam_unplug_with(int err)
{
	lock();
	fc.dead_err = err > 0 ? err : ENODEV;
	unlock();
	fakecam_unplug();
}

void fakecam_replug(void)
{
	lock();
	fc.present = 1;
	fc.dead_err = ENODEV;
	unlock();
}

void fakecam_dqbuf_errors(int eio, int eagain)
{
	lock();
	fc.dq_eio += eio;
	fc.dq_eagain += eagain;
	unlock();
}

void fakecam_set_busy(int busy)
{
	lock();
	fc.busy = busy;
	unlock();
}

void fakecam_set_no_done(int on)
{
	lock();
	fc.no_done = on;
	unlock();
}

void fakecam_set_stall(int stall)
{
	lock();
	fc.stalled = stall;
	for (int i = 0; i < FC_MAX_FDS; i++)
		if (fc.fds[i].fd >= 0)
			arm(&fc.fds[i]);
	unlock();
}

void fakecam_get_stats(struct fakecam_stats *st)
{
	lock();
	*st = fc.stats;
	st->open_fds = 0;
	for (int i = 0; i < FC_MAX_FDS; i++)
		st->open_fds += fc.fds[i].fd >= 0;
	unlock();
}

/* --- control from another process ---------------------------------------------------
 *
 * Preloaded into a whole program (a daemon test), the fault controls above
 * are out of the test's reach. With FAKECAM_CONTROL=PATH (a FIFO the test
 * made), a thread started at load reads commands from it, one per line:
 *   unplug [eio]   replug   busy 0|1   stall 0|1
 *   corrupt N   truncate N   errflag N   eio N   eagain N
 * (eio N / eagain N: the next N DQBUFs fail with EIO / say EAGAIN although
 * a frame is done). Each command applied is acknowledged by appending it
 * to PATH.log, if that file exists, so a test can wait for it. */

/* 1 if the line was a command */
static int control_apply(char *line)
{
	char cmd[16] = "";
	int arg = 0, n = sscanf(line, "%15s %d", cmd, &arg);

	if (n < 1)
		return 0;
	if (!strcmp(cmd, "unplug"))
		fakecam_unplug_with(strstr(line, "eio") ? EIO : ENODEV);
	else if (!strcmp(cmd, "replug"))
		fakecam_replug();
	else if (!strcmp(cmd, "busy"))
		fakecam_set_busy(arg);
	else if (!strcmp(cmd, "stall"))
		fakecam_set_stall(arg);
	else if (!strcmp(cmd, "corrupt"))
		fakecam_inject(FAKECAM_CORRUPT, arg);
	else if (!strcmp(cmd, "truncate"))
		fakecam_inject(FAKECAM_TRUNCATE, arg);
	else if (!strcmp(cmd, "errflag"))
		fakecam_inject(FAKECAM_ERRFLAG, arg);
	else if (!strcmp(cmd, "eio"))
		fakecam_dqbuf_errors(arg, 0);
	else if (!strcmp(cmd, "eagain"))
		fakecam_dqbuf_errors(0, arg);
	else
		return 0;
	return 1;
}

static void *control_main(void *arg)
{
	const char *path = arg;
	char buf[512], logpath[600];
	size_t len = 0;
	int fd;

	snprintf(logpath, sizeof logpath, "%s.log", path);
	/* read-write: no EOF when the test's writer closes between commands */
	fd = real_open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		char *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		while ((nl = memchr(buf, '\n', len))) {
			int log;

			*nl = 0;
			log = control_apply(buf) ? real_open(logpath, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
			if (log >= 0) {
				if (write(log, buf, strlen(buf)) < 0 || write(log, "\n", 1) < 0) {
					/* the test only waits longer */
				}
				real_close(log);
			}
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof buf - 1)
			len = 0; /* a line that long is not a command */
	}
	real_close(fd);
	return NULL;
}

__attribute__((constructor)) static void control_start(void)
{
	const char *path = getenv("FAKECAM_CONTROL");
	pthread_t t;

	if (!path || !*path)
		return;
	init();
	if (pthread_create(&t, NULL, control_main, (void *)path) == 0)
		pthread_detach(t);
}

/* --- interposed libc functions -------------------------------------------------------- */

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
long syscall(long number, ...);

static int open_common(int dirfd, const char *path, int flags, mode_t mode, int at)
{
	int fd;

	lock();
	if (is_our_path(path)) {
		fd = fake_open(flags);
		unlock();
		return fd < 0 ? fail(fd) : fd;
	}
	unlock();
	return at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
}

static mode_t va_mode(int flags, va_list ap)
{
	return flags & (O_CREAT | O_TMPFILE) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode, 0);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode, 0);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode, 1);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode, 1);
}

int __open_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0, 1);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0, 1);
}

int close(int fd)
{
	struct fc_fd *f;

	lock();
	f = find_fd(fd);
	if (f) {
		fake_close(f);
		unlock();
		return 0;
	}
	unlock();
	return real_close(fd);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int handled, err;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	err = fake_ioctl(fd, req, arg, &handled);
	if (handled)
		return err < 0 ? fail(err) : err;
	return real_ioctl(fd, req, arg);
}

static void *mmap_common(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*anon_mmap)(void *, size_t, int, int, int, off_t);
	struct fc_fd *f;
	void *p;

	/* Anonymous memory is never the camera's. Passed through without the
	 * lock or pthread_once: sanitizer runtimes allocate this way while the
	 * dynamic loader initialises them, before they can take a pthread
	 * call (TSan crashes in pthread_once then). */
	if (fd < 0) {
		void *(*m)(void *, size_t, int, int, int, off_t) =
			__atomic_load_n(&anon_mmap, __ATOMIC_ACQUIRE);
		if (!m) {
			m = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
			__atomic_store_n(&anon_mmap, m, __ATOMIC_RELEASE);
		}
		return m(addr, len, prot, flags, fd, off);
	}
	lock();
	f = find_fd(fd);
	if (!f) {
		unlock();
		return real_mmap(addr, len, prot, flags, fd, off);
	}
	if (f->dead || !fc.present || !f->nbuf || off < 0 || (size_t)off + len > f->mem_size) {
		unlock();
		errno = f->dead || !fc.present ? fc.dead_err : EINVAL;
		return MAP_FAILED;
	}
	p = real_mmap(addr, len, prot, flags, f->memfd, off);
	unlock();
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off);
}

int stat(const char *restrict path, struct stat *restrict st)
{
	lock();
	if (is_our_path(path)) {
		int present = fc.present;

		unlock();
		if (!present)
			return fail(-ENOENT);
		fake_stat(st);
		return 0;
	}
	unlock();
	return real_stat(path, st);
}

int stat64(const char *restrict path, struct stat64 *restrict st)
{
	return stat(path, (struct stat *)st);
}

int fstat(int fd, struct stat *st)
{
	lock();
	if (find_fd(fd)) {
		unlock();
		fake_stat(st);
		return 0;
	}
	unlock();
	return real_fstat(fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

/* libv4l2 and libv4lconvert bypass the libc wrappers with raw syscall(). */
long syscall(long number, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	init();
	switch (number) {
	case SYS_open:
		return open_common(AT_FDCWD, (const char *)a[0], (int)a[1], (mode_t)a[2], 0);
	case SYS_openat:
		return open_common((int)a[0], (const char *)a[1], (int)a[2], (mode_t)a[3], 1);
	case SYS_close:
		return close((int)a[0]);
	case SYS_ioctl:
		return ioctl((int)a[0], (unsigned long)a[1], (void *)a[2]);
	case SYS_mmap: {
		void *p = mmap_common((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3], (int)a[4],
				      (off_t)a[5]);

		return p == MAP_FAILED ? -1 : (long)p;
	}
	case SYS_fstat: {
		int handled;

		lock();
		handled = find_fd((int)a[0]) != NULL;
		unlock();
		if (handled)
			return fstat((int)a[0], (struct stat *)a[1]);
		break;
	}
	default:
		break;
	}
	return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
