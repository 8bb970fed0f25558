/* V4L2 cameras through libv4l2. See v4l2.h for the behaviour.
 *
 * Every device call goes through libv4l2 (v4l2_open/ioctl/mmap/close): for
 * MJPEG and YUYV it passes the calls straight through, and for cameras
 * that offer neither it converts to RGB24 in DQBUF.
 *
 * State (one camera, read by the capture thread only):
 *   fd < 0   closed: reopen at next_retry_ns (backoff doubles per failure)
 *   fd >= 0  streaming: poll; DQBUF drains the queue and keeps the newest;
 *            no buffer for stall_ms -> close and reopen at once
 * c->state is what the user is told: it changes (and is logged) only when
 * the kind of trouble changes, so a camera that stays unplugged for an hour
 * produces one warning, and one "is back" when it returns.
 */
#include "capture/v4l2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libv4l2.h>
#include <linux/videodev2.h>

#include "capture/jpeg.h"
#include "capture/source_internal.h"
#include "core/fw.h"

#define V4L2_MAX_BUFFERS 16

struct v4l2_source {
	struct fw_source base;
	struct fw_v4l2_options o;
	char want[256];         /* the user's name for the camera ("" = first one) */
	char dev_dir[256];
	char path[256];         /* node opened last */
	int fd;
	struct {
		void *start;
		size_t len;
	} buf[V4L2_MAX_BUFFERS];
	int nbuf;

	/* negotiated */
	uint32_t fourcc;
	enum fw_pixfmt format;
	int width, height, stride;
	uint32_t fps_num, fps_den;

	int64_t last_frame_ns;  /* last buffer dequeued (or stream start) */
	int64_t next_retry_ns;
	int backoff_ms;
	enum fw_source_state state;
	int state_err;
	int opened_once;
	uint32_t session;
	uint32_t last_seq;
	int have_seq;
	int oversize_logged;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = v4l2_ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

const char *fw_v4l2_fourcc_str(uint32_t f, char buf[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);

		buf[i] = c >= 32 && c < 127 ? c : '?';
	}
	buf[4] = 0;
	/* trailing spaces ("Y10 ") are padding */
	for (int i = 3; i > 0 && buf[i] == ' '; i--)
		buf[i] = 0;
	return buf;
}

/* snprintf for paths and names, cut if too long (never, with kernel names):
 * a function, so that -Wformat-truncation does not guess at lengths. */
