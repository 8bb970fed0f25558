/* failalloc: make the Nth heap allocation of a program fail, for tests of
 * whole programs (LD_PRELOAD=libfailalloc.so facewatchd ...).
 *
 * Environment:
 *   FAILALLOC_N=N       the Nth allocation (1, 2, ...) counted after main()
 *                       starts returns NULL with errno ENOMEM; 0 or unset:
 *                       none fails, allocations are only counted
 *   FAILALLOC_REPORT=F  at exit, and when the failure is injected, write
 *                       "count C failed N size S" to F (C = allocations
 *                       counted so far), so a test knows how many
 *                       allocation points a run had and whether its
 *                       failure was reached
 *   FAILALLOC_BACKTRACE=1   print the failing call's stack to stderr
 *                       ("failalloc: ..."), to find the code that mishandles it
 *
 * Every allocation entry point of glibc is covered: malloc, calloc,
 * realloc (a non-zero size), reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc. strdup, fopen, asprintf and the like allocate
 * through malloc, which glibc lets a preloaded library replace for its own
 * calls too. The real allocator is glibc's __libc_* entry points, so no
 * dlsym (which itself allocates) is needed on the allocation path.
 *
 * Counting starts when main() is entered (a wrapped __libc_start_main):
 * what the dynamic loader and library constructors allocate before (the
 * OpenBLAS thread pool, libc's stdio) is not the program's start-up and
 * cannot be reported by it anyway. Every thread counts, with one atomic
 * counter, so which allocation is the Nth can vary between runs once the
 * program has started its threads; the start-up of the programs tested is
 * single-threaded up to that point.
 *
 * Not usable under ASan (its runtime owns malloc): tests skip there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);
/* glibc's obsolete entry points have no prototype in a standard header */
void *memalign(size_t align, size_t size);
void *pvalloc(size_t size);
typedef int (*main_fn)(int, char **, char **);
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

static atomic_int armed;          /* main() has started */
static atomic_ulong counter;      /* allocations counted since */
static unsigned long fail_at;     /* FAILALLOC_N */
static atomic_int reported;
static int backtraces;
static char report_path[512];

static void write_report(unsigned long count, unsigned long failed, size_t size)
{
	char buf[128];
	int fd, n;

	if (!report_path[0])
		return;
	/* no stdio here: it allocates, and this runs inside malloc */
	n = snprintf(buf, sizeof buf, "count %lu failed %lu size %zu\n", count, failed, size);
	fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) < 0) {
		/* nothing to do: the test sees a missing report */
	}
	close(fd);
}

/* true when this allocation is to fail */
static int should_fail(size_t size)
{
	unsigned long n;

	if (!atomic_load_explicit(&armed, memory_order_relaxed))
		return 0;
	n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1;
	if (fail_at == 0 || n != fail_at)
		return 0;
	atomic_store(&reported, 1);
	write_report(n, n, size);
	if (backtraces) {
		void *pc[32];
		static const char head[] = "failalloc: this allocation fails:\n";
		if (write(2, head, sizeof head - 1) < 0) {
			/* stderr closed: nothing to tell */
		}
		backtrace_symbols_fd(pc, backtrace(pc, 32), 2);
	}
	errno = ENOMEM;
	return 1;
}

static void at_exit_report(void)
{
	unsigned long c = atomic_load(&counter);

	if (!report_path[0])
		return;
	if (atomic_load(&reported)) {
		/* keep the failure's line, add the final count */
		char buf[64];
		int fd = open(report_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		int n = snprintf(buf, sizeof buf, "final %lu\n", c);
		if (fd >= 0) {
			if (write(fd, buf, (size_t)n) < 0) {
				/* as above */
			}
			close(fd);
		}
		return;
	}
	write_report(c, 0, 0);
}

void *malloc(size_t size)
{
	return should_fail(size) ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	return should_fail(n * size) ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	/* realloc(p, 0) frees: not an allocation that can fail */
	if (size && should_fail(size))
		return NULL;
	return __libc_realloc(p, size);
}

void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

void free(void *p)
{
	__libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	if (should_fail(size))
		return ENOMEM;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
	return should_fail(size) ? NULL : __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
	return should_fail(size) ? NULL : __libc_memalign(align, size);
}

void *valloc(size_t size)
{
	return should_fail(size) ? NULL : __libc_valloc(size);
}

void *pvalloc(size_t size)
{
	return should_fail(size) ? NULL : __libc_pvalloc(size);
}

/* ---- arming at main() ---------------------------------------------------- */

static main_fn real_main;

static int wrapped_main(int argc, char **argv, char **envp)
{
	const char *n = getenv("FAILALLOC_N"), *r = getenv("FAILALLOC_REPORT");

	fail_at = n ? strtoul(n, NULL, 10) : 0;
	backtraces = getenv("FAILALLOC_BACKTRACE") != NULL;
	if (backtraces) {
		/* the first backtrace() loads libgcc_s, which allocates */
		void *pc[2];
		backtrace(pc, 2);
	}
	if (r && strlen(r) < sizeof report_path)
		memcpy(report_path, r, strlen(r) + 1);
	/* registered before arming: atexit may allocate */
	atexit(at_exit_report);
	atomic_store(&armed, 1);
	return real_main(argc, argv, envp);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
		    void *) =
		(int (*)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
			 void *))dlsym(RTLD_NEXT, "__libc_start_main");

	real_main = main;
	return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}
