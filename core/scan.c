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
}

void fw_scan_init(struct fw_scan *s, const struct fw_scan_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
}

void fw_scan_thumbnail(const struct fw_image *img, uint8_t *thumb)
{
	for (int ty = 0; ty < FW_SCAN_THUMB_H; ty++) {
		int y0 = ty * img->height / FW_SCAN_THUMB_H;
		int y1 = (ty + 1) * img->height / FW_SCAN_THUMB_H;
		if (y1 <= y0)
			y1 = y0 + 1;
		for (int tx = 0; tx < FW_SCAN_THUMB_W; tx++) {
			int x0 = tx * img->width / FW_SCAN_THUMB_W;
			int x1 = (tx + 1) * img->width / FW_SCAN_THUMB_W;
			uint32_t sum = 0, n = 0;
			if (x1 <= x0)
				x1 = x0 + 1;
			/* every other row and column: a box average of a 10x10 cell
			 * needs no more to be steady against sensor noise */
			for (int y = y0; y < y1 && y < img->height; y += 2) {
				const uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
				for (int x = x0; x < x1 && x < img->width; x += 2) {
					/* luma, BT.601 weights in 1/256 */
					sum += (77u * p[3 * x] + 150u * p[3 * x + 1] + 29u * p[3 * x + 2]) >> 8;
					n++;
				}
			}
			thumb[ty * FW_SCAN_THUMB_W + tx] = (uint8_t)(n ? sum / n : 0);
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

void fw_scan_plan(struct fw_scan *s, int64_t now_ms, const struct fw_image *img,
		  const struct fw_track *tracks, int nt, float img_per_frame_px,
		  struct fw_scan_plan *plan)
{
	uint8_t thumb[FW_SCAN_THUMB_W * FW_SCAN_THUMB_H];
	int same_size = s->have_ref && s->ref_w == img->width && s->ref_h == img->height;

	memset(plan, 0, sizeof *plan);
	fw_scan_thumbnail(img, thumb);
	plan->diff = same_size ? thumb_diff(thumb, s->ref) : 255.0f;

	if (!same_size || nt == 0 || nt > FW_SCAN_MAX_REGIONS || !s->cfg.regions ||
	    now_ms - s->last_full_ms >= s->cfg.full_ms) {
		/* a full scan also answers "still" when nothing moved, but
		 * only the cheap rule is allowed to skip a scan an empty scene
		 * needs: a still, empty scene stays empty */
		if (same_size && s->cfg.still_ms > 0 && plan->diff < s->cfg.still_diff &&
		    now_ms - s->last_run_ms < s->cfg.still_ms &&
		    now_ms - s->last_full_ms < s->cfg.full_ms) {
			plan->kind = FW_SCAN_STILL;
			s->stats.still++;
			return;
		}
		plan->kind = FW_SCAN_FULL;
		plan->tiles = nt > 0 || (s->fulls_untracked++ & 1) == 0;
		s->last_full_ms = now_ms;
		s->stats.full++;
	} else if (s->cfg.still_ms > 0 && plan->diff < s->cfg.still_diff &&
		   now_ms - s->last_run_ms < s->cfg.still_ms) {
		plan->kind = FW_SCAN_STILL;
		s->stats.still++;
		return;
	} else {
		plan->kind = FW_SCAN_REGIONS;
		for (int i = 0; i < nt; i++)
			if (region_around(&s->cfg, tracks[i].box, img_per_frame_px, img->width,
					  img->height, plan->rects[plan->n]) == 0)
				plan->n++;
		if (plan->n == 0) {
			plan->kind = FW_SCAN_FULL;
			plan->tiles = 1;
			s->last_full_ms = now_ms;
			s->stats.full++;
		} else {
			s->stats.regions++;
		}
	}
	memcpy(s->ref, thumb, sizeof thumb);
	s->have_ref = 1;
	s->ref_w = img->width;
	s->ref_h = img->height;
	s->last_run_ms = now_ms;
}
