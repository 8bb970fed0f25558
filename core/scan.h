/* What the detector looks at on each analysed frame, so that watching a
 * desk costs little: the whole frame only when it must, small regions
 * around the faces already tracked otherwise, and nothing at all while the
 * scene stands still.
 *
 * Per frame, in the inference thread, before detecting:
 *
 *   fw_scan_plan(s, now_ms, look, frame_w, frame_h, nt, &plan);
 *   FW_SCAN_STILL    run nothing: the scene has not changed since the last
 *                    run, so its detections still hold (feed the tracker
 *                    the previous detections again); the next frame may
 *                    wait longer (still_fps)
 *   FW_SCAN_FULL     run the detector on the whole frame (with the auto
 *                    detector's tiles when plan.tiles is set)
 *   FW_SCAN_REGIONS  fw_scan_regions(s, img, tracks, nt, k, &plan), then
 *                    run it once on each of plan.rects (a square around
 *                    each tracked face, plan.n of them)
 *
 * The rules, in order:
 *   - FULL when there is no reference yet, no track, or the last full scan
 *     is older than full_ms of moving scene (the clock stops while the
 *     scene is still: a newcomer moves): a newcomer is found within
 *     full_ms even while someone else is tracked, and an empty scene is
 *     always scanned whole.
 *   - STILL when no cell of the scene's thumbnail (a coarse luma image,
 *     each cell the mean of about 1/32 x 1/24 of the frame) differs from the one
 *     at the last detector run by still_diff grey levels or more, and that
 *     run is younger than still_ms.
 *   - REGIONS otherwise: a face that moves is followed at the cost of one
 *     small model run per face.
 * A still scene is checked again at least every still_ms (in regions when
 * someone is tracked, whole otherwise), and a moving one is scanned whole
 * at least every full_ms, so nothing the rules skip is missed for longer
 * than that.
 *
 * The auto detector's tiles (six model runs) go with every other full
 * scan while nobody is tracked (a face they find still gets confirmed
 * within the tracker's window). Once someone is tracked, the full scan
 * runs the whole frame alone and its tiles follow one per REGIONS frame,
 * beside the regions (plan.tile; fw_scan_set_tiles() says how many there
 * are): no frame pays for seven model runs, and the next full scan waits
 * until the last tile has run. With spread_tiles off they all go with
 * the full scan.
 *
 * Ownership: struct fw_scan is plain data the caller owns (no allocation);
 * fw_scan_init() sets it up. Not thread-safe: one inference thread.
 */
#ifndef FW_SCAN_H
#define FW_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/image.h"
#include "core/tracker.h"

#define FW_SCAN_THUMB_W 32
#define FW_SCAN_THUMB_H 24
#define FW_SCAN_MAX_REGIONS 8 /* more tracked faces than this: a full scan */
#define FW_SCAN_MAX_TILES 25  /* the auto detector's grid: at most 5 x 5 */

struct fw_scan_config {
	int64_t full_ms;      /* 1000: a whole-frame scan at least this often, ms */
	int64_t still_ms;     /* 1000: a still scene is re-checked this often, ms;
			       * 0 turns the still rule off */
	float still_diff;     /* 8: largest |thumbnail cell difference| that is still
			       * no motion, grey levels 0..255 */
	float region_scale;   /* 2.4: region side / face box side */
	int regions;          /* 1: follow tracked faces in regions (0: always full) */
	int still_fps;        /* 5: frames analysed per second while the scene is
			       * still (0: no slower than otherwise) */
	int spread_tiles;     /* 1: with someone tracked, one tile per frame
			       * after the full scan (above); 0: all in it */
	int settled_fps;      /* 5: ... while every face in view is followed and
			       * decided (named or unknown): nobody new to name,
			       * a whole-frame look still every full_ms (0: no
			       * slower than otherwise) */
};

enum fw_scan_kind { FW_SCAN_FULL = 0, FW_SCAN_REGIONS, FW_SCAN_STILL };

