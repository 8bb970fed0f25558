/* Replay sources: a .mjpeg file (concatenated JPEGs, read in place through
 * mmap) and a folder of images (sorted by name), paced like a camera at a
 * given fps or as fast as the consumer goes, optionally looping.
 *
 * Pacing runs on an absolute schedule (frame n is due at start + n/fps), so
 * it does not drift; if the reader falls more than a frame behind, the
 * schedule restarts from now instead of bursting to catch up, as a camera
 * would not deliver old frames either.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/imageio.h"
#include "capture/jpeg.h"
#include "capture/source_internal.h"
#include "core/fw.h"

/* Above this a "frame" is not a webcam frame; refuse the file. */
#define REPLAY_MAX_FRAME (64u << 20)

struct pacer {
	int fps;               /* 0 = unpaced */
	int64_t period_ns;
	int64_t next_ns;       /* when the next frame is due; 0 = now */
};

static void pacer_init(struct pacer *p, int fps)
{
	p->fps = fps > 0 ? fps : 0;
	p->period_ns = p->fps ? 1000000000 / p->fps : 0;
	p->next_ns = 0;
}

/* 0 when a frame may be emitted now, -EAGAIN when it is due after the
 * deadline (slept until the deadline). */
static int pacer_wait(struct pacer *p, int64_t deadline_ns)
{
	int64_t now;

	if (!p->fps)
		return 0;
	now = fw_monotonic_ns();
	if (p->next_ns == 0 || now > p->next_ns + p->period_ns)
		p->next_ns = now; /* first frame, or fell behind: restart the schedule */
	if (p->next_ns > deadline_ns) {
		fw_sleep_until_ns(deadline_ns);
		return -EAGAIN;
	}
	fw_sleep_until_ns(p->next_ns);
	return 0;
}

static void pacer_emitted(struct pacer *p)
{
	if (p->fps)
		p->next_ns += p->period_ns;
}

