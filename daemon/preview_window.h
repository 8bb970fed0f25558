/* facewatchd --preview: the preview window inside the daemon, on its own
 * thread "fw-preview" (daemon/preview_window.c says why), showing what the
 * preview hub (daemon/preview.h) holds.
 *
 * Closing the window (q, Esc, the window's close button) calls on_close
 * once, on the preview thread: the daemon stops the way SIGTERM stops it.
 * Built only with SDL2 (FW_HAVE_SDL); otherwise start says so and fails.
 */
#ifndef FW_DAEMON_PREVIEW_WINDOW_H
#define FW_DAEMON_PREVIEW_WINDOW_H

#include "daemon/preview.h"

struct fw_preview_window;

#ifdef FW_HAVE_SDL
/* Opens the window (on the new thread) and returns once it is open: 0, or
 * the window's error (logged) with no thread left running. */
int fw_preview_window_start(struct fw_preview_window **out, struct fw_preview *hub,
			    const char *title, void (*on_close)(void *ctx), void *ctx);
/* Closes the window and joins the thread (NULL: nothing). */
void fw_preview_window_stop(struct fw_preview_window *w);
#else
#include "core/fw.h"
static inline int fw_preview_window_start(struct fw_preview_window **out, struct fw_preview *hub,
					  const char *title, void (*on_close)(void *ctx), void *ctx)
{
	(void)hub, (void)title, (void)on_close, (void)ctx;
	*out = NULL;
	fw_log(FW_LOG_ERROR, "--preview: this facewatchd was built without SDL2 "
	       "(install libsdl2-dev and libsdl2-ttf-dev, then build again)");
	return FW_EUNSUPPORTED;
}
static inline void fw_preview_window_stop(struct fw_preview_window *w)
{
	(void)w;
}
#endif

#endif
