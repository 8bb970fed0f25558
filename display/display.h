/* The preview window: the camera picture with the pipeline's results drawn
 * over it (a box per face coloured by state, name and similarity, the
 * keypoints or 68 landmarks, the head pose and whether the face looks at
 * the screen), a head-up line (fps, capture->result latency, dropped frames,
 * ISA, CPU %), keys (q/Esc close, f full screen, k keypoints, s snapshot)
 * and JPEG snapshots of exactly what is shown. SDL2, with text through
 * SDL2_ttf.
 *
 *   struct fw_display *w;
 *   fw_display_open(&w, &(struct fw_display_options){ .title = "facewatch" });
 *   while (fw_display_poll(w) != FW_DISPLAY_QUIT) {
 *     fw_display_draw(w, &pic, faces, n, &hud);   // newest picture + results
 *     fw_display_present(w);
 *   }
 *   fw_display_close(w);
 *
 * Knows core's image type only: the caller hands over a picture as packed
 * YUYV or RGB24 bytes (a YUYV picture goes to the GPU as a YUY2 texture,
 * converted there, when the renderer takes that format) and results in
 * camera-frame pixels; the window maps them to its own size.
 *
 * Text: the font is a TrueType file found at run time ($FACEWATCH_FONT, else
 * the default the build was configured with, from Debian's
 * fonts-dejavu-core). Without it the window still opens and draws boxes
 * and keypoints; labels and the head-up line are left out and one warning
 * says which file to install. Glyphs are rendered once each and cached as
 * textures, so drawing text allocates nothing per frame.
 *
 * Threads: SDL rendering belongs to one thread. Every function here must be
 * called from the thread that called fw_display_open(). One window per
 * process (SDL's video subsystem is process-wide).
 * Ownership: fw_display_open() allocates; fw_display_close() frees and
 * quits SDL's video subsystem.
 */
#ifndef FW_DISPLAY_DISPLAY_H
#define FW_DISPLAY_DISPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/image.h"

#define FW_DISPLAY_MAX_POINTS 68 /* per face: 5/6 keypoints today, 68 landmarks later */
#define FW_DISPLAY_NAME_MAX 64

struct fw_display;

enum fw_display_pixfmt {
	FW_DISPLAY_RGB24 = 1, /* R G B, `stride` bytes per row */
	FW_DISPLAY_YUYV,      /* packed 4:2:2 Y0 U Y1 V (BT.601), `stride` bytes per row */
};

/* One picture to show; the bytes are only read during fw_display_draw(). */
struct fw_display_picture {
	enum fw_display_pixfmt format;
	int width, height;
	int stride;
	const uint8_t *data;
	int coord_width, coord_height; /* the size the faces' coordinates refer to
					  (a picture decoded smaller than the camera
					  frame); 0: width x height */
};

enum fw_display_state {
	FW_DISPLAY_UNKNOWN = 0,  /* nobody in the gallery (or not decided yet) */
	FW_DISPLAY_IDENTIFIED,   /* matched an enrolled identity */
	FW_DISPLAY_ENROLLING,    /* being enrolled right now */
};

/* Whether the face looks at the screen (core/attention.h), shown on its
 * label: the word and an eye, open and white with the pupil in the middle
 * while looking, grey with the pupil to the side while away. */
enum fw_display_attention {
	FW_DISPLAY_ATTENTION_NONE = 0, /* not measured (landmarks68 off, or no run yet) */
	FW_DISPLAY_LOOKING,
	FW_DISPLAY_AWAY,
};

/* One face, in the picture's pixels. */
struct fw_display_face {
	float box[4];                  /* x1 y1 x2 y2 */
	float score;
	enum fw_display_state state;
	char name[FW_DISPLAY_NAME_MAX];/* "" unless identified / enrolling */
	float similarity;              /* shown when name is set */
	int n_points;                  /* 0..FW_DISPLAY_MAX_POINTS */
	float points[FW_DISPLAY_MAX_POINTS][2];
	/* head pose (landmarks68 = on), drawn as three axes from `origin` (the
	 * nose tip), half a box wide: red to the head's right-hand side as seen,
	 * green up, blue where the nose points. Degrees, as core/landmarks68.h:
	 * yaw > 0 turns the nose to the picture's right, pitch > 0 up, roll > 0
	 * tilts the head clockwise in the picture. */
	int has_pose;
	float yaw, pitch, roll;
	float origin[2];
	enum fw_display_attention attention;
};

