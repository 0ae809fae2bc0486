/* JSON output: a shortest round-trip float32 printer (Schubfach-style, one 64x64 multiply per
 * number) and the appenders the handlers build replies with. */
#include "json_write.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if !defined(__SIZEOF_INT128__)
#error "json_write.c needs a compiler with unsigned __int128 (gcc, clang)"
#endif
__extension__ typedef unsigned __int128 u128;

/* How the float printer works.
 *
 * A positive finite float is v = c * 2^q (c < 2^24). strtof maps a decimal back to v exactly when
 * it lies in the rounding interval [u, w] = [v - half the gap below, v + half the gap above]: the
 * endpoints count only when c is even (ties go to the even significand). The gap below is half
 * as wide when c = 2^23 (the "irregular" case at a power of two).
 * Readers that parse to double first (JavaScript, Python) round a decimal within half a double ulp
 * (2^(q-30)) of u or w onto that endpoint, and the cast then ties away from an odd c. So for odd
 * c the interval shrinks by 2^(q-30) at both ends (for subnormals, whose double ulp is smaller,
 * that is merely cautious). Of all floats only +-0x15ae43fd (7.0385307e-26) needs a digit more.
 *
 * Pick k, the largest with 10^k <= w - u (2^q, or 3/4 * 2^q when irregular). Then:
 *  - w - u < 10^(k+1), so at most one multiple of 10^(k+1) lies in the interval. If one does, it
 *    is the shortest answer (its trailing zeros stripped);
 *  - otherwise all candidates are multiples of 10^k with the same number of digits, and one of
 *    the two bracketing v, s*10^k <= v < (s+1)*10^k, lies in the interval (their distance is
 *    10^k, less than its width): take the one inside, or the closer, or on a tie the even one.
 * The decisions need, for the positions m of v, u and w counted in units of 2^(q-30), the floor
 * of F(m) = 4 * m * 2^(q-30) * 10^-k and whether it is an integer. 10^-k comes from a 64-bit
 * table, rounded up where not exact; the three products differ by multiples of the table value,
 * so one multiplication gives all of them. Rounding up keeps each floor exact: the error is below
 * 2^-37 and no product comes that close below an integer (brute-forced over every exponent and
 * significand for the unshrunk ends; the test's exhaustive mode checks every float's output). */

/* 10^e normalised to [2^63, 2^64) for e = -31..45 (the e = -k needed for float32), rounded up
 * where the binary value is not exact (all e < 0, and e > 27). */
#define POW10_MIN (-31)
static const uint64_t pow10_table[] = {
    0x81ceb32c4b43fcf5u, 0xa2425ff75e14fc32u, 0xcad2f7f5359a3b3fu, 0xfd87b5f28300ca0eu, /* -31.. */
    0x9e74d1b791e07e49u, 0xc612062576589ddbu, 0xf79687aed3eec552u, 0x9abe14cd44753b53u, /* -27.. */
    0xc16d9a0095928a28u, 0xf1c90080baf72cb2u, 0x971da05074da7befu, 0xbce5086492111aebu, /* -23.. */
    0xec1e4a7db69561a6u, 0x9392ee8e921d5d08u, 0xb877aa3236a4b44au, 0xe69594bec44de15cu, /* -19.. */
    0x901d7cf73ab0acdau, 0xb424dc35095cd810u, 0xe12e13424bb40e14u, 0x8cbccc096f5088ccu, /* -15.. */
    0xafebff0bcb24aaffu, 0xdbe6fecebdedd5bfu, 0x89705f4136b4a598u, 0xabcc77118461cefdu, /* -11.. */
    0xd6bf94d5e57a42bdu, 0x8637bd05af6c69b6u, 0xa7c5ac471b478424u, 0xd1b71758e219652cu, /*  -7.. */
    0x83126e978d4fdf3cu, 0xa3d70a3d70a3d70bu, 0xcccccccccccccccdu, 0x8000000000000000u, /*  -3.. */
    0xa000000000000000u, 0xc800000000000000u, 0xfa00000000000000u, 0x9c40000000000000u, /*   1.. */
    0xc350000000000000u, 0xf424000000000000u, 0x9896800000000000u, 0xbebc200000000000u, /*   5.. */
    0xee6b280000000000u, 0x9502f90000000000u, 0xba43b74000000000u, 0xe8d4a51000000000u, /*   9.. */
    0x9184e72a00000000u, 0xb5e620f480000000u, 0xe35fa931a0000000u, 0x8e1bc9bf04000000u, /*  13.. */
    0xb1a2bc2ec5000000u, 0xde0b6b3a76400000u, 0x8ac7230489e80000u, 0xad78ebc5ac620000u, /*  17.. */
    0xd8d726b7177a8000u, 0x878678326eac9000u, 0xa968163f0a57b400u, 0xd3c21bcecceda100u, /*  21.. */
    0x84595161401484a0u, 0xa56fa5b99019a5c8u, 0xcecb8f27f4200f3au, 0x813f3978f8940985u, /*  25.. */
    0xa18f07d736b90be6u, 0xc9f2c9cd04674edfu, 0xfc6f7c4045812297u, 0x9dc5ada82b70b59eu, /*  29.. */
    0xc5371912364ce306u, 0xf684df56c3e01bc7u, 0x9a130b963a6c115du, 0xc097ce7bc90715b4u, /*  33.. */
    0xf0bdc21abb48db21u, 0x96769950b50d88f5u, 0xbc143fa4e250eb32u, 0xeb194f8e1ae525feu, /*  37.. */
    0x92efd1b8d0cf37bfu, 0xb7abc627050305aeu, 0xe596b7b0c643c71au, 0x8f7e32ce7bea5c70u, /*  41.. */
    0xb35dbf821ae4f38cu, /* 45 */
};

