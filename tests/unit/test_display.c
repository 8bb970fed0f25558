/* The preview window, drawn with SDL's dummy video driver (software
 * renderer) and read back pixel by pixel: boxes and labels are where the
 * results say, in the state's colour, nothing is drawn where no face is,
 * keys do what the help says, a snapshot is what is shown, a missing font
 * leaves boxes without text. SDL_VIDEODRIVER=dummy comes from CTest. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <SDL.h>

#include "capture/jpeg.h"
#include "core/fw.h"
#include "display/display.h"

#define W 320
#define H 240
#define BG 60

static uint8_t rgb_pic[W * H * 3];
static uint8_t readback[1280 * 960 * 3];

static struct fw_display *open_window(int w, int h, const char *font, const char *snapdir)
{
	struct fw_display *d = NULL;
	struct fw_display_options o = { .width = w, .height = h, .font = font,
					 .snapshot_dir = snapdir };

	assert_int_equal(fw_display_open(&d, &o), 0);
	assert_non_null(d);
	return d;
}

static struct fw_display_picture grey_picture(void)
{
	memset(rgb_pic, BG, sizeof rgb_pic);
	return (struct fw_display_picture){ .format = FW_DISPLAY_RGB24, .width = W, .height = H,
					    .stride = W * 3, .data = rgb_pic };
}

static struct fw_display_face face(float x1, float y1, float x2, float y2,
				   enum fw_display_state st, const char *name)
{
	struct fw_display_face f;

	memset(&f, 0, sizeof f);
	f.box[0] = x1, f.box[1] = y1, f.box[2] = x2, f.box[3] = y2;
	f.score = 0.9f;
	f.state = st;
	snprintf(f.name, sizeof f.name, "%s", name ? name : "");
	f.similarity = 0.71f;
	return f;
}

static struct fw_image read_back(struct fw_display *d)
{
	struct fw_image img = { .data = readback };

	assert_int_equal(fw_display_read(d, &img, sizeof readback), 0);
	return img;
}

static const uint8_t *px(const struct fw_image *img, int x, int y)
{
	return img->data + (size_t)y * img->stride + (size_t)x * 3;
}

static void assert_rgb(const struct fw_image *img, int x, int y, const uint8_t c[3])
{
	const uint8_t *p = px(img, x, y);
	if (p[0] != c[0] || p[1] != c[1] || p[2] != c[2])
		fail_msg("pixel (%d,%d) is %d,%d,%d; expected %d,%d,%d", x, y, p[0], p[1], p[2], c[0],
			 c[1], c[2]);
}

static void assert_bg(const struct fw_image *img, int x, int y)
{
	static const uint8_t bg[3] = { BG, BG, BG };
	assert_rgb(img, x, y, bg);
}

/* Pixels in [x0,x1) x [y0,y1) equal to c, and ones that are neither c nor
 * the background. */
static void count(const struct fw_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3],
		  int *same, int *other)
{
	*same = *other = 0;
	for (int y = y0 < 0 ? 0 : y0; y < y1 && y < img->height; y++)
		for (int x = x0 < 0 ? 0 : x0; x < x1 && x < img->width; x++) {
			const uint8_t *p = px(img, x, y);
			if (!memcmp(p, c, 3))
				(*same)++;
			else if (p[0] != BG || p[1] != BG || p[2] != BG)
				(*other)++;
		}
}

static void test_box_and_label_where_the_result_says(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	uint8_t green[3];
	struct fw_image img;
	int same, other;

	(void)state;
	assert_true(fw_display_has_font(d));
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_int_equal(img.width, W);
	assert_int_equal(img.height, H);
	/* the four edges, at the box's coordinates */
	for (int y = 80; y < 180; y += 7) {
		assert_rgb(&img, 100, y, green);
		assert_rgb(&img, 179, y, green);
	}
	for (int x = 100; x < 180; x += 7) {
		assert_rgb(&img, x, 80, green);
		assert_rgb(&img, x, 179, green);
	}
	/* just outside and inside the box: the picture */
	assert_bg(&img, 98, 130);
	assert_bg(&img, 182, 130);
	assert_bg(&img, 140, 130);
	assert_bg(&img, 140, 182);
	/* the label sits on the top edge: a block of the state's colour with
	 * dark glyphs in it */
	count(&img, 100, 60, 180, 80, green, &same, &other);
	assert_true(same > 300);
	assert_true(other > 20);
	/* nowhere else: the picture's other regions are untouched */
	count(&img, 0, 0, 95, H, green, &same, &other);
	assert_int_equal(same + other, 0);
	count(&img, 185, 0, W, H, green, &same, &other);
	assert_int_equal(same + other, 0);
	count(&img, 0, 185, W, H, green, &same, &other);
	assert_int_equal(same + other, 0);
	fw_display_present(d);
	fw_display_close(d);
}