static void fmt_str(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_str(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static const char *dev_dir_or_default(const char *d)
{
	return d && *d ? d : "/dev";
}

/* --- names: resolve, holders ------------------------------------------------ */

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* realpath, or the path itself when it does not resolve (a node claimed by
 * a test shim, or one that is about to appear). */
static void canonical(const char *path, char *out, size_t cap)
{
	char buf[PATH_MAX];

	if (realpath(path, buf))
		snprintf(out, cap, "%s", buf);
	else
		snprintf(out, cap, "%s", path);
}

int fw_v4l2_resolve(const char *dev_dir, const char *name, char *path, size_t cap)
{
	static const char *const kinds[] = { "by-id", "by-path" };
	const char *dd = dev_dir_or_default(dev_dir);
	char match[PATH_MAX] = "", matches[512] = "";
	int nmatch = 0;

	if (!name || !*name) {
		struct fw_v4l2_device *list;
		int n, err = fw_v4l2_list(dev_dir, &list, &n);

		if (err)
			return err;
		if (n == 0) {
			free(list);
			return -ENOENT;
		}
		snprintf(path, cap, "%s", list[0].path);
		free(list);
		return 0;
	}
	if (strchr(name, '/')) {
		canonical(name, path, cap);
		return 0;
	}
	if (all_digits(name)) {
		char p[PATH_MAX];

		snprintf(p, sizeof p, "%s/video%s", dd, name);
		canonical(p, path, cap);
		return 0;
	}
	/* an exact stable name first, then a unique part of one */
	for (int k = 0; k < 2; k++) {
		char p[PATH_MAX];
		struct stat st;

		snprintf(p, sizeof p, "%s/v4l/%s/%s", dd, kinds[k], name);
		if (lstat(p, &st) == 0) {
			canonical(p, path, cap);
			return 0;
		}
	}
	for (int k = 0; k < 2; k++) {
		char dir[PATH_MAX];
		DIR *d;
		struct dirent *e;

		snprintf(dir, sizeof dir, "%s/v4l/%s", dd, kinds[k]);
		if (!(d = opendir(dir)))
			continue;
		while ((e = readdir(d))) {
			char p[PATH_MAX], target[PATH_MAX];

			if (e->d_name[0] == '.' || !strstr(e->d_name, name))
				continue;
			fmt_str(p, sizeof p, "%s/%s", dir, e->d_name);
			canonical(p, target, sizeof target);
			if (nmatch && !strcmp(target, match))
				continue; /* by-id and by-path of the same node */
			if (nmatch++ == 0)
				snprintf(match, sizeof match, "%s", target);
			if (strlen(matches) + strlen(e->d_name) + 3 < sizeof matches) {
				if (*matches)
					strcat(matches, ", ");
				strcat(matches, e->d_name);
			}
		}
		closedir(d);
	}
	if (nmatch == 1) {
		snprintf(path, cap, "%s", match);
		return 0;
	}
	if (nmatch > 1) {
		fw_log(FW_LOG_ERROR, "camera '%s' is ambiguous: it matches %s", name, matches);
		return FW_EINVAL;
	}
	return -ENOENT;
}

static int scan_holders(const char *target, char *out, size_t cap, int want_self)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int self = (int)getpid(), found = -ENOENT;

	if (!proc)
		return -ENOENT;
	while (found && (e = readdir(proc))) {
		char dir[64], comm[64] = "?";
		DIR *fds;
		struct dirent *f;
		int pid;

		if (!all_digits(e->d_name))
			continue;
		pid = atoi(e->d_name);
		if ((pid == self) != want_self)
			continue;
		snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
		if (!(fds = opendir(dir)))
			continue; /* gone, or not ours to look at */
		while ((f = readdir(fds))) {
			char link[PATH_MAX], p[96];
			ssize_t n;

			if (f->d_name[0] == '.')
				continue;
			fmt_str(p, sizeof p, "%s/%s", dir, f->d_name);
			n = readlink(p, link, sizeof link - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (!strcmp(link, target)) {
				FILE *c;

				snprintf(p, sizeof p, "/proc/%d/comm", pid);
				if ((c = fopen(p, "r"))) {
					if (fgets(comm, sizeof comm, c))
						comm[strcspn(comm, "\n")] = 0;
					fclose(c);
				}
				snprintf(out, cap, "%s (pid %d)", comm, pid);
				found = 0;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

int fw_v4l2_find_holder(const char *path, char *out, size_t cap)
{
	char target[PATH_MAX];

	canonical(path, target, sizeof target);
	if (scan_holders(target, out, cap, 0) == 0)
		return 0;
	return scan_holders(target, out, cap, 1);
}

/* --- messages and state --------------------------------------------------------- */

static const char *label(const struct v4l2_source *c, char *buf, size_t cap)
{
	const char *node = *c->path ? c->path : "(not found)";

	if (*c->want && strcmp(c->want, c->path))
		snprintf(buf, cap, "%s (%s)", c->want, node);
	else
		snprintf(buf, cap, "%s", node);
	return buf;
}

/* Enter a state; the message is logged only when the state changes (a
 * FAILED state with a different error counts as a change). */
static void enter_state(struct v4l2_source *c, enum fw_source_state to, int err,
			enum fw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void enter_state(struct v4l2_source *c, enum fw_source_state to, int err,
			enum fw_log_level level, const char *fmt, ...)
{
	int changed = to != c->state || (to == FW_SOURCE_FAILED && err != c->state_err);

	c->state = to;
	c->state_err = err;
	FW_SOURCE_STATS(&c->base, {
		st->state = c->state;
		st->error = err;
	});
	if (changed && fmt) {
		va_list ap;

		va_start(ap, fmt);
		fw_vlog(level, fmt, ap);
		va_end(ap);
	}
}

/* Says what went wrong opening or starting the camera, once per kind. */
static void report_open_error(struct v4l2_source *c, int err)
{
	/* a first open that the caller will see fail is an error; trouble
	 * while retrying is a warning */
	enum fw_log_level lvl = c->o.wait || c->opened_once ? FW_LOG_WARN : FW_LOG_ERROR;
	const char *retry = c->o.wait || c->opened_once ? "; retrying" : "";
	char who[600], holder[160] = "";

	label(c, who, sizeof who);
	switch (err) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		enter_state(c, FW_SOURCE_ABSENT, err, lvl, "camera %s is not there (%s)%s",
			    *c->want ? c->want : "(any)", strerror(-err),
			    c->o.wait || c->opened_once ? "; waiting for it" : "");
		break;
	case -EBUSY:
		if (c->state != FW_SOURCE_BUSY) {
			if (fw_v4l2_find_holder(c->path, holder, sizeof holder) != 0)
				fmt_str(holder, sizeof holder,
				    "another program (could not tell which; try fuser -v %s)", c->path);
		}
		enter_state(c, FW_SOURCE_BUSY, err, lvl, "camera %s is busy: in use by %s%s", who,
			    holder, retry);
		break;
	case -EACCES:
	case -EPERM:
		enter_state(c, FW_SOURCE_FAILED, err, lvl,
			    "camera %s: permission denied; the user needs to be in the group "
			    "that owns the device (usually 'video')%s",
			    who, retry);
		break;
	case FW_EUNSUPPORTED:
		enter_state(c, FW_SOURCE_FAILED, err, lvl,
			    "camera %s offers no format facewatch can use%s", who, retry);
		break;
	default:
		enter_state(c, FW_SOURCE_FAILED, err, lvl, "camera %s: %s%s", who,
			    fw_strerror(err), retry);
		break;
	}
}

/* --- negotiation and streaming ---------------------------------------------------- */

static int fourcc_is_grey(uint32_t f)
{
	return f == V4L2_PIX_FMT_GREY || f == V4L2_PIX_FMT_Y10 || f == V4L2_PIX_FMT_Y12 ||
	       f == V4L2_PIX_FMT_Y16 || f == V4L2_PIX_FMT_Y10BPACK || f == V4L2_PIX_FMT_Y8I ||
	       f == V4L2_PIX_FMT_Y12I || f == V4L2_PIX_FMT_Z16 || f == V4L2_PIX_FMT_INZI;
}

/* Native formats (not libv4l's emulated ones). */
static int native_formats(int fd, uint32_t *out, int max)
{
	int n = 0;

	for (unsigned i = 0; n < max && i < 64; i++) {
		struct v4l2_fmtdesc d = { .index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

		if (xioctl(fd, VIDIOC_ENUM_FMT, &d))
			break;
		if (!(d.flags & V4L2_FMT_FLAG_EMULATED))
			out[n++] = d.pixelformat;
	}
	return n;
}

/* The wanted size if offered, else the smallest offered size covering it,
 * else the largest. Leaves *w, *h alone when the driver does not list sizes. */
static void pick_size(int fd, uint32_t fourcc, int *w, int *h)
{
	long best_cover = -1, best_big = -1;
	int cw = 0, ch = 0, bw = 0, bh = 0;

	for (unsigned i = 0; i < 256; i++) {
		struct v4l2_frmsizeenum s = { .index = i, .pixel_format = fourcc };

		if (xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s))
			break;
		if (s.type != V4L2_FRMSIZE_TYPE_DISCRETE)
			return; /* stepwise: S_FMT rounds the wanted size itself */
		{
			int sw = (int)s.discrete.width, sh = (int)s.discrete.height;
			long area = (long)sw * sh;

			if (sw == *w && sh == *h)
				return;
			if (sw >= *w && sh >= *h && (best_cover < 0 || area < best_cover)) {
				best_cover = area;
				cw = sw;
				ch = sh;
			}
			if (area > best_big) {
				best_big = area;
				bw = sw;
				bh = sh;
			}
		}
	}
	if (best_cover >= 0) {
		*w = cw;
		*h = ch;
	} else if (best_big >= 0) {
		*w = bw;
		*h = bh;
	}
}

static int negotiate(struct v4l2_source *c)
{
	struct v4l2_capability cap = { 0 };
	uint32_t native[32], order[4];
	int nnative, norder = 0, err, input = 0;
	uint32_t caps;

	err = xioctl(c->fd, VIDIOC_QUERYCAP, &cap);
	if (err)
		return err;
	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING))
		return FW_EUNSUPPORTED; /* e.g. the metadata node of a UVC camera */
	xioctl(c->fd, VIDIOC_S_INPUT, &input); /* most cameras have just one */

	nnative = native_formats(c->fd, native, 32);
	if (c->o.prefer == FW_PIXFMT_YUYV) {
		order[norder++] = V4L2_PIX_FMT_YUYV;
		order[norder++] = V4L2_PIX_FMT_MJPEG;
	} else {
		order[norder++] = V4L2_PIX_FMT_MJPEG;
		order[norder++] = V4L2_PIX_FMT_YUYV;
	}
	order[norder++] = V4L2_PIX_FMT_JPEG;  /* some cameras call MJPEG this */
	order[norder++] = V4L2_PIX_FMT_RGB24; /* converted by libv4l2 */
	for (int k = 0; k < norder; k++) {
		uint32_t want = order[k];
		struct v4l2_format f = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
		int offered = want == V4L2_PIX_FMT_RGB24 && nnative > 0, w = c->o.width,
		    h = c->o.height;

		for (int i = 0; i < nnative && !offered; i++)
			offered = native[i] == want;
		if (!offered)
			continue;
		pick_size(c->fd, want, &w, &h);
		f.fmt.pix.pixelformat = want;
		f.fmt.pix.width = (uint32_t)w;
		f.fmt.pix.height = (uint32_t)h;
		f.fmt.pix.field = V4L2_FIELD_ANY;
		err = xioctl(c->fd, VIDIOC_S_FMT, &f);
		if (err == -EBUSY || err == -ENODEV || err == -EIO)
			return err;
		if (err || f.fmt.pix.pixelformat != want || f.fmt.pix.width == 0 ||
		    f.fmt.pix.height == 0 || f.fmt.pix.width > 16384 || f.fmt.pix.height > 16384)
			continue;
		c->fourcc = want;
		c->format = want == V4L2_PIX_FMT_YUYV ? FW_PIXFMT_YUYV
			    : want == V4L2_PIX_FMT_RGB24 ? FW_PIXFMT_RGB24
							   : FW_PIXFMT_MJPEG;
		c->width = (int)f.fmt.pix.width;
		c->height = (int)f.fmt.pix.height;
		c->stride = (int)f.fmt.pix.bytesperline;
		if (c->format == FW_PIXFMT_MJPEG)
			c->stride = 0;
		else if (c->stride < c->width * (c->format == FW_PIXFMT_YUYV ? 2 : 3))
			c->stride = c->width * (c->format == FW_PIXFMT_YUYV ? 2 : 3);
		break;
	}
	if (!c->fourcc)
		return FW_EUNSUPPORTED;

	/* frame rate: ask, then believe what the driver says */
	{
		struct v4l2_streamparm p = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

		c->fps_num = (uint32_t)c->o.fps;
		c->fps_den = 1;
		if (xioctl(c->fd, VIDIOC_G_PARM, &p) == 0 &&
		    (p.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) {
			p.parm.capture.timeperframe.numerator = 1;
			p.parm.capture.timeperframe.denominator = (uint32_t)c->o.fps;
			err = xioctl(c->fd, VIDIOC_S_PARM, &p);
			if (err == -EBUSY || err == -ENODEV)
				return err;
			if (xioctl(c->fd, VIDIOC_G_PARM, &p) == 0 &&
			    p.parm.capture.timeperframe.numerator > 0) {
				/* timeperframe is seconds per frame */
				c->fps_num = p.parm.capture.timeperframe.denominator;
				c->fps_den = p.parm.capture.timeperframe.numerator;
			}
		}
	}
	return 0;
}

static void close_device(struct v4l2_source *c)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_requestbuffers rb = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = V4L2_MEMORY_MMAP };

	if (c->fd < 0)
		return;
	/* errors ignored: an unplugged device answers ENODEV to all of these */
	xioctl(c->fd, VIDIOC_STREAMOFF, &type);
	for (int i = 0; i < c->nbuf; i++)
		if (c->buf[i].start)
			v4l2_munmap(c->buf[i].start, c->buf[i].len);
	memset(c->buf, 0, sizeof c->buf);
	if (c->nbuf)
		xioctl(c->fd, VIDIOC_REQBUFS, &rb);
	c->nbuf = 0;
	v4l2_close(c->fd);
	c->fd = -1;
}

static int start_streaming(struct v4l2_source *c)
{
	struct v4l2_requestbuffers rb = { .count = (uint32_t)c->o.buffers,
					  .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = V4L2_MEMORY_MMAP };
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int err = xioctl(c->fd, VIDIOC_REQBUFS, &rb);

	if (err)
		return err;
	if (rb.count < 2)
		return -ENOMEM;
	c->nbuf = rb.count > V4L2_MAX_BUFFERS ? V4L2_MAX_BUFFERS : (int)rb.count;
	for (int i = 0; i < c->nbuf; i++) {
		struct v4l2_buffer b = { .index = (uint32_t)i,
					 .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = V4L2_MEMORY_MMAP };
		void *p;

		err = xioctl(c->fd, VIDIOC_QUERYBUF, &b);
		if (err)
			return err;
		p = v4l2_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd,
			      (off_t)b.m.offset);
		if (p == MAP_FAILED)
			return -errno;
		c->buf[i].start = p;
		c->buf[i].len = b.length;
		err = xioctl(c->fd, VIDIOC_QBUF, &b);
		if (err)
			return err;
	}
	return xioctl(c->fd, VIDIOC_STREAMON, &type);
}

/* Slot bytes a frame of the negotiated format can need. */
static size_t frame_bytes_for(const struct v4l2_source *c, size_t sizeimage)
{
	size_t raw = (size_t)c->width * (size_t)c->height * 3; /* RGB24, and a JPEG bound */

	return sizeimage > raw ? sizeimage : raw;
}

static int open_device(struct v4l2_source *c)
{
	int err, fd;
	char fcc[5], who[600];

	err = fw_v4l2_resolve(c->dev_dir[0] ? c->dev_dir : NULL, c->want[0] ? c->want : NULL,
			      c->path, sizeof c->path);
	if (err) {
		if (err != FW_EINVAL)
			report_open_error(c, -ENOENT);
		return err == FW_EINVAL ? err : -ENOENT;
	}
	fd = v4l2_open(c->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		report_open_error(c, err);
		return err;
	}
	c->fd = fd;
	c->fourcc = 0;
	err = negotiate(c);
	if (!err)
		err = start_streaming(c);
	if (err) {
		report_open_error(c, err);
		close_device(c);
		return err;
	}
	c->session++;
	c->have_seq = 0;
	c->last_frame_ns = fw_monotonic_ns();
	FW_SOURCE_STATS(&c->base, {
		st->format = c->format;
		st->width = c->width;
		st->height = c->height;
		st->fps_num = (int)c->fps_num;
		st->fps_den = (int)c->fps_den;
	});
	if (!c->opened_once)
		fw_log(FW_LOG_INFO, "camera %s: %s %dx%d at %u/%u fps, %d buffers",
		       label(c, who, sizeof who), fw_v4l2_fourcc_str(c->fourcc, fcc), c->width,
		       c->height, c->fps_num, c->fps_den, c->nbuf);
	c->opened_once = 1;
	return 0;
}

static void schedule_retry(struct v4l2_source *c, int64_t now)
{
	c->next_retry_ns = now + (int64_t)c->backoff_ms * 1000000;
	c->backoff_ms *= 2;
	if (c->backoff_ms > c->o.retry_max_ms)
		c->backoff_ms = c->o.retry_max_ms;
}

/* The device failed while streaming: close and come back later. */
static void device_lost(struct v4l2_source *c, int err)
{
	char who[600];
	int absent = err == -ENODEV || err == -EIO || err == -ENXIO || err == -ENOENT ||
		     err == -ESHUTDOWN || err == -EPIPE;

	label(c, who, sizeof who);
	close_device(c);
	FW_SOURCE_STATS(&c->base, st->reopens++);
	if (absent)
		enter_state(c, FW_SOURCE_ABSENT, err, FW_LOG_WARN,
			    "camera %s disconnected (%s); waiting for it to return", who,
			    strerror(-err));
	else
		enter_state(c, FW_SOURCE_FAILED, err, FW_LOG_WARN,
			    "camera %s failed (%s); reopening it", who, fw_strerror(err));
	schedule_retry(c, fw_monotonic_ns());
}

static int64_t timeval_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

/* A dequeued buffer that passed the checks. */
struct good_buffer {
	struct v4l2_buffer b;
	size_t bytes;          /* up to and including EOI for MJPEG */
	int width, height;
};

/* Checks one dequeued buffer. 1 usable (g filled), 0 skipped and counted. */
static int check_buffer(struct v4l2_source *c, const struct v4l2_buffer *b,
			struct good_buffer *g)
{
	const uint8_t *data = c->buf[b->index].start;
	size_t n = b->bytesused, cap = c->buf[b->index].len;
	int w = c->width, h = c->height, err = 0;

	if (n > cap)
		n = cap;
	if (b->flags & V4L2_BUF_FLAG_ERROR) {
		/* uvcvideo flags frames it knows are damaged (lost packets) */
		err = FW_EFORMAT;
	} else if (c->format == FW_PIXFMT_MJPEG) {
		size_t used = 0;

		err = fw_mjpeg_check(data, n, &used, &w, &h);
		if (!err)
			n = used; /* drop the driver's padding after EOI */
	} else if (n < (size_t)c->stride * (size_t)(c->height - 1) +
			       (size_t)c->width * (c->format == FW_PIXFMT_YUYV ? 2 : 3)) {
		err = FW_ETRUNC;
	}
	if (err) {
		FW_SOURCE_STATS(&c->base, {
			if (err == FW_ETRUNC)
				st->truncated++;
			else
				st->corrupt++;
		});
		return 0;
	}
	g->b = *b;
	g->bytes = n;
	g->width = w;
	g->height = h;
	return 1;
}

/* Copies a checked buffer into the ring. 1 pushed, 0 not (counted). */
static int push_buffer(struct v4l2_source *c, struct fw_ring *r, const struct good_buffer *g,
		       int64_t dq_ns)
{
	struct fw_frame *f;

	if (g->bytes > fw_ring_slot_bytes(r)) {
		FW_SOURCE_STATS(&c->base, st->oversize++);
		if (!c->oversize_logged++)
			fw_log(FW_LOG_WARN, "%s: a %zu-byte frame does not fit a %zu-byte ring slot; "
			       "skipping such frames", c->path, g->bytes, fw_ring_slot_bytes(r));
		return 0;
	}
	f = fw_ring_write_begin(r);
	if (!f)
		return 0; /* consumers hold every slot (counted by the ring) */
	memcpy(f->data, c->buf[g->b.index].start, g->bytes);
	f->format = c->format;
	f->width = g->width;
	f->height = g->height;
	f->stride = c->stride;
	f->bytes = g->bytes;
	f->sequence = g->b.sequence;
	f->session = c->session;
	f->device_ts_ns = timeval_ns(&g->b.timestamp);
	f->t_ns[FW_STAGE_DEQUEUED] = dq_ns;
	if ((g->b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC &&
	    f->device_ts_ns > 0 && f->device_ts_ns <= dq_ns)
		f->t_ns[FW_STAGE_CAPTURED] = f->device_ts_ns;
	else
		f->t_ns[FW_STAGE_CAPTURED] = dq_ns;
	fw_ring_write_commit(r, f);
	FW_SOURCE_STATS(&c->base, st->frames++);
	return 1;
}

/* Drains what the driver has ready, checks every buffer, hands the newest
 * good one to the ring and requeues everything. The buffers marked DONE are
 * counted first and exactly that many dequeued: libv4l2 prints a line to
 * stderr for every DQBUF that fails, EAGAIN included, and a camera faster
 * than us cannot keep us in the loop. poll_said: poll reported a frame or
 * an error, so one DQBUF is made even when no buffer is marked DONE: to
 * learn the error, and because v4l2loopback (OBS's virtual camera and
 * friends) clears DONE in every QUERYBUF answer, so counting alone would
 * never dequeue from it (found by the qemu kernel test).
 * 1 pushed, 0 nothing new, < 0 device error. */
static int dequeue(struct v4l2_source *c, struct fw_ring *r, int poll_said)
{
	struct good_buffer newest;
	int have = 0, err = 0, pushed = 0, got = 0, ready = 0;
	uint64_t dropped = 0;

	for (int i = 0; i < c->nbuf; i++) {
		struct v4l2_buffer b = { .index = (uint32_t)i,
					 .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = V4L2_MEMORY_MMAP };

		err = xioctl(c->fd, VIDIOC_QUERYBUF, &b);
		if (err)
			return err;
		ready += !!(b.flags & V4L2_BUF_FLAG_DONE);
	}
	if (!ready && poll_said)
		ready = 1;
	for (int k = 0; k < ready; k++) {
		struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = V4L2_MEMORY_MMAP };
		struct good_buffer g;

		err = xioctl(c->fd, VIDIOC_DQBUF, &b);
		if (err == -EAGAIN) {
			err = 0;
			break;
		}
		if (err)
			break;
		if (b.index >= (uint32_t)c->nbuf) {
			err = -EIO;
			break;
		}
		got++;
		/* the driver numbers every frame it saw: a gap is frames it
		 * lost for want of a free buffer */
		if (c->have_seq) {
			uint32_t gap = b.sequence - c->last_seq - 1;

			if (gap < (1u << 20))
				dropped += gap;
		}
		c->last_seq = b.sequence;
		c->have_seq = 1;
		if (!check_buffer(c, &b, &g)) {
			err = xioctl(c->fd, VIDIOC_QBUF, &b);
			if (err)
				break;
			continue;
		}
		if (have) {
			/* an older good frame behind a newer one: only the
			 * newest matters; give the older buffer straight back */
			dropped++;
			err = xioctl(c->fd, VIDIOC_QBUF, &newest.b);
			if (err) {
				have = 0;
				break;
			}
		}
		newest = g;
		have = 1;
	}
	if (dropped)
		FW_SOURCE_STATS(&c->base, st->dropped += dropped);
	if (got)
		c->last_frame_ns = fw_monotonic_ns();
	if (have) {
		int qerr;

		pushed = push_buffer(c, r, &newest, c->last_frame_ns);
		qerr = xioctl(c->fd, VIDIOC_QBUF, &newest.b);
		if (!err)
			err = qerr;
	}
	if (err)
		return err;
	if (pushed && c->state != FW_SOURCE_OK) {
		char who[600], fcc[5];

		label(c, who, sizeof who);
		if (c->state == FW_SOURCE_STARTING)
			enter_state(c, FW_SOURCE_OK, 0, FW_LOG_DEBUG, "camera %s: first frame", who);
		else
			enter_state(c, FW_SOURCE_OK, 0, FW_LOG_INFO,
				    "camera %s is back: %s %dx%d at %u/%u fps", who,
				    fw_v4l2_fourcc_str(c->fourcc, fcc), c->width, c->height,
				    c->fps_num, c->fps_den);
		c->backoff_ms = c->o.retry_min_ms;
	}
	return pushed;
}

static int cam_read(struct fw_source *s, struct fw_ring *r, int timeout_ms)
{
	struct v4l2_source *c = (struct v4l2_source *)s;
	int64_t deadline = fw_monotonic_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;

	for (;;) {
		int64_t now = fw_monotonic_ns(), wake, stall_at;
		struct pollfd pfd;
		int err, ms;

		if (c->fd < 0) {
			if (now >= c->next_retry_ns) {
				err = open_device(c);
				if (err == 0)
					continue;
				if (err == FW_EINVAL)
					return err; /* an ambiguous name will not fix itself */
				schedule_retry(c, now);
			}
			if (now >= deadline)
				return -EAGAIN;
			fw_sleep_until_ns(c->next_retry_ns < deadline ? c->next_retry_ns : deadline);
			continue;
		}
		stall_at = c->last_frame_ns + (int64_t)c->o.stall_ms * 1000000;
		if (now >= stall_at) {
			char who[600];

			label(c, who, sizeof who);
			close_device(c);
			FW_SOURCE_STATS(s, {
				st->stalls++;
				st->reopens++;
			});
			enter_state(c, FW_SOURCE_STALLED, -ETIMEDOUT, FW_LOG_WARN,
				    "camera %s sent no frame for %g s; reopening it", who,
				    c->o.stall_ms / 1000.0);
			c->next_retry_ns = now; /* at once: a stall is not an absence */
			continue;
		}
		if (now >= deadline)
			return -EAGAIN;
		wake = stall_at < deadline ? stall_at : deadline;
		ms = (int)((wake - now + 999999) / 1000000);
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		err = poll(&pfd, 1, ms);
		if (err < 0 && errno != EINTR)
			return -errno;
		if (err <= 0)
			continue;
		err = dequeue(c, r, !!(pfd.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)));
		if (err < 0) {
			device_lost(c, err);
			continue;
		}
		if (err > 0)
			return 0;
	}
}

static void cam_close(struct fw_source *s)
{
	struct v4l2_source *c = (struct v4l2_source *)s;

	close_device(c);
	fw_source_fini(s);
	free(c);
}

static const struct fw_source_ops v4l2_ops = { cam_read, cam_close };

int fw_v4l2_source_open(struct fw_source **out, const struct fw_v4l2_options *o)
{
	struct v4l2_source *c;
	int err;

	*out = NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return FW_ENOMEM;
	fw_source_init(&c->base, &v4l2_ops);
	c->o = *o;
	if (c->o.width <= 0 || c->o.height <= 0) {
		c->o.width = 640;
		c->o.height = 480;
	}
	if (c->o.fps <= 0)
		c->o.fps = 30;
	if (c->o.buffers <= 0)
		c->o.buffers = 4;
	if (c->o.buffers < 2)
		c->o.buffers = 2;
	if (c->o.buffers > V4L2_MAX_BUFFERS)
		c->o.buffers = V4L2_MAX_BUFFERS;
	if (c->o.stall_ms <= 0)
		c->o.stall_ms = 5000;
	if (c->o.retry_min_ms <= 0)
		c->o.retry_min_ms = 250;
	if (c->o.retry_max_ms < c->o.retry_min_ms)
		c->o.retry_max_ms = c->o.retry_min_ms > 4000 ? c->o.retry_min_ms : 4000;
	snprintf(c->want, sizeof c->want, "%s", o->device ? o->device : "");
	snprintf(c->dev_dir, sizeof c->dev_dir, "%s", o->dev_dir ? o->dev_dir : "");
	c->o.device = c->want;
	c->o.dev_dir = c->dev_dir;
	c->fd = -1;
	c->backoff_ms = c->o.retry_min_ms;
	c->state = FW_SOURCE_STARTING;
	snprintf(c->base.name, sizeof c->base.name, "%s", *c->want ? c->want : "camera");

	err = open_device(c);
	if (err && (!c->o.wait || err == FW_EINVAL)) {
		cam_close(&c->base);
		return err;
	}
	if (err)
		schedule_retry(c, fw_monotonic_ns());
	/* size the ring for what was negotiated, or for the wanted size
	 * when the camera is not there yet */
	if (c->fd >= 0) {
		size_t big = 0;

		for (int i = 0; i < c->nbuf; i++)
			if (c->buf[i].len > big)
				big = c->buf[i].len;
		c->base.frame_bytes = frame_bytes_for(c, big);
	} else {
		/* not there yet: the camera may only offer a larger size than
		 * wanted; room for YUYV up to 1920x1080 covers webcams */
		size_t want = (size_t)c->o.width * (size_t)c->o.height * 3;

		c->base.frame_bytes = want > 1920 * 1080 * 2 ? want : 1920 * 1080 * 2;
	}
	*out = &c->base;
	return 0;
}

/* --- enumeration --------------------------------------------------------------------- */

static int video_filter(const struct dirent *d)
{
	return !strncmp(d->d_name, "video", 5) && all_digits(d->d_name + 5);
}

static int video_order(const struct dirent **a, const struct dirent **b)
{
	return atoi((*a)->d_name + 5) - atoi((*b)->d_name + 5);
}

/* Files in <dev>/v4l/<kind> that point at target. */
static int stable_names(const char *dd, const char *kind, const char *target,
			char names[][256], int max)
{
	char dir[PATH_MAX];
	struct dirent **list = NULL;
	int n, count = 0;

	snprintf(dir, sizeof dir, "%s/v4l/%s", dd, kind);
	n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX], t[PATH_MAX];

		if (list[i]->d_name[0] != '.' && count < max) {
			fmt_str(p, sizeof p, "%s/%s", dir, list[i]->d_name);
			canonical(p, t, sizeof t);
			if (!strcmp(t, target))
				snprintf(names[count++], 256, "%s", list[i]->d_name);
		}
		free(list[i]);
	}
	free(list);
	return count;
}

