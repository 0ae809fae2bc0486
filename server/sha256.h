/* SHA-256 (FIPS 180-4), for the content hash of weights files: the server reports it beside each
 * model so an operator can compare it with `sha256sum` of the file that should be serving. */
#ifndef VAE_SERVER_SHA256_H
#define VAE_SERVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the digest of data[0..len) as 64 lower-case hex digits and a NUL into hex[65]. */
void vae_sha256_hex(const uint8_t *data, size_t len, char hex[65]);

#endif