struct fw_scan_plan {
	enum fw_scan_kind kind;
	int tiles;                           /* FULL: with the auto detector's tiles */
	int tile;                            /* REGIONS: the tile to run beside
					      * the regions (fw_detector_tiles()
					      * order), -1: none */
	int n;                               /* REGIONS: how many */
	int rects[FW_SCAN_MAX_REGIONS + 1][4]; /* REGIONS: x, y, w, h in image pixels, inside
					      * it (room for a tile after the regions) */
	float diff;                          /* the largest thumbnail cell change measured */
};

struct fw_scan_stats {
	uint64_t full, regions, still; /* frames planned each way */
};

struct fw_scan {
	struct fw_scan_config cfg;
	uint8_t ref[FW_SCAN_THUMB_W * FW_SCAN_THUMB_H]; /* thumbnail at the last detector run */
	int have_ref;
	int ref_w, ref_h;                /* the image size it was taken at */
	int64_t last_run_ms, last_full_ms, last_plan_ms;
	int was_still;                   /* the last plan was STILL */
	unsigned fulls_untracked;        /* for the tile cadence */
	int n_tiles;                     /* fw_scan_set_tiles() */
	int tile_next;                   /* the next tile to hand out; -1: none due */
	struct fw_scan_stats stats;
};

/* Fill cfg with the defaults above. */
void fw_scan_config_default(struct fw_scan_config *cfg);

/* Start with no reference: the first plan is a full scan. */
void fw_scan_init(struct fw_scan *s, const struct fw_scan_config *cfg);

/* The coarse luma image (FW_SCAN_THUMB_W x FW_SCAN_THUMB_H cell means) the
 * still rule compares, from img: a frame_w x frame_h frame at any scale.
 * Cells are whole 8x8 blocks of the frame, so that JPEG decodes at any DCT
 * scale give the same thumbnail (a cell of a 640-wide frame is 2 or 3
 * blocks wide: 80 blocks in 32 cells). */
void fw_scan_thumbnail(const struct fw_image *img, int frame_w, int frame_h, uint8_t *thumb);

/* Decide what to run on a frame of frame_w x frame_h at now_ms, with nt
 * live tracks (fw_tracker_tracks() before this frame's update), from
 * `look`: the frame decoded at any scale (the thumbnail is the same at
 * 1/8 as at 1/2, so a cheap DCT-scaled decode can answer "still?" before
 * the detector's own decode). Takes the plan as done: the reference and
 * the times move on when the plan runs the detector. */
void fw_scan_plan(struct fw_scan *s, int64_t now_ms, const struct fw_image *look, int frame_w,
		  int frame_h, int nt, struct fw_scan_plan *plan);

/* How many tiles the detector has for this frame (fw_detector_tiles(); 0
 * for a detector without tiles): with spread_tiles, the plans hand them
 * out one at a time after a full scan of a tracked scene. */
void fw_scan_set_tiles(struct fw_scan *s, int n);

/* Whether fw_scan_plan() at now_ms, if the scene is not still, will look
 * in regions rather than at the whole frame (the same rules, without the
 * thumbnail and without taking the plan): the caller can decode the frame
 * at the scale the regions need, before planning. */
bool fw_scan_regions_next(const struct fw_scan *s, int64_t now_ms, int frame_w, int frame_h,
			  int nt);

/* The coarsest JPEG DCT scale (1, 2, 4 or 8, at least `denom`) at which
 * every region around tracks[0..nt) (frame pixels) still has `model_px`
 * pixels across: regions need no more of the frame than that. While a
 * tile is due beside them, `denom` itself (the full scan's scale). */
int fw_scan_regions_denom(const struct fw_scan *s, const struct fw_track *tracks, int nt,
			  int model_px, int denom);

/* For a REGIONS plan, the regions in img (the image the detector gets):
 * one square around each track's box (frame pixels, img_per_frame_px of
 * img's pixels each). When no box gives a region the plan becomes FULL
 * with tiles. Other plans are left as they are. */
void fw_scan_regions(struct fw_scan *s, const struct fw_image *img, const struct fw_track *tracks,
		     int nt, float img_per_frame_px, struct fw_scan_plan *plan);

#endif
