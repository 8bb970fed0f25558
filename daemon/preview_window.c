/* facewatchd --preview (preview_window.h).
 *
 * Why a thread of its own rather than the main loop: SDL has no fd the
 * main loop's epoll could wait on, so rendering there would mean a timer
 * tick and a render (a software renderer takes milliseconds; a GPU one may
 * block in present for vsync) between event-socket dispatches. On its own
 * thread the window can take its time while the main loop answers clients
 * at once, and the inference thread never waits for either: it only swaps
 * a frame reference in the hub. SDL is used from this thread only, from
 * opening the window to closing it (SDL rendering is single-threaded);
 * SDL on Linux does not need the process's main thread for that.
 */
#include "daemon/preview_window.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/jpeg.h"
#include "core/fw.h"
#include "display/display.h"

#define EVENT_POLL_MS 15    /* window events (keys, resize, close) are looked at this often
			     * at least, and at every new frame */
#define REDRAW_MS 250       /* redraw without a new frame (resize, HUD, snapshot) this often */

struct fw_preview_window {
	struct fw_preview *hub;
	char title[128];
	void (*on_close)(void *ctx);
	void *ctx;
	pthread_t thread;
	atomic_int stop;

	pthread_mutex_t lock;       /* open handshake */
	pthread_cond_t cond;
	int opened;                 /* 0 waiting, 1 open, < 0 failed (the error) */

	/* the preview thread's own */
	struct fw_display *disp;
	struct fw_jpeg *jpeg;
	struct fw_image rgb;        /* MJPEG decode buffer, grown to the frame size once */
	size_t rgb_cap;
	uint64_t decoded;           /* MJPEG frames this thread had to decode itself */
};

static void opened(struct fw_preview_window *w, int status)
{
	pthread_mutex_lock(&w->lock);
	w->opened = status;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Show one frame from the hub; 0 when there was nothing new. An MJPEG
 * frame comes decoded by the pipeline at this window's size (preview.h);
 * only one published without its picture is decoded here. */
static int show_newest(struct fw_preview_window *w, uint64_t *last, struct fw_preview_result *r)
{
	struct fw_display_picture pic;
	struct fw_display_hud hud;
	const struct fw_image *decoded = NULL;
	struct fw_frame *f;
	int ww, wh, err = 0;

	fw_display_size(w->disp, &ww, &wh);
	fw_preview_want(w->hub, ww, wh);
	if (!fw_preview_take(w->hub, last, &f, r, &decoded))
		return 0;
	if (decoded) {
		pic.format = FW_DISPLAY_RGB24;
		pic.width = decoded->width;
		pic.height = decoded->height;
		pic.stride = decoded->stride;
		pic.data = decoded->data;
		pic.coord_width = f->width;
		pic.coord_height = f->height;
	} else {
		if (f->format == FW_PIXFMT_MJPEG && (size_t)f->width * f->height * 3 > w->rgb_cap) {
			/* once per camera size */
			free(w->rgb.data);
			w->rgb_cap = (size_t)f->width * f->height * 3;
			w->rgb.data = malloc(w->rgb_cap);
			if (!w->rgb.data)
				w->rgb_cap = 0;
		}
		err = fw_preview_picture(w->jpeg, f->format, f->width, f->height, f->stride,
					 f->data, f->bytes, ww, wh, &w->rgb, w->rgb_cap, &pic);
		if (!err && f->format == FW_PIXFMT_MJPEG)
			w->decoded++;
	}
	fw_preview_hud(w->hub, &hud);
	hud.latency_ms = r->latency_ms;
	/* a frame that will not decode keeps the last picture on screen */
	fw_display_draw(w->disp, err ? NULL : &pic, r->faces, r->n_faces, &hud);
	fw_preview_release_picture(w->hub, decoded);
	fw_preview_release(w->hub, f);
	fw_display_present(w->disp);
	return 1;
}

static void *window_main(void *arg)
{
	struct fw_preview_window *w = arg;
	struct fw_display_options o = { .title = w->title };
	struct fw_preview_result *r = NULL;
	uint64_t last = UINT64_MAX;
	uint32_t last_draw = 0;
	int err;

	pthread_setname_np(pthread_self(), "fw-preview");
	r = calloc(1, sizeof *r);
	if (!r || (err = fw_jpeg_create(&w->jpeg))) {
		opened(w, FW_ENOMEM);
		goto done;
	}
	if ((err = fw_display_open(&w->disp, &o))) {
		opened(w, err);
		goto done;
	}
	opened(w, 1);
	while (!atomic_load(&w->stop)) {
		if (fw_display_poll(w->disp) == FW_DISPLAY_QUIT) {
			w->on_close(w->ctx);
			break;
		}
		if (show_newest(w, &last, r)) {
			last_draw = fw_display_ticks();
		} else if (fw_display_ticks() - last_draw >= REDRAW_MS) {
			/* no new frame (camera gone, replay ended): keep the
			 * window alive and the HUD current */
			struct fw_display_hud hud;
			fw_preview_hud(w->hub, &hud);
			hud.latency_ms = r->latency_ms;
			fw_display_draw(w->disp, NULL, r->faces, r->n_faces, &hud);
			fw_display_present(w->disp);
			last_draw = fw_display_ticks();
		}
		/* asleep until the pipeline publishes a frame, or a while: SDL
		 * has no descriptor to wait on with the frames, and waiting in
		 * SDL_WaitEventTimeout means waking every millisecond on
		 * drivers that poll (1 000 wake-ups a second for nothing) */
		fw_preview_wait(w->hub, last, EVENT_POLL_MS);
	}
done:
	fw_preview_want(w->hub, 0, 0);
	if (w->decoded)
		fw_log(FW_LOG_DEBUG, "preview: %llu frames came without the pipeline's picture and "
		       "were decoded by the window", (unsigned long long)w->decoded);
	fw_display_close(w->disp);
	w->disp = NULL;
	fw_jpeg_destroy(w->jpeg);
	w->jpeg = NULL;
	free(w->rgb.data);
	w->rgb.data = NULL;
	free(r);
	return NULL;
}

int fw_preview_window_start(struct fw_preview_window **out, struct fw_preview *hub,
			    const char *title, void (*on_close)(void *ctx), void *ctx)
{
	struct fw_preview_window *w = calloc(1, sizeof *w);
	int err;

	*out = NULL;
	if (!w)
		return FW_ENOMEM;
	w->hub = hub;
	w->on_close = on_close;
	w->ctx = ctx;
	snprintf(w->title, sizeof w->title, "%s", title ? title : "facewatch");
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((err = -pthread_create(&w->thread, NULL, window_main, w))) {
		free(w);
		return err;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->opened)
		pthread_cond_wait(&w->cond, &w->lock);
	err = w->opened < 0 ? w->opened : 0;
	pthread_mutex_unlock(&w->lock);
	if (err) {
		pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

void fw_preview_window_stop(struct fw_preview_window *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
