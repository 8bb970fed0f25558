/* The preview window (display.h): SDL2 renderer, one streaming texture for
 * the picture, rectangles and glyph textures for the overlay. */
#include "display/display.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <SDL.h>
#include <SDL_ttf.h>
#include <turbojpeg.h>

#include "core/fw.h"

#ifndef FW_DISPLAY_DEFAULT_FONT
#define FW_DISPLAY_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif

#define MAX_GLYPHS 256   /* distinct characters cached; more show as '?' */
#define TOAST_MS 3000    /* how long "saved FILE" stays on screen */

struct glyph {
	uint32_t cp;
	SDL_Texture *tex;     /* white; tinted with SDL_SetTextureColorMod */
	int w, h, advance;
};

struct fw_display {
	SDL_Window *win;
	SDL_Renderer *ren;
	SDL_Texture *tex;       /* the picture */
	int tex_w, tex_h;
	Uint32 tex_fmt;
	int have_pic, pic_w, pic_h;
	int coord_w, coord_h;   /* what face coordinates refer to */
	SDL_Rect dst;           /* where the picture goes in the window */
	float scale;            /* window pixels per picture pixel */
	float map_x, map_y;     /* window pixels per coordinate unit */

	TTF_Font *font;
	int ttf_inited;
	int line_h;
	struct glyph glyphs[MAX_GLYPHS];
	int n_glyphs;

	int keypoints, fullscreen, quit, snapshot_pending;
	int fit_first;          /* no size was asked for: take the first picture's */
	char snapshot_dir[PATH_MAX];
	char toast[PATH_MAX + 32];
	Uint32 toast_until;

	uint8_t *readbuf;       /* snapshots only: grown when the window grows */
	size_t readcap;
	tjhandle tj;
};

void fw_display_state_colour(enum fw_display_state s, uint8_t rgb[3])
{
	/* distinct for colour-blind viewers too: orange / green-cyan / blue */
	static const uint8_t c[3][3] = {
		{ 255, 140, 0 },   /* unknown */
		{ 0, 220, 120 },   /* identified */
		{ 70, 130, 255 },  /* enrolling */
	};
	int i = s >= FW_DISPLAY_UNKNOWN && s <= FW_DISPLAY_ENROLLING ? (int)s : 0;
	memcpy(rgb, c[i], 3);
}

void fw_display_attention_colour(enum fw_display_attention a, uint8_t rgb[3])
{
	/* neither is a state colour (the label behind it): white, mid grey */
	uint8_t v = a == FW_DISPLAY_LOOKING ? 255 : 150;
	rgb[0] = rgb[1] = rgb[2] = v;
}

/* ---- text ----------------------------------------------------------------- */

static const struct glyph *glyph_get(struct fw_display *w, uint32_t cp)
{
	static const SDL_Color white = { 255, 255, 255, 255 };
	SDL_Surface *s;
	struct glyph *g;
	int minx, maxx, miny, maxy, adv;

	for (int i = 0; i < w->n_glyphs; i++)
		if (w->glyphs[i].cp == cp)
			return &w->glyphs[i];
	if (w->n_glyphs == MAX_GLYPHS || !TTF_GlyphIsProvided32(w->font, cp))
		return cp == '?' ? NULL : glyph_get(w, '?');
	if (TTF_GlyphMetrics32(w->font, cp, &minx, &maxx, &miny, &maxy, &adv) < 0)
		return NULL;
	g = &w->glyphs[w->n_glyphs];
	g->cp = cp;
	g->advance = adv;
	if (cp == ' ') {
		g->tex = NULL, g->w = g->h = 0;
		w->n_glyphs++;
		return g;
	}
	s = TTF_RenderGlyph32_Blended(w->font, cp, white);
	if (!s)
		return NULL;
	g->tex = SDL_CreateTextureFromSurface(w->ren, s);
	g->w = s->w, g->h = s->h;
	SDL_FreeSurface(s);
	if (!g->tex)
		return NULL;
	SDL_SetTextureBlendMode(g->tex, SDL_BLENDMODE_BLEND);
	w->n_glyphs++;
	return g;
}