static void test_nothing_drawn_without_faces(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	uint8_t green[3] = { 0, 0, 0 };
	struct fw_image img;
	int same, other;

	(void)state;
	assert_int_equal(fw_display_draw(d, &pic, NULL, 0, NULL), 0);
	img = read_back(d);
	count(&img, 0, 0, W, H, green, &same, &other);
	assert_int_equal(same + other, 0);
	fw_display_close(d);
}

static void test_states_have_their_colours(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f[2] = {
		face(20, 40, 90, 120, FW_DISPLAY_UNKNOWN, NULL),
		face(200, 40, 290, 140, FW_DISPLAY_ENROLLING, "bob"),
	};
	uint8_t c0[3], c1[3], c2[3];
	struct fw_image img;
	int same, other;

	(void)state;
	fw_display_state_colour(FW_DISPLAY_UNKNOWN, c0);
	fw_display_state_colour(FW_DISPLAY_ENROLLING, c1);
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, c2);
	assert_memory_not_equal(c0, c1, 3);
	assert_memory_not_equal(c0, c2, 3);
	assert_memory_not_equal(c1, c2, 3);
	assert_int_equal(fw_display_draw(d, &pic, f, 2, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 20, 80, c0);
	assert_rgb(&img, 89, 80, c0);
	assert_rgb(&img, 200, 90, c1);
	assert_rgb(&img, 289, 90, c1);
	/* "unknown" is written on the unknown face's label */
	count(&img, 20, 20, 90, 40, c0, &same, &other);
	assert_true(same > 100 && other > 10);
	fw_display_close(d);
}

/* A window twice the picture's size: everything scales with it. */
static void test_boxes_follow_the_window_size(void **state)
{
	struct fw_display *d = open_window(2 * W, 2 * H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	uint8_t green[3];
	struct fw_image img;
	int wx, wy;

	(void)state;
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_int_equal(img.width, 2 * W);
	fw_display_map(d, 100, 80, &wx, &wy);
	assert_int_equal(wx, 200);
	assert_int_equal(wy, 160);
	assert_rgb(&img, 200, 260, green);
	assert_rgb(&img, 359, 260, green);
	assert_rgb(&img, 280, 359, green);
	assert_bg(&img, 196, 260);
	assert_bg(&img, 280, 260);
	fw_display_close(d);
}

/* The user resizes the open window (as dragging its corner does): the next
 * frame fills the new size and the boxes move with the picture. */
static void test_live_resize(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	SDL_Window *win = SDL_GetWindowFromID(1);
	uint8_t green[3];
	struct fw_image img;
	int ww, wh;

	(void)state;
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	assert_string_equal(fw_display_texture_format(d), "RGB24");
	img = read_back(d);
	assert_rgb(&img, 100, 130, green);
	for (Uint32 id = 1; !win && id < 64; id++)
		win = SDL_GetWindowFromID(id);
	assert_non_null(win);
	SDL_SetWindowSize(win, 3 * W / 2, 3 * H / 2);
	fw_display_poll(d); /* the resize event, as the preview loop gets it */
	fw_display_size(d, &ww, &wh);
	assert_int_equal(ww, 3 * W / 2);
	assert_int_equal(wh, 3 * H / 2);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_int_equal(img.width, 3 * W / 2);
	assert_int_equal(img.height, 3 * H / 2);
	/* the box's left edge at x 100 -> 150, its right edge at 180 -> 270 */
	assert_rgb(&img, 150, 195, green);
	assert_rgb(&img, 269, 195, green);
	assert_bg(&img, 145, 195);
	assert_bg(&img, 210, 195);
	assert_bg(&img, 100 + 2, 195); /* not where it was */
	fw_display_close(d);
}

/* A picture decoded at half the camera's size: faces stay in camera pixels. */
static void test_coordinates_of_a_smaller_picture(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(200, 160, 360, 360, FW_DISPLAY_IDENTIFIED, "alice");
	uint8_t green[3];
	struct fw_image img;

	(void)state;
	pic.coord_width = 2 * W;
	pic.coord_height = 2 * H;
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 100, 130, green);
	assert_rgb(&img, 179, 130, green);
	assert_bg(&img, 140, 130);
	fw_display_close(d);
}

