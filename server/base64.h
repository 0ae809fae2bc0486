/* Base64 (RFC 4648, standard alphabet) for images sent inside JSON: a forgiving but exact decoder
 * and an encoder that appends to a vae_buf. */
#ifndef VAE_BASE64_H
#define VAE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "vae/buf.h"
#include "vae/error.h"

/* Upper bound of the bytes vae_base64_decode can produce from len input characters (3 per 4,
 * whatever the padding, prefix and whitespace). Never overflows. */
size_t vae_base64_decoded_size(size_t len);

/* Decodes in[0..len) (need not be NUL-terminated) into out[0..out_cap) and sets *out_len.
 * Accepts, so that what browsers and the `base64` tool produce works as is:
 *   - a data URL prefix, "data:<media type>[;params];base64," (what canvas.toDataURL() gives),
 *     skipped whatever the media type; a "data:" URL that is not base64 is rejected;
 *   - ASCII whitespace (space, \t, \n, \v, \f, \r) anywhere, ignored (wrapped lines);
 *   - the last group with its '=' padding or without it; bits left over in the last character
 *     are ignored (not required to be zero).
 * Errors (message says what and where; offsets count from in[0], prefix included):
 *   VAE_ERR_FORMAT: a character outside the alphabet ("invalid character '\x01' at offset 17"),
 *                   data after padding, wrong amount of padding, a length that no encoder makes
 *                   (one character in the last group);
 *   VAE_ERR_LIMIT:  the decoded bytes do not fit in out_cap.
 * On failure *out_len is untouched and out[] may hold partial output. Reads nothing past in[len). */
vae_status vae_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len,
                             vae_error *err);

/* Appends the padded base64 of in[0..n) to out (no line breaks, no NUL). VAE_ERR_NOMEM when out
 * cannot grow (out unchanged then). */
vae_status vae_base64_encode(const uint8_t *in, size_t n, vae_buf *out);

#endif
