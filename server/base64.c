/* Base64 decoding of uploaded images (table-driven, four characters per step when the input is
 * clean) and encoding of PNG replies. */
#include "base64.h"

#include <stdio.h>
#include <string.h>

static const char alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decoding table: 0..63 the value, then classes. Any class has bit 6 or 7 set, so that OR-ing four
 * entries and comparing with 64 tests four characters at once. */
enum { B64_SPACE = 64, B64_PAD = 65, B64_BAD = 255 };
#define B 255
#define S 64
static const uint8_t decode_table[256] = {
    B, B, B, B, B, B, B, B, B, S, S, S, S, S, B, B, /* 0x00: \t \n \v \f \r */
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, /* 0x10 */
    S, B, B, B, B, B, B, B, B, B, B, 62, B, B, B, 63, /* 0x20: ' ' '+' '/' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, B, B, B, 65, B, B, /* 0x30: 0-9 '=' */
    B, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, /* 0x40: A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, B, B, B, B, B, /* 0x50: P-Z */
    B, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x60: a-o */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, B, B, B, B, B, /* 0x70: p-z */
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
};
#undef B
#undef S

size_t vae_base64_decoded_size(size_t len) {
    return len / 4 * 3 + len % 4 * 3 / 4;
}

/* The character as it can be shown inside quotes in a message: 'A', '\'', or \xNN. */
static void describe_char(char out[8], unsigned char ch) {
    if (ch == '\'' || ch == '\\') snprintf(out, 8, "'\\%c'", ch);
    else if (ch >= 0x20 && ch < 0x7f) snprintf(out, 8, "'%c'", ch);
    else snprintf(out, 8, "'\\x%02x'", ch);
}

static vae_status bad_char(vae_error *err, const char *in, size_t at) {
    char shown[8];
    describe_char(shown, (unsigned char)in[at]);
    return vae_error_set(err, VAE_ERR_FORMAT, "invalid base64 character %s at offset %zu", shown, at);
}

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int starts_with_nocase(const char *s, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    if (len < n) return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s[i]) != prefix[i]) return 0;
    return 1;
}

/* Where the base64 starts: after leading whitespace and a "data:...;base64," prefix if any. */
static vae_status skip_prefix(const char *in, size_t len, size_t *start, vae_error *err) {
    size_t i = 0;
    while (i < len && decode_table[(unsigned char)in[i]] == B64_SPACE) i++;
    if (!starts_with_nocase(in + i, len - i, "data:")) {
        *start = i;
        return VAE_OK;
    }
    const char *comma = memchr(in + i, ',', len - i);
    if (!comma)
        return vae_error_set(err, VAE_ERR_FORMAT, "data URL at offset %zu has no ',' before its data", i);
    size_t header_end = (size_t)(comma - in);
    if (header_end - i < 12 || !starts_with_nocase(comma - 7, 7, ";base64"))
        return vae_error_set(err, VAE_ERR_FORMAT, "data URL at offset %zu is not base64 (no ';base64' before ',')",
                             i);
    *start = header_end + 1;
    return VAE_OK;
}

vae_status vae_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len,
                             vae_error *err) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    if (len == 0) { /* nothing decodes to nothing; in may be NULL then */
        *out_len = 0;
        return VAE_OK;
    }
    vae_status st = skip_prefix(in, len, &i, err);
    if (st != VAE_OK) return st;

    uint32_t acc = 0; /* bits of the group being read */
    int nacc = 0;     /* its characters so far (0..3) */
    size_t last_data = i; /* offset of the latest alphabet character, for messages */
    while (i < len) {
        if (nacc == 0) {
            /* clean input: four characters to three bytes per step */
            while (i + 4 <= len && out_cap - o >= 3) {
                uint32_t a = decode_table[s[i]], b = decode_table[s[i + 1]], c = decode_table[s[i + 2]],
                         d = decode_table[s[i + 3]];
                if ((a | b | c | d) >= 64) break;
                uint32_t x = a << 18 | b << 12 | c << 6 | d;
                out[o] = (uint8_t)(x >> 16);
                out[o + 1] = (uint8_t)(x >> 8);
                out[o + 2] = (uint8_t)x;
                o += 3;
                i += 4;
            }
            if (i >= len) break;
        }
        uint8_t t = decode_table[s[i]];
        if (t < 64) {
            acc = acc << 6 | t;
            last_data = i;
            if (++nacc == 4) {
                if (out_cap - o < 3)
                    return vae_error_set(err, VAE_ERR_LIMIT, "decoded data exceeds %zu bytes", out_cap);
                out[o] = (uint8_t)(acc >> 16);
                out[o + 1] = (uint8_t)(acc >> 8);
                out[o + 2] = (uint8_t)acc;
                o += 3;
                acc = 0;
                nacc = 0;
            }
            i++;
        } else if (t == B64_SPACE) {
            i++;
        } else if (t == B64_PAD) {
            break;
        } else {
            return bad_char(err, in, i);
        }
    }

    /* Padding: only '=' and whitespace may follow the first '=', as many as complete the group. */
    if (i < len) {
        size_t pad_at = i;
        int pads = 0;
        for (; i < len; i++) {
            uint8_t t = decode_table[s[i]];
            if (t == B64_PAD) pads++;
            else if (t < 64)
                return vae_error_set(err, VAE_ERR_FORMAT, "data after padding at offset %zu", i);
            else if (t != B64_SPACE) return bad_char(err, in, i);
        }
        if (nacc < 2)
            return vae_error_set(err, VAE_ERR_FORMAT, "padding '=' at offset %zu where data was expected",
                                 pad_at);
        if (pads != 4 - nacc)
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "wrong padding at offset %zu: %d '=' after a last group of %d characters "
                                 "(expected %d)",
                                 pad_at, pads, nacc, 4 - nacc);
    }

    /* The last, short group: 2 characters carry 1 byte, 3 carry 2. */
    if (nacc == 1)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "truncated base64: a lone character at offset %zu ends the data", last_data);
    if (nacc > 1) {
        size_t extra = (size_t)nacc - 1;
        if (out_cap - o < extra)
            return vae_error_set(err, VAE_ERR_LIMIT, "decoded data exceeds %zu bytes", out_cap);
        acc <<= 6 * (4 - nacc);
        out[o++] = (uint8_t)(acc >> 16);
        if (nacc == 3) out[o++] = (uint8_t)(acc >> 8);
    }
    *out_len = o;
    return VAE_OK;
}

vae_status vae_base64_encode(const uint8_t *in, size_t n, vae_buf *out) {
    if (n == 0) return VAE_OK; /* nothing to append; out->data may still be NULL */
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4) return VAE_ERR_NOMEM;
    if (vae_buf_reserve(out, groups * 4) != VAE_OK) return VAE_ERR_NOMEM;
    char *p = (char *)out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t x = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        p[0] = alphabet[x >> 18];
        p[1] = alphabet[(x >> 12) & 63];
        p[2] = alphabet[(x >> 6) & 63];
        p[3] = alphabet[x & 63];
        p += 4;
    }
    if (i < n) {
        uint32_t x = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        p[0] = alphabet[x >> 18];
        p[1] = alphabet[(x >> 12) & 63];
        p[2] = i + 1 < n ? alphabet[(x >> 6) & 63] : '=';
        p[3] = '=';
        p += 4;
    }
    out->len += groups * 4;
    return VAE_OK;
}
