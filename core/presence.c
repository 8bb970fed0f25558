/* Presence state machines; see presence.h for the contract. */
#include "core/presence.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/fw.h"

struct person {
	enum fw_presence_state state;
	int64_t since, at;  /* of `state` */
	bool seen;          /* ever sighted */
	int64_t last_seen;  /* last sighting */
	int64_t run_start;  /* first sighting of the current gap-free run */
};

struct fw_presence {
	struct fw_presence_config cfg;
	int capacity;
	int64_t now;
	bool started;
	struct person anyone;
	struct person people[]; /* capacity */
};

void fw_presence_config_default(struct fw_presence_config *cfg)
{
	*cfg = (struct fw_presence_config){
		.arrive_ms = 1000,
		.lost_ms = 1000,
		.leave_ms = 10000,
		.anyone_arrive_ms = 0,
		.anyone_leave_ms = 10000,
	};
}

static int config_ok(const struct fw_presence_config *c)
{
	return c->arrive_ms >= 0 && c->lost_ms >= 0 && c->leave_ms >= 0 &&
	       c->anyone_arrive_ms >= 0 && c->anyone_leave_ms >= 0;
}

int fw_presence_set_config(struct fw_presence *p, const struct fw_presence_config *cfg)
{
	if (!p || !cfg || !config_ok(cfg))
		return FW_EINVAL;
	p->cfg = *cfg;
	return 0;
}

int fw_presence_create(struct fw_presence **out, const struct fw_presence_config *cfg,
		       int capacity)
{
	struct fw_presence_config def;
	struct fw_presence *p;

	if (!out)
		return FW_EINVAL;
	*out = NULL;
	if (!cfg) {
		fw_presence_config_default(&def);
		cfg = &def;
	}
	if (capacity < 0 || capacity > FW_PRESENCE_MAX_CAPACITY || !config_ok(cfg))
		return FW_EINVAL;
	/* calloc: every person AWAY since 0, never seen */
	p = calloc(1, sizeof(*p) + (size_t)capacity * sizeof(p->people[0]));
	if (!p)
		return FW_ENOMEM;
	p->cfg = *cfg;
	p->capacity = capacity;
	*out = p;
	return 0;
}

void fw_presence_destroy(struct fw_presence *p)
{
	free(p);
}

int fw_presence_max_events(const struct fw_presence *p)
{
	return p->capacity + 1 + 4 * FW_TRACKER_MAX_TRACKS;
}

/* Where a call's events go; room checked up front (fw_presence_max_events). */
struct sink {
	struct fw_presence_event *out;
	int n;
};

static void emit(struct sink *k, int32_t identity, const struct person *x)
{
	k->out[k->n++] = (struct fw_presence_event){ identity, x->state, x->since, x->at };
}

/* Time reaches `now` for one person: a departure may come due. */
static void advance(struct person *x, int32_t identity, int64_t now, int64_t leave_ms,
		    struct sink *k)
{
	if (x->state == FW_PRESENCE_PRESENT && now - x->last_seen >= leave_ms) {
		x->state = FW_PRESENCE_AWAY;
		x->since = x->last_seen;
		x->at = x->last_seen + leave_ms;
		emit(k, identity, x);
	}
}

/* A sighting at s: time first reaches s, then the arrival count. */
static void sight(struct person *x, int32_t identity, int64_t s, int64_t arrive_ms,
		  int64_t lost_ms, int64_t leave_ms, struct sink *k)
{
	if (x->seen && s <= x->last_seen)
		return; /* already counted (a lost track repeats its last sighting) */
	if (x->seen)
		advance(x, identity, s, leave_ms, k);
	if (!x->seen || s - x->last_seen > lost_ms)
		x->run_start = s;
	x->seen = true;
	x->last_seen = s;
	if (x->state == FW_PRESENCE_AWAY && s - x->run_start >= arrive_ms) {
		x->state = FW_PRESENCE_PRESENT;
		x->since = x->run_start;
		x->at = s;
		emit(k, identity, x);
	}
}

/* Checks the arguments, holds the clock, lets time reach now for everybody. */
static int begin(struct fw_presence *p, int64_t *now, struct fw_presence_event *out, int max,
		 struct sink *k)
{
	if (!p || !out || max < fw_presence_max_events(p))
		return FW_EINVAL;
	if (p->started && *now < p->now)
		*now = p->now; /* time runs forward only */
	p->now = *now;
	p->started = true;
	k->out = out;
	k->n = 0;
	for (int i = 0; i < p->capacity; i++)
		advance(&p->people[i], i, *now, p->cfg.leave_ms, k);
	advance(&p->anyone, FW_PRESENCE_ANYONE, *now, p->cfg.anyone_leave_ms, k);
	return 0;
}

int fw_presence_tick(struct fw_presence *p, int64_t now, struct fw_presence_event *out, int max)
{
	struct sink k;
	int err = begin(p, &now, out, max, &k);

	return err < 0 ? err : k.n;
}

int fw_presence_update(struct fw_presence *p, int64_t now, const struct fw_track *tracks, int n,
		       struct fw_presence_event *out, int max)
{
	int order[FW_TRACKER_MAX_TRACKS], m = 0, err;
	const struct fw_presence_config *c;
	struct sink k;

	if (n < 0 || n > FW_TRACKER_MAX_TRACKS || (n > 0 && !tracks))
		return FW_EINVAL;
	err = begin(p, &now, out, max, &k);
	if (err < 0)
		return err;
	c = &p->cfg;

	/* the confirmed tracks' sightings, oldest first (insertion sort, n <= 32) */
	for (int i = 0; i < n; i++) {
		int j;

		if (tracks[i].state == FW_TRACK_TENTATIVE || tracks[i].last_seen_ms > now)
			continue;
		for (j = m; j > 0 && tracks[order[j - 1]].last_seen_ms > tracks[i].last_seen_ms;
		     j--)
			order[j] = order[j - 1];
		order[j] = i;
		m++;
	}
	for (int j = 0; j < m; j++) {
		const struct fw_track *tr = &tracks[order[j]];
		int32_t id = tr->identity;

		if (id >= 0 && id < p->capacity)
			sight(&p->people[id], id, tr->last_seen_ms, c->arrive_ms, c->lost_ms,
			      c->leave_ms, &k);
		sight(&p->anyone, FW_PRESENCE_ANYONE, tr->last_seen_ms, c->anyone_arrive_ms,
		      c->lost_ms, c->anyone_leave_ms, &k);
	}
	return k.n;
}

int fw_presence_get(const struct fw_presence *p, int32_t identity,
		    struct fw_presence_event *state)
{
	const struct person *x;

	if (!p || !state)
		return FW_EINVAL;
	if (identity == FW_PRESENCE_ANYONE)
		x = &p->anyone;
	else if (identity >= 0 && identity < p->capacity)
		x = &p->people[identity];
	else
		return FW_EINVAL;
	*state = (struct fw_presence_event){ identity, x->state, x->since, x->at };
	return 0;
}
