/* Attention state machines; see attention.h for the contract. */
#include "core/attention.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

struct track {
	uint32_t id;                  /* 0 = free slot */
	int32_t identity;
	enum fw_attention_state state;
	int64_t since;
	bool have_pose;
	float yaw, pitch, roll;       /* smoothed */
	int64_t last_pose;            /* time of the last pose */
	bool run_on;                  /* the current run is on (else off) */
	int64_t run_start;            /* first pose of the current run */
};

struct ident {
	enum fw_attention_state state;
	int64_t since;
	float yaw, pitch;  /* while LOOKING: the deciding track's, kept for the AWAY event */
};

struct fw_attention {
	struct fw_attention_config cfg;
	int capacity;
	int n_looking;                             /* identities LOOKING now */
	int32_t looking[FW_ATTENTION_MAX_TRACKS];  /* (each needs a looking track) */
	struct track t[FW_ATTENTION_MAX_TRACKS];
	struct ident id[]; /* capacity */
};

void fw_attention_config_default(struct fw_attention_config *cfg)
{
	*cfg = (struct fw_attention_config){
		.yaw_deg = 25.0f,
		.pitch_deg = 20.0f,
		.away_ms = 1500,
		.back_ms = 500,
		.smooth_ms = 300,
	};
}

int fw_attention_create(struct fw_attention **out, const struct fw_attention_config *cfg,
			int capacity)
{
	struct fw_attention_config def;
	struct fw_attention *a;

	if (!out)
		return FW_EINVAL;
	*out = NULL;
	if (!cfg) {
		fw_attention_config_default(&def);
		cfg = &def;
	}
	if (capacity < 0 || capacity > FW_ATTENTION_MAX_CAPACITY || cfg->away_ms < 0 ||
	    cfg->back_ms < 0 || cfg->smooth_ms < 0 || !(cfg->yaw_deg > 0 && cfg->yaw_deg <= 90) ||
	    !(cfg->pitch_deg > 0 && cfg->pitch_deg <= 90))
		return FW_EINVAL;
	a = calloc(1, sizeof *a + (size_t)capacity * sizeof a->id[0]);
	if (!a)
		return FW_ENOMEM;
	a->cfg = *cfg;
	a->capacity = capacity;
	*out = a;
	return 0;
}

void fw_attention_destroy(struct fw_attention *a)
{
	free(a);
}

int fw_attention_max_events(const struct fw_attention *a)
{
	/* every track changes once, every candidate identity once */
	(void)a;
	return 3 * FW_ATTENTION_MAX_TRACKS;
}

static struct track *find(struct fw_attention *a, uint32_t id)
{
	for (int i = 0; i < FW_ATTENTION_MAX_TRACKS; i++)
		if (a->t[i].id == id)
			return &a->t[i];
	return NULL;
}

/* A pose at time now: smooth it, then run the hysteresis. 1 if the state changed. */
static int observe(const struct fw_attention_config *c, struct track *t, int64_t now,
		   float yaw, float pitch, float roll)
{
	bool on;

	if (!t->have_pose || c->smooth_ms == 0 || now <= t->last_pose) {
		t->yaw = yaw, t->pitch = pitch, t->roll = roll;
	} else {
		/* exponential smoothing whatever the rate: weight of the new pose */
		float w = 1.0f - expf(-(float)(now - t->last_pose) / (float)c->smooth_ms);

		t->yaw += w * (yaw - t->yaw);
		t->pitch += w * (pitch - t->pitch);
		t->roll += w * (roll - t->roll);
	}
	on = fabsf(t->yaw) <= c->yaw_deg && fabsf(t->pitch) <= c->pitch_deg;
	if (!t->have_pose || on != t->run_on) {
		t->run_on = on;
		t->run_start = now;
	}
	t->have_pose = true;
	t->last_pose = now;
	if (t->state == FW_ATTENTION_AWAY && on && now - t->run_start >= c->back_ms) {
		t->state = FW_ATTENTION_LOOKING;
		t->since = t->run_start;
		return 1;
	}
	if (t->state == FW_ATTENTION_LOOKING && !on && now - t->run_start >= c->away_ms) {
		t->state = FW_ATTENTION_AWAY;
		t->since = t->run_start;
		return 1;
	}
	return 0;
}