/* Next code point of a UTF-8 string; a broken sequence gives '?'. */
static uint32_t utf8_next(const char **ps)
{
	const unsigned char *s = (const unsigned char *)*ps;
	uint32_t cp;
	int n;

	if (s[0] < 0x80) {
		*ps += 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 1, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 2, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 3, cp = s[0] & 0x07;
	else {
		*ps += 1;
		return '?';
	}
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*ps += i;
			return '?';
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*ps += n + 1;
	return cp;
}

static int text_width(struct fw_display *w, const char *s)
{
	int x = 0;

	if (!w->font)
		return 0;
	while (*s) {
		const struct glyph *g = glyph_get(w, utf8_next(&s));
		if (g)
			x += g->advance;
	}
	return x;
}

static void draw_text(struct fw_display *w, int x, int y, const char *s, const uint8_t rgb[3])
{
	if (!w->font)
		return;
	while (*s) {
		const struct glyph *g = glyph_get(w, utf8_next(&s));
		if (!g)
			continue;
		if (g->tex) {
			SDL_Rect r = { x, y, g->w, g->h };
			SDL_SetTextureColorMod(g->tex, rgb[0], rgb[1], rgb[2]);
			SDL_RenderCopy(w->ren, g->tex, NULL, &r);
		}
		x += g->advance;
	}
}

static void open_font(struct fw_display *w, const struct fw_display_options *o)
{
	const char *path = o->font;

	if (!path)
		path = getenv("FACEWATCH_FONT");
	if (!path || !*path)
		path = FW_DISPLAY_DEFAULT_FONT;
	if (TTF_Init() < 0) {
		fw_log(FW_LOG_WARN, "preview: SDL_ttf: %s; no text is drawn", TTF_GetError());
		return;
	}
	w->ttf_inited = 1;
	w->font = TTF_OpenFont(path, o->font_px > 0 ? o->font_px : 15);
	if (!w->font) {
		fw_log(FW_LOG_WARN,
		       "preview: cannot open the font %s (%s): boxes only, no names or timings; "
		       "install fonts-dejavu-core or set FACEWATCH_FONT to a .ttf file",
		       path, TTF_GetError());
		return;
	}
	w->line_h = TTF_FontHeight(w->font);
}

/* ---- window --------------------------------------------------------------- */

int fw_display_open(struct fw_display **out, const struct fw_display_options *o)
{
	static const struct fw_display_options none;
	struct fw_display *w;
	Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;
	int err = FW_ENOMEM;

	*out = NULL;
	if (!o)
		o = &none;
	w = calloc(1, sizeof *w);
	if (!w)
		return FW_ENOMEM;
	w->keypoints = 1;
	w->fit_first = o->width <= 0 && o->height <= 0;
	snprintf(w->snapshot_dir, sizeof w->snapshot_dir, "%s", o->snapshot_dir ? o->snapshot_dir : ".");
	/* the program keeps its own SIGINT/SIGTERM handling (the daemon's clean
	 * stop); SDL would otherwise turn them into SDL_QUIT */
	SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	/* camera YUYV is BT.601 whatever the frame size */
	SDL_SetYUVConversionMode(SDL_YUV_CONVERSION_BT601);
	if (SDL_InitSubSystem(SDL_INIT_VIDEO) < 0) {
		fw_log(FW_LOG_ERROR, "preview: cannot open a window: %s (is $DISPLAY set? "
		       "SDL_VIDEODRIVER=offscreen or dummy draw without a screen)", SDL_GetError());
		free(w);
		return FW_EUNSUPPORTED;
	}
	{
		/* with no $DISPLAY SDL falls back to drawing off-screen by
		 * itself: a window nobody can see deserves a word */
		const char *drv = SDL_GetCurrentVideoDriver();
		const char *asked = getenv("SDL_VIDEODRIVER");
		if (drv && (!strcmp(drv, "offscreen") || !strcmp(drv, "dummy")) && !(asked && *asked))
			fw_log(FW_LOG_WARN, "preview: no screen found ($DISPLAY and $WAYLAND_DISPLAY "
			       "are unset): the window is drawn off-screen, nobody will see it");
	}
	if (o->hidden)
		flags |= SDL_WINDOW_HIDDEN;
	w->win = SDL_CreateWindow(o->title ? o->title : "facewatch", SDL_WINDOWPOS_UNDEFINED,
				  SDL_WINDOWPOS_UNDEFINED, o->width > 0 ? o->width : 640,
				  o->height > 0 ? o->height : 480, flags);
	if (!w->win) {
		fw_log(FW_LOG_ERROR, "preview: cannot create the window: %s", SDL_GetError());
		err = FW_EUNSUPPORTED;
		goto fail;
	}
	/* any renderer: a GPU one where there is one, else SDL's software one */
	w->ren = SDL_CreateRenderer(w->win, -1, 0);
	if (!w->ren) {
		fw_log(FW_LOG_ERROR, "preview: no renderer for the window: %s", SDL_GetError());
		err = FW_EUNSUPPORTED;
		goto fail;
	}
	SDL_SetRenderDrawBlendMode(w->ren, SDL_BLENDMODE_BLEND);
	w->tj = tjInitCompress();
	if (!w->tj)
		goto fail;
	open_font(w, o);
	*out = w;
	return 0;
fail:
	fw_display_close(w);
	return err;
}

void fw_display_close(struct fw_display *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n_glyphs; i++)
		if (w->glyphs[i].tex)
			SDL_DestroyTexture(w->glyphs[i].tex);
	if (w->font)
		TTF_CloseFont(w->font);
	if (w->ttf_inited)
		TTF_Quit();
	if (w->tex)
		SDL_DestroyTexture(w->tex);
	if (w->ren)
		SDL_DestroyRenderer(w->ren);
	if (w->win)
		SDL_DestroyWindow(w->win);
	if (w->tj)
		tjDestroy(w->tj);
	free(w->readbuf);
	free(w);
	SDL_QuitSubSystem(SDL_INIT_VIDEO);
	SDL_Quit();
}

