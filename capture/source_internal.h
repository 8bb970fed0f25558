/* Shared by the source implementations (v4l2.c, replay.c) and source.c.
 * Not a public header. */
#ifndef FW_CAPTURE_SOURCE_INTERNAL_H
#define FW_CAPTURE_SOURCE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "capture/source.h"

struct fw_source_ops {
	int (*read)(struct fw_source *s, struct fw_ring *r, int timeout_ms);
	void (*close)(struct fw_source *s); /* frees everything, s included */
};

/* The first member of every source. */
struct fw_source {
	const struct fw_source_ops *ops;
	char name[600];
	size_t frame_bytes;
	/* stats are written by the reading thread and read from any thread */
	pthread_mutex_t stats_lock;
	struct fw_source_stats stats;
};

void fw_source_init(struct fw_source *s, const struct fw_source_ops *ops);
void fw_source_fini(struct fw_source *s);

/* Lock, run the statement on st (the stats), unlock. */
#define FW_SOURCE_STATS(s, stmt)                                                        \
	do {                                                                            \
		struct fw_source_stats *st = &(s)->stats;                               \
		pthread_mutex_lock(&(s)->stats_lock);                                   \
		stmt;                                                                   \
		pthread_mutex_unlock(&(s)->stats_lock);                                 \
	} while (0)

/* Sleep until CLOCK_MONOTONIC reaches t_ns (returns early on a signal). */
void fw_sleep_until_ns(int64_t t_ns);

int fw_replay_mjpeg_open(struct fw_source **out, const struct fw_source_options *o);
int fw_replay_folder_open(struct fw_source **out, const struct fw_source_options *o);

#endif
