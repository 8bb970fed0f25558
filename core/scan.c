#include "core/scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fw_scan_config_default(struct fw_scan_config *cfg)
{
	cfg->full_ms = 1000;
	cfg->still_ms = 1000;
	cfg->still_diff = 8.0f;
	cfg->region_scale = 2.4f;
	cfg->regions = 1;
	cfg->still_fps = 5;
	cfg->settled_fps = 5;
	cfg->spread_tiles = 1;
}

void fw_scan_init(struct fw_scan *s, const struct fw_scan_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
	s->tile_next = -1;
}

void fw_scan_set_tiles(struct fw_scan *s, int n)
{
	s->n_tiles = n > 0 ? n : 0;
	if (s->tile_next >= s->n_tiles)
		s->tile_next = -1;
}

/* Cell edges on the frame's 8x8 block grid: a JPEG decoded at 1/2, 1/4 or
 * 1/8 keeps each block's mean (its DC coefficient), so a cell made of whole
 * blocks has the same mean at every decode scale, and the thumbnail of a
 * 1/8 look agrees with the one of the detector's 1/2 image. */
static int cell_edge(int c, int cells, int frame_len, int img_len)
{
	int blocks = (frame_len + 7) / 8;
	int frame_px = 8 * (int)((int64_t)c * blocks / cells);
	int px = (int)((int64_t)frame_px * img_len / (frame_len > 0 ? frame_len : 1));

	return px < img_len ? px : img_len;
}

void fw_scan_thumbnail(const struct fw_image *img, int frame_w, int frame_h, uint8_t *thumb)
{
	for (int ty = 0; ty < FW_SCAN_THUMB_H; ty++) {
		int y0 = cell_edge(ty, FW_SCAN_THUMB_H, frame_h, img->height);
		int y1 = cell_edge(ty + 1, FW_SCAN_THUMB_H, frame_h, img->height);
		if (ty == FW_SCAN_THUMB_H - 1)
			y1 = img->height;
		for (int tx = 0; tx < FW_SCAN_THUMB_W; tx++) {
			int x0 = cell_edge(tx, FW_SCAN_THUMB_W, frame_w, img->width);
			int x1 = cell_edge(tx + 1, FW_SCAN_THUMB_W, frame_w, img->width);
			uint32_t sum = 0, n = 0;
			if (tx == FW_SCAN_THUMB_W - 1)
				x1 = img->width;
			for (int y = y0; y < y1; y++) {
				const uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
				for (int x = x0; x < x1; x++) {
					/* luma, BT.601 weights in 1/256 */
					sum += 77u * p[3 * x] + 150u * p[3 * x + 1] + 29u * p[3 * x + 2];
					n++;
				}
			}
			thumb[ty * FW_SCAN_THUMB_W + tx] = (uint8_t)(n ? (sum / n) >> 8 : 0);
		}
	}
}

/* The largest change of one cell: a face that moves changes the cells at
 * its edges a lot and the rest not at all, so a mean over the frame would
 * dilute it away; sensor noise, averaged over a cell, stays a few levels. */
static float thumb_diff(const uint8_t *a, const uint8_t *b)
{
	int most = 0;

	for (int i = 0; i < FW_SCAN_THUMB_W * FW_SCAN_THUMB_H; i++) {
		int d = abs((int)a[i] - (int)b[i]);
		most = d > most ? d : most;
	}
	return (float)most;
}

/* A square of region_scale face sides around the box, moved (not cut)
 * to lie inside the image where it fits. */
static int region_around(const struct fw_scan_config *cfg, const float box[4], float k, int w,
			 int h, int r[4])
{
	float bw = (box[2] - box[0]) * k, bh = (box[3] - box[1]) * k;
	float cx = (box[0] + box[2]) * 0.5f * k, cy = (box[1] + box[3]) * 0.5f * k;
	int side = (int)lroundf(cfg->region_scale * (bw > bh ? bw : bh));

	if (!(bw > 0 && bh > 0) || side < 8)
		return -1;
	if (side > w)
		side = w;
	if (side > h)
		side = h;
	r[0] = (int)lroundf(cx - side * 0.5f);
	r[1] = (int)lroundf(cy - side * 0.5f);
	r[0] = r[0] < 0 ? 0 : r[0] + side > w ? w - side : r[0];
	r[1] = r[1] < 0 ? 0 : r[1] + side > h ? h - side : r[1];
	r[2] = side;
	r[3] = side;
	return 0;
}

/* Whether a frame of frame_w x frame_h with nt tracks, unless still, is
 * looked at in regions: the reference is of this size, there are tracks
 * and not too many, regions are on, and no full scan is due since
 * last_full (a newcomer's chance), or the last one's tiles are still being
 * handed out. */