/* YUYV goes in as it is; BT.601 grey Y=126 comes out as RGB 128. */
static void test_yuyv_picture(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	static uint8_t yuyv[W * H * 2];
	struct fw_display_picture pic = { .format = FW_DISPLAY_YUYV, .width = W, .height = H,
					  .stride = W * 2, .data = yuyv };
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_UNKNOWN, NULL);
	uint8_t orange[3];
	struct fw_image img;
	const uint8_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof yuyv; i += 2)
		yuyv[i] = 126, yuyv[i + 1] = 128;
	fw_display_state_colour(FW_DISPLAY_UNKNOWN, orange);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	p = px(&img, 140, 130);
	for (int c = 0; c < 3; c++)
		assert_in_range(p[c], 125, 131);
	p = px(&img, 300, 220);
	for (int c = 0; c < 3; c++)
		assert_in_range(p[c], 125, 131);
	assert_rgb(&img, 100, 130, orange);
	/* as the camera gave it: a YUY2 texture, converted by the renderer */
	assert_string_equal(fw_display_texture_format(d), "YUY2");
	/* an odd width cannot be YUYV */
	pic.width = W - 1;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), FW_EINVAL);
	fw_display_close(d);
}

static void push_key(SDL_Keycode k)
{
	SDL_Event e;

	memset(&e, 0, sizeof e);
	e.type = SDL_KEYDOWN;
	e.key.state = SDL_PRESSED;
	e.key.keysym.sym = k;
	assert_int_equal(SDL_PushEvent(&e), 1);
}

static void test_keypoints_and_the_k_key(void **state)
{
	static const uint8_t yellow[3] = { 255, 235, 0 };
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	struct fw_image img;

	(void)state;
	f.n_points = 2;
	f.points[0][0] = 125, f.points[0][1] = 110;
	f.points[1][0] = 155, f.points[1][1] = 110;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 125, 110, yellow);
	assert_rgb(&img, 155, 110, yellow);
	assert_bg(&img, 140, 110);
	push_key(SDLK_k);
	assert_int_equal(fw_display_poll(d), FW_DISPLAY_NONE);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_bg(&img, 125, 110);
	assert_bg(&img, 155, 110);
	fw_display_close(d);
}

/* The head-pose axes: facing the camera, red runs right and green up from
 * the nose tip and blue (the nose) is a point; turned to the picture's right
 * (yaw 90) blue runs right; tilted clockwise (roll 90) red runs down. The
 * `k` key hides them with the points. */
static void test_pose_axes(void **state)
{
	static const uint8_t red[3] = { 230, 40, 40 }, green[3] = { 40, 200, 60 },
			     blue[3] = { 40, 110, 255 };
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 60, 220, 200, FW_DISPLAY_IDENTIFIED, "alice");
	struct fw_image img;
	float dir[2];

	(void)state;
	f.has_pose = 1;
	f.origin[0] = 160, f.origin[1] = 130; /* axes 60 px long */
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 190, 130, red);
	assert_rgb(&img, 160, 100, green);
	assert_bg(&img, 130, 130); /* nothing to the left */
	assert_bg(&img, 160, 160); /* nor below */

	f.yaw = 90;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 190, 130, blue);
	fw_display_pose_axis(90, 0, 0, 0, dir); /* red now points at the viewer */
	assert_true(fabsf(dir[0]) < 1e-6f && fabsf(dir[1]) < 1e-6f);

	f.yaw = 0, f.roll = 90;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_rgb(&img, 160, 160, red);
	assert_rgb(&img, 190, 130, green);
	/* mirrored yaw, mirrored drawing */
	fw_display_pose_axis(30, 10, 0, 2, dir);
	{
		float m[2];
		fw_display_pose_axis(-30, 10, 0, 2, m);
		assert_true(fabsf(dir[0] + m[0]) < 1e-6f && fabsf(dir[1] - m[1]) < 1e-6f);
		assert_true(dir[0] > 0 && dir[1] < 0); /* right and up */
	}

	push_key(SDLK_k);
	assert_int_equal(fw_display_poll(d), FW_DISPLAY_NONE);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	assert_bg(&img, 160, 160);
	fw_display_close(d);
}