int fw_attention_update(struct fw_attention *a, int64_t now, const struct fw_attention_obs *obs,
			int n, struct fw_attention_event *out, int max)
{
	bool live[FW_ATTENTION_MAX_TRACKS] = { 0 };
	int ne = 0;

	if (!a || n < 0 || n > FW_ATTENTION_MAX_TRACKS || (n && !obs) || !out ||
	    max < fw_attention_max_events(a))
		return FW_EINVAL;
	for (int i = 0; i < n; i++)
		if (obs[i].track == 0)
			return FW_EINVAL;
	/* forget tracks that are gone, then find or make a slot for each */
	for (int s = 0; s < FW_ATTENTION_MAX_TRACKS; s++) {
		bool found = false;

		for (int i = 0; i < n && !found; i++)
			found = obs[i].track == a->t[s].id;
		if (!found)
			memset(&a->t[s], 0, sizeof a->t[s]);
	}
	for (int i = 0; i < n; i++) {
		struct track *t = find(a, obs[i].track);

		if (!t) {
			t = find(a, 0);
			if (!t)
				continue; /* cannot happen: n <= slots */
			memset(t, 0, sizeof *t);
			t->id = obs[i].track;
		}
		t->identity = obs[i].identity;
		live[t - a->t] = true;
		if (obs[i].has_pose && isfinite(obs[i].yaw + obs[i].pitch + obs[i].roll) &&
		    observe(&a->cfg, t, now, obs[i].yaw, obs[i].pitch, obs[i].roll))
			out[ne++] = (struct fw_attention_event){ t->id, t->identity, t->state,
								 t->since, now, t->yaw, t->pitch };
	}
	/* identities: looking while one of their live tracks is. Only those
	 * of a live track or looking now can change (not the whole gallery). */
	int32_t cand[2 * FW_ATTENTION_MAX_TRACKS];
	int nc = 0, n_track_events = ne;

	for (int k = 0; k < a->n_looking; k++)
		cand[nc++] = a->looking[k];
	for (int s = 0; s < FW_ATTENTION_MAX_TRACKS; s++) {
		bool dup = false;

		if (!live[s] || a->t[s].identity < 0 || a->t[s].identity >= a->capacity)
			continue;
		for (int k = 0; k < nc && !dup; k++)
			dup = cand[k] == a->t[s].identity;
		if (!dup)
			cand[nc++] = a->t[s].identity;
	}
	for (int c = 0; c < nc; c++) {
		int32_t id = cand[c];
		const struct track *by = NULL;
		enum fw_attention_state st = FW_ATTENTION_AWAY;

		for (int s = 0; s < FW_ATTENTION_MAX_TRACKS; s++)
			if (live[s] && a->t[s].identity == id && a->t[s].state == FW_ATTENTION_LOOKING) {
				st = FW_ATTENTION_LOOKING;
				if (!by || a->t[s].since < by->since)
					by = &a->t[s];
			}
		if (by) {
			a->id[id].yaw = by->yaw;
			a->id[id].pitch = by->pitch;
		} else if (st != a->id[id].state) {
			/* turned AWAY: the pose its face turned away with, as in
			 * that face's event; if its looking face left instead,
			 * the last pose that face was seen looking with */
			for (int k = 0; k < n_track_events; k++)
				if (out[k].identity == id && out[k].state == FW_ATTENTION_AWAY) {
					a->id[id].yaw = out[k].yaw;
					a->id[id].pitch = out[k].pitch;
					break;
				}
		}
		if (st == a->id[id].state)
			continue;
		a->id[id].state = st;
		a->id[id].since = by ? by->since : now;
		if (st == FW_ATTENTION_LOOKING) {
			a->looking[a->n_looking++] = id;
		} else {
			for (int k = 0; k < a->n_looking; k++)
				if (a->looking[k] == id)
					a->looking[k] = a->looking[--a->n_looking];
		}
		out[ne++] = (struct fw_attention_event){ 0, id, st, a->id[id].since, now,
							 a->id[id].yaw, a->id[id].pitch };
	}
	return ne;
}

int fw_attention_track(const struct fw_attention *a, uint32_t track,
		       enum fw_attention_state *state, float *yaw, float *pitch, float *roll)
{
	if (!a || track == 0)
		return FW_EINVAL;
	for (int s = 0; s < FW_ATTENTION_MAX_TRACKS; s++) {
		const struct track *t = &a->t[s];

		if (t->id != track || !t->have_pose)
			continue;
		if (state)
			*state = t->state;
		if (yaw)
			*yaw = t->yaw;
		if (pitch)
			*pitch = t->pitch;
		if (roll)
			*roll = t->roll;
		return 0;
	}
	return FW_EINVAL;
}