static bool regions_possible(const struct fw_scan *s, int64_t now_ms, int64_t last_full,
			     int frame_w, int frame_h, int nt)
{
	return s->have_ref && s->ref_w == frame_w && s->ref_h == frame_h && nt > 0 &&
	       nt <= FW_SCAN_MAX_REGIONS && s->cfg.regions &&
	       (now_ms - last_full < s->cfg.full_ms || s->tile_next >= 0);
}

void fw_scan_plan(struct fw_scan *s, int64_t now_ms, const struct fw_image *look, int frame_w,
		  int frame_h, int nt, struct fw_scan_plan *plan)
{
	uint8_t thumb[FW_SCAN_THUMB_W * FW_SCAN_THUMB_H];
	int same_size = s->have_ref && s->ref_w == frame_w && s->ref_h == frame_h;
	int still;

	memset(plan, 0, sizeof *plan);
	plan->tile = -1;
	/* the newcomer clock runs only while something moves: a newcomer
	 * moves, and a still scene needs no more than its re-check */
	if (s->was_still)
		s->last_full_ms += now_ms - s->last_plan_ms;
	s->last_plan_ms = now_ms;
	s->was_still = 0;
	fw_scan_thumbnail(look, frame_w, frame_h, thumb);
	plan->diff = same_size ? thumb_diff(thumb, s->ref) : 255.0f;
	still = same_size && s->cfg.still_ms > 0 && plan->diff < s->cfg.still_diff &&
		now_ms - s->last_run_ms < s->cfg.still_ms;

	if (!regions_possible(s, now_ms, s->last_full_ms, frame_w, frame_h, nt)) {
		/* a full scan is due, but a still scene keeps what the last
		 * one found until it is due a re-check: a still, empty scene
		 * stays empty, a still face stays */
		if (still && now_ms - s->last_full_ms < s->cfg.full_ms) {
			plan->kind = FW_SCAN_STILL;
			s->stats.still++;
			s->was_still = 1;
			return;
		}
		plan->kind = FW_SCAN_FULL;
		s->tile_next = -1;
		if (nt > 0 && s->cfg.spread_tiles && s->n_tiles > 0)
			s->tile_next = 0; /* the tiles follow, one per frame */
		else
			plan->tiles = nt > 0 || (s->fulls_untracked++ & 1) == 0;
		s->last_full_ms = now_ms;
		s->stats.full++;
	} else if (still) {
		plan->kind = FW_SCAN_STILL;
		s->stats.still++;
		s->was_still = 1;
		return;
	} else {
		plan->kind = FW_SCAN_REGIONS;
		if (s->tile_next >= 0) {
			plan->tile = s->tile_next++;
			if (s->tile_next >= s->n_tiles)
				s->tile_next = -1;
		}
		s->stats.regions++;
	}
	memcpy(s->ref, thumb, sizeof thumb);
	s->have_ref = 1;
	s->ref_w = frame_w;
	s->ref_h = frame_h;
	s->last_run_ms = now_ms;
}

bool fw_scan_regions_next(const struct fw_scan *s, int64_t now_ms, int frame_w, int frame_h,
			  int nt)
{
	int64_t last_full = s->last_full_ms;

	if (s->was_still) /* as fw_scan_plan will count it */
		last_full += now_ms - s->last_plan_ms;
	return regions_possible(s, now_ms, last_full, frame_w, frame_h, nt);
}

int fw_scan_regions_denom(const struct fw_scan *s, const struct fw_track *tracks, int nt,
			  int model_px, int denom)
{
	float smallest = 0;

	for (int i = 0; i < nt && i < FW_SCAN_MAX_REGIONS; i++) {
		float bw = tracks[i].box[2] - tracks[i].box[0], bh = tracks[i].box[3] - tracks[i].box[1];
		float side = s->cfg.region_scale * (bw > bh ? bw : bh);

		if (!(side > 0))
			return denom;
		if (i == 0 || side < smallest)
			smallest = side;
	}
	if (nt <= 0 || s->tile_next >= 0)
		return denom;
	while (denom < 8 && smallest / (float)(2 * denom) >= (float)model_px)
		denom *= 2;
	return denom;
}

void fw_scan_regions(struct fw_scan *s, const struct fw_image *img, const struct fw_track *tracks,
		     int nt, float img_per_frame_px, struct fw_scan_plan *plan)
{
	if (plan->kind != FW_SCAN_REGIONS)
		return;
	plan->n = 0;
	for (int i = 0; i < nt && plan->n < FW_SCAN_MAX_REGIONS; i++)
		if (region_around(&s->cfg, tracks[i].box, img_per_frame_px, img->width, img->height,
				  plan->rects[plan->n]) == 0)
			plan->n++;
	if (plan->n == 0) {
		/* no usable box: look at everything instead */
		plan->kind = FW_SCAN_FULL;
		plan->tiles = 1;
		plan->tile = -1;
		s->tile_next = -1;
		s->last_full_ms = s->last_run_ms;
		s->stats.regions--;
		s->stats.full++;
	}
}
