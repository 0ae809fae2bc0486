/* Appending JSON to a vae_buf: shortest round-trip float32 numbers, arrays of them, escaped strings. */
#ifndef VAE_JSON_WRITE_H
#define VAE_JSON_WRITE_H

#include <stddef.h>

#include "vae/buf.h"
#include "vae/error.h"

/* Most bytes vae_json_format_float writes ("-0.0000123456789" is 16). */
#define VAE_JSON_FLOAT_MAX 16

/* Writes v into out (not NUL-terminated) and returns the byte count, at most VAE_JSON_FLOAT_MAX.
 * The text is the shortest decimal that turns back into exactly the same bits both through strtof
 * and through a parse to double then a cast to float (JavaScript's Float32Array, Python's numpy);
 * among equally short ones, the closest to v (ties: even digit). At most 9 significant digits.
 * Format, always a valid JSON number:
 *   |v| in [1e-5, 1e7): plain decimal without exponent: "0.5", "0.003921569", "-2.75", "255";
 *                       integers have no ".0" (Python's json reads them as int, JavaScript as Number);
 *   otherwise:          one digit, optional fraction, "e", sign, exponent without leading zeros:
 *                       "1e-7", "-1.5e+20", "3.4028235e+38", "1e-45";
 *   +0 is "0", -0 is "-0" (JSON allows it; strtof and JavaScript keep the sign, Python's json
 *                       module reads it as the int 0);
 *   NaN and infinities, which JSON cannot carry, are "null" (callers are expected not to pass them). */
size_t vae_json_format_float(char *out, float v);

/* Each appender below returns VAE_OK, or VAE_ERR_NOMEM when buf cannot grow (buf then holds what
 * it held before the call, possibly with more capacity). */

/* Appends "[v0,v1,...]" (no spaces); n may be 0 ("[]"). Grows buf once for the whole array. */
vae_status vae_json_float_array(vae_buf *buf, const float *v, size_t n);

/* Appends a row-major (rows, cols) matrix as "[[...],[...]]"; rows == 0 gives "[]". */
vae_status vae_json_float_rows(vae_buf *buf, const float *v, size_t rows, size_t cols);

/* Appends s as a quoted JSON string: '"' and '\\' backslash-escaped, control characters (below
 * 0x20) as \u00XX, valid UTF-8 copied through, and each invalid UTF-8 sequence (stray continuation
 * byte, overlong form, surrogate, beyond U+10FFFF, truncated) replaced by \ufffd so the document
 * stays valid UTF-8. s == NULL appends null. */
vae_status vae_json_string(vae_buf *buf, const char *s);

/* Appends the NUL-terminated text s unchanged (the caller vouches it is valid JSON there). */
vae_status vae_json_raw(vae_buf *buf, const char *s);

/* Appends v in decimal. */
vae_status vae_json_int(vae_buf *buf, long long v);

/* A writer over a buffer that keeps the first error: replies are written as a straight sequence of
 * appends, checked once at the end (status is VAE_OK, or the first failure, after which every
 * append is a no-op). */
typedef struct {
    vae_buf *buf;
    vae_status status;
} vae_json_writer;

/* Starts writing into buf from its beginning (buf->len = 0). */
void vae_jw_start(vae_json_writer *w, vae_buf *buf);
void vae_jw_raw(vae_json_writer *w, const char *s);
void vae_jw_string(vae_json_writer *w, const char *s);
void vae_jw_int(vae_json_writer *w, long long v);
void vae_jw_float(vae_json_writer *w, float v);
void vae_jw_floats(vae_json_writer *w, const float *v, size_t n);
void vae_jw_float_rows(vae_json_writer *w, const float *v, size_t rows, size_t cols);
/* A short formatted fragment (under 256 bytes; the caller vouches it is valid JSON there). */
void vae_jw_printf(vae_json_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