static int64_t deadline_after(int timeout_ms)
{
	return fw_monotonic_ns() + (int64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
}

/* Fills the common frame fields and publishes. */
static void publish(struct fw_source *s, struct fw_ring *r, struct fw_frame *f, uint32_t seq)
{
	f->sequence = seq;
	f->session = 1;
	f->t_ns[FW_STAGE_CAPTURED] = f->t_ns[FW_STAGE_DEQUEUED] = fw_monotonic_ns();
	f->device_ts_ns = f->t_ns[FW_STAGE_CAPTURED];
	fw_ring_write_commit(r, f);
	FW_SOURCE_STATS(s, {
		st->frames++;
		st->state = FW_SOURCE_OK;
		st->format = f->format;
		st->width = f->width;
		st->height = f->height;
	});
}

/* --- .mjpeg file --------------------------------------------------------------- */

struct mjpeg_source {
	struct fw_source base;
	const uint8_t *map;
	size_t len;
	size_t pos;
	int loop;
	uint32_t seq;
	struct pacer pacer;
};

static int mjpeg_read(struct fw_source *s, struct fw_ring *r, int timeout_ms)
{
	struct mjpeg_source *m = (struct mjpeg_source *)s;
	int64_t deadline = deadline_after(timeout_ms);
	int wrapped = 0;

	for (;;) {
		size_t start, size;
		unsigned bad = 0;
		struct fw_frame *f;
		int w = 0, h = 0, err;

		err = fw_mjpeg_next(m->map, m->len, &m->pos, &start, &size, &bad);
		if (bad)
			FW_SOURCE_STATS(s, st->corrupt += bad);
		if (err) {
			/* wrapped guards a file whose every frame is bad */
			if (!m->loop || wrapped) {
				FW_SOURCE_STATS(s, st->state = FW_SOURCE_ENDED);
				return -ENODATA;
			}
			m->pos = 0;
			wrapped = 1;
			FW_SOURCE_STATS(s, st->loops++);
			continue;
		}
		if (size > fw_ring_slot_bytes(r)) {
			FW_SOURCE_STATS(s, st->oversize++);
			continue;
		}
		err = pacer_wait(&m->pacer, deadline);
		if (err) {
			m->pos = start; /* this frame is still the next one */
			return err;
		}
		f = fw_ring_write_begin(r);
		if (!f)
			return -EAGAIN; /* consumers hold every slot; frame lost */
		fw_mjpeg_check(m->map + start, size, NULL, &w, &h);
		memcpy(f->data, m->map + start, size);
		f->format = FW_PIXFMT_MJPEG;
		f->width = w;
		f->height = h;
		f->bytes = size;
		publish(s, r, f, m->seq++);
		pacer_emitted(&m->pacer);
		return 0;
	}
}

static void mjpeg_close(struct fw_source *s)
{
	struct mjpeg_source *m = (struct mjpeg_source *)s;

	if (m->map)
		munmap((void *)m->map, m->len);
	fw_source_fini(s);
	free(m);
}

static const struct fw_source_ops mjpeg_ops = { mjpeg_read, mjpeg_close };

int fw_replay_mjpeg_open(struct fw_source **out, const struct fw_source_options *o)
{
	struct mjpeg_source *m;
	struct stat st;
	size_t pos = 0, start, size, max = 0;
	unsigned frames = 0;
	int fd, err, w = 0, h = 0;
	void *map;

	*out = NULL;
	if (!o->uri)
		return FW_EINVAL;
	fd = open(o->uri, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot open: %s", o->uri, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		fw_log(FW_LOG_ERROR, "%s: not a non-empty regular file", o->uri);
		return FW_EFORMAT;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot map: %s", o->uri, strerror(errno));
		return err;
	}
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	/* one pass over the file: the ring slot size is the largest frame */
	while (fw_mjpeg_next(map, (size_t)st.st_size, &pos, &start, &size, NULL) == 0) {
		if (!frames)
			fw_mjpeg_check((const uint8_t *)map + start, size, NULL, &w, &h);
		if (size > max)
			max = size;
		frames++;
	}
	if (!frames || max > REPLAY_MAX_FRAME) {
		munmap(map, (size_t)st.st_size);
		fw_log(FW_LOG_ERROR, "%s: %s", o->uri,
		       frames ? "has a frame over 64 MB; not an MJPEG recording"
			      : "no complete JPEG frame in it; not an MJPEG recording");
		return FW_EFORMAT;
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		munmap(map, (size_t)st.st_size);
		return FW_ENOMEM;
	}
	fw_source_init(&m->base, &mjpeg_ops);
	snprintf(m->base.name, sizeof m->base.name, "%s", o->uri);
	m->base.frame_bytes = max;
	m->base.stats.format = FW_PIXFMT_MJPEG;
	m->base.stats.width = w;
	m->base.stats.height = h;
	m->base.stats.fps_num = o->fps > 0 ? o->fps : 0;
	m->base.stats.fps_den = 1;
	m->map = map;
	m->len = (size_t)st.st_size;
	m->loop = o->loop;
	pacer_init(&m->pacer, o->fps);
	fw_log(FW_LOG_INFO, "%s: replaying %u MJPEG frames of %dx%d%s%s", o->uri, frames, w, h,
	       o->fps > 0 ? "" : " unpaced", o->loop ? ", looping" : "");
	*out = &m->base;
	return 0;
}

/* --- folder of images ------------------------------------------------------------ */

enum image_kind { IMG_JPEG, IMG_PNG };

struct folder_source {
	struct fw_source base;
	char dir[512];
	char **names;
	enum image_kind *kinds;
	int count, next;
	int loop;
	uint32_t seq;
	struct pacer pacer;
	uint8_t *scratch;       /* a PNG file's bytes, before decoding */
	size_t scratch_cap;
};

static int has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);

	return n > e && !strcasecmp(name + n - e, ext);
}

