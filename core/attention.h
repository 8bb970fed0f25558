/* Attention: is a tracked person looking at the screen (the camera), or
 * turned away? A LOOKING/AWAY state per track and per identity, from the
 * head pose (core/landmarks68.h), smoothed, with time hysteresis like
 * presence (core/presence.h).
 *
 *   per frame:  n = fw_attention_update(a, now_ms, obs, n_obs, ev, max)
 *   obs: one entry per live confirmed track (its id and identity), with a
 *   pose when the landmark net ran on it this frame (has_pose).
 *
 * Per track: the pose is smoothed exponentially (smooth_ms time constant).
 * A smoothed pose is "on" when |yaw| <= yaw_deg and |pitch| <= pitch_deg.
 *   AWAY -> LOOKING when the pose has been on continuously for back_ms
 *                   (since = first on pose of the run, at = the pose that
 *                   decided it).
 *   LOOKING -> AWAY when the pose has been off continuously for away_ms (a
 *                   glance away shorter than that is no event).
 * A track starts AWAY without an event. A track that is no longer in obs is
 * forgotten without an event of its own.
 * Per identity (>= 0): LOOKING while at least one of its live tracks is
 * LOOKING; a change is one event (track 0). So an identity whose last
 * looking track ends turns AWAY.
 * Events come in the order: tracks (in obs order), then identities.
 *
 * Ownership: fw_attention_create() allocates; fw_attention_destroy() frees.
 * Nothing else allocates. Thread-safety: none.
 */
#ifndef FW_ATTENTION_H
#define FW_ATTENTION_H

#include <stdint.h>

#define FW_ATTENTION_MAX_TRACKS 32
#define FW_ATTENTION_MAX_CAPACITY (1 << 20)

struct fw_attention_config {
	float yaw_deg;      /* 25: |yaw| up to this is towards the screen */
	float pitch_deg;    /* 20 */
	int64_t away_ms;    /* 1500: turned away this long before AWAY */
	int64_t back_ms;    /* 500: looking this long before LOOKING */
	int64_t smooth_ms;  /* 300: time constant of the pose smoothing; 0 = none */
};

void fw_attention_config_default(struct fw_attention_config *cfg);

enum fw_attention_state { FW_ATTENTION_AWAY = 0, FW_ATTENTION_LOOKING = 1 };

struct fw_attention_obs {
	uint32_t track;      /* tracker id (> 0) */
	int32_t identity;    /* gallery index, or < 0 (unknown / undecided) */
	int has_pose;        /* the pose below was measured this frame */
	float yaw, pitch, roll;
};

struct fw_attention_event {
	uint32_t track;      /* 0 for an identity's event */
	int32_t identity;    /* the track's identity, or the identity */
	enum fw_attention_state state;
	int64_t since_ms;
	int64_t at_ms;
	float yaw, pitch;    /* the smoothed pose then; an identity's: of the track that
				decided (AWAY: the one that turned away, or whose face
				left: its last pose seen looking) */
};

struct fw_attention;

/* capacity: identities 0..capacity-1 get a state. cfg NULL: defaults.
 * FW_EINVAL for negative times or angles outside (0, 90]; FW_ENOMEM. */
int fw_attention_create(struct fw_attention **out, const struct fw_attention_config *cfg,
			int capacity);
void fw_attention_destroy(struct fw_attention *a);

/* Room for all events of one call. */
int fw_attention_max_events(const struct fw_attention *a);

/* One frame; returns the number of events written, or FW_EINVAL (n > 
 * FW_ATTENTION_MAX_TRACKS, max too small, a track id 0). */
int fw_attention_update(struct fw_attention *a, int64_t now_ms,
			const struct fw_attention_obs *obs, int n, struct fw_attention_event *out,
			int max);

/* A track's current state and smoothed pose; FW_EINVAL if not followed. */
int fw_attention_track(const struct fw_attention *a, uint32_t track,
		       enum fw_attention_state *state, float *yaw, float *pitch, float *roll);

#endif