/* The eye's colours (R, G, B) on a label, for tests and the README: the
 * white of the eye while looking, and while away. */
void fw_display_attention_colour(enum fw_display_attention a, uint8_t rgb[3]);

/* The picture-plane direction (dx, dy; y down) of the head's axis k (0 red:
 * right, 1 green: up, 2 blue: the nose) for a pose, as drawn. Its length is
 * the axis's foreshortening (1: in the picture plane, 0: along the view). */
void fw_display_pose_axis(float yaw, float pitch, float roll, int k, float dir[2]);

/* The head-up line. Negative numbers are "not known yet" and left out. */
struct fw_display_hud {
	float fps;
	float latency_ms;   /* capture -> result of the frame shown */
	int64_t dropped;
	float cpu;          /* % of one core */
	char isa[32];       /* kernels, e.g. "avx2"; "" = left out */
};

struct fw_display_options {
	const char *title;        /* NULL: "facewatch" */
	int width, height;        /* first window size; 0: 640 x 480 */
	const char *font;         /* TrueType file; NULL: $FACEWATCH_FONT or the built-in default */
	int font_px;              /* 0: 15 */
	const char *snapshot_dir; /* where `s` writes; NULL: the current directory */
	int hidden;               /* no window on screen (tests with the dummy driver need none) */
};

/* Colours of the states (R, G, B), for tests and the README. */
void fw_display_state_colour(enum fw_display_state s, uint8_t rgb[3]);

/* Open the window. 0; FW_EUNSUPPORTED when SDL has no video (no $DISPLAY
 * and no usable driver: the message says what to set); FW_ENOMEM. */
int fw_display_open(struct fw_display **out, const struct fw_display_options *o);
void fw_display_close(struct fw_display *w);

/* Whether text is drawn (the font loaded). */
int fw_display_has_font(const struct fw_display *w);

enum fw_display_action {
	FW_DISPLAY_NONE = 0,
	FW_DISPLAY_QUIT,          /* window closed, q or Esc */
};

/* Handle pending window events and keys without waiting: f toggles full
 * screen, k keypoints, s asks for a snapshot of the next drawn picture.
 * FW_DISPLAY_QUIT once the user closed the window (and every call after). */
enum fw_display_action fw_display_poll(struct fw_display *w);

/* Render a picture and its faces (pic may be NULL: the last picture again,
 * or black) into the back buffer; nothing is on screen before
 * fw_display_present(). A pending snapshot is written here. 0, or a
 * negative code when the picture cannot be shown (bad size or format). */
int fw_display_draw(struct fw_display *w, const struct fw_display_picture *pic,
		    const struct fw_display_face *faces, int n_faces,
		    const struct fw_display_hud *hud);
void fw_display_present(struct fw_display *w);

/* Read back what the last fw_display_draw() rendered (call before
 * fw_display_present) as RGB: img->data gets cap bytes of caller memory;
 * width/height/stride are set. 0, FW_EINVAL (cap too small), FW_EIO. */
int fw_display_read(struct fw_display *w, struct fw_image *img, size_t cap);
/* Bytes fw_display_read() needs now (the window's drawable size). */
size_t fw_display_read_bytes(const struct fw_display *w);

/* Write what the last fw_display_draw() rendered as a JPEG file (quality
 * 90). path NULL: a new name in the snapshot directory,
 * facewatch-YYYYMMDD-HHMMSS.jpg. The path written goes to `written` (may
 * be NULL). 0 or a negative code (logged with the path). */
int fw_display_snapshot(struct fw_display *w, const char *path, char *written, size_t written_len);

/* Milliseconds since the window opened (SDL_GetTicks), for pacing. */
uint32_t fw_display_ticks(void);

/* Show or hide keypoints (the `k` key); starts shown. */
void fw_display_set_keypoints(struct fw_display *w, int on);
/* The window's drawable size now. */
void fw_display_size(const struct fw_display *w, int *width, int *height);
/* The format of the texture the last picture went into, as the renderer
 * created it (queried back from SDL): "YUY2" for YUYV pictures, uploaded as
 * the camera gave them; "RGB24" for decoded ones; "" before any. */
const char *fw_display_texture_format(const struct fw_display *w);
/* Where picture pixel (x, y) is drawn in the window (for tests). */
void fw_display_map(const struct fw_display *w, float x, float y, int *wx, int *wy);

#endif