static void test_quit_keys_and_close(void **state)
{
	static const SDL_Keycode keys[] = { SDLK_q, SDLK_ESCAPE };
	SDL_Event e;

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct fw_display *d = open_window(W, H, NULL, NULL);
		assert_int_equal(fw_display_poll(d), FW_DISPLAY_NONE);
		if (i < 2) {
			push_key(keys[i]);
		} else {
			memset(&e, 0, sizeof e);
			e.type = SDL_QUIT;
			SDL_PushEvent(&e);
		}
		assert_int_equal(fw_display_poll(d), FW_DISPLAY_QUIT);
		assert_int_equal(fw_display_poll(d), FW_DISPLAY_QUIT); /* and stays so */
		fw_display_close(d);
	}
}

/* f: full screen, the desktop's size, the picture fitted into it (black
 * bars beside it); f again leaves it. (The dummy driver does not give the
 * old size back when leaving, so that half is only checked not to fail.) */
static void test_f_toggles_full_screen(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	SDL_DisplayMode mode;
	struct fw_image img;
	int ww, wh;

	(void)state;
	assert_int_equal(SDL_GetDesktopDisplayMode(0, &mode), 0);
	if (mode.w == W && mode.h == H)
		skip();
	push_key(SDLK_f);
	assert_int_equal(fw_display_poll(d), FW_DISPLAY_NONE);
	assert_int_equal(fw_display_draw(d, &pic, NULL, 0, NULL), 0);
	fw_display_size(d, &ww, &wh);
	assert_int_equal(ww, mode.w);
	assert_int_equal(wh, mode.h);
	img = read_back(d);
	assert_bg(&img, mode.w / 2, mode.h / 2);
	if (mode.w * H != mode.h * W) {
		static const uint8_t black[3] = { 0, 0, 0 };
		if (mode.w * H > mode.h * W)
			assert_rgb(&img, 0, mode.h / 2, black);
		else
			assert_rgb(&img, mode.w / 2, 0, black);
	}
	push_key(SDLK_f);
	assert_int_equal(fw_display_poll(d), FW_DISPLAY_NONE);
	assert_int_equal(fw_display_draw(d, &pic, NULL, 0, NULL), 0);
	fw_display_close(d);
}

/* The head-up line: light text on a dark band at the top; none without. */
static void test_hud(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_hud hud = { .fps = 9.9f, .latency_ms = 42, .dropped = 3, .cpu = 55,
				      .isa = "avx2" };
	struct fw_image img;
	int light = 0, dark = 0;

	(void)state;
	assert_int_equal(fw_display_draw(d, &pic, NULL, 0, &hud), 0);
	img = read_back(d);
	for (int y = 0; y < 16; y++)
		for (int x = 0; x < W; x++) {
			const uint8_t *p = px(&img, x, y);
			light += p[0] > 200 && p[1] > 200 && p[2] > 200;
			dark += p[0] < BG;
		}
	assert_true(light > 50);
	assert_true(dark > W * 4);
	assert_bg(&img, 160, 120);
	fw_display_close(d);
}

/* A face at the top of the picture: its label goes below the head-up
 * band, not under it. */