/* "IR" as a word (Integrated_IR_Camera, "HD IR UVC"), or "infrared". */
static int says_ir(const char *s)
{
	for (const char *p = s; (p = strstr(p, "IR")); p += 2) {
		int before = p == s || !((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= 'a' && p[-1] <= 'z') ||
					 (p[-1] >= '0' && p[-1] <= '9'));
		int after = !((p[2] >= 'A' && p[2] <= 'Z') || (p[2] >= 'a' && p[2] <= 'z') ||
			      (p[2] >= '0' && p[2] <= '9'));

		if (before && after)
			return 1;
	}
	return strcasestr(s, "infrared") != NULL;
}

static void query_format(int fd, struct fw_v4l2_format *f)
{
	for (unsigned i = 0; i < 256 && f->nsizes < FW_V4L2_MAX_SIZES; i++) {
		struct v4l2_frmsizeenum s = { .index = i, .pixel_format = f->fourcc };
		struct fw_v4l2_size *z = &f->sizes[f->nsizes];

		if (xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s))
			break;
		memset(z, 0, sizeof *z);
		if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
			z->width = (int)s.discrete.width;
			z->height = (int)s.discrete.height;
		} else {
			z->stepwise = 1;
			z->width = (int)s.stepwise.min_width;
			z->height = (int)s.stepwise.min_height;
			z->max_width = (int)s.stepwise.max_width;
			z->max_height = (int)s.stepwise.max_height;
			z->step_width = (int)s.stepwise.step_width;
			z->step_height = (int)s.stepwise.step_height;
		}
		/* rates at the (smallest) size */
		for (unsigned k = 0; k < 64 && z->nrates < FW_V4L2_MAX_RATES; k++) {
			struct v4l2_frmivalenum iv = { .index = k,
						       .pixel_format = f->fourcc,
						       .width = (uint32_t)z->width,
						       .height = (uint32_t)z->height };

			if (xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv))
				break;
			if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
				z->interval[z->nrates].num = iv.discrete.numerator;
				z->interval[z->nrates].den = iv.discrete.denominator;
				z->nrates++;
			} else {
				z->rate_stepwise = 1;
				z->interval[0].num = iv.stepwise.min.numerator;
				z->interval[0].den = iv.stepwise.min.denominator;
				z->interval[1].num = iv.stepwise.max.numerator;
				z->interval[1].den = iv.stepwise.max.denominator;
				z->nrates = 2;
				break;
			}
		}
		f->nsizes++;
		if (z->stepwise)
			break;
	}
}

