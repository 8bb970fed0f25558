/* The daemon's attention stage: 68 landmarks and head pose on tracked faces
 * at a bounded rate, fed into the attention state (core/attention.h).
 *
 * Per frame, after the tracker: if fw_attend_due() says a run is due (some
 * confirmed track seen in this frame had no landmarks for 1/rate_hz), the
 * caller gets the frame image and calls fw_attend_frame(), which runs the
 * landmark net on those tracks only, turns each fit into a pose, and
 * updates the attention state; on the other frames it calls
 * fw_attend_frame() with img NULL (tracks that ended are forgotten). Cost:
 * at most rate_hz landmark runs per tracked face per second.
 *
 * Ownership: fw_attend_open() allocates everything; fw_attend_close()
 * frees it; no allocation per frame. One thread (the inference thread).
 */
#ifndef FW_DAEMON_ATTEND_H
#define FW_DAEMON_ATTEND_H

#include <stdint.h>

#include <jansson.h>

#include "core/attention.h"
#include "core/image.h"
#include "core/landmarks68.h"
#include "core/model.h"
#include "core/tracker.h"

struct fw_attend;

/* model_path: landmarks68.fwm. capacity: identities 0..capacity-1. */
int fw_attend_open(struct fw_attend **out, const char *model_path,
		   const struct fw_model_options *mo, const struct fw_attention_config *cfg,
		   float rate_hz, int capacity);
void fw_attend_close(struct fw_attend *a);

int fw_attend_due(const struct fw_attend *a, int64_t now_ms, const struct fw_track *tracks,
		  int nt);

/* img: the frame at `scale` image pixels per frame pixel (1: full size), or
 * NULL. Writes attention events (room: fw_attention_max_events()); returns
 * how many, or a negative FW_E*. */
int fw_attend_frame(struct fw_attend *a, const struct fw_image *img, float scale, int frame_w,
		    int frame_h, int64_t now_ms, const struct fw_track *tracks, int nt,
		    struct fw_attention_event *ev, int max);

/* A track's last landmarks (frame pixels), its smoothed pose and state.
 * 0, or FW_EINVAL when the track has none yet. */
int fw_attend_face(const struct fw_attend *a, uint32_t track, float pts[FW_LM68_POINTS][2],
		   struct fw_pose *pose, int *looking);

int fw_attend_max_events(const struct fw_attend *a);

/* The members a `frame` face gets: {"landmarks": [[x, y] x 68], "pose":
 * {"yaw", "pitch", "roll"}, "attention": "looking" | "away"}; NULL on
 * allocation failure. */
json_t *fw_attend_json(const float pts[FW_LM68_POINTS][2], const struct fw_pose *pose,
		       int looking);

/* The `attention` event (docs/protocol.md) for e; identity "" = null. */
json_t *fw_attend_event_json(const struct fw_attention_event *e, const char *identity);

#endif
