/* SHA-256 (FIPS 180-4), one shot. The converter records the digest of the
 * upstream file in every model header, so a model can be traced to its source.
 * No allocation; thread-safe (no state outside the call).
 */
#ifndef FW_SHA256_H
#define FW_SHA256_H

#include <stddef.h>
#include <stdint.h>

void fw_sha256(const void *data, size_t len, uint8_t digest[32]);

#endif