/* 1 listed, 0 not a capture node. */
static int query_device(const char *dd, const char *node, struct fw_v4l2_device *d)
{
	struct v4l2_capability cap = { 0 };
	char target[PATH_MAX];
	int fd, grey = 0, colour = 0;
	uint32_t caps;

	memset(d, 0, sizeof *d);
	fmt_str(d->path, sizeof d->path, "%s", node);
	{
		const char *b = strrchr(node, '/');

		d->index = b && !strncmp(b + 1, "video", 5) && all_digits(b + 6) ? atoi(b + 6) : -1;
	}
	canonical(node, target, sizeof target);
	d->nby_id = stable_names(dd, "by-id", target, d->by_id, FW_V4L2_MAX_NAMES);
	d->nby_path = stable_names(dd, "by-path", target, d->by_path, FW_V4L2_MAX_NAMES);
	fd = v4l2_open(node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		d->error = -errno;
		if (d->error == -EBUSY)
			fw_v4l2_find_holder(node, d->holder, sizeof d->holder);
		return 1;
	}
	if (xioctl(fd, VIDIOC_QUERYCAP, &cap)) {
		v4l2_close(fd);
		return 0;
	}
	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
		v4l2_close(fd);
		return 0; /* metadata, output or radio node */
	}
	snprintf(d->driver, sizeof d->driver, "%s", (const char *)cap.driver);
	snprintf(d->card, sizeof d->card, "%s", (const char *)cap.card);
	snprintf(d->bus, sizeof d->bus, "%s", (const char *)cap.bus_info);
	for (unsigned i = 0; i < 64 && d->nformats < FW_V4L2_MAX_FORMATS; i++) {
		struct v4l2_fmtdesc fd_ = { .index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
		struct fw_v4l2_format *f = &d->formats[d->nformats];

		if (xioctl(fd, VIDIOC_ENUM_FMT, &fd_))
			break;
		if (fd_.flags & V4L2_FMT_FLAG_EMULATED)
			continue;
		memset(f, 0, sizeof *f);
		f->fourcc = fd_.pixelformat;
		snprintf(f->description, sizeof f->description, "%s", (const char *)fd_.description);
		f->compressed = !!(fd_.flags & V4L2_FMT_FLAG_COMPRESSED);
		query_format(fd, f);
		if (fourcc_is_grey(f->fourcc))
			grey++;
		else
			colour++;
		d->nformats++;
	}
	v4l2_close(fd);
	d->ir = (grey && !colour) || says_ir(d->card);
	for (int i = 0; i < d->nby_id; i++)
		d->ir |= says_ir(d->by_id[i]);
	return 1;
}

int fw_v4l2_list(const char *dev_dir, struct fw_v4l2_device **out, int *count)
{
	const char *dd = dev_dir_or_default(dev_dir);
	struct dirent **list = NULL;
	struct fw_v4l2_device *devs = NULL;
	int n, k = 0;

	*out = NULL;
	*count = 0;
	n = scandir(dd, &list, video_filter, video_order);
	if (n <= 0) {
		free(list);
		return 0;
	}
	devs = calloc((size_t)n, sizeof *devs);
	if (!devs) {
		for (int i = 0; i < n; i++)
			free(list[i]);
		free(list);
		return FW_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		char node[PATH_MAX];
		struct stat st;

		snprintf(node, sizeof node, "%s/%s", dd, list[i]->d_name);
		free(list[i]);
		if (stat(node, &st) != 0 || !S_ISCHR(st.st_mode))
			continue;
		k += query_device(dd, node, &devs[k]);
	}
	free(list);
	if (!k) {
		free(devs);
		devs = NULL;
	}
	*out = devs;
	*count = k;
	return 0;
}
