/* Default paths shared by facewatchd and facectl (daemon/paths.h). */
#include "daemon/paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define FW_SOCKET_NAME "facewatch.sock"

int fw_paths_socket(char *buf, size_t len)
{
	const char *rt = getenv("RUNTIME_DIRECTORY"), *xdg = getenv("XDG_RUNTIME_DIR");
	const char *dir = "/run/facewatch";
	int n;

	if (rt && *rt)
		dir = rt;
	else if (xdg && *xdg)
		dir = xdg;
	n = snprintf(buf, len, "%s/" FW_SOCKET_NAME, dir);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
