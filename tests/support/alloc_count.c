/* See alloc_count.h. */
#include "alloc_count.h"

#include <stddef.h>

volatile int tu_counting;
volatile long tu_allocations, tu_live;
volatile long tu_fail_at = -1;

#ifndef FW_NO_INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *old, size_t n);
void *aligned_alloc(size_t al, size_t n);
int posix_memalign(void **pp, size_t al, size_t n);
void *memalign(size_t al, size_t n);
void free(void *p);

/* Counts the call; 1 when this one must fail. */
static int refuse(void)
{
	if (!tu_counting)
		return 0;
	tu_allocations++;
	return tu_fail_at >= 0 && tu_fail_at-- == 0;
}

static void *born(void *p)
{
	if (p && tu_counting)
		tu_live++;
	return p;
}

void *malloc(size_t n)
{
	return refuse() ? NULL : born(__libc_malloc(n));
}

void *calloc(size_t a, size_t b)
{
	return refuse() ? NULL : born(__libc_calloc(a, b));
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (refuse())
		return NULL;
	p = __libc_realloc(old, n);
	return old ? p : born(p);
}

void *aligned_alloc(size_t al, size_t n)
{
	return refuse() ? NULL : born(__libc_memalign(al, n));
}

int posix_memalign(void **pp, size_t al, size_t n)
{
	if (refuse())
		return 12; /* ENOMEM */
	*pp = born(__libc_memalign(al, n));
	return *pp ? 0 : 12;
}

void *memalign(size_t al, size_t n)
{
	return refuse() ? NULL : born(__libc_memalign(al, n));
}

void free(void *p)
{
	if (p && tu_counting)
		tu_live--;
	__libc_free(p);
}
#endif
