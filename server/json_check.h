/* A strict RFC 8259 syntax check for request bodies, run before cJSON (which is lenient: it takes any
 * byte up to 0x20 as whitespace and accepts leading zeros), so a malformed body is refused with the
 * byte where it goes wrong. No allocation; nesting is bounded. */
#ifndef VAE_SERVER_JSON_CHECK_H
#define VAE_SERVER_JSON_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Returns -1 when s[0..len) is exactly one JSON value (with surrounding whitespace), else the offset
 * of the first offending byte, with *reason set to a short static description. Stricter than the
 * grammar in two ways the server needs: no \u0000 (strings become C strings) and no unpaired UTF-16
 * surrogate escape (cJSON refuses those). */
long vae_json_check(const uint8_t *s, size_t len, int max_depth, const char **reason);

#endif