int fw_display_has_font(const struct fw_display *w)
{
	return w->font != NULL;
}

uint32_t fw_display_ticks(void)
{
	return SDL_GetTicks();
}

void fw_display_set_keypoints(struct fw_display *w, int on)
{
	w->keypoints = on;
}

void fw_display_size(const struct fw_display *w, int *width, int *height)
{
	if (SDL_GetRendererOutputSize(w->ren, width, height) < 0)
		*width = *height = 0;
}

const char *fw_display_texture_format(const struct fw_display *w)
{
	Uint32 fmt;

	if (!w->tex || SDL_QueryTexture(w->tex, &fmt, NULL, NULL, NULL) < 0)
		return "";
	/* SDL_GetPixelFormatName: "SDL_PIXELFORMAT_YUY2" */
	return SDL_GetPixelFormatName(fmt) + strlen("SDL_PIXELFORMAT_");
}

void fw_display_map(const struct fw_display *w, float x, float y, int *wx, int *wy)
{
	*wx = w->dst.x + (int)lroundf(x * w->map_x);
	*wy = w->dst.y + (int)lroundf(y * w->map_y);
}

static void handle_event(struct fw_display *w, const SDL_Event *e)
{
	switch (e->type) {
	case SDL_QUIT:
		w->quit = 1;
		break;
	case SDL_WINDOWEVENT:
		if (e->window.event == SDL_WINDOWEVENT_CLOSE)
			w->quit = 1;
		break;
	case SDL_KEYDOWN:
		switch (e->key.keysym.sym) {
		case SDLK_q:
		case SDLK_ESCAPE:
			w->quit = 1;
			break;
		case SDLK_f:
			w->fullscreen = !w->fullscreen;
			SDL_SetWindowFullscreen(w->win, w->fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
			break;
		case SDLK_k:
			w->keypoints = !w->keypoints;
			break;
		case SDLK_s:
			w->snapshot_pending = 1;
			break;
		default:
			break;
		}
		break;
	default:
		break;
	}
}

enum fw_display_action fw_display_poll(struct fw_display *w)
{
	SDL_Event e;

	while (SDL_PollEvent(&e))
		handle_event(w, &e);
	return w->quit ? FW_DISPLAY_QUIT : FW_DISPLAY_NONE;
}

/* ---- drawing -------------------------------------------------------------- */

static int upload(struct fw_display *w, const struct fw_display_picture *p)
{
	Uint32 fmt;

	if (!p->data || p->width <= 0 || p->height <= 0 || p->width > 16384 || p->height > 16384)
		return FW_EINVAL;
	switch (p->format) {
	case FW_DISPLAY_RGB24:
		fmt = SDL_PIXELFORMAT_RGB24;
		if (p->stride < 3 * p->width)
			return FW_EINVAL;
		break;
	case FW_DISPLAY_YUYV:
		/* straight to the GPU: renderers with YUY2 textures convert
		 * there; SDL converts in software for the others */
		fmt = SDL_PIXELFORMAT_YUY2;
		if (p->width & 1 || p->stride < 2 * p->width)
			return FW_EINVAL;
		break;
	default:
		return FW_EINVAL;
	}
	if (!w->tex || w->tex_w != p->width || w->tex_h != p->height || w->tex_fmt != fmt) {
		/* only when the camera's size or format changes */
		if (w->tex)
			SDL_DestroyTexture(w->tex);
		w->tex = SDL_CreateTexture(w->ren, fmt, SDL_TEXTUREACCESS_STREAMING, p->width, p->height);
		if (!w->tex) {
			fw_log(FW_LOG_ERROR, "preview: cannot create a %dx%d texture: %s", p->width,
			       p->height, SDL_GetError());
			w->have_pic = 0;
			return FW_EUNSUPPORTED;
		}
		w->tex_w = p->width, w->tex_h = p->height, w->tex_fmt = fmt;
	}
	if (SDL_UpdateTexture(w->tex, NULL, p->data, p->stride) < 0)
		return FW_EIO;
	w->have_pic = 1;
	w->pic_w = p->width, w->pic_h = p->height;
	w->coord_w = p->coord_width > 0 ? p->coord_width : p->width;
	w->coord_h = p->coord_height > 0 ? p->coord_height : p->height;
	if (w->fit_first) {
		/* the camera's own size, once; after that the user's */
		w->fit_first = 0;
		SDL_SetWindowSize(w->win, w->coord_w, w->coord_h);
	}
	return 0;
}

static void fill(struct fw_display *w, int x, int y, int wd, int ht, const uint8_t c[3], int alpha)
{
	SDL_Rect r = { x, y, wd, ht };
	SDL_SetRenderDrawColor(w->ren, c[0], c[1], c[2], (Uint8)alpha);
	SDL_RenderFillRect(w->ren, &r);
}

void fw_display_pose_axis(float yaw, float pitch, float roll, int k, float dir[2])
{
	const double d2r = 3.14159265358979323846 / 180.0;
	const double cy = cos(yaw * d2r), sy = sin(yaw * d2r), cp = cos(pitch * d2r),
		     sp = sin(pitch * d2r), cr = cos(roll * d2r), sr = sin(roll * d2r);
	/* head frame: x right (as seen), y up, z out of the face towards the
	 * camera; yaw turns about y, then pitch about x, then roll about the
	 * view axis (clockwise as seen for roll > 0) */
	double v[3] = { k == 0, k == 1, k == 2 }, t;

	t = v[0] * cy + v[2] * sy, v[2] = -v[0] * sy + v[2] * cy, v[0] = t;
	t = v[1] * cp + v[2] * sp, v[2] = -v[1] * sp + v[2] * cp, v[1] = t;
	t = v[0] * cr + v[1] * sr, v[1] = -v[0] * sr + v[1] * cr, v[0] = t;
	dir[0] = (float)v[0];
	dir[1] = (float)-v[1]; /* picture y runs down */
}

static void draw_pose(struct fw_display *w, const struct fw_display_face *f, int x1, int x2)
{
	static const uint8_t colour[3][3] = { { 230, 40, 40 }, { 40, 200, 60 }, { 40, 110, 255 } };
	int ox, oy;
	float len = 0.5f * (float)(x2 - x1);

	fw_display_map(w, f->origin[0], f->origin[1], &ox, &oy);
	for (int k = 0; k < 3; k++) {
		float d[2];
		fw_display_pose_axis(f->yaw, f->pitch, f->roll, k, d);
		SDL_SetRenderDrawColor(w->ren, colour[k][0], colour[k][1], colour[k][2], 255);
		/* three lines side by side: visible at any window size */
		for (int o = -1; o <= 1; o++)
			SDL_RenderDrawLine(w->ren, ox + (d[1] != 0 ? o : 0), oy + (d[1] != 0 ? 0 : o),
					   ox + (d[1] != 0 ? o : 0) + (int)lroundf(len * d[0]),
					   oy + (d[1] != 0 ? 0 : o) + (int)lroundf(len * d[1]));
	}
}

static void __attribute__((format(printf, 3, 4)))
append(char *line, size_t cap, const char *fmt, ...);

/* The attention eye in ew x eh at (x, y): an almond (white of the eye,
 * black rim) and a round black pupil, in the middle while looking and to
 * the side while away, so the two differ in shape as well as shade. */
static void draw_eye(struct fw_display *w, int x, int y, int ew, int eh,
		     enum fw_display_attention a)
{
	uint8_t white[3];
	float cy = y + 0.5f * (float)(eh - 1), half = 0.5f * (float)(eh - 1);
	float r = 0.3f * (float)eh, px = x + 0.5f * (float)(ew - 1);

	if (a == FW_DISPLAY_AWAY)
		px += 0.28f * (float)ew;
	fw_display_attention_colour(a, white);
	for (int i = 0; i < ew; i++) {
		float u = 2.0f * ((float)i + 0.5f) / (float)ew - 1.0f;
		int hh = (int)lroundf(half * (1.0f - u * u)), x0 = x + i, y0 = (int)lroundf(cy);
		float dx = (float)x0 - px, pr = r * r - dx * dx;
		SDL_SetRenderDrawColor(w->ren, white[0], white[1], white[2], 255);
		SDL_RenderDrawLine(w->ren, x0, y0 - hh, x0, y0 + hh);
		SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 255);
		if (pr > 0) {
			int ph = (int)floorf(sqrtf(pr));
			if (ph > hh)
				ph = hh;
			SDL_RenderDrawLine(w->ren, x0, y0 - ph, x0, y0 + ph);
		}
		SDL_RenderDrawPoint(w->ren, x0, y0 - hh);
		SDL_RenderDrawPoint(w->ren, x0, y0 + hh);
	}
}

