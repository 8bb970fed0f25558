/* Presence: is a person (or anyone) at the camera? A present/away state per
 * identity and one for "anyone", with hysteresis, fed by the tracker.
 *
 *   per frame:  fw_tracker_update ... fw_tracker_events (core/tracker.h), then
 *               n = fw_presence_update(p, now_ms, tracks, n_tracks, ev, max)
 *   no frames (the camera stalls, the device is gone): the daemon calls
 *               n = fw_presence_tick(p, now_ms, ev, max)   e.g. once a second
 *
 * A sighting of identity X at time s is a confirmed (not tentative) track
 * whose decided identity is X and whose last_seen_ms is s; "anyone" is
 * sighted by every confirmed track, known, unknown or undecided.
 *
 * The state machine, the same for an identity and for anyone (with
 * anyone_arrive_ms / anyone_leave_ms for the latter):
 *   AWAY -> PRESENT  on a sighting at s when the sightings since run_start
 *                    have no gap longer than lost_ms and s - run_start >=
 *                    arrive_ms. lost_ms is the "face lost" grace: a frame
 *                    without the face, a glance away, does not restart the
 *                    count. since = run_start, at = s.
 *   PRESENT -> AWAY  when now - last sighting >= leave_ms: the "person left"
 *                    grace. since = the last sighting, at = since + leave_ms
 *                    (the exact moment, whichever later tick noticed it).
 * A return before leave_ms emits nothing.
 *
 * Time only runs forward (an earlier now_ms is taken as the last one). An
 * update at now is a tick at now followed by the frame's sightings, so the
 * outcome does not depend on how often the daemon ticks: a frame that comes
 * after a long stall with nobody ticking still reports the departure (at
 * its exact time) before the return.
 *
 * Everybody starts AWAY (since 0) without an event. Every change is one
 * event, in the order it happened within a call: departures that came due
 * (identities in index order, anyone last), then arrivals in the order of
 * the sightings. `out` must have room for fw_presence_max_events(): all of
 * a call's events always fit, none is held back or lost.
 *
 * Ownership: fw_presence_create() allocates everything (capacity
 * identities); fw_presence_destroy() frees it. Nothing else allocates.
 * Thread-safety: none; one thread (the inference thread) owns it.
 */
#ifndef FW_PRESENCE_H
#define FW_PRESENCE_H

#include <stdint.h>

#include "core/tracker.h"

/* The identity of the "anyone" state (distinct from every FW_IDENTITY_*). */
#define FW_PRESENCE_ANYONE (-3)
#define FW_PRESENCE_MAX_CAPACITY (1 << 20)

struct fw_presence_config {
	int64_t arrive_ms;        /* 1000: identified this long before PRESENT */
	int64_t lost_ms;          /* 1000: "face lost" grace: longer gaps restart arrival */
	int64_t leave_ms;         /* 10000: "person left" grace: unseen this long, AWAY */
	int64_t anyone_arrive_ms; /* 0: a confirmed face is enough (confirmation debounced it) */
	int64_t anyone_leave_ms;  /* 10000: no face this long, AWAY ("desk is empty") */
};

/* Fill cfg with the defaults above. */
void fw_presence_config_default(struct fw_presence_config *cfg);

enum fw_presence_state { FW_PRESENCE_AWAY = 0, FW_PRESENCE_PRESENT = 1 };

struct fw_presence_event {
	int32_t identity;            /* gallery index or FW_PRESENCE_ANYONE */
	enum fw_presence_state state;
	int64_t since_ms;            /* when the state began (see the top) */
	int64_t at_ms;               /* when it was decided (see the top) */
};

struct fw_presence;

/* capacity: identities 0..capacity-1 are followed (a larger identity still
 * counts for anyone). cfg NULL: the defaults. FW_EINVAL for a negative time,
 * capacity outside 0..FW_PRESENCE_MAX_CAPACITY; FW_ENOMEM. */
int fw_presence_create(struct fw_presence **out, const struct fw_presence_config *cfg,
		       int capacity);
void fw_presence_destroy(struct fw_presence *p);
/* Replace the graces of a running presence state (a configuration reload):
 * who is present stays; the new times apply from the next update or tick.
 * FW_EINVAL (and nothing changes) for a negative time. */
int fw_presence_set_config(struct fw_presence *p, const struct fw_presence_config *cfg);

/* One frame: the tracker's live tracks (fw_tracker_tracks(), at most
 * FW_TRACKER_MAX_TRACKS). Writes the events to out (max >=
 * fw_presence_max_events()); returns how many, or FW_EINVAL (nothing
 * changes). */
int fw_presence_update(struct fw_presence *p, int64_t now_ms, const struct fw_track *tracks,
		       int n, struct fw_presence_event *out, int max);

/* Time passes without frames: departures come due. As fw_presence_update()
 * with no tracks. */
int fw_presence_tick(struct fw_presence *p, int64_t now_ms, struct fw_presence_event *out,
		     int max);

/* Room for every event one call can produce: capacity + 1 departures, and
 * two changes (a departure caught up, an arrival) per sighting, two
 * sightings (the person, anyone) per track. */
int fw_presence_max_events(const struct fw_presence *p);

/* The current state of identity (or FW_PRESENCE_ANYONE), as an event:
 * for a client that connects (hello / snapshot). 0 or FW_EINVAL. */
int fw_presence_get(const struct fw_presence *p, int32_t identity,
		    struct fw_presence_event *state);

#endif