/* 5^k for the k where 5^k can divide a 27-bit m (then m * 2^q * 10^-k may be an integer). */
static const uint32_t pow5_u32[] = {1,       5,        25,        125,        625,      3125,
                                    15625,   78125,    390625,    1953125,    9765625, 48828125};

/* floor(q * log10(2)), floor(q * log10(2) + log10(3/4)) and floor(e * log2(10)) by fixed-point
 * multiplication; exact over the ranges used here (q in [-149, 104], e in [-31, 45]). */
static inline int floor_log10_pow2(int q) { return (q * 78913) >> 18; }
static inline int floor_log10_three_quarters_pow2(int q) { return (q * 78913 - 32752) >> 18; }
static inline int floor_log2_pow10(int e) { return (e * 1741647) >> 19; }

static const char digit_pairs[200] = {
    '0', '0', '0', '1', '0', '2', '0', '3', '0', '4', '0', '5', '0', '6', '0', '7', '0', '8', '0', '9',
    '1', '0', '1', '1', '1', '2', '1', '3', '1', '4', '1', '5', '1', '6', '1', '7', '1', '8', '1', '9',
    '2', '0', '2', '1', '2', '2', '2', '3', '2', '4', '2', '5', '2', '6', '2', '7', '2', '8', '2', '9',
    '3', '0', '3', '1', '3', '2', '3', '3', '3', '4', '3', '5', '3', '6', '3', '7', '3', '8', '3', '9',
    '4', '0', '4', '1', '4', '2', '4', '3', '4', '4', '4', '5', '4', '6', '4', '7', '4', '8', '4', '9',
    '5', '0', '5', '1', '5', '2', '5', '3', '5', '4', '5', '5', '5', '6', '5', '7', '5', '8', '5', '9',
    '6', '0', '6', '1', '6', '2', '6', '3', '6', '4', '6', '5', '6', '6', '6', '7', '6', '8', '6', '9',
    '7', '0', '7', '1', '7', '2', '7', '3', '7', '4', '7', '5', '7', '6', '7', '7', '7', '8', '7', '9',
    '8', '0', '8', '1', '8', '2', '8', '3', '8', '4', '8', '5', '8', '6', '8', '7', '8', '8', '8', '9',
    '9', '0', '9', '1', '9', '2', '9', '3', '9', '4', '9', '5', '9', '6', '9', '7', '9', '8', '9', '9',
};

static inline int count_digits(uint32_t d) {
    /* d < 10^9 here */
    if (d < 10000) return d < 10 ? 1 : d < 100 ? 2 : d < 1000 ? 3 : 4;
    if (d < 10000000) return d < 100000 ? 5 : d < 1000000 ? 6 : 7;
    return d < 100000000 ? 8 : 9;
}

