/* mjpeg_feed: plays a .mjpeg file (concatenated JPEGs) into a v4l2loopback
 * node as an MJPEG camera would send it, for the qemu kernel test.
 *
 *   mjpeg_feed /dev/videoN FILE.mjpeg FPS [SECONDS]
 *
 * Sets the output format (MJPEG at the frame size read from the first
 * frame's SOF) and rate, then write()s one frame per period, looping over
 * the file, for SECONDS (default 60) or until killed. Prints "FWQ feed ..."
 * once the first frame is written, so the guest script knows the capture
 * side is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "capture/jpeg.h"
#include "capture/ring.h"

int main(int argc, char **argv)
{
	struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT };
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT };
	struct timespec next;
	size_t len, pos = 0, start, size, biggest = 0;
	uint8_t *buf;
	long flen;
	int fd, fps, w = 0, h = 0, written = 0;
	int64_t end_ns;
	FILE *f;

	if (argc < 4) {
		fprintf(stderr, "usage: mjpeg_feed /dev/videoN FILE.mjpeg FPS [SECONDS]\n");
		return 2;
	}
	fps = atoi(argv[3]);
	if (fps <= 0)
		fps = 30;
	end_ns = fw_monotonic_ns() + (int64_t)(argc > 4 ? atoi(argv[4]) : 60) * 1000000000LL;
	f = fopen(argv[2], "rb");
	if (!f) {
		fprintf(stderr, "mjpeg_feed: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	fseek(f, 0, SEEK_END);
	flen = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)flen);
	if (!buf || fread(buf, 1, (size_t)flen, f) != (size_t)flen) {
		fprintf(stderr, "mjpeg_feed: cannot read %s\n", argv[2]);
		return 1;
	}
	fclose(f);
	len = (size_t)flen;
	while (fw_mjpeg_next(buf, len, &pos, &start, &size, NULL) == 0) {
		if (!w)
			fw_mjpeg_check(buf + start, size, NULL, &w, &h);
		biggest = size > biggest ? size : biggest;
	}
	if (!w) {
		fprintf(stderr, "mjpeg_feed: no JPEG frame in %s\n", argv[2]);
		return 1;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "mjpeg_feed: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fmt.fmt.pix.width = (uint32_t)w;
	fmt.fmt.pix.height = (uint32_t)h;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_MJPEG;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	fmt.fmt.pix.sizeimage = (uint32_t)biggest;
	fmt.fmt.pix.colorspace = V4L2_COLORSPACE_JPEG;
	if (ioctl(fd, VIDIOC_S_FMT, &fmt)) {
		fprintf(stderr, "mjpeg_feed: S_FMT MJPEG %dx%d: %s\n", w, h, strerror(errno));
		return 1;
	}
	parm.parm.output.timeperframe.numerator = 1;
	parm.parm.output.timeperframe.denominator = (uint32_t)fps;
	if (ioctl(fd, VIDIOC_S_PARM, &parm))
		fprintf(stderr, "mjpeg_feed: S_PARM 1/%d: %s (going on)\n", fps, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (pos = 0; fw_monotonic_ns() < end_ns;) {
		if (fw_mjpeg_next(buf, len, &pos, &start, &size, NULL)) {
			pos = 0; /* loop */
			continue;
		}
		if (write(fd, buf + start, size) != (ssize_t)size) {
			fprintf(stderr, "mjpeg_feed: write: %s\n", strerror(errno));
			return 1;
		}
		if (!written++)
			printf("FWQ feed device=%s size=%dx%d fps=%d sizeimage=%u\n", argv[1], w, h, fps,
			       fmt.fmt.pix.sizeimage);
		fflush(stdout);
		next.tv_nsec += 1000000000L / fps;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	close(fd);
	free(buf);
	return 0;
}
