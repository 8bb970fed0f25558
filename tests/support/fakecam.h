/* fakecam: a fake V4L2 camera for tests, with no kernel driver.
 *
 * Linked into a test binary, fakecam.c defines open/openat/__open_2/close/
 * ioctl/mmap/stat/fstat and syscall() (libv4l2 calls the raw syscall), so
 * every path that opens the configured node reaches this emulation instead
 * of the kernel, libv4l2 included. Executable symbols take precedence over
 * libc for every library, and this works under ASan. Everything else passes
 * through to libc.
 *
 * The device behaves like a UVC camera where tests need it to:
 * - the fd is a timerfd ticking at the frame rate, so poll/epoll work
 *   unmodified: readable when a frame is due;
 * - buffers live in a memfd, so mmap(fd, QUERYBUF.m.offset) maps real memory;
 * - each tick fills the oldest queued buffer; a tick with no queued buffer is
 *   a dropped frame (the sequence number skips), as in a real driver;
 * - ioctls: QUERYCAP, ENUM_FMT, ENUM_FRAMESIZES, ENUM_FRAMEINTERVALS,
 *   G/S/TRY_FMT, G/S_PARM, REQBUFS (MMAP only), QUERYBUF, QBUF, DQBUF,
 *   STREAMON/OFF, G/S/ENUMINPUT; anything else fails with ENOTTY;
 * - formats: MJPEG (frames from a file of concatenated JPEGs, at the size
 *   its SOF says), YUYV and GREY (synthetic moving bars at 160x120,
 *   320x240, 640x480, 1280x720);
 * - one open at a time: a second open fails with EBUSY.
 *
 * Fault injection, from the test thread while another thread streams:
 * unplug (open fails ENOENT, stat fails, every ioctl on a fd opened before
 * fails ENODEV and poll wakes), replug, EBUSY on open, stall (no frames),
 * and corrupt, truncated or error-flagged frames.
 *
 * Without fakecam_configure() the environment configures it, as the
 * preloadable .so of PLATFORM.md: FAKECAM_DEV (default /dev/video0),
 * FAKECAM_MJPEG, FAKECAM_FPS (default 30; 0 = unpaced), FAKECAM_FORMATS
 * (e.g. "yuyv,grey"), FAKECAM_CARD, FAKECAM_FRAMES
 * (stall after that many frames, as a camera whose scene ends: a daemon
 * test then sees faces leave).
 *
 * Thread-safety: all functions may be called from any thread.
 */
#ifndef FW_TESTS_FAKECAM_H
#define FW_TESTS_FAKECAM_H

enum fakecam_format {
	FAKECAM_MJPEG = 1,
	FAKECAM_YUYV = 2,
	FAKECAM_GREY = 4,
};

struct fakecam_config {
	const char *path;   /* node to claim; NULL = /dev/video0 */
	const char *mjpeg;  /* concatenated JPEGs; needed for FAKECAM_MJPEG */
	unsigned formats;   /* FAKECAM_* bits; 0 = MJPEG if a file is given, else YUYV */
	int fps;            /* frame rate; 0 = unpaced: a frame whenever a buffer is queued */
	const char *card;   /* QUERYCAP card name; NULL = "Fake Camera" */
};

/* (Re)configure: closes nothing, but resets faults, counters and the
 * device format. Returns 0, or -1 if the MJPEG file cannot be read. */
int fakecam_configure(const struct fakecam_config *c);

enum fakecam_fault {
	FAKECAM_CORRUPT,    /* frame bytes scrambled (MJPEG: no SOI) */
	FAKECAM_TRUNCATE,   /* only the first half of the frame delivered */
	FAKECAM_ERRFLAG,    /* V4L2_BUF_FLAG_ERROR set, as uvcvideo does */
};
/* The next `frames` delivered frames get the fault. */
void fakecam_inject(enum fakecam_fault f, int frames);

void fakecam_unplug(void);
void fakecam_replug(void);
void fakecam_set_busy(int busy);   /* open fails with EBUSY */
void fakecam_set_stall(int stall); /* streaming continues but no frame comes */
/* QUERYBUF reports every buffer QUEUED, never DONE, as v4l2loopback does
 * (OBS's virtual camera): only poll says a frame is ready. */
void fakecam_set_no_done(int on);

struct fakecam_stats {
	unsigned opens;      /* successful opens */
	unsigned open_fds;   /* fds currently open */
	unsigned streamons;
	unsigned frames;     /* frames put into buffers */
	unsigned dropped;    /* ticks with no queued buffer */
	unsigned faulted;    /* frames delivered with an injected fault */
};
void fakecam_get_stats(struct fakecam_stats *st);

#endif