static void test_label_never_under_the_hud(void **state)
{
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 2, 200, 120, FW_DISPLAY_IDENTIFIED, "alice");
	struct fw_display_hud hud = { .fps = 9.9f, .latency_ms = 42, .dropped = 3, .cpu = 55 };
	uint8_t green[3];
	struct fw_image img;
	int same, other, band = 0;

	(void)state;
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, &hud), 0);
	img = read_back(d);
	/* the band: rows mostly darker than the picture, from the top down
	 * (the text in it is light) */
	for (;; band++) {
		int dark = 0;
		for (int x = 0; x < W; x++)
			dark += px(&img, x, band)[0] < BG;
		if (dark < W / 2)
			break;
	}
	assert_true(band > 10 && band < 40);
	count(&img, 103, band, 198, band + 16, green, &same, &other);
	assert_true(same > 300);
	assert_true(other > 20);
	fw_display_close(d);
}

/* s: the next drawn picture goes to a JPEG in the snapshot folder, and it
 * is what the window shows. */
static void test_snapshot_is_what_is_shown(void **state)
{
	char dir[] = "/tmp/fw-display-XXXXXX", path[512];
	struct fw_display *d;
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	struct fw_jpeg *j;
	static uint8_t shot[W * H * 3];
	struct fw_image dec = { .data = shot }, img;
	uint8_t *jpg;
	size_t len;
	double diff = 0;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	d = open_window(W, H, NULL, dir);
	/* a picture with detail, so a misplaced snapshot would not match */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			memset(rgb_pic + (size_t)(y * W + x) * 3, (x / 16 + y / 16) % 2 ? 200 : 40, 3);
	push_key(SDLK_s);
	fw_display_poll(d);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	/* the file name is the time's: find the one file in the folder */
	snprintf(path, sizeof path, "ls %s/facewatch-*.jpg > %s/list", dir, dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof path, "%s/list", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(path, sizeof path, fp));
	fclose(fp);
	path[strcspn(path, "\n")] = 0;
	jpg = NULL;
	{
		fp = fopen(path, "rb");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		len = (size_t)ftell(fp);
		rewind(fp);
		jpg = malloc(len);
		assert_int_equal(fread(jpg, 1, len, fp), len);
		fclose(fp);
	}
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(fw_jpeg_decode(j, jpg, len, 1, &dec, sizeof shot), 0);
	assert_int_equal(dec.width, W);
	assert_int_equal(dec.height, H);
	for (size_t i = 0; i < sizeof shot; i++)
		diff += abs((int)shot[i] - (int)img.data[i]);
	assert_true(diff / sizeof shot < 6.0);
	fw_jpeg_destroy(j);
	free(jpg);
	unlink(path);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
	fw_display_close(d);
}

/* No font: boxes still, no label. */
static void test_missing_font_draws_boxes_only(void **state)
{
	struct fw_display *d = open_window(W, H, "/nonexistent/font.ttf", NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	struct fw_display_hud hud = { .fps = 1, .latency_ms = 1, .dropped = 1, .cpu = 1 };
	uint8_t green[3];
	struct fw_image img;
	int same, other;

	(void)state;
	assert_false(fw_display_has_font(d));
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, &hud), 0);
	img = read_back(d);
	assert_rgb(&img, 100, 130, green);
	count(&img, 100, 0, 180, 79, green, &same, &other);
	assert_int_equal(same + other, 0);
	fw_display_close(d);
}

/* The attention eye found in the label band above a box at (100, 80):
 * pixels of the white of the eye (the colour given), their bounding box,
 * and the label's pixels (the state's colour). */
struct eye {
	int n, x0, y0, x1, y1, label;
};

static struct eye find_eye(const struct fw_image *img, const uint8_t white[3], const uint8_t lab[3])
{
	struct eye e = { 0, W, H, -1, -1, 0 };

	for (int y = 40; y < 80; y++)
		for (int x = 100; x < W; x++) {
			const uint8_t *p = px(img, x, y);
			e.label += !memcmp(p, lab, 3);
			if (memcmp(p, white, 3))
				continue;
			e.n++;
			e.x0 = x < e.x0 ? x : e.x0, e.x1 = x > e.x1 ? x : e.x1;
			e.y0 = y < e.y0 ? y : e.y0, e.y1 = y > e.y1 ? y : e.y1;
		}
	return e;
}

/* Attention on the label: nothing while not measured; while looking, the
 * word and a white eye with its black pupil in the middle; while away, a
 * grey eye whose pupil is to the side (none of it white). Without a font
 * the eye is still drawn above the box. */
