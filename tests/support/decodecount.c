/* decodecount: count JPEG decodes per thread, for tests that a frame is
 * decoded once (LD_PRELOAD=libdecodecount.so facewatchd --preview ...).
 *
 * Environment:
 *   DECODECOUNT_REPORT=F  at exit, one line "THREAD N" per thread name that
 *                         decoded (N calls of tjDecompress2, the TurboJPEG
 *                         call every decode in facewatch goes through)
 *
 * Scaffolding, not code under test: built without sanitizers, as fakecam.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *tjhandle; /* as turbojpeg.h has it; no need to link the library */

#define MAX_THREADS 16

static struct {
	char name[16];
	unsigned long n;
} counts[MAX_THREADS];
static int n_counts;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int tjDecompress2(tjhandle h, const unsigned char *buf, unsigned long size, unsigned char *dst,
		  int width, int pitch, int height, int pixel_format, int flags);

typedef int (*decompress_fn)(tjhandle, const unsigned char *, unsigned long, unsigned char *,
			     int, int, int, int, int);

int tjDecompress2(tjhandle h, const unsigned char *buf, unsigned long size, unsigned char *dst,
		  int width, int pitch, int height, int pixel_format, int flags)
{
	static decompress_fn real;
	char name[16] = "?";
	int i;

	if (!real)
		real = (decompress_fn)dlsym(RTLD_NEXT, "tjDecompress2");
	pthread_getname_np(pthread_self(), name, sizeof name);
	pthread_mutex_lock(&lock);
	for (i = 0; i < n_counts && strcmp(counts[i].name, name); i++)
		;
	if (i == n_counts && n_counts < MAX_THREADS)
		snprintf(counts[n_counts++].name, sizeof counts[0].name, "%s", name);
	if (i < n_counts)
		counts[i].n++;
	pthread_mutex_unlock(&lock);
	return real(h, buf, size, dst, width, pitch, height, pixel_format, flags);
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("DECODECOUNT_REPORT");
	FILE *f;

	if (!path || !(f = fopen(path, "w")))
		return;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < n_counts; i++)
		fprintf(f, "%s %lu\n", counts[i].name, counts[i].n);
	pthread_mutex_unlock(&lock);
	fclose(f);
}
