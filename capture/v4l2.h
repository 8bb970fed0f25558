/* V4L2 cameras through libv4l2: finding them, opening one by a stable name,
 * negotiating a format, mmap streaming, and riding out unplug, busy and
 * stalled devices.
 *
 * Negotiation: MJPEG at the wanted size and rate, else YUYV, else RGB24
 * converted by libv4l2 (e.g. an IR camera that only sends GREY). The size
 * is the wanted one if offered, else the smallest offered size that covers
 * it, else the largest. A small fixed number of mmap buffers (default 4).
 *
 * Faults, handled inside fw_v4l2_read() (the camera is a fw_source):
 * - unplug (ENODEV/EIO/...): close, log once, retry with backoff
 *   (retry_min_ms doubling to retry_max_ms), resume on return; the
 *   stable name is resolved again each time, so a camera that comes back
 *   as another /dev/videoN is found;
 * - busy (EBUSY): one message naming the device and the process that holds
 *   it (found by scanning /proc/[pid]/fd), then retry;
 * - a frame the driver flags bad, or an MJPEG frame that is corrupt or cut
 *   short: skipped and counted, never decoded past its end;
 * - no frame for stall_ms: close and reopen (log once).
 *
 * Ownership: fw_v4l2_list() allocates an array freed with free().
 * Thread-safety: enumeration is reentrant; a camera source is read by one
 * thread.
 */
#ifndef FW_CAPTURE_V4L2_H
#define FW_CAPTURE_V4L2_H

#include <stddef.h>
#include <stdint.h>

#include "capture/ring.h"
#include "capture/source.h"

struct fw_v4l2_options {
	const char *device;    /* as fw_source_options.uri */
	const char *dev_dir;   /* where device nodes live; NULL = "/dev" (tests use a temp dir) */
	int width, height;     /* wanted size; 0 = 640x480 */
	int fps;               /* wanted rate; 0 = 30 */
	enum fw_pixfmt prefer; /* FW_PIXFMT_YUYV to try YUYV before MJPEG; else MJPEG first */
	int buffers;           /* mmap buffers, 2..16; 0 = 4 */
	int stall_ms;          /* no frame for this long: reopen; 0 = 5000 */
	int retry_min_ms;      /* first reopen delay; 0 = 250 */
	int retry_max_ms;      /* backoff cap; 0 = 4000 */
	int wait;              /* open succeeds even if the camera is absent or busy; it is
				  then retried in fw_source_read() */
};

/* Opens a camera source (fw_source_open() calls this for FW_SOURCE_V4L2). */
int fw_v4l2_source_open(struct fw_source **out, const struct fw_v4l2_options *o);

/* --- enumeration ----------------------------------------------------------- */

#define FW_V4L2_MAX_NAMES 4
#define FW_V4L2_MAX_FORMATS 16
#define FW_V4L2_MAX_SIZES 24
#define FW_V4L2_MAX_RATES 8

struct fw_v4l2_size {
	/* discrete: width x height; stepwise/continuous: min..max by step */
	int stepwise;
	int width, height;
	int max_width, max_height, step_width, step_height;
	/* frame intervals as seconds per frame, num/den; for stepwise
	 * intervals, the shortest and longest */
	int nrates;
	int rate_stepwise;
	struct { uint32_t num, den; } interval[FW_V4L2_MAX_RATES];
};

struct fw_v4l2_format {
	uint32_t fourcc;       /* V4L2_PIX_FMT_* */
	char description[32];
	int compressed;
	int nsizes;
	struct fw_v4l2_size sizes[FW_V4L2_MAX_SIZES];
};

struct fw_v4l2_device {
	char path[256];        /* the node, e.g. /dev/video0 */
	int index;             /* N of /dev/videoN, -1 if not so named */
	int nby_id, nby_path;  /* stable names: files in <dev>/v4l/by-id and by-path */
	char by_id[FW_V4L2_MAX_NAMES][256];
	char by_path[FW_V4L2_MAX_NAMES][256];
	char driver[16], card[32], bus[32];
	int error;             /* < 0: could not be queried (the fields above are partial) */
	char holder[128];      /* error == -EBUSY: "NAME (pid N)" when found */
	int ir;                /* 1: infrared (the name says IR, or only grey formats); 0: colour */
	int nformats;          /* native formats only, none emulated by libv4l */
	struct fw_v4l2_format formats[FW_V4L2_MAX_FORMATS];
};

/* Every video capture node in dev_dir (NULL = /dev), in /dev/videoN order;
 * metadata and output nodes are left out. *out is malloc'd (free() it),
 * NULL when *count is 0. 0 or FW_ENOMEM; a node that cannot be opened is
 * listed with its error. */
int fw_v4l2_list(const char *dev_dir, struct fw_v4l2_device **out, int *count);

/* The node a user's name stands for: a path (symlinks resolved), an index
 * N (/dev/videoN), or a by-id/by-path name or a part of one that matches
 * exactly one. NULL name = the first capture node. 0, -ENOENT (no such
 * camera), or FW_EINVAL (ambiguous part; message lists the matches). */
int fw_v4l2_resolve(const char *dev_dir, const char *name, char *path, size_t cap);

/* "NAME (pid N)" of a process holding path open, other than this one if
 * possible; 0 when found, -ENOENT otherwise. Scans /proc/[pid]/fd. */
int fw_v4l2_find_holder(const char *path, char *out, size_t cap);

/* "MJPG" from a fourcc, in a 5-byte buffer. */
const char *fw_v4l2_fourcc_str(uint32_t fourcc, char buf[5]);

#endif
