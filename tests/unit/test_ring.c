/* The frame ring: newest wins, the producer never waits, a held frame is
 * never overwritten, drops are counted, end of stream is seen. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "capture/ring.h"
#include "core/fw.h"

static void publish(struct fw_ring *r, uint8_t fill)
{
	struct fw_frame *f = fw_ring_write_begin(r);

	assert_non_null(f);
	memset(f->data, fill, f->capacity);
	f->bytes = f->capacity;
	f->format = FW_PIXFMT_MJPEG;
	f->sequence = fill;
	fw_frame_mark(f, FW_STAGE_CAPTURED);
	fw_ring_write_commit(r, f);
}

static void test_create_checks(void **state)
{
	struct fw_ring *r = (struct fw_ring *)1;

	(void)state;
	assert_int_equal(fw_ring_create(&r, 2, 100), FW_EINVAL);
	assert_null(r);
	assert_int_equal(fw_ring_create(&r, 4, 0), FW_EINVAL);
	assert_int_equal(fw_ring_create(&r, 4, 1000), 0);
	assert_int_equal(fw_ring_slot_bytes(r), 1000);
	fw_ring_destroy(r);
}

/* Three frames published before the consumer looks: it gets the last; the
 * two it never saw are counted dropped. */
static void test_newest_wins(void **state)
{
	struct fw_ring *r;
	struct fw_frame *f;
	struct fw_ring_stats st;

	(void)state;
	assert_int_equal(fw_ring_create(&r, 4, 64), 0);
	assert_int_equal(fw_ring_take(r, 0, &f), -ETIMEDOUT);
	publish(r, 1);
	publish(r, 2);
	publish(r, 3);
	assert_int_equal(fw_ring_take(r, 0, &f), 0);
	assert_int_equal(f->sequence, 3);
	assert_int_equal(f->index, 2);
	assert_true(f->t_ns[FW_STAGE_CAPTURED] > 0);
	assert_int_equal(f->t_ns[FW_STAGE_DECODED], 0);
	/* nothing newer: taking again times out rather than repeating */
	{
		struct fw_frame *g;

		assert_int_equal(fw_ring_take(r, 10, &g), -ETIMEDOUT);
		assert_null(g);
	}
	fw_ring_release(r, f);
	fw_ring_get_stats(r, &st);
	assert_int_equal(st.published, 3);
	assert_int_equal(st.taken, 1);
	assert_int_equal(st.dropped, 2);
	fw_ring_destroy(r);
}

/* With the consumer holding a frame, the producer still gets a slot every
 * time, and the held frame's bytes never change. */
static void test_producer_never_blocks(void **state)
{
	struct fw_ring *r;
	struct fw_frame *held, *f;

	(void)state;
	assert_int_equal(fw_ring_create(&r, 3, 256), 0);
	publish(r, 7);
	assert_int_equal(fw_ring_take(r, 0, &held), 0);
	for (int i = 0; i < 100; i++)
		publish(r, (uint8_t)(100 + i));
	for (size_t i = 0; i < held->capacity; i++)
		assert_int_equal(held->data[i], 7);
	assert_int_equal(fw_ring_take(r, 0, &f), 0);
	assert_int_equal(f->sequence, 199);
	fw_ring_release(r, f);
	fw_ring_release(r, held);
	fw_ring_destroy(r);
}

/* A retained frame survives its first release; the slot comes back only
 * after the last. */
