/* HTTP content codings with zlib: request bodies sent with Content-Encoding gzip or deflate are
 * inflated (never past --max-body), and JSON replies are gzip-compressed for clients that accept it.
 * Each worker thread keeps one inflater and one deflater (in its scratch), reset per use. */
#ifndef VAE_SERVER_ENCODING_H
#define VAE_SERVER_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "request.h"

/* Replies shorter than this are sent as they are: below it, compressing costs more time than the
 * bytes it saves take to send (see the README's Performance section). */
#define VAE_GZIP_MIN_BYTES 1024

/* Replaces req->body by its decoding when the request has a Content-Encoding other than identity:
 * gzip (RFC 1952, one member) or deflate (the zlib format, RFC 1950). The decoded body must be
 * exactly one complete stream with nothing after it, and at most max_body bytes: inflating stops
 * at the limit (VAE_E_PAYLOAD_TOO_LARGE). Other codings are VAE_E_UNSUPPORTED_MEDIA; damaged data
 * VAE_E_INVALID_ENCODING. */
vae_err_kind vae_encoding_decode_body(vae_request *req, size_t max_body, vae_err *err);

/* Whether an Accept-Encoding header value accepts gzip (a gzip or x-gzip token, or "*", with a
 * nonzero q-value and not excluded by a q=0 for gzip). NULL accepts nothing. */
int vae_encoding_accepts_gzip(const char *accept_encoding);

/* Compresses in[0..n) as one gzip member appended to out, with the deflater kept in *state
 * (created on first use; free it with vae_encoding_free). VAE_ERR_NOMEM on failure. */
vae_status vae_encoding_gzip(const uint8_t *in, size_t n, vae_buf *out, void **state);

/* Frees an inflater or deflater state (NULL-safe). */
void vae_encoding_free_inflater(void *state);
void vae_encoding_free_deflater(void *state);

#endif
