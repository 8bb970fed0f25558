/* facewatch core: error codes and the one logging function.
 *
 * Errors are values: every fallible function returns 0 or a negative FW_E*
 * code (or a negative errno for system-call failures). The human message is
 * written through fw_log() at the place that knows the file, device or peer.
 * Thread-safety: fw_log() may be called from any thread; fw_log_set_sink()
 * must be called before other threads start.
 */
#ifndef FW_FW_H
#define FW_FW_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

enum {
	FW_OK = 0,
	FW_EIO = -1000,    /* read/write failed */
	FW_ENOMEM,         /* allocation failed */
	FW_EFORMAT,        /* file is not of the expected format */
	FW_ETRUNC,         /* file or buffer ends early */
	FW_ECHECKSUM,      /* stored checksum does not match */
	FW_EVERSION,       /* format version not supported */
	FW_EMODEL,         /* model is not the one expected */
	FW_EINVAL,         /* invalid argument or inconsistent data */
	FW_EUNSUPPORTED,   /* feature or operator not supported */
	FW_ENOFACE,        /* no face found where one was needed */
};

/* Static English text for an FW_E* code or a negative errno. */
const char *fw_strerror(int err);

enum fw_log_level { FW_LOG_ERROR = 0, FW_LOG_WARN, FW_LOG_INFO, FW_LOG_DEBUG };

typedef void (*fw_log_sink)(enum fw_log_level level, const char *msg, void *ctx);

/* Formats a message and hands it to the sink (default: stderr with a
 * "facewatch: " prefix; DEBUG only when FACEWATCH_DEBUG is set). */
void fw_log(enum fw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fw_vlog(enum fw_log_level level, const char *fmt, va_list ap);

/* Replace the sink; NULL restores the default. */
void fw_log_set_sink(fw_log_sink sink, void *ctx);

/* CRC-32 (IEEE 802.3, as zlib), continuing from crc (start with 0). */
unsigned int fw_crc32(unsigned int crc, const void *data, size_t len);

/* The time ms milliseconds (>= 0) from now on clock, as the absolute
 * deadline pthread_cond_timedwait takes: CLOCK_MONOTONIC for a condition
 * variable set up with that clock, CLOCK_REALTIME for a default one. */
struct timespec fw_deadline(clockid_t clock, int ms);

#endif
