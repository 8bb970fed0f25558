/* The allocator, interposed for the tests that prove "no allocation per
 * frame/query" or inject allocation failures. A test program that includes
 * this header gets support/alloc_count.c linked in (tests/CMakeLists.txt);
 * its malloc family then preempts libc's for every library in the process,
 * OpenBLAS and SQLite included, and forwards to glibc's __libc_* functions.
 *
 * Under AddressSanitizer the allocator is ASan's: FW_NO_INTERPOSE is
 * defined and nothing is counted, so such tests skip().
 * Single-threaded use: set the variables from the test's own thread. */
#ifndef FW_TESTS_ALLOC_COUNT_H
#define FW_TESTS_ALLOC_COUNT_H

#if defined(__SANITIZE_ADDRESS__)
#define FW_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FW_NO_INTERPOSE 1
#endif
#endif

extern volatile int tu_counting;   /* count (and maybe fail) while set */
extern volatile long tu_allocations; /* allocation calls while counting */
extern volatile long tu_live;      /* blocks allocated while counting, minus frees
				    * while counting (a leak check across a call) */
extern volatile long tu_fail_at;   /* the tu_fail_at-th counted allocation from now
				    * fails (0: the next one); -1: none */

#endif