/* Writes exactly nd digits of d to p[0..nd), two at a time from the right. */
static inline void write_digits(char *p, uint32_t d, int nd) {
    char *end = p + nd;
    while (d >= 100) {
        uint32_t r = d % 100;
        d /= 100;
        end -= 2;
        memcpy(end, digit_pairs + 2 * r, 2);
    }
    if (d >= 10) {
        end -= 2;
        memcpy(end, digit_pairs + 2 * d, 2);
    } else {
        *--end = (char)('0' + d);
    }
}

/* Lays out the decimal d * 10^e (d without trailing zeros, d > 0) in the documented format. */
static size_t format_decimal(char *out, int negative, uint32_t d, int e) {
    char *p = out;
    if (negative) *p++ = '-';
    int nd = count_digits(d);
    int x = e + nd - 1; /* d * 10^e = d.ddd * 10^x */
    if (x >= 0 && x < 7) {
        if (nd <= x + 1) { /* an integer: digits then zeros */
            write_digits(p, d, nd);
            memset(p + nd, '0', (size_t)(x + 1 - nd));
            p += x + 1;
        } else { /* digits with the point after x+1 of them */
            write_digits(p + 1, d, nd);
            memmove(p, p + 1, (size_t)(x + 1));
            p[x + 1] = '.';
            p += nd + 1;
        }
    } else if (x < 0 && x >= -5) { /* "0." then zeros then digits */
        memcpy(p, "0.00000", (size_t)(1 - x));
        p += 1 - x;
        write_digits(p, d, nd);
        p += nd;
    } else { /* d.ddde+x */
        write_digits(p + 1, d, nd);
        p[0] = p[1];
        if (nd > 1) {
            p[1] = '.';
            p += nd + 1;
        } else {
            p += 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        unsigned ax = (unsigned)(x < 0 ? -x : x);
        if (ax >= 10) {
            memcpy(p, digit_pairs + 2 * ax, 2);
            p += 2;
        } else {
            *p++ = (char)('0' + ax);
        }
    }
    return (size_t)(p - out);
}

/* Is F(m) = m * 2^(q-28) * 10^-k an integer, when k > 0: a negative power of two must divide out
 * and 5^k must divide m (impossible beyond 5^11 for the m used). */
static inline int product_is_integer(uint64_t m, int q, int k) {
    int twos = 28 + k - q;
    if (twos > 0 && (m & (((uint64_t)1 << twos) - 1)) != 0) return 0; /* twos < 26 as q >= 4 */
    return k < (int)(sizeof pow5_u32 / sizeof pow5_u32[0]) && m % pow5_u32[k] == 0;
}

size_t vae_json_format_float(char *out, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    int negative = (int)(bits >> 31);
    uint32_t be = (bits >> 23) & 0xff, f = bits & 0x7fffff;

    if (be == 0xff) {
        memcpy(out, "null", 4);
        return 4;
    }
    if (be == 0 && f == 0) {
        if (negative) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    uint32_t c = be ? f | 0x800000 : f;
    int q = be ? (int)be - 150 : -149;

    /* Integers below 2^24 are their own shortest form (the interval is at most +-1/2 wide):
     * this is the 0.0/1.0 of saturated pixels. */
    if (q <= 0 && q >= -23 && (c & ((1u << -q) - 1)) == 0) {
        uint32_t d = c >> -q;
        int e = 0;
        while (d % 10 == 0) {
            d /= 10;
            e++;
        }
        return format_decimal(out, negative, d, e);
    }

    int irregular = f == 0 && be > 1;
    int closed = (c & 1) == 0; /* the endpoints read back as v when ties go to it (even c) */
    int k = irregular ? floor_log10_three_quarters_pow2(q) : floor_log10_pow2(q);
    int e10 = -k;
    uint64_t g = pow10_table[e10 - POW10_MIN];
    /* Positions m in units of 2^(q-30), v at m = c * 2^30: F(m) = 4 * m * 2^(q-30) * 10^-k
     * = (m << h) * g / 2^95, with h in [0, 4] by the choice of k. */
    int h = q + floor_log2_pow10(e10) + 4;
    uint64_t mv = (uint64_t)c << 30, mw, mu;
    u128 step = (u128)g << h; /* F(1) * 2^95 */
    u128 pv = (u128)(mv << h) * g;
    u128 pw = pv + (step << 29), pu = irregular ? pv - (step << 28) : pv - (step << 29);
    mw = mv + ((uint64_t)1 << 29);
    mu = irregular ? mv - ((uint64_t)1 << 28) : mv - ((uint64_t)1 << 29);
    if (!closed) { /* keep half a double ulp, 2^(q-30), away from the open endpoints */
        pw -= step;
        pu += step;
        mw--;
        mu++;
    }
    uint32_t fv = (uint32_t)(pv >> 95), fw = (uint32_t)(pw >> 95), fu = (uint32_t)(pu >> 95);

    int exact_v, exact_w, exact_u;
    if (e10 >= 0 && e10 <= 27) { /* table value exact: the product is, too */
        const u128 frac = ((u128)1 << 95) - 1;
        exact_v = (pv & frac) == 0;
        exact_w = (pw & frac) == 0;
        exact_u = (pu & frac) == 0;
    } else if (k > 0) {
        exact_v = product_is_integer(mv, q, k);
        exact_w = product_is_integer(mw, q, k);
        exact_u = product_is_integer(mu, q, k);
    } else { /* k < -27, q < -92: the product has a factor 2^(q-28+e10) < 2^-64 no m cancels */
        exact_v = exact_w = exact_u = 0;
    }

    /* n * 10^k is inside the interval on the low side (4n >= F(mu)) / high side (4n <= F(mw)) */
#define ABOVE_U(n) (4 * (n) > fu || (4 * (n) == fu && closed && exact_u))
#define BELOW_W(n) (4 * (n) < fw || (4 * (n) == fw && (closed || !exact_w)))

    uint32_t s = fv >> 2;
    uint32_t s10 = s / 10 * 10;
    uint32_t d;
    int e;
    if (ABOVE_U(s10) || BELOW_W(s10 + 10)) {
        d = ABOVE_U(s10) ? s10 / 10 : s10 / 10 + 1;
        e = k + 1;
        while (d % 10 == 0) {
            d /= 10;
            e++;
        }
    } else {
        int low_in = ABOVE_U(s), high_in = BELOW_W(s + 1);
        if (low_in && high_in) {
            uint32_t mid = 4 * s + 2;
            if (fv != mid) d = fv < mid ? s : s + 1;
            else d = exact_v ? s + (s & 1) : s + 1;
        } else {
            d = low_in ? s : s + 1;
        }
        e = k;
    }
#undef ABOVE_U
#undef BELOW_W
    return format_decimal(out, negative, d, e);
}

/* Writes "[v0,...]" at p, which has room for 2 + n * (VAE_JSON_FLOAT_MAX + 1) bytes. */
static size_t write_array(char *p, const float *v, size_t n) {
    char *start = p;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        p += vae_json_format_float(p, v[i]);
    }
    *p++ = ']';
    return (size_t)(p - start);
}

vae_status vae_json_float_array(vae_buf *buf, const float *v, size_t n) {
    if (n > (SIZE_MAX - 2) / (VAE_JSON_FLOAT_MAX + 1)) return VAE_ERR_NOMEM;
    if (vae_buf_reserve(buf, 2 + n * (VAE_JSON_FLOAT_MAX + 1)) != VAE_OK) return VAE_ERR_NOMEM;
    buf->len += write_array((char *)buf->data + buf->len, v, n);
    return VAE_OK;
}

vae_status vae_json_float_rows(vae_buf *buf, const float *v, size_t rows, size_t cols) {
    if (cols > (SIZE_MAX / 2 - 3) / (VAE_JSON_FLOAT_MAX + 1)) return VAE_ERR_NOMEM;
    size_t row_max = 3 + cols * (VAE_JSON_FLOAT_MAX + 1); /* with its comma */
    if (rows > (SIZE_MAX - 2) / row_max) return VAE_ERR_NOMEM;
    if (vae_buf_reserve(buf, 2 + rows * row_max) != VAE_OK) return VAE_ERR_NOMEM;
    char *p = (char *)buf->data + buf->len, *start = p;
    *p++ = '[';
    for (size_t r = 0; r < rows; r++) {
        if (r) *p++ = ',';
        p += write_array(p, v + r * cols, cols);
    }
    *p++ = ']';
    buf->len += (size_t)(p - start);
    return VAE_OK;
}

/* Length of the valid UTF-8 sequence at s (lead byte s[0] >= 0x80), or 0 when invalid; *bad is
 * then the length of the maximal invalid prefix to replace by one U+FFFD (at least 1). */
static size_t utf8_sequence(const unsigned char *s, size_t *bad) {
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b == 0xe0) lo = 0xa0;      /* overlong */
        else if (b == 0xed) hi = 0x9f; /* surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b == 0xf0) lo = 0x90;      /* overlong */
        else if (b == 0xf4) hi = 0x8f; /* beyond U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned char x = s[i]; /* a NUL terminator fails the test, so no over-read */
        if (x < (i == 1 ? lo : 0x80) || x > (i == 1 ? hi : 0xbf)) {
            *bad = i;
            return 0;
        }
    }
    return need + 1;
}