static void draw_face(struct fw_display *w, const struct fw_display_face *f, int thick, int top)
{
	static const uint8_t black[3] = { 0, 0, 0 }, point[3] = { 255, 235, 0 };
	uint8_t c[3];
	int x1, y1, x2, y2;
	char label[FW_DISPLAY_NAME_MAX + 16];

	fw_display_state_colour(f->state, c);
	fw_display_map(w, f->box[0], f->box[1], &x1, &y1);
	fw_display_map(w, f->box[2], f->box[3], &x2, &y2);
	if (x2 - x1 < 2 * thick || y2 - y1 < 2 * thick)
		return;
	/* the box edge: `thick` pixels inside the box's outline */
	fill(w, x1, y1, x2 - x1, thick, c, 255);
	fill(w, x1, y2 - thick, x2 - x1, thick, c, 255);
	fill(w, x1, y1, thick, y2 - y1, c, 255);
	fill(w, x2 - thick, y1, thick, y2 - y1, c, 255);

	if (w->keypoints) {
		int r = f->n_points > 10 ? 1 : 2 + thick / 2;
		for (int i = 0; i < f->n_points && i < FW_DISPLAY_MAX_POINTS; i++) {
			int px, py;
			fw_display_map(w, f->points[i][0], f->points[i][1], &px, &py);
			fill(w, px - r, py - r, 2 * r + 1, 2 * r + 1, point, 255);
		}
		if (f->has_pose)
			draw_pose(w, f, x1, x2);
	}

	/* the attention eye ends the label; without a font it is the label */
	int eye = f->attention == FW_DISPLAY_LOOKING || f->attention == FW_DISPLAY_AWAY;
	int eh = w->font && w->line_h > 8 ? w->line_h - 4 : 11, ew = 2 * eh;
	int lh = w->font ? w->line_h : eh + 4, tw = 4, ty = y1 - lh;
	if (!w->font && !eye)
		return;
	label[0] = 0;
	if (w->font) {
		if (f->name[0])
			snprintf(label, sizeof label, "%s %.2f", f->name, (double)f->similarity);
		else
			snprintf(label, sizeof label, "%s",
				 f->state == FW_DISPLAY_ENROLLING ? "enrolling" : "unknown");
		if (eye)
			append(label, sizeof label, " %s",
			       f->attention == FW_DISPLAY_LOOKING ? "looking" : "away");
		tw = text_width(w, label) + 8;
	}
	if (eye)
		tw += ew + 4;
	/* on the box's top edge, outside; inside when that would be off the
	 * picture or under the head-up line (`top`) */
	if (ty < top)
		ty = y1 + thick > top ? y1 + thick : top;
	fill(w, x1, ty, tw, lh, c, 255);
	draw_text(w, x1 + 4, ty, label, black);
	if (eye)
		draw_eye(w, x1 + tw - ew - 4, ty + (lh - eh) / 2, ew, eh, f->attention);
}

