/* facectl preview: the preview window attached to a running facewatchd
 * (daemon/facectl_preview.c). */
#ifndef FW_FACECTL_PREVIEW_H
#define FW_FACECTL_PREVIEW_H

#ifdef FW_HAVE_SDL
/* argv as main() got it: argv[1] is "preview". 0: the window was closed (or
 * --frames were shown); 1: no daemon, refused, or it went away; 2: usage. */
int fw_cmd_preview(int argc, char **argv);
#else
#include <stdio.h>
static inline int fw_cmd_preview(int argc, char **argv)
{
	(void)argc, (void)argv;
	fputs("facectl preview: this facectl was built without SDL2 (install libsdl2-dev and "
	      "libsdl2-ttf-dev, then build again)\n", stderr);
	return 1;
}
#endif

#endif
