/* gzip and deflate for request bodies and replies, on zlib. */
#include "encoding.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "server.h"

/* The zlib stream kept per thread, with how it was set up (inflateReset2 switches the format). */
typedef struct {
    z_stream z;
} inflater;

void vae_encoding_free_inflater(void *state) {
    inflater *in = state;
    if (!in) return;
    inflateEnd(&in->z);
    free(in);
}

void vae_encoding_free_deflater(void *state) {
    z_stream *z = state;
    if (!z) return;
    deflateEnd(z);
    free(z);
}

/* The inflater of this thread's scratch, reset for the zlib (15) or gzip (16 + 15) format. */
static z_stream *get_inflater(vae_scratch *s, int window_bits) {
    inflater *in = s->inflater;
    if (!in) {
        in = calloc(1, sizeof *in);
        if (!in) return NULL;
        if (inflateInit2(&in->z, window_bits) != Z_OK) {
            free(in);
            return NULL;
        }
        s->inflater = in;
        return &in->z;
    }
    return inflateReset2(&in->z, window_bits) == Z_OK ? &in->z : NULL;
}

vae_err_kind vae_encoding_decode_body(vae_request *req, size_t max_body, vae_err *err) {
    const char *coding = vae_req_header(req, "Content-Encoding");
    if (!coding) return VAE_E_NONE;
    while (*coding == ' ' || *coding == '\t') coding++;
    size_t len = strlen(coding);
    while (len && (coding[len - 1] == ' ' || coding[len - 1] == '\t')) len--;
    int window_bits;
    if (len == 8 && !strncasecmp(coding, "identity", 8)) return VAE_E_NONE;
    if ((len == 4 && !strncasecmp(coding, "gzip", 4)) || (len == 6 && !strncasecmp(coding, "x-gzip", 6)))
        window_bits = 16 + MAX_WBITS;
    else if (len == 7 && !strncasecmp(coding, "deflate", 7))
        window_bits = MAX_WBITS;
    else
        return vae_fail(err, VAE_E_UNSUPPORTED_MEDIA,
                        "Content-Encoding '%.*s' is not supported: send the body as it is, or with gzip or deflate "
                        "(one coding)",
                        (int)(len < 64 ? len : 64), coding);
    if (vae_req_header_count(req, "Content-Encoding") > 1)
        return vae_fail(err, VAE_E_UNSUPPORTED_MEDIA, "the request has more than one Content-Encoding: use one");
    const char *name = window_bits == MAX_WBITS ? "deflate" : "gzip";
    if (req->body_len == 0) return vae_fail(err, VAE_E_INVALID_ENCODING, "the %s body is empty", name);
    z_stream *z = get_inflater(req->scratch, window_bits);
    if (!z) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory inflating the body");
    /* grow the output towards max_body + 1: one byte past the limit proves the body exceeds it */
    size_t cap = req->body_len * 4 < max_body + 1 ? req->body_len * 4 : max_body + 1;
    if (cap < 4096) cap = max_body + 1 < 4096 ? max_body + 1 : 4096;
    uint8_t *out = malloc(cap);
    if (!out) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory inflating the body");
    z->next_in = req->body;
    z->avail_in = (uInt)req->body_len; /* body_len <= --max-body <= 1 GiB fits a uInt */
    size_t got = 0;
    int rc;
    for (;;) {
        z->next_out = out + got;
        z->avail_out = (uInt)(cap - got);
        rc = inflate(z, Z_NO_FLUSH);
        got = cap - z->avail_out;
        if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) break;
        if (got > max_body) break;
        if (z->avail_out == 0) {
            size_t want = cap * 2 < max_body + 1 ? cap * 2 : max_body + 1;
            if (want == cap) break; /* full at max_body + 1 */
            uint8_t *grown = realloc(out, want);
            if (!grown) {
                free(out);
                return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory inflating the body");
            }
            out = grown;
            cap = want;
        } else if (z->avail_in == 0 || rc == Z_BUF_ERROR) {
            break; /* input used up before the end of the stream */
        }
    }
    vae_err_kind kind = VAE_E_NONE;
    if (got > max_body)
        kind = vae_fail(err, VAE_E_PAYLOAD_TOO_LARGE, "the %s body inflates past the %zu-byte limit (--max-body)", name,
                        max_body);
    else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
        kind = vae_fail(err, VAE_E_INVALID_ENCODING, "the %s body is damaged: %s%s", name,
                        z->msg ? z->msg : "invalid data",
                        window_bits == MAX_WBITS ? " (deflate means the zlib format, RFC 1950)" : "");
    else if (rc == Z_MEM_ERROR)
        kind = vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory inflating the body");
    else if (rc != Z_STREAM_END)
        kind = vae_fail(err, VAE_E_INVALID_ENCODING, "the %s body is truncated (%zu bytes inflate to an incomplete stream)",
                        name, req->body_len);
    else if (z->avail_in != 0)
        kind = vae_fail(err, VAE_E_INVALID_ENCODING, "the %s body has %u bytes after the end of its compressed data", name,
                        z->avail_in);
    if (kind != VAE_E_NONE) {
        free(out);
        return kind;
    }
    free(req->body);
    req->body = out;
    req->body_len = got;
    req->body_cap = cap;
    return VAE_E_NONE;
}

/* The q-value of one Accept-Encoding element's parameters (";q=0.5"); 1 when absent. */
static double q_value(const char *p, const char *end) {
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char num[16];
            size_t n = 0;
            for (p += 2; p < end && n + 1 < sizeof num && (isdigit((unsigned char)*p) || *p == '.'); p++) num[n++] = *p;
            num[n] = '\0';
            return n ? strtod(num, NULL) : 0;
        }
        while (p < end && *p != ';') p++;
    }
    return 1;
}

int vae_encoding_accepts_gzip(const char *accept) {
    if (!accept) return 0;
    double gzip = -1, star = -1;
    for (const char *p = accept; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - start);
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        double q = q_value(p, end);
        if ((n == 4 && !strncasecmp(start, "gzip", 4)) || (n == 6 && !strncasecmp(start, "x-gzip", 6))) gzip = q;
        else if (n == 1 && *start == '*') star = q;
        p = end;
    }
    return gzip > 0 || (gzip < 0 && star > 0);
}

vae_status vae_encoding_gzip(const uint8_t *in, size_t n, vae_buf *out, void **state) {
    z_stream *z = *state;
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z) return VAE_ERR_NOMEM;
        /* level 1: replies are float text, which the fastest level already shrinks about threefold */
        if (deflateInit2(z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(z);
            return VAE_ERR_NOMEM;
        }
        *state = z;
    } else if (deflateReset(z) != Z_OK) {
        return VAE_ERR_NOMEM;
    }
    if (n > UINT32_MAX) return VAE_ERR_ARG;
    uLong bound = deflateBound(z, (uLong)n);
    if (vae_buf_reserve(out, bound) != VAE_OK) return VAE_ERR_NOMEM;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    z->next_out = out->data + out->len;
    z->avail_out = (uInt)bound;
    int rc = deflate(z, Z_FINISH);
    if (rc != Z_STREAM_END) return VAE_ERR_NOMEM;
    out->len += bound - z->avail_out;
    return VAE_OK;
}