/* Append to a line, never past its end (a cut line is still a line). */
static void __attribute__((format(printf, 3, 4)))
append(char *line, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(line);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, cap - n, fmt, ap);
	va_end(ap);
}

static void draw_hud(struct fw_display *w, const struct fw_display_hud *h, int out_w, int out_h)
{
	static const uint8_t white[3] = { 255, 255, 255 }, black[3] = { 0, 0, 0 };
	char line[160];

	if (!w->font)
		return;
	line[0] = 0;
	if (h) {
		const size_t cap = sizeof line;
		if (h->fps >= 0)
			append(line, cap, "%.1f fps", (double)h->fps);
		if (h->latency_ms >= 0)
			append(line, cap, "%slatency %.0f ms", line[0] ? "   " : "", (double)h->latency_ms);
		if (h->dropped >= 0)
			append(line, cap, "%sdropped %lld", line[0] ? "   " : "", (long long)h->dropped);
		if (h->isa[0])
			append(line, cap, "%s%s", line[0] ? "   " : "", h->isa);
		if (h->cpu >= 0)
			append(line, cap, "%scpu %.0f %%", line[0] ? "   " : "", (double)h->cpu);
	}
	if (line[0]) {
		fill(w, 0, 0, out_w, w->line_h + 6, black, 160);
		draw_text(w, 6, 3, line, white);
	}
	if (w->toast[0] && SDL_TICKS_PASSED(SDL_GetTicks(), w->toast_until))
		w->toast[0] = 0;
	if (w->toast[0]) {
		fill(w, 0, out_h - w->line_h - 6, out_w, w->line_h + 6, black, 160);
		draw_text(w, 6, out_h - w->line_h - 3, w->toast, white);
	}
}