static void test_attention_on_the_label(void **state)
{
	static const uint8_t black[3] = { 0, 0, 0 };
	struct fw_display *d = open_window(W, H, NULL, NULL);
	struct fw_display_picture pic = grey_picture();
	struct fw_display_face f = face(100, 80, 180, 180, FW_DISPLAY_IDENTIFIED, "alice");
	uint8_t green[3], white[3], grey[3];
	struct fw_image img;
	struct eye none, none_grey, looking, away, away_white;

	(void)state;
	fw_display_state_colour(FW_DISPLAY_IDENTIFIED, green);
	fw_display_attention_colour(FW_DISPLAY_LOOKING, white);
	fw_display_attention_colour(FW_DISPLAY_AWAY, grey);
	assert_memory_not_equal(white, grey, 3);
	for (int s = FW_DISPLAY_UNKNOWN; s <= FW_DISPLAY_ENROLLING; s++) {
		uint8_t c[3];
		fw_display_state_colour((enum fw_display_state)s, c);
		assert_memory_not_equal(c, white, 3);
		assert_memory_not_equal(c, grey, 3);
	}

	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	none = find_eye(&img, white, green);
	none_grey = find_eye(&img, grey, green);
	assert_int_equal(none.n, 0);
	assert_int_equal(none_grey.n, 0);

	f.attention = FW_DISPLAY_LOOKING;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	looking = find_eye(&img, white, green);
	assert_true(looking.n > 40);
	assert_true(looking.x1 - looking.x0 >= 12 && looking.y1 - looking.y0 >= 5);
	assert_true(looking.y1 < 80);                   /* on the label, above the box */
	assert_true(looking.x0 > 100 + 20);             /* after the name */
	assert_true(looking.label > none.label + 100);  /* a longer label: the word too */
	assert_rgb(&img, (looking.x0 + looking.x1) / 2, (looking.y0 + looking.y1) / 2, black);
	assert_int_equal(find_eye(&img, grey, green).n, 0);

	f.attention = FW_DISPLAY_AWAY;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	away = find_eye(&img, grey, green);
	away_white = find_eye(&img, white, green);
	assert_int_equal(away_white.n, 0);
	assert_true(away.n > 40);
	assert_true(away.y1 < 80);
	/* the middle is the white of the eye (grey), the pupil to its right */
	assert_rgb(&img, (away.x0 + away.x1) / 2, (away.y0 + away.y1) / 2, grey);
	assert_rgb(&img, away.x0 + 4 * (away.x1 - away.x0) / 5, (away.y0 + away.y1) / 2, black);
	/* "away" is shorter than "looking" */
	assert_true(away.label < looking.label);
	fw_display_close(d);

	/* no font: the eye alone, still above the box */
	d = open_window(W, H, "/nonexistent/font.ttf", NULL);
	f.attention = FW_DISPLAY_LOOKING;
	assert_int_equal(fw_display_draw(d, &pic, &f, 1, NULL), 0);
	img = read_back(d);
	looking = find_eye(&img, white, green);
	assert_true(looking.n > 30 && looking.y1 < 80);
	assert_rgb(&img, (looking.x0 + looking.x1) / 2, (looking.y0 + looking.y1) / 2, black);
	fw_display_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_box_and_label_where_the_result_says),
		cmocka_unit_test(test_nothing_drawn_without_faces),
		cmocka_unit_test(test_states_have_their_colours),
		cmocka_unit_test(test_boxes_follow_the_window_size),
		cmocka_unit_test(test_live_resize),
		cmocka_unit_test(test_coordinates_of_a_smaller_picture),
		cmocka_unit_test(test_yuyv_picture),
		cmocka_unit_test(test_keypoints_and_the_k_key),
		cmocka_unit_test(test_pose_axes),
		cmocka_unit_test(test_quit_keys_and_close),
		cmocka_unit_test(test_f_toggles_full_screen),
		cmocka_unit_test(test_hud),
		cmocka_unit_test(test_label_never_under_the_hud),
		cmocka_unit_test(test_snapshot_is_what_is_shown),
		cmocka_unit_test(test_missing_font_draws_boxes_only),
		cmocka_unit_test(test_attention_on_the_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
