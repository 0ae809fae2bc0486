/* A PNG writer for the server's hot path: small 8-bit images whose background is one value. The
 * deflate stream uses the fixed Huffman codes and only run-length matches (distance 1), so encoding
 * is a single pass of table lookups and bit packing, with nothing to set up per image: about a
 * tenth of zlib's level-1 cost for a 28x28 digit, at a similar size. */
#include <string.h>
#include <zlib.h>

#include "vae/png.h"

/* Fixed Huffman codes (RFC 1951, 3.2.6), bit-reversed for the LSB-first stream: code and length for
 * literal/length symbols 0..287, as constant tables computed by the compiler (nothing is built at
 * run time, so concurrent encoders share them safely). */
#define FIXED_LEN(s) ((s) < 144 ? 8 : (s) < 256 ? 9 : (s) < 280 ? 7 : 8)
#define FIXED_RAW(s) \
    ((s) < 144 ? 0x30 + (s) : (s) < 256 ? 0x190 + (s) - 144 : (s) < 280 ? (s) - 256 : 0xC0 + (s) - 280)
/* Reverses the low 9 bits of c; a code of n < 9 bits is then the top n of those 9. */
#define REV9(c)                                                                                     \
    ((((c) >> 8) & 1) | (((c) >> 7) & 1) << 1 | (((c) >> 6) & 1) << 2 | (((c) >> 5) & 1) << 3 |     \
     (((c) >> 4) & 1) << 4 | (((c) >> 3) & 1) << 5 | (((c) >> 2) & 1) << 6 | (((c) >> 1) & 1) << 7 | \
     ((c) & 1) << 8)
#define FIXED_CODE(s) (REV9(FIXED_RAW(s)) >> (9 - FIXED_LEN(s)))
#define X2(F, s) F(s), F((s) + 1)
#define X8(F, s) X2(F, s), X2(F, (s) + 2), X2(F, (s) + 4), X2(F, (s) + 6)
#define X32(F, s) X8(F, s), X8(F, (s) + 8), X8(F, (s) + 16), X8(F, (s) + 24)
#define X288(F) X32(F, 0), X32(F, 32), X32(F, 64), X32(F, 96), X32(F, 128), X32(F, 160), \
    X32(F, 192), X32(F, 224), X32(F, 256)

static const uint16_t fixed_code[288] = {X288(FIXED_CODE)};
static const uint8_t fixed_len[288] = {X288(FIXED_LEN)};

/* Length symbols 257..285: base length and extra bits. */
static const uint16_t LEN_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};

typedef struct {
    uint8_t *out;
    uint64_t acc; /* pending bits, LSB first */
    int bits;
} bit_writer;

static inline void put_bits(bit_writer *w, uint64_t value, int n) {
    w->acc |= value << w->bits;
    w->bits += n;
    if (w->bits >= 32) {
        uint32_t word = (uint32_t)w->acc;
        memcpy(w->out, &word, 4); /* little-endian hosts; see the check in vae_png_encode_rle */
        w->out += 4;
        w->acc >>= 32;
        w->bits -= 32;
    }
}

static inline void put_literal(bit_writer *w, uint8_t byte) {
    put_bits(w, fixed_code[byte], fixed_len[byte]);
}

/* A match of length 3..258 at distance 1: length symbol, its extra bits, distance code 0. */
static inline void put_run(bit_writer *w, int len) {
    int i = (int)(sizeof LEN_BASE / sizeof LEN_BASE[0]) - 1;
    while (LEN_BASE[i] > len) i--;
    put_bits(w, fixed_code[257 + i], fixed_len[257 + i]);
    if (LEN_EXTRA[i]) put_bits(w, (uint64_t)(len - LEN_BASE[i]), LEN_EXTRA[i]);
    put_bits(w, 0, 5);
}

/* Two literals in one write (at most 18 bits). */
static inline void put_literals2(bit_writer *w, uint8_t a, uint8_t b) {
    put_bits(w, fixed_code[a] | (uint64_t)fixed_code[b] << fixed_len[a], fixed_len[a] + fixed_len[b]);
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian hosts, as put_bits */
    return v;
}

#define BYTES_7F 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in each byte of x that is zero, 0 in the others (no carry crosses a byte). */
static inline uint64_t zero_bytes(uint64_t x) { return ~(((x & BYTES_7F) + BYTES_7F) | x | BYTES_7F); }

/* The first k >= i where in[k..k+3] are equal (the start of a run that gets a match), or n. Eight
 * bytes at a time: bit 8k+7 of zero_bytes(a ^ b) says in[i+k] == in[i+k+1], and three of those in a
 * row make a run of four, for k = 0..5 of each step. */
static size_t next_run(const uint8_t *in, size_t i, size_t n) {
    for (; i + 9 <= n; i += 6) {
        uint64_t eq = zero_bytes(load64(in + i) ^ load64(in + i + 1));
        uint64_t four = eq & (eq >> 8) & (eq >> 16);
        if (four) return i + (size_t)(__builtin_ctzll(four) >> 3);
    }
    for (; i + 3 < n; i++)
        if (in[i] == in[i + 1] && in[i] == in[i + 2] && in[i] == in[i + 3]) return i;
    return n;
}