int fw_display_draw(struct fw_display *w, const struct fw_display_picture *pic,
		    const struct fw_display_face *faces, int n_faces,
		    const struct fw_display_hud *hud)
{
	int out_w, out_h, err = 0, thick;

	if (pic)
		err = upload(w, pic);
	fw_display_size(w, &out_w, &out_h);
	SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 255);
	SDL_RenderClear(w->ren);
	if (w->have_pic && out_w > 0 && out_h > 0) {
		/* fit, keeping the aspect ratio; the window's own size decides */
		float sx = (float)out_w / w->pic_w, sy = (float)out_h / w->pic_h;
		w->scale = sx < sy ? sx : sy;
		w->dst.w = (int)lroundf(w->pic_w * w->scale);
		w->dst.h = (int)lroundf(w->pic_h * w->scale);
		w->dst.x = (out_w - w->dst.w) / 2;
		w->dst.y = (out_h - w->dst.h) / 2;
		w->map_x = (float)w->dst.w / w->coord_w;
		w->map_y = (float)w->dst.h / w->coord_h;
		SDL_RenderCopy(w->ren, w->tex, NULL, &w->dst);
		thick = out_w >= 960 ? 3 : 2;
		int top = w->dst.y;
		if (hud && w->font && w->line_h + 6 > top)
			top = w->line_h + 6; /* the head-up band */
		for (int i = 0; i < n_faces; i++)
			draw_face(w, &faces[i], thick, top);
	}
	draw_hud(w, hud, out_w, out_h);
	if (w->snapshot_pending) {
		char path[PATH_MAX];
		w->snapshot_pending = 0;
		if (fw_display_snapshot(w, NULL, path, sizeof path) == 0) {
			fw_log(FW_LOG_INFO, "preview: snapshot saved as %s", path);
			snprintf(w->toast, sizeof w->toast, "saved %s", path);
			w->toast_until = SDL_GetTicks() + TOAST_MS;
		}
	}
	return err;
}

