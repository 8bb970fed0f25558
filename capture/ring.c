/* Frame ring: N slots, newest wins. See ring.h for the contract.
 *
 * A slot is in exactly one of these states:
 *   FREE     nobody uses it
 *   WRITING  the producer fills it (one at most)
 *   READY    published, not yet taken (one at most: the newest)
 *   HELD     taken; refs > 0 references outstanding
 * A mutex guards the states; it is held only for O(slots) work, never while
 * copying pixels, so the producer's worst wait is a few hundred nanoseconds.
 */
#include "capture/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fw.h"

enum slot_state { SLOT_FREE, SLOT_WRITING, SLOT_READY, SLOT_HELD };

struct slot {
	struct fw_frame frame;
	enum slot_state state;
	int refs;
};

struct fw_ring {
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* signalled on commit and close */
	int nslots;
	size_t slot_bytes;
	struct slot *slots;
	uint8_t *memory;          /* all slot buffers, one allocation */
	int ready;                /* slot index of the newest untaken frame, or -1 */
	uint64_t next_index;
	int closed;
	struct fw_ring_stats stats;
};

const char *fw_pixfmt_name(enum fw_pixfmt f)
{
	switch (f) {
	case FW_PIXFMT_MJPEG: return "MJPEG";
	case FW_PIXFMT_YUYV: return "YUYV";
	case FW_PIXFMT_RGB24: return "RGB24";
	default: return "none";
	}
}

int64_t fw_monotonic_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void fw_frame_mark(struct fw_frame *f, enum fw_frame_stage stage)
{
	if ((unsigned)stage < FW_STAGE_COUNT)
		f->t_ns[stage] = fw_monotonic_ns();
}

int fw_ring_create(struct fw_ring **out, int slots, size_t slot_bytes)
{
	struct fw_ring *r;
	pthread_condattr_t ca;
	size_t stride;

	*out = NULL;
	if (slots < 3 || slots > 64 || slot_bytes == 0 || slot_bytes > ((size_t)1 << 30))
		return FW_EINVAL;
	stride = (slot_bytes + 63) & ~(size_t)63;
	r = calloc(1, sizeof *r);
	if (!r)
		return FW_ENOMEM;
	r->slots = calloc((size_t)slots, sizeof *r->slots);
	r->memory = aligned_alloc(64, stride * (size_t)slots);
	if (!r->slots || !r->memory) {
		free(r->slots);
		free(r->memory);
		free(r);
		return FW_ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	/* timeouts are measured on the monotonic clock: wall-clock steps
	 * (NTP, suspend) must not stretch or cut a wait */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	r->nslots = slots;
	r->slot_bytes = slot_bytes;
	r->ready = -1;
	for (int i = 0; i < slots; i++) {
		r->slots[i].frame.data = r->memory + stride * (size_t)i;
		r->slots[i].frame.capacity = slot_bytes;
		r->slots[i].frame.slot = i;
	}
	*out = r;
	return 0;
}

void fw_ring_destroy(struct fw_ring *r)
{
	if (!r)
		return;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r->memory);
	free(r->slots);
	free(r);
}

size_t fw_ring_slot_bytes(const struct fw_ring *r)
{
	return r->slot_bytes;
}

static void reset_frame(struct fw_frame *f)
{
	f->format = FW_PIXFMT_NONE;
	f->width = f->height = f->stride = 0;
	f->bytes = 0;
	f->sequence = f->session = 0;
	f->device_ts_ns = 0;
	memset(f->t_ns, 0, sizeof f->t_ns);
}

struct fw_frame *fw_ring_write_begin(struct fw_ring *r)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nslots; i++) {
		if (r->slots[i].state == SLOT_FREE) {
			s = &r->slots[i];
			break;
		}
	}
	if (!s && r->ready >= 0) {
		/* every other slot is held: recycle the newest untaken frame
		 * rather than wait; the consumer will get the one we write now */
		s = &r->slots[r->ready];
		r->ready = -1;
		r->stats.dropped++;
	}
	if (s)
		s->state = SLOT_WRITING;
	else
		r->stats.overruns++;
	pthread_mutex_unlock(&r->lock);
	if (!s)
		return NULL;
	reset_frame(&s->frame);
	return &s->frame;
}

void fw_ring_write_commit(struct fw_ring *r, struct fw_frame *f)
{
	struct slot *s = &r->slots[f->slot];

	pthread_mutex_lock(&r->lock);
	if (r->ready >= 0) {
		/* newest wins: the frame nobody took is superseded */
		r->slots[r->ready].state = SLOT_FREE;
		r->stats.dropped++;
	}
	s->frame.index = r->next_index++;
	s->state = SLOT_READY;
	r->ready = f->slot;
	r->stats.published++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void fw_ring_write_abort(struct fw_ring *r, struct fw_frame *f)
{
	pthread_mutex_lock(&r->lock);
	r->slots[f->slot].state = SLOT_FREE;
	pthread_mutex_unlock(&r->lock);
}

void fw_ring_close(struct fw_ring *r)
{
	pthread_mutex_lock(&r->lock);
	r->closed = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int fw_ring_take(struct fw_ring *r, int timeout_ms, struct fw_frame **out)
{
	struct timespec until;
	int err = 0;

	*out = NULL;
	if (timeout_ms > 0)
		until = fw_deadline(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&r->lock);
	while (r->ready < 0) {
		if (r->closed) {
			err = -EPIPE;
			break;
		}
		if (timeout_ms == 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (timeout_ms < 0)
			pthread_cond_wait(&r->cond, &r->lock);
		else if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT &&
			 r->ready < 0) {
			err = r->closed ? -EPIPE : -ETIMEDOUT;
			break;
		}
	}
	if (!err) {
		struct slot *s = &r->slots[r->ready];

		r->ready = -1;
		s->state = SLOT_HELD;
		s->refs = 1;
		r->stats.taken++;
		*out = &s->frame;
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

void fw_ring_retain(struct fw_ring *r, struct fw_frame *f)
{
	pthread_mutex_lock(&r->lock);
	r->slots[f->slot].refs++;
	pthread_mutex_unlock(&r->lock);
}

void fw_ring_release(struct fw_ring *r, struct fw_frame *f)
{
	struct slot *s;

	if (!f)
		return;
	s = &r->slots[f->slot];
	pthread_mutex_lock(&r->lock);
	if (s->state == SLOT_HELD && --s->refs == 0)
		s->state = SLOT_FREE;
	pthread_mutex_unlock(&r->lock);
}

void fw_ring_get_stats(struct fw_ring *r, struct fw_ring_stats *st)
{
	pthread_mutex_lock(&r->lock);
	*st = r->stats;
	pthread_mutex_unlock(&r->lock);
}