static void test_retain_release(void **state)
{
	struct fw_ring *r;
	struct fw_frame *f, *g, *h;
	struct fw_ring_stats st;

	(void)state;
	assert_int_equal(fw_ring_create(&r, 3, 32), 0);
	publish(r, 1);
	assert_int_equal(fw_ring_take(r, 0, &f), 0);
	fw_ring_retain(r, f);
	fw_ring_release(r, f);
	/* one slot held, so 2 for the producer: write_begin + a published one */
	for (int i = 0; i < 10; i++)
		publish(r, (uint8_t)(10 + i));
	assert_int_equal(f->data[0], 1);
	/* consumers holding 2 of 3 slots: the producer recycles the ready one */
	assert_int_equal(fw_ring_take(r, 0, &g), 0);
	publish(r, 50);
	publish(r, 51);
	/* holding all 3 (against the contract): refused, never blocked */
	assert_int_equal(fw_ring_take(r, 0, &h), 0);
	assert_int_equal(h->sequence, 51);
	assert_null(fw_ring_write_begin(r));
	fw_ring_get_stats(r, &st);
	assert_int_equal(st.overruns, 1);
	fw_ring_release(r, f);
	publish(r, 99);
	fw_ring_release(r, g);
	fw_ring_release(r, h);
	fw_ring_destroy(r);
}

static void test_close(void **state)
{
	struct fw_ring *r;
	struct fw_frame *f;

	(void)state;
	assert_int_equal(fw_ring_create(&r, 3, 16), 0);
	publish(r, 5);
	fw_ring_close(r);
	/* the last frame is still delivered, then end of stream */
	assert_int_equal(fw_ring_take(r, 100, &f), 0);
	assert_int_equal(f->sequence, 5);
	fw_ring_release(r, f);
	assert_int_equal(fw_ring_take(r, 100, &f), -EPIPE);
	assert_int_equal(fw_ring_take(r, -1, &f), -EPIPE);
	fw_ring_destroy(r);
}

/* --- threads ------------------------------------------------------------- */

#define N_FRAMES 400

struct producer {
	struct fw_ring *r;
	int null_slots;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct timespec ms = { 0, 200 * 1000 };

	for (int i = 0; i < N_FRAMES; i++) {
		struct fw_frame *f = fw_ring_write_begin(p->r);

		if (!f) {
			p->null_slots++;
			continue;
		}
		/* the whole frame carries its number: a torn or overwritten
		 * frame shows as mixed bytes */
		memset(f->data, i & 0xff, f->capacity);
		f->sequence = (uint32_t)i;
		f->bytes = f->capacity;
		fw_frame_mark(f, FW_STAGE_DEQUEUED);
		fw_ring_write_commit(p->r, f);
		nanosleep(&ms, NULL);
	}
	fw_ring_close(p->r);
	return NULL;
}

/* A consumer 5x slower than the producer: it sees increasing, intact
 * frames, and published = taken + dropped at the end. */
static void test_slow_consumer_threads(void **state)
{
	struct producer p = { 0 };
	struct fw_ring_stats st;
	pthread_t t;
	int64_t last = -1;
	unsigned taken = 0;

	(void)state;
	assert_int_equal(fw_ring_create(&p.r, 4, 4096), 0);
	assert_int_equal(pthread_create(&t, NULL, producer_main, &p), 0);
	for (;;) {
		struct fw_frame *f;
		struct timespec slow = { 0, 1000 * 1000 };
		int err = fw_ring_take(p.r, 1000, &f);

		if (err == -EPIPE)
			break;
		assert_int_equal(err, 0);
		assert_true((int64_t)f->index > last);
		last = (int64_t)f->index;
		nanosleep(&slow, NULL);
		for (size_t i = 0; i < f->capacity; i++)
			if (f->data[i] != (f->sequence & 0xff))
				fail_msg("frame %u overwritten while held", f->sequence);
		fw_ring_release(p.r, f);
		taken++;
	}
	pthread_join(t, NULL);
	fw_ring_get_stats(p.r, &st);
	assert_int_equal(p.null_slots, 0);
	assert_int_equal(st.published, N_FRAMES);
	assert_int_equal(st.taken, taken);
	assert_int_equal(st.published, st.taken + st.dropped);
	assert_true(st.dropped > 0);
	assert_int_equal(last, N_FRAMES - 1); /* the newest is never lost */
	fw_ring_destroy(p.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_checks),
		cmocka_unit_test(test_newest_wins),
		cmocka_unit_test(test_producer_never_blocks),
		cmocka_unit_test(test_retain_release),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_slow_consumer_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