void fw_display_present(struct fw_display *w)
{
	SDL_RenderPresent(w->ren);
}

size_t fw_display_read_bytes(const struct fw_display *w)
{
	int ww, hh;

	fw_display_size(w, &ww, &hh);
	return (size_t)ww * (size_t)hh * 3;
}

int fw_display_read(struct fw_display *w, struct fw_image *img, size_t cap)
{
	int ww, hh;

	fw_display_size(w, &ww, &hh);
	if (ww <= 0 || hh <= 0 || (size_t)ww * hh * 3 > cap)
		return FW_EINVAL;
	if (SDL_RenderReadPixels(w->ren, NULL, SDL_PIXELFORMAT_RGB24, img->data, ww * 3) < 0) {
		fw_log(FW_LOG_ERROR, "preview: cannot read the window back: %s", SDL_GetError());
		return FW_EIO;
	}
	img->width = ww, img->height = hh, img->stride = ww * 3;
	return 0;
}

int fw_display_snapshot(struct fw_display *w, const char *path, char *written, size_t written_len)
{
	struct fw_image img;
	char name[PATH_MAX + 64];
	unsigned char *jpg = NULL;
	unsigned long jpg_len = 0;
	size_t need = fw_display_read_bytes(w);
	FILE *f;
	int err;

	if (!path) {
		time_t t = time(NULL);
		struct tm tm;
		char stamp[32];
		localtime_r(&t, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		/* a second snapshot in the same second gets -2, -3, ... */
		for (int i = 1; i < 100; i++) {
			if (i == 1)
				snprintf(name, sizeof name, "%s/facewatch-%s.jpg", w->snapshot_dir, stamp);
			else
				snprintf(name, sizeof name, "%s/facewatch-%s-%d.jpg", w->snapshot_dir, stamp, i);
			if (access(name, F_OK) != 0)
				break;
		}
		path = name;
	}
	if (need > w->readcap) {
		/* snapshots are rare (a key press): allocating here is fine */
		free(w->readbuf);
		w->readbuf = malloc(need);
		w->readcap = w->readbuf ? need : 0;
		if (!w->readbuf)
			return FW_ENOMEM;
	}
	img.data = w->readbuf;
	if ((err = fw_display_read(w, &img, w->readcap)))
		return err;
	/* 4:4:4: the overlay's thin coloured lines and text would bleed
	 * with subsampled chroma */
	if (tjCompress2(w->tj, img.data, img.width, img.stride, img.height, TJPF_RGB, &jpg, &jpg_len,
			TJSAMP_444, 90, TJFLAG_ACCURATEDCT) < 0) {
		fw_log(FW_LOG_ERROR, "preview: cannot encode the snapshot: %s", tjGetErrorStr2(w->tj));
		tjFree(jpg);
		return FW_EIO;
	}
	errno = 0;
	f = fopen(path, "wb");
	if (!f || fwrite(jpg, 1, jpg_len, f) != jpg_len)
		err = errno ? -errno : FW_EIO;
	if (f && fclose(f) && !err)
		err = errno ? -errno : FW_EIO;
	tjFree(jpg);
	if (err) {
		fw_log(FW_LOG_ERROR, "preview: cannot write the snapshot %s: %s", path, fw_strerror(err));
		return err;
	}
	if (written)
		snprintf(written, written_len, "%s", path);
	return 0;
}
