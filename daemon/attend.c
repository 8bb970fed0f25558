/* The daemon's attention stage; see attend.h. */
#include "daemon/attend.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

/* A fit whose reprojection error passes this fraction of the inter-ocular
 * distance is a failed landmark run (a profile, a hand over the face, not a
 * face): no pose from it. Good fits on the development frames stay under
 * 0.1; the failed ones seen there were 0.15 and more. */
#define MAX_RMS_IOD 0.15f

struct slot {
	uint32_t track;       /* 0 = free */
	int64_t last_run;
	int has_pts;
	float pts[FW_LM68_POINTS][2];
	struct fw_pose pose;  /* of the last run (unsmoothed) */
};

struct fw_attend {
	struct fw_landmarks68 *lm;
	struct fw_attention *att;
	int64_t period_ms;
	struct slot s[FW_ATTENTION_MAX_TRACKS];
	struct fw_attention_obs obs[FW_ATTENTION_MAX_TRACKS];
};

int fw_attend_open(struct fw_attend **out, const char *model_path,
		   const struct fw_model_options *mo, const struct fw_attention_config *cfg,
		   float rate_hz, int capacity)
{
	struct fw_attend *a;
	int err;

	*out = NULL;
	if (!(rate_hz > 0 && rate_hz <= 1000))
		return FW_EINVAL;
	a = calloc(1, sizeof *a);
	if (!a)
		return FW_ENOMEM;
	a->period_ms = (int64_t)lrintf(1000.0f / rate_hz);
	if ((err = fw_landmarks68_open(&a->lm, model_path, mo)) ||
	    (err = fw_attention_create(&a->att, cfg, capacity))) {
		fw_attend_close(a);
		return err;
	}
	*out = a;
	return 0;
}

void fw_attend_close(struct fw_attend *a)
{
	if (!a)
		return;
	fw_landmarks68_close(a->lm);
	fw_attention_destroy(a->att);
	free(a);
}

int fw_attend_max_events(const struct fw_attend *a)
{
	return fw_attention_max_events(a->att);
}

static const struct slot *find_c(const struct fw_attend *a, uint32_t track)
{
	for (int i = 0; i < FW_ATTENTION_MAX_TRACKS; i++)
		if (a->s[i].track == track)
			return &a->s[i];
	return NULL;
}

static int wanted(const struct fw_track *t)
{
	return t->state != FW_TRACK_TENTATIVE && t->det_index >= 0;
}

int fw_attend_due(const struct fw_attend *a, int64_t now, const struct fw_track *tracks, int nt)
{
	for (int i = 0; i < nt; i++) {
		const struct slot *s;

		if (!wanted(&tracks[i]))
			continue;
		s = find_c(a, tracks[i].id);
		if (!s || !s->has_pts || now - s->last_run >= a->period_ms)
			return 1;
	}
	return 0;
}

int fw_attend_frame(struct fw_attend *a, const struct fw_image *img, float scale, int frame_w,
		    int frame_h, int64_t now, const struct fw_track *tracks, int nt,
		    struct fw_attention_event *ev, int max)
{
	int n = 0;

	if (nt > FW_ATTENTION_MAX_TRACKS)
		nt = FW_ATTENTION_MAX_TRACKS;
	/* forget the slots of tracks that ended */
	for (int k = 0; k < FW_ATTENTION_MAX_TRACKS; k++) {
		int live = 0;

		for (int i = 0; i < nt && !live; i++)
			live = tracks[i].id == a->s[k].track;
		if (!live)
			memset(&a->s[k], 0, sizeof a->s[k]);
	}
	for (int i = 0; i < nt; i++) {
		const struct fw_track *t = &tracks[i];
		struct fw_attention_obs *o = &a->obs[n];
		struct slot *s = (struct slot *)find_c(a, t->id);

		if (t->state == FW_TRACK_TENTATIVE)
			continue;
		*o = (struct fw_attention_obs){ .track = t->id, .identity = t->identity };
		n++;
		if (!s && (s = (struct slot *)find_c(a, 0)))
			s->track = t->id;
		if (!s || !img || !wanted(t) || (s->has_pts && now - s->last_run < a->period_ms))
			continue;
		{
			const float box[4] = { t->det.x1 * scale, t->det.y1 * scale, t->det.x2 * scale,
					       t->det.y2 * scale };
			float pts[FW_LM68_POINTS][2];
			struct fw_pose pose;

			s->last_run = now;
			if (fw_landmarks68_run(a->lm, img, box, pts))
				continue;
			for (int k = 0; k < FW_LM68_POINTS; k++)
				s->pts[k][0] = pts[k][0] / scale, s->pts[k][1] = pts[k][1] / scale;
			s->has_pts = 1;
			if (fw_pose_from_landmarks68((const float(*)[2])s->pts, frame_w, frame_h, &pose) ||
			    pose.rms_px > MAX_RMS_IOD * fw_landmarks68_iod((const float(*)[2])s->pts))
				continue;
			s->pose = pose;
			o->has_pose = 1;
			o->yaw = pose.yaw, o->pitch = pose.pitch, o->roll = pose.roll;
		}
	}
	return fw_attention_update(a->att, now, a->obs, n, ev, max);
}

int fw_attend_face(const struct fw_attend *a, uint32_t track, float pts[FW_LM68_POINTS][2],
		   struct fw_pose *pose, int *looking)
{
	const struct slot *s = track ? find_c(a, track) : NULL;
	enum fw_attention_state st;

	if (!s || !s->has_pts)
		return FW_EINVAL;
	memcpy(pts, s->pts, sizeof s->pts);
	*pose = s->pose;
	*looking = 0;
	if (!fw_attention_track(a->att, track, &st, &pose->yaw, &pose->pitch, &pose->roll))
		*looking = st == FW_ATTENTION_LOOKING;
	return 0;
}

json_t *fw_attend_json(const float pts[FW_LM68_POINTS][2], const struct fw_pose *pose, int looking)
{
	json_t *lm = json_array(), *o;

	for (int k = 0; k < FW_LM68_POINTS && lm; k++)
		json_array_append_new(lm, json_pack("[ff]", roundf(pts[k][0] * 10) / 10,
						    roundf(pts[k][1] * 10) / 10));
	o = json_pack("{so s{sfsfsf} ss}", "landmarks", lm, "pose", "yaw",
		      roundf(pose->yaw * 10) / 10, "pitch", roundf(pose->pitch * 10) / 10, "roll",
		      roundf(pose->roll * 10) / 10, "attention", looking ? "looking" : "away");
	return o;
}

json_t *fw_attend_event_json(const struct fw_attention_event *e, const char *identity)
{
	json_t *ev = json_pack("{ss so ss sf sf}", "event", "attention", "identity",
			       identity[0] ? json_string(identity) : json_null(), "state",
			       e->state == FW_ATTENTION_LOOKING ? "looking" : "away", "yaw",
			       roundf(e->yaw * 10) / 10, "pitch", roundf(e->pitch * 10) / 10);

	if (ev && e->track)
		json_object_set_new(ev, "track", json_integer(e->track));
	return ev;
}
