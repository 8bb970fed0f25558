/* The camera checks of `facectl doctor`: what the last few seconds of
 * frames say about the setup (format, size, frame rate, brightness, the
 * sizes of the faces seen), and advice in words when something is off.
 *
 * The daemon's inference thread adds one sample per analysed frame; the
 * `doctor` request (docs/protocol.md) summarises them. `facectl doctor`
 * does the same itself on the camera when no daemon runs, so both give
 * the same numbers and the same advice.
 *
 * Advice (fw_camcheck_json()), with the thresholds enrolment from the
 * camera uses (core/quality.h's defaults), so doctor and enroll agree:
 *   brightness: the mean luma (0..255) of the faces when faces were seen
 *     (a dark room around a lit face is fine), else of the whole frame;
 *     below min_luma (50): too dark; above max_luma (220): too bright
 *   camera fps < 0.8 x the rate asked: too slow (usually low light: long exposures)
 *   largest face seen narrower than min_face_px (64): too small to enrol or
 *     recognise well (the embedder looks at 112 x 112); smallest < 40: at the
 *     detector's limit
 *   width < 640: a low resolution
 *   no face in the window: nothing wrong with the camera, but say so
 *
 * Brightness and the share of frames with a face are means over time, not
 * over samples: each sample counts for the time until the next one (at most
 * FW_CAMCHECK_GAP_MAX_NS). The daemon analyses a still, settled scene less
 * often than a busy one, so a mean per sample would lean towards whatever
 * the busy seconds showed.
 *
 * Ownership: the struct is the caller's (no allocation); not thread-safe
 * (the daemon holds a lock around it).
 */
#ifndef FW_CAMCHECK_H
#define FW_CAMCHECK_H

#include <stdint.h>

#include <jansson.h>

#define FW_CAMCHECK_WINDOW 320 /* samples kept: 10 s at up to 32 analysed fps */
#define FW_CAMCHECK_SECONDS 10 /* summarised: the samples of the last 10 s */
#define FW_CAMCHECK_GAP_MAX_NS 1000000000LL /* a sample stands for at most 1 s */

#define FW_CAMCHECK_SLOW 0.8f
#define FW_CAMCHECK_FACE_TINY 40.0f

struct fw_camcheck_sample {
	int64_t t_ns;        /* capture time, monotonic ns */
	uint32_t sequence;   /* the source's frame counter ... */
	uint32_t session;    /* ... within this session (fw_frame) */
	float luma;          /* mean luma of the frame */
	float face_luma;     /* mean luma of the largest face's box (0 without faces) */
	int faces;           /* faces detected */
	float face_min, face_max; /* box widths in frame pixels (0 without faces) */
};

struct fw_camcheck {
	struct fw_camcheck_sample s[FW_CAMCHECK_WINDOW];
	int n, next;
};

/* What the source says about itself (fw_source_get_stats(), the config). */
struct fw_camcheck_setup {
	const char *device;
	const char *state;   /* fw_source_state_name() */
	const char *format;  /* "MJPEG", "YUYV", ...; NULL: not known yet */
	int width, height;
	double fps_negotiated; /* 0: not known */
	int fps_asked;       /* 0: as fast as it goes (replay) */
};

struct fw_camcheck_summary {
	int samples;         /* in the last FW_CAMCHECK_SECONDS */
	double seconds;      /* between the first and last sample */
	double fps;          /* camera frames per second (sequence numbers over time); 0: unknown */
	float luma;          /* mean over the time summarised */
	float face_luma;     /* mean over the time a face was seen (0: none) */
	float face_share;    /* share of the time with a face */
	int faces_max;       /* most faces in one sample */
	float face_min, face_median, face_max; /* widths (px) over samples with faces */
};

void fw_camcheck_init(struct fw_camcheck *c);
void fw_camcheck_add(struct fw_camcheck *c, const struct fw_camcheck_sample *s);
void fw_camcheck_summarise(const struct fw_camcheck *c, struct fw_camcheck_summary *out);

/* A new JSON object: the setup, the summary and "advice" (an array of
 * sentences; empty when all is well). NULL on allocation failure. */
json_t *fw_camcheck_json(const struct fw_camcheck_setup *setup,
			 const struct fw_camcheck_summary *sum);

#endif