/* How many bytes from in[i] equal it, at most `cap`. */
static size_t run_length(const uint8_t *in, size_t i, size_t n, size_t cap) {
    if (n - i < cap) cap = n - i;
    const uint64_t same = in[i] * 0x0101010101010101ULL;
    size_t run = 1;
    while (run + 8 <= cap) {
        uint64_t diff = load64(in + i + run) ^ same;
        if (diff) return run + (size_t)(__builtin_ctzll(diff) >> 3);
        run += 8;
    }
    while (run < cap && in[i + run] == in[i]) run++;
    return run;
}

/* Deflates bytes [0, n) as one fixed-Huffman block; returns the end of the output. Each run of four
 * or more equal bytes (at most 1 + 258 * 64) is a literal and matches at distance 1, every other byte
 * a literal. The bytes are what the byte-at-a-time version of this loop wrote; the run search eight
 * bytes at a time and two literals per write took the 8x8 grid of /sample?n=64 (the whole PNG, zlib's
 * adler32 and crc32 included) from 78 us to 48. */
static uint8_t *deflate_rle(const uint8_t *in, size_t n, uint8_t *out) {
    bit_writer w = {.out = out};
    put_bits(&w, 1 | (1 << 1), 3); /* BFINAL = 1, BTYPE = 01 (fixed codes) */
    size_t i = 0;
    while (i < n) {
        size_t j = next_run(in, i, n);
        for (; i + 2 <= j; i += 2) put_literals2(&w, in[i], in[i + 1]);
        if (i < j) put_literal(&w, in[i++]);
        if (i >= n) break;
        uint8_t b = in[i];
        size_t run = run_length(in, i, n, 1 + 258 * 64);
        put_literal(&w, b);
        size_t left = run - 1;
        while (left >= 3) {
            int len = left > 258 ? 258 : (int)left;
            /* leave a remainder of 0 or >= 3, never 1 or 2 that would need literals */
            if (left - (size_t)len == 1 || left - (size_t)len == 2) len -= 3;
            put_run(&w, len);
            left -= (size_t)len;
        }
        while (left--) put_literal(&w, b);
        i += run;
    }
    put_bits(&w, fixed_code[256], fixed_len[256]); /* end of block */
    while (w.bits > 0) { /* flush whole bytes */
        *w.out++ = (uint8_t)w.acc;
        w.acc >>= 8;
        w.bits -= 8;
    }
    return w.out;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* Writes a chunk's CRC over its type and data, which start at `type`. */
static uint8_t *end_chunk(uint8_t *type, uint8_t *end) {
    uint32_t crc = (uint32_t)crc32(0, type, (uInt)(end - type));
    return put_be32(end, crc);
}

vae_status vae_png_encode_rle(const uint8_t *pixels, int width, int height, int channels,
                              vae_buf *out, vae_error *err) {
    static const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1)
        return vae_error_set(err, VAE_ERR_UNSUPPORTED, "the run-length PNG writer needs a little-endian host");
    if (width < 1 || height < 1 || width > VAE_PNG_MAX_SIDE || height > VAE_PNG_MAX_SIDE ||
        (channels != 1 && channels != 3))
        return vae_error_set(err, VAE_ERR_ARG, "cannot encode %dx%d with %d channels", width, height,
                             channels);
    const size_t stride = (size_t)width * (size_t)channels + 1;
    const size_t raw = stride * (size_t)height;
    /* worst case: 9 bits per byte, plus block header, end code, zlib and PNG framing */
    const size_t bound = raw + raw / 8 + 128;
    if (vae_buf_reserve(out, bound + raw) != VAE_OK)
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory encoding a %dx%d PNG", width, height);
    uint8_t *start = out->data + out->len, *p = start;
    /* the filtered scanlines (filter 0) go past the PNG's own bytes, in the space reserved above */
    uint8_t *scan = start + bound;
    for (int y = 0; y < height; y++) {
        scan[(size_t)y * stride] = 0;
        memcpy(scan + (size_t)y * stride + 1, pixels + (size_t)y * (stride - 1), stride - 1);
    }
    memcpy(p, VAE_PNG_SIGNATURE, VAE_PNG_SIGNATURE_LEN);
    p = put_be32(p + VAE_PNG_SIGNATURE_LEN, 13);
    uint8_t *type = p;
    memcpy(p, "IHDR", 4);
    p = put_be32(p + 4, (uint32_t)width);
    p = put_be32(p, (uint32_t)height);
    *p++ = 8;                         /* bit depth */
    *p++ = channels == 1 ? 0 : 2;     /* grey or RGB */
    *p++ = 0, *p++ = 0, *p++ = 0;     /* deflate, adaptive filters (all 0 here), no interlace */
    p = end_chunk(type, p);
    uint8_t *length = p;
    type = p + 4;
    memcpy(type, "IDAT", 4);
    p = type + 4;
    *p++ = 0x78, *p++ = 0x01;         /* zlib header: deflate, 32 KiB window, fastest */
    p = deflate_rle(scan, raw, p);
    p = put_be32(p, (uint32_t)adler32(1, scan, (uInt)raw));
    put_be32(length, (uint32_t)(p - type - 4));
    p = end_chunk(type, p);
    p = put_be32(p, 0);
    type = p;
    memcpy(p, "IEND", 4);
    p = end_chunk(type, p + 4);
    out->len += (size_t)(p - start);
    return VAE_OK;
}