vae_status vae_json_string(vae_buf *buf, const char *s) {
    if (!s) return vae_json_raw(buf, "null");
    size_t start_len = buf->len;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (vae_buf_reserve(buf, n + 2) != VAE_OK) return VAE_ERR_NOMEM;
    buf->data[buf->len++] = '"';
    const unsigned char *run = p; /* start of bytes still to copy unchanged */
    for (;;) {
        unsigned char b = *p;
        char esc[8];
        size_t esc_len, skip = 1;
        if (b == 0) break;
        if (b >= 0x20 && b != '"' && b != '\\' && b < 0x80) {
            p++;
            continue;
        }
        if (b >= 0x80) {
            size_t bad = 0, ok = utf8_sequence(p, &bad);
            if (ok) {
                p += ok;
                continue;
            }
            memcpy(esc, "\\ufffd", 6);
            esc_len = 6;
            skip = bad;
        } else if (b == '"' || b == '\\') {
            esc[0] = '\\';
            esc[1] = (char)b;
            esc_len = 2;
        } else {
            static const char hex[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[b >> 4];
            esc[5] = hex[b & 15];
            esc_len = 6;
        }
        if (vae_buf_append(buf, run, (size_t)(p - run)) != VAE_OK ||
            vae_buf_append(buf, esc, esc_len) != VAE_OK) {
            buf->len = start_len;
            return VAE_ERR_NOMEM;
        }
        p += skip;
        run = p;
    }
    if (vae_buf_append(buf, run, (size_t)(p - run)) != VAE_OK || vae_buf_append(buf, "\"", 1) != VAE_OK) {
        buf->len = start_len;
        return VAE_ERR_NOMEM;
    }
    return VAE_OK;
}

vae_status vae_json_raw(vae_buf *buf, const char *s) {
    return vae_buf_append(buf, s, strlen(s));
}

vae_status vae_json_int(vae_buf *buf, long long v) {
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    /* negate in unsigned arithmetic so LLONG_MIN works */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return vae_buf_append(buf, p, (size_t)(end - p));
}

/* --- the writer --- */

void vae_jw_start(vae_json_writer *w, vae_buf *buf) {
    w->buf = buf;
    w->status = VAE_OK;
    buf->len = 0;
}

void vae_jw_raw(vae_json_writer *w, const char *s) {
    if (w->status == VAE_OK) w->status = vae_json_raw(w->buf, s);
}

void vae_jw_string(vae_json_writer *w, const char *s) {
    if (w->status == VAE_OK) w->status = vae_json_string(w->buf, s);
}

void vae_jw_int(vae_json_writer *w, long long v) {
    if (w->status == VAE_OK) w->status = vae_json_int(w->buf, v);
}

void vae_jw_float(vae_json_writer *w, float v) {
    if (w->status != VAE_OK) return;
    if (vae_buf_reserve(w->buf, VAE_JSON_FLOAT_MAX) != VAE_OK) {
        w->status = VAE_ERR_NOMEM;
        return;
    }
    w->buf->len += vae_json_format_float((char *)w->buf->data + w->buf->len, v);
}

void vae_jw_floats(vae_json_writer *w, const float *v, size_t n) {
    if (w->status == VAE_OK) w->status = vae_json_float_array(w->buf, v, n);
}

void vae_jw_float_rows(vae_json_writer *w, const float *v, size_t rows, size_t cols) {
    if (w->status == VAE_OK) w->status = vae_json_float_rows(w->buf, v, rows, cols);
}

void vae_jw_printf(vae_json_writer *w, const char *fmt, ...) {
    if (w->status != VAE_OK) return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof text) {
        w->status = VAE_ERR_ARG; /* a caller bug: the fragments are short and fixed */
        return;
    }
    w->status = vae_buf_append(w->buf, text, (size_t)n);
}