static int image_filter(const struct dirent *d)
{
	return d->d_name[0] != '.' &&
	       (has_ext(d->d_name, ".jpg") || has_ext(d->d_name, ".jpeg") ||
		has_ext(d->d_name, ".png"));
}

/* Byte order of names: stable whatever the locale. */
static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Reads the whole file into buf (cap bytes). Bytes read, or negative. */
static ssize_t read_file_into(const char *path, uint8_t *buf, size_t cap, size_t *file_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return FW_EFORMAT;
	}
	*file_size = (size_t)st.st_size;
	if ((size_t)st.st_size > cap) {
		close(fd);
		return FW_EINVAL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

static int folder_read(struct fw_source *s, struct fw_ring *r, int timeout_ms)
{
	struct folder_source *fs = (struct folder_source *)s;
	int64_t deadline = deadline_after(timeout_ms);
	int tried = 0;

	while (tried++ < fs->count + 1) {
		char path[1200];
		struct fw_frame *f;
		size_t file_size = 0;
		ssize_t n;
		int err;

		if (fs->next >= fs->count) {
			if (!fs->loop) {
				FW_SOURCE_STATS(s, st->state = FW_SOURCE_ENDED);
				return -ENODATA;
			}
			fs->next = 0;
			FW_SOURCE_STATS(s, st->loops++);
		}
		err = pacer_wait(&fs->pacer, deadline);
		if (err)
			return err;
		snprintf(path, sizeof path, "%s/%s", fs->dir, fs->names[fs->next]);
		f = fw_ring_write_begin(r);
		if (!f)
			return -EAGAIN;
		if (fs->kinds[fs->next] == IMG_JPEG) {
			/* read straight into the slot: no copy, no allocation */
			n = read_file_into(path, f->data, f->capacity, &file_size);
			if (n > 0) {
				size_t used = 0;
				int w = 0, h = 0;

				err = fw_mjpeg_check(f->data, (size_t)n, &used, &w, &h);
				if (err == 0) {
					f->format = FW_PIXFMT_MJPEG;
					f->width = w;
					f->height = h;
					f->bytes = used;
				}
			} else {
				err = n == 0 ? FW_ETRUNC : (int)n;
			}
		} else {
			/* PNG: decoded here (libpng allocates; replay only) */
			struct fw_image img;

			n = read_file_into(path, fs->scratch, fs->scratch_cap, &file_size);
			err = n > 0 ? fw_imageio_decode(fs->scratch, (size_t)n, path, &img)
				    : (n == 0 ? FW_ETRUNC : (int)n);
			if (err == 0) {
				size_t rowb = (size_t)img.width * 3;

				if (rowb * (size_t)img.height > f->capacity) {
					err = FW_EINVAL;
				} else {
					for (int y = 0; y < img.height; y++)
						memcpy(f->data + (size_t)y * rowb,
						       img.data + (size_t)y * (size_t)img.stride, rowb);
					f->format = FW_PIXFMT_RGB24;
					f->width = img.width;
					f->height = img.height;
					f->stride = (int)rowb;
					f->bytes = rowb * (size_t)img.height;
				}
				fw_image_free(&img);
			}
		}
		fs->next++;
		if (err) {
			fw_ring_write_abort(r, f);
			FW_SOURCE_STATS(s, {
				if (err == FW_ETRUNC)
					st->truncated++;
				else if (err == FW_EINVAL)
					st->oversize++;
				else
					st->corrupt++;
			});
			fw_log(FW_LOG_DEBUG, "%s: skipped: %s", path, fw_strerror(err));
			continue;
		}
		publish(s, r, f, fs->seq++);
		pacer_emitted(&fs->pacer);
		return 0;
	}
	/* every image failed: nothing to replay */
	FW_SOURCE_STATS(s, st->state = FW_SOURCE_ENDED);
	return -ENODATA;
}

static void folder_close(struct fw_source *s)
{
	struct folder_source *fs = (struct folder_source *)s;

	for (int i = 0; i < fs->count; i++)
		free(fs->names[i]);
	free(fs->names);
	free(fs->kinds);
	free(fs->scratch);
	fw_source_fini(s);
	free(fs);
}

static const struct fw_source_ops folder_ops = { folder_read, folder_close };

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int fw_replay_folder_open(struct fw_source **out, const struct fw_source_options *o)
{
	struct folder_source *fs;
	struct dirent **list = NULL;
	size_t slot = 0, png_max = 0;
	int n, err = 0;

	*out = NULL;
	if (!o->uri)
		return FW_EINVAL;
	n = scandir(o->uri, &list, image_filter, name_order);
	if (n < 0) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot list the folder: %s", o->uri, strerror(errno));
		return err;
	}
	if (n == 0) {
		free(list);
		fw_log(FW_LOG_ERROR, "%s: no .jpg, .jpeg or .png images in the folder", o->uri);
		return FW_EFORMAT;
	}
	fs = calloc(1, sizeof *fs);
	if (!fs) {
		err = FW_ENOMEM;
		goto fail;
	}
	fw_source_init(&fs->base, &folder_ops);
	fs->names = calloc((size_t)n, sizeof *fs->names);
	fs->kinds = calloc((size_t)n, sizeof *fs->kinds);
	if (!fs->names || !fs->kinds) {
		err = FW_ENOMEM;
		goto fail;
	}
	snprintf(fs->dir, sizeof fs->dir, "%s", o->uri);
	snprintf(fs->base.name, sizeof fs->base.name, "%s", o->uri);
	/* size the ring slot: a JPEG is stored as is, a PNG as RGB24 */
	for (int i = 0; i < n; i++) {
		char path[1200];
		struct stat st;
		uint8_t hdr[24];
		int fd;

		fs->names[fs->count] = strdup(list[i]->d_name);
		if (!fs->names[fs->count]) {
			err = FW_ENOMEM;
			goto fail;
		}
		fs->kinds[fs->count] = has_ext(list[i]->d_name, ".png") ? IMG_PNG : IMG_JPEG;
		snprintf(path, sizeof path, "%s/%s", o->uri, list[i]->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (size_t)st.st_size > REPLAY_MAX_FRAME) {
			free(fs->names[fs->count]);
			continue;
		}
		if (fs->kinds[fs->count] == IMG_JPEG) {
			if ((size_t)st.st_size > slot)
				slot = (size_t)st.st_size;
		} else {
			if ((size_t)st.st_size > png_max)
				png_max = (size_t)st.st_size;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && read(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr &&
			    !memcmp(hdr + 12, "IHDR", 4)) {
				uint64_t px = (uint64_t)be32(hdr + 16) * be32(hdr + 20) * 3;

				if (px <= REPLAY_MAX_FRAME && px > slot)
					slot = (size_t)px;
			}
			if (fd >= 0)
				close(fd);
		}
		fs->count++;
	}
	if (!fs->count || !slot) {
		fw_log(FW_LOG_ERROR, "%s: no readable images in the folder", o->uri);
		err = FW_EFORMAT;
		goto fail;
	}
	if (png_max) {
		fs->scratch = malloc(png_max);
		fs->scratch_cap = png_max;
		if (!fs->scratch) {
			err = FW_ENOMEM;
			goto fail;
		}
	}
	fs->base.frame_bytes = slot;
	fs->base.stats.fps_num = o->fps > 0 ? o->fps : 0;
	fs->base.stats.fps_den = 1;
	fs->loop = o->loop;
	pacer_init(&fs->pacer, o->fps);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	fw_log(FW_LOG_INFO, "%s: replaying %d images%s%s", o->uri, fs->count,
	       o->fps > 0 ? "" : " unpaced", o->loop ? ", looping" : "");
	*out = &fs->base;
	return 0;
fail:
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	if (fs)
		folder_close(&fs->base);
	return err;
}
