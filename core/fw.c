#include "fw.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fw_strerror(int err)
{
	switch (err) {
	case FW_OK: return "success";
	case FW_EIO: return "input/output error";
	case FW_ENOMEM: return "out of memory";
	case FW_EFORMAT: return "not in the expected format";
	case FW_ETRUNC: return "truncated";
	case FW_ECHECKSUM: return "checksum mismatch (file is corrupt)";
	case FW_EVERSION: return "unsupported format version";
	case FW_EMODEL: return "not the expected model";
	case FW_EINVAL: return "invalid argument or inconsistent data";
	case FW_EUNSUPPORTED: return "not supported";
	case FW_ENOFACE: return "no face found";
	default:
		break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

static fw_log_sink log_sink;
static void *log_ctx;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void fw_log_set_sink(fw_log_sink sink, void *ctx)
{
	log_sink = sink;
	log_ctx = ctx;
}

void fw_vlog(enum fw_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (level == FW_LOG_DEBUG && !log_sink && !getenv("FACEWATCH_DEBUG"))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_sink) {
		log_sink(level, msg, log_ctx);
		return;
	}
	/* one line at a time, even with several threads logging */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "facewatch: %s%s\n",
		level == FW_LOG_ERROR ? "error: " : level == FW_LOG_WARN ? "warning: " : "", msg);
	pthread_mutex_unlock(&log_lock);
}

void fw_log(enum fw_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fw_vlog(level, fmt, ap);
	va_end(ap);
}

/* CRC-32 (IEEE, as zlib and PNG), eight bytes a step ("slicing by 8"):
 * table k holds the CRC of a byte followed by k zero bytes, so eight
 * lookups fold eight bytes at once. About 6x the byte-at-a-time loop, which
 * matters at start-up: the models' checksums cover 8 MB. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xff] ^
					  (crc_table[t - 1][i] >> 8);
}

static uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

unsigned int fw_crc32(unsigned int crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = ~(uint32_t)crc;

	pthread_once(&crc_once, crc_init);
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = c ^ load_le32(p), hi = load_le32(p + 4);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

struct timespec fw_deadline(clockid_t clock, int ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
