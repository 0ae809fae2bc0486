/* Small helpers shared by the library's files and the trainer (libvae-internal: not an installed
 * header, not part of the API). */
#ifndef VAE_UTIL_H
#define VAE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vae/error.h"

/* 64-byte aligned, zeroed array of n floats (cache-line aligned rows help the BLAS kernels), or NULL
 * when out of memory. Freed with free(). */
static inline float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) memset(p, 0, bytes);
    return p;
}

/* The big-endian unsigned 32-bit value at p (idx headers, PNG chunk lengths and fields). */
static inline uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Seconds on the monotonic clock (for durations only). */
double vae_now_seconds(void);

/* mkdir -p: creates dir and any missing parents (mode 0777 less the umask). VAE_ERR_ARG for an
 * empty or overlong path, VAE_ERR_IO naming the directory that could not be made, or when dir
 * exists but is not a directory. */
vae_status vae_make_dirs(const char *dir, vae_error *err);

#endif
