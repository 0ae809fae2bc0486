/* Tests for the image codec: PNGs of every colour type made here with libpng, errors, resize, grid. */
#include "vae/image.h"
#include "vae/png.h"

#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"

#define SIDE 28
#define NPIX (SIDE * SIDE)
#define MAXPX VAE_PNG_DEFAULT_MAX_PIXELS

/* ---------------------------------------------------------------------------------------------- */
/* Helpers: a deterministic generator, PNG writing and chunk surgery. */

static uint32_t lcg_state = 12345u;
static uint32_t lcg_below(uint32_t bound) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (uint32_t)(((uint64_t)(lcg_state >> 8) * bound) >> 24);
}

/* What to write: samples are h*w*channels values in 0..2^depth-1 (palette indices for palette). */
typedef struct {
    int w, h, color_type, depth, interlace;
    const uint16_t *samples;
    const png_color *palette;
    int npalette;
    const uint8_t *trns_alpha; /* palette alpha, ntrns entries */
    int ntrns;
    const png_color_16 *trns_color; /* grey or RGB colour that is transparent */
} spec;

static int channels_of(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1; /* grey, palette */
    }
}

static void append_to_buf(png_structp png, png_bytep data, size_t n) {
    if (vae_buf_append(png_get_io_ptr(png), data, n) != VAE_OK) png_error(png, "out of memory");
}
static void flush_nothing(png_structp png) { (void)png; }

/* Writes s as a PNG with libpng directly (independent of the codec under test). Aborts on a libpng
 * error: that is a bug in the test, not in the code tested. */
/* zlib level make_png compresses with (0 writes stored blocks: every data byte is a pixel byte). */
static int make_png_level = Z_DEFAULT_COMPRESSION;

static vae_buf make_png(const spec *s) {
    vae_buf out = {0};
    int ch = channels_of(s->color_type);
    size_t rowbytes = ((size_t)s->w * ch * s->depth + 7) / 8;
    uint8_t *rows = calloc((size_t)s->h, rowbytes);
    png_bytep *ptrs = malloc(sizeof *ptrs * (size_t)s->h);
    if (!rows || !ptrs) abort();
    for (int y = 0; y < s->h; y++) {
        uint8_t *row = rows + (size_t)y * rowbytes;
        ptrs[y] = row;
        for (int k = 0; k < s->w * ch; k++) {
            unsigned v = s->samples[(size_t)y * s->w * ch + k];
            if (s->depth == 16) {
                row[2 * k] = (uint8_t)(v >> 8);
                row[2 * k + 1] = (uint8_t)v;
            } else if (s->depth == 8) {
                row[k] = (uint8_t)v;
            } else { /* packed, leftmost pixel in the high bits */
                size_t bit = (size_t)k * s->depth;
                row[bit / 8] |= (uint8_t)(v << (8 - s->depth - (int)(bit % 8)));
            }
        }
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) abort();
    if (setjmp(png_jmpbuf(png))) abort();
    png_set_write_fn(png, &out, append_to_buf, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color_type, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trns_alpha || s->trns_color)
        png_set_tRNS(png, info, s->trns_alpha, s->ntrns, (png_color_16p)s->trns_color);
    png_set_compression_level(png, make_png_level);
    png_write_info(png, info);
    png_write_image(png, ptrs); /* does the Adam7 passes when interlaced */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(ptrs);
    free(rows);
    return out;
}

/* The ink the decoder should see at each pixel, computed straight from the spec. img is (h, w). */
static void reference_ink(const spec *s, int invert, float *img) {
    int ch = channels_of(s->color_type);
    double maxv = (double)((1 << s->depth) - 1);
    for (int p = 0; p < s->w * s->h; p++) {
        const uint16_t *v = s->samples + (size_t)p * ch;
        double luma, alpha = 1.0;
        if (s->color_type == PNG_COLOR_TYPE_PALETTE) {
            png_color c = s->palette[v[0]];
            luma = (0.2126 * c.red + 0.7152 * c.green + 0.0722 * c.blue) / 255.0;
            if (v[0] < s->ntrns) alpha = s->trns_alpha[v[0]] / 255.0;
        } else if (ch <= 2) {
            luma = v[0] / maxv;
            if (ch == 2) alpha = v[1] / maxv;
            if (s->trns_color && v[0] == s->trns_color->gray) alpha = 0.0;
        } else {
            luma = (0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]) / maxv;
            if (ch == 4) alpha = v[3] / maxv;
            if (s->trns_color && v[0] == s->trns_color->red && v[1] == s->trns_color->green &&
                v[2] == s->trns_color->blue)
                alpha = 0.0;
        }
        img[p] = (float)(alpha * (invert ? 1.0 - luma : luma));
    }
}

/* The problem kind of the last decode_exact. */
static vae_png_problem last_problem;

/* Decodes from an exact-size heap copy, so ASan and valgrind see any read past len; the problem
 * kind goes to last_problem. */
static vae_status decode_exact(const uint8_t *bytes, size_t len, long max_pixels, int invert,
                               float *out, vae_error *err) {
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy) abort();
    if (len) memcpy(copy, bytes, len);
    last_problem = (vae_png_problem)-1;
    vae_status st = vae_png_decode_input(copy, len, max_pixels, invert, out, &last_problem, err);
    free(copy);
    return st;
}

static double max_abs_diff(const float *a, const float *b, int n) {
    double m = 0.0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN counts as a difference */
    }
    return m;
}

static double mean_of(const float *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

/* Encodes s, decodes it, compares with the reference ink resized by vae_image_resize_area. */
static void check_decodes_like_reference(const char *name, const spec *s, int invert) {
    vae_buf png = make_png(s);
    float out[NPIX], want[NPIX];
    float *img = malloc(sizeof *img * (size_t)s->w * s->h);
    reference_ink(s, invert, img);
    vae_image_resize_area(img, s->w, s->h, want, SIDE, SIDE);
    vae_error err = {0};
    vae_status st = decode_exact(png.data, png.len, MAXPX, invert, out, &err);
    CHECK(st == VAE_OK, "%s: decode failed: %s", name, err.message);
    if (st == VAE_OK) {
        CHECK_CLOSE(max_abs_diff(out, want, NPIX), 0.0, 2e-6, name);
        double m = 0.0;
        for (int i = 0; i < s->w * s->h; i++) m += img[i];
        CHECK_CLOSE(mean_of(out, NPIX), m / (s->w * s->h), 1e-6, name);
    }
    free(img);
    vae_buf_free(&png);
}

static uint16_t *random_samples(int w, int h, int ch, int depth, int npalette) {
    uint16_t *v = malloc(sizeof *v * (size_t)w * h * ch);
    uint32_t bound = npalette ? (uint32_t)npalette : (1u << depth);
    for (size_t i = 0; i < (size_t)w * h * ch; i++) v[i] = (uint16_t)lcg_below(bound);
    return v;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Appends one chunk with a correct CRC. */
static void append_chunk(vae_buf *b, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t head[8];
    put_be32(head, n);
    memcpy(head + 4, type, 4);
    uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)type, 4);
    if (n) crc = (uint32_t)crc32(crc, data, n);
    uint8_t tail[4];
    put_be32(tail, crc);
    vae_buf_append(b, head, 8);
    vae_buf_append(b, data, n);
    vae_buf_append(b, tail, 4);
}

/* A signature and an IHDR (correct CRC) claiming w x h grey 8-bit, then `extra` bytes of garbage. */
static vae_buf header_only(uint32_t w, uint32_t h, size_t extra) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    vae_buf b = {0};
    vae_buf_append(&b, sig, 8);
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; /* depth; colour type 0 grey, no interlace */
    append_chunk(&b, "IHDR", ihdr, 13);
    for (size_t i = 0; i < extra; i++) {
        uint8_t g = (uint8_t)lcg_below(256);
        vae_buf_append(&b, &g, 1);
    }
    return b;
}

/* Offset of the first chunk of the given type (its length field), or -1. */
static long find_chunk(const vae_buf *b, const char *type) {
    size_t pos = 8;
    while (pos + 12 <= b->len) {
        uint32_t n = get_be32(b->data + pos);
        if (memcmp(b->data + pos + 4, type, 4) == 0) return (long)pos;
        if (n > b->len - pos - 12) break;
        pos += 12 + (size_t)n;
    }
    return -1;
}

/* Recomputes every complete chunk's CRC (so a mutation reaches the parsers behind the CRC check). */
static void fix_crcs(uint8_t *d, size_t len) {
    size_t pos = 8;
    while (pos + 12 <= len) {
        uint32_t n = get_be32(d + pos);
        if (n > len - pos - 12) break;
        put_be32(d + pos + 8 + n, (uint32_t)crc32(0L, d + pos + 4, 4 + n));
        pos += 12 + (size_t)n;
    }
}

/* Rebuilds a PNG with its image data split into IDAT chunks of at most `piece` bytes and, when
 * extra_type is set, one more chunk (with data "hello") inserted before the first IDAT. */
static vae_buf rechunk(const vae_buf *b, uint32_t piece, const char *extra_type) {
    vae_buf idat = {0}, out = {0};
    vae_buf_append(&out, b->data, 8);
    size_t pos = 8;
    int done_extra = 0;
    while (pos + 12 <= b->len) {
        uint32_t n = get_be32(b->data + pos);
        const uint8_t *type = b->data + pos + 4, *data = b->data + pos + 8;
        if (memcmp(type, "IDAT", 4) == 0) {
            if (extra_type && !done_extra) append_chunk(&out, extra_type, (const uint8_t *)"hello", 5);
            done_extra = 1;
            vae_buf_append(&idat, data, n);
        } else {
            if (memcmp(type, "IEND", 4) == 0)
                for (size_t off = 0; off < idat.len; off += piece) {
                    uint32_t k = idat.len - off < piece ? (uint32_t)(idat.len - off) : piece;
                    append_chunk(&out, "IDAT", idat.data + off, k);
                }
            vae_buf_append(&out, b->data + pos, 12 + (size_t)n);
        }
        pos += 12 + (size_t)n;
    }
    vae_buf_free(&idat);
    return out;
}

static int untouched(const float *out, float sentinel) {
    for (int i = 0; i < NPIX; i++)
        if (memcmp(&out[i], &sentinel, sizeof sentinel) != 0) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* vae_buf, quantisation */

static void test_buf(void) {
    vae_buf b = {0};
    CHECK(vae_buf_append(&b, NULL, 0) == VAE_OK && b.len == 0, "empty append");
    size_t last_cap = 0, reallocs = 0;
    for (int i = 0; i < 10000; i++) {
        uint8_t v = (uint8_t)i;
        CHECK(vae_buf_append(&b, &v, 1) == VAE_OK, "append %d", i);
        if (b.cap != last_cap) reallocs++, last_cap = b.cap;
    }
    CHECK(b.len == 10000 && b.cap >= 10000, "len %zu cap %zu", b.len, b.cap);
    CHECK(reallocs < 20, "growth is geometric: %zu reallocations", reallocs);
    int same = 1;
    for (int i = 0; i < 10000; i++) same &= b.data[i] == (uint8_t)i;
    CHECK(same, "contents kept across growth");
    uint8_t *data = b.data;
    size_t cap = b.cap;
    CHECK(vae_buf_reserve(&b, SIZE_MAX) == VAE_ERR_NOMEM, "size overflow refused");
    CHECK(vae_buf_reserve(&b, SIZE_MAX - b.len + 1) == VAE_ERR_NOMEM, "len + extra wraps");
    CHECK(b.data == data && b.cap == cap && b.len == 10000, "buffer unchanged after a failed reserve");
    CHECK(vae_buf_reserve(&b, b.cap - b.len) == VAE_OK && b.data == data, "reserve within cap");
    vae_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0, "free empties");
    vae_buf_free(&b); /* twice is fine */
}

static void test_pixel_to_u8(void) {
    CHECK(vae_pixel_to_u8(0.0f) == 0, "0");
    CHECK(vae_pixel_to_u8(1.0f) == 255, "1");
    CHECK(vae_pixel_to_u8(0.5f) == 128, "0.5 -> %d", vae_pixel_to_u8(0.5f));
    CHECK(vae_pixel_to_u8(-0.3f) == 0, "negative clamps");
    CHECK(vae_pixel_to_u8(7.0f) == 255, "above 1 clamps");
    CHECK(vae_pixel_to_u8(NAN) == 0, "NaN gives 0");
    CHECK(vae_pixel_to_u8(-NAN) == 0, "-NaN gives 0");
    CHECK(vae_pixel_to_u8(INFINITY) == 255, "+inf");
    CHECK(vae_pixel_to_u8(-INFINITY) == 0, "-inf");
    CHECK(vae_pixel_to_u8(1.4f / 255.0f) == 1 && vae_pixel_to_u8(1.6f / 255.0f) == 2, "rounds");
    int exact = 1;
    for (int k = 0; k < 256; k++) exact &= vae_pixel_to_u8((float)k / 255.0f) == k;
    CHECK(exact, "k/255 maps back to k");
}

/* ---------------------------------------------------------------------------------------------- */
/* Resize and grid */

static void test_resize(void) {
    float src[45 * 33], dst[28 * 28], big[NPIX];
    for (int i = 0; i < 45 * 33; i++) src[i] = (float)lcg_below(1000) / 999.0f;

    for (int i = 0; i < NPIX; i++) big[i] = (float)lcg_below(1000) / 999.0f;
    vae_image_resize_area(big, 28, 28, dst, 28, 28);
    CHECK(memcmp(big, dst, sizeof dst) == 0, "28x28 to 28x28 is an exact copy");

    float c[37 * 19];
    for (int i = 0; i < 37 * 19; i++) c[i] = 0.3f;
    vae_image_resize_area(c, 37, 19, dst, 28, 28);
    double dev = 0.0;
    for (int i = 0; i < NPIX; i++) dev = fmax(dev, fabs(dst[i] - 0.3f));
    CHECK_CLOSE(dev, 0.0, 1e-6, "constant stays constant (37x19 -> 28x28)");
    vae_image_resize_area(c, 5, 3, dst, 28, 28);
    dev = 0.0;
    for (int i = 0; i < NPIX; i++) dev = fmax(dev, fabs(dst[i] - 0.3f));
    CHECK_CLOSE(dev, 0.0, 1e-6, "constant stays constant (5x3 -> 28x28)");

    float small[15 * 11];
    vae_image_resize_area(src, 45, 33, small, 15, 11);
    CHECK_CLOSE(mean_of(small, 15 * 11), mean_of(src, 45 * 33), 1e-6, "mean kept, 45x33 -> 15x11");
    double block = 0.0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) block += src[y * 45 + x];
    CHECK_CLOSE(small[0], block / 9.0, 1e-6, "integer factor is the block mean");
    vae_image_resize_area(src, 45, 33, dst, 28, 28);
    CHECK_CLOSE(mean_of(dst, NPIX), mean_of(src, 45 * 33), 1e-6, "mean kept, 45x33 -> 28x28");
    vae_image_resize_area(src, 7, 5, dst, 28, 28);
    CHECK_CLOSE(mean_of(dst, NPIX), mean_of(src, 35), 1e-6, "mean kept, 7x5 -> 28x28 (up)");
    CHECK_CLOSE(dst[0], src[0], 1e-7, "upscale: top-left");
    CHECK_CLOSE(dst[27], src[6], 1e-7, "upscale: top-right");
    CHECK_CLOSE(dst[27 * 28], src[28], 1e-7, "upscale: bottom-left");

    const float a = 0.2f, b = 0.6f, cc = 1.0f;
    float row3[3] = {a, b, cc}, row2[2];
    vae_image_resize_area(row3, 3, 1, row2, 2, 1);
    CHECK_CLOSE(row2[0], (a + b / 2) / 1.5, 1e-6, "3 -> 2 fractional overlap, left");
    CHECK_CLOSE(row2[1], (b / 2 + cc) / 1.5, 1e-6, "3 -> 2 fractional overlap, right");
    float two[2] = {a, b}, out3[3];
    vae_image_resize_area(two, 1, 2, out3, 1, 3);
    CHECK_CLOSE(out3[0], a, 1e-6, "2 -> 3 top");
    CHECK_CLOSE(out3[1], (a + b) / 2, 1e-6, "2 -> 3 middle");
    CHECK_CLOSE(out3[2], b, 1e-6, "2 -> 3 bottom");
    float sq[4] = {0.1f, 0.2f, 0.3f, 0.4f}, one;
    vae_image_resize_area(sq, 2, 2, &one, 1, 1);
    CHECK_CLOSE(one, 0.25, 1e-6, "2x2 -> 1x1 mean");
}

static void test_grid(void) {
    enum { N = 5, S = 2, COLS = 3, ROWS = 2 };
    float images[N * S * S];
    for (int k = 0; k < N; k++)
        for (int p = 0; p < S * S; p++) images[k * S * S + p] = (float)(0.1 * (k + 1) + 0.01 * p);
    uint8_t out[ROWS * S * COLS * S];
    memset(out, 0xaa, sizeof out);
    vae_image_grid(images, N, S, COLS, out);
    int ok = 1;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    int k = r * COLS + c;
                    uint8_t got = out[(r * S + y) * COLS * S + c * S + x];
                    uint8_t want = k < N ? vae_pixel_to_u8(images[k * S * S + y * S + x]) : 0;
                    if (got != want) {
                        ok = 0;
                        fprintf(stderr, "grid cell %d (%d,%d): got %d want %d\n", k, x, y, got, want);
                    }
                }
    CHECK(ok, "grid: image k at row k/cols, column k%%cols; cells past n black");
    uint8_t one[S * S * 4];
    memset(one, 0xaa, sizeof one);
    vae_image_grid(images, 1, S, 4, one); /* one row, three black cells */
    CHECK(one[0] == vae_pixel_to_u8(images[0]) && one[2] == 0 && one[S * S * 4 - 1] == 0,
          "single image with 4 columns");
}

/* The grid's vectorised rows give vae_pixel_to_u8's bytes for every kind of value: each k/255 and
 * its neighbouring floats, the rounding midpoints (k + 0.5)/255 and theirs, 0, -0, 1, beyond both
 * ends, infinities and NaNs; sides of 28 (16 + 4 * 3) and 21 (16 + 4 + 1). */
static void test_grid_values(void) {
    enum { MAXV = 4096 };
    static float v[MAXV];
    int n = 0;
    const float specials[] = {0.0f, -0.0f, 1.0f, -1e-30f, 1e-30f, 1.5f, -7.0f, INFINITY, -INFINITY, NAN, -NAN,
                              0x1p-149f, 1.0f - 0x1p-24f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) v[n++] = specials[i];
    for (int k = 0; k < 256; k++) {
        const float at[2] = {(float)k / 255.0f, ((float)k + 0.5f) / 255.0f};
        for (int a = 0; a < 2; a++) {
            v[n++] = at[a];
            v[n++] = nextafterf(at[a], 2.0f);
            v[n++] = nextafterf(at[a], -1.0f);
        }
    }
    const int sides[] = {28, 21};
    for (int t = 0; t < 2; t++) {
        const int side = sides[t], cells = 3, px = side * side;
        float *images = malloc(sizeof(float) * (size_t)(cells * px));
        uint8_t *out = malloc((size_t)(cells * px));
        for (int i = 0; i < cells * px; i++) images[i] = v[(i * 7) % n];
        vae_image_grid(images, cells, side, cells, out);
        int ok = 1;
        for (int c = 0; c < cells; c++)
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) {
                    float f = images[c * px + y * side + x];
                    uint8_t got = out[(size_t)y * side * cells + (size_t)c * side + x];
                    if (got != vae_pixel_to_u8(f)) {
                        if (ok) fprintf(stderr, "grid side %d: %a gave %d, want %d\n", side, (double)f, got, vae_pixel_to_u8(f));
                        ok = 0;
                    }
                }
        CHECK(ok, "grid side %d: every pixel as vae_pixel_to_u8 gives it", side);
        free(images);
        free(out);
    }
    CHECK(n <= 3 * 28 * 28 && n < MAXV, "the side-28 grid holds every value (%d)", n);
    static uint8_t row[MAXV];
    vae_pixels_to_u8(row, v, (size_t)n); /* one row of all of them: the 16, 4 and 1 steps */
    int same = 1;
    for (int i = 0; i < n; i++) same &= row[i] == vae_pixel_to_u8(v[i]);
    CHECK(same && n % 16 % 4 != 0, "vae_pixels_to_u8 over %d values", n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Encoding */

/* Reads a PNG back with libpng's simplified API (independent of the decoder under test). */
static int read_back(const vae_buf *png, int channels, uint8_t *pixels, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, png->data, png->len)) return 0;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    *w = (int)img.width, *h = (int)img.height;
    int ok = png_image_finish_read(&img, NULL, pixels, 0, NULL);
    png_image_free(&img);
    return ok;
}

static void test_encode_roundtrip(void) {
    uint8_t px[NPIX];
    for (int i = 0; i < NPIX; i++) px[i] = (uint8_t)(i % 7 ? lcg_below(256) : 0);
    for (int level = -1; level <= 9; level++) {
        vae_buf png = {0};
        vae_error err = {0};
        CHECK(vae_png_encode(px, 28, 28, 1, level, &png, &err) == VAE_OK, "encode level %d: %s", level,
              err.message);
        float out[NPIX];
        CHECK(decode_exact(png.data, png.len, MAXPX, 0, out, &err) == VAE_OK,
              "decode level %d: %s", level, err.message);
        int exact = 1;
        double dev = 0.0;
        for (int i = 0; i < NPIX; i++) {
            exact &= vae_pixel_to_u8(out[i]) == px[i];
            dev = fmax(dev, fabs(out[i] - px[i] / 255.0));
        }
        CHECK(exact, "level %d: 28x28 grey round trip exact after quantisation", level);
        CHECK_CLOSE(dev, 0.0, 1e-6, "round trip values are px/255");
        uint8_t back[NPIX];
        int w = 0, h = 0;
        CHECK(read_back(&png, 1, back, &w, &h) && w == 28 && h == 28 && memcmp(back, px, NPIX) == 0,
              "level %d: libpng reads back the same pixels", level);
        const uint8_t *ihdr = png.data + 16;
        CHECK(png.len > 33 && ihdr[8] == 8 && ihdr[9] == 0 && ihdr[12] == 0, "8-bit grey, not interlaced");
        vae_buf_free(&png);
    }

    /* RGB, odd sizes, and a 1x1 */
    int sizes[][2] = {{5, 3}, {112, 112}, {1, 1}, {300, 7}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int w = sizes[t][0], h = sizes[t][1];
        for (int ch = 1; ch <= 3; ch += 2) {
            size_t n = (size_t)w * h * ch;
            uint8_t *src = malloc(n), *back = malloc(n);
            for (size_t i = 0; i < n; i++) src[i] = (uint8_t)lcg_below(256);
            vae_buf png = {0};
            vae_error err = {0};
            CHECK(vae_png_encode(src, w, h, ch, -1, &png, &err) == VAE_OK, "encode %dx%dx%d", w, h, ch);
            int bw = 0, bh = 0;
            CHECK(read_back(&png, ch, back, &bw, &bh) && bw == w && bh == h && memcmp(back, src, n) == 0,
                  "%dx%d with %d channels reads back exactly", w, h, ch);
            if (ch == 3 && w <= 112) { /* and decodes to the expected luminance */
                float out[NPIX], want[NPIX], *img = malloc(sizeof *img * (size_t)w * h);
                for (int p = 0; p < w * h; p++) {
                    const uint8_t *c = src + 3 * p;
                    img[p] = (float)((0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255.0);
                }
                vae_image_resize_area(img, w, h, want, SIDE, SIDE);
                CHECK(decode_exact(png.data, png.len, MAXPX, 0, out, &err) == VAE_OK,
                      "decode rgb: %s", err.message);
                CHECK_CLOSE(max_abs_diff(out, want, NPIX), 0.0, 2e-6, "RGB encode -> decode luminance");
                free(img);
            }
            vae_buf_free(&png);
            free(src);
            free(back);
        }
    }
}

/* The run-length writer on runs: every length from 1 to 300 (across row ends too), and all-zero images
 * whose one run (filter bytes are 0 too) is longer than a run's 1 + 258 * 64 bytes; each reads back
 * exactly through libpng, and runs cost matches, not literals. */
static void test_encode_runs(void) {
    enum { W = 301, H = 160, STRETCH_BYTES = 36376 };
    static uint8_t px[W * H], back[W * H];
    size_t at = 0;
    for (int len = 1; at < sizeof px; len = len % 300 + 1)
        for (int k = 0; k < len && at < sizeof px; k++) px[at++] = (uint8_t)(len * 37 + 11);
    vae_buf png = {0};
    vae_error err = {0};
    int w = 0, h = 0;
    CHECK(vae_png_encode(px, W, H, 1, -1, &png, &err) == VAE_OK, "encode runs: %s", err.message);
    CHECK(read_back(&png, 1, back, &w, &h) && w == W && h == H && memcmp(back, px, sizeof px) == 0,
          "runs of 1..300 read back exactly");
    /* the sizes the byte-at-a-time writer gave (its output and the word-at-a-time one's were the same
     * bytes on these images): a run found late, cut short or missed costs literals and shows here */
    CHECK(png.len == 1826, "runs of 1..300: %zu bytes, want 1826", png.len);
    /* stretches of 0..20 literals between runs of 4..11, so that runs start at every offset of the
     * eight-byte search */
    at = 0;
    for (int seg = 0; at < sizeof px; seg++) {
        for (int k = 0; k < seg % 21 && at < sizeof px; k++) px[at++] = (uint8_t)(seg * 31 + k * 17 + 1);
        for (int k = 0; k < 4 + seg % 8 && at < sizeof px; k++) px[at++] = (uint8_t)(seg * 101 + 200);
    }
    png.len = 0;
    CHECK(vae_png_encode(px, W, H, 1, -1, &png, &err) == VAE_OK, "encode stretches: %s", err.message);
    CHECK(read_back(&png, 1, back, &w, &h) && w == W && h == H && memcmp(back, px, sizeof px) == 0,
          "literal stretches and runs read back exactly");
    CHECK(png.len == STRETCH_BYTES, "literal stretches and runs: %zu bytes, want %d", png.len, STRETCH_BYTES);
    const int sides[][2] = {{200, 200}, {129, 1}, {1, 4}, {4, 1}, {3, 1}};
    for (size_t t = 0; t < sizeof sides / sizeof sides[0]; t++) {
        int sw = sides[t][0], sh = sides[t][1];
        memset(px, 0, (size_t)(sw * sh));
        png.len = 0;
        CHECK(vae_png_encode(px, sw, sh, 1, -1, &png, &err) == VAE_OK, "encode zeros: %s", err.message);
        memset(back, 1, (size_t)(sw * sh));
        CHECK(read_back(&png, 1, back, &w, &h) && w == sw && h == sh && memcmp(back, px, (size_t)(sw * sh)) == 0,
              "a %dx%d black image reads back exactly", sw, sh);
        if (sw == 200) CHECK(png.len == 322, "a 200x200 black image is %zu bytes, want 322", png.len);
    }
    CHECK(png.len < 80, "a 3x1 black image is %zu bytes", png.len);
    vae_buf_free(&png);
}

static void test_encode_appends_and_errors(void) {
    uint8_t px[NPIX] = {0};
    vae_buf out = {0};
    vae_buf_append(&out, "abc", 3);
    vae_error err = {0};
    CHECK(vae_png_encode(px, 28, 28, 1, -1, &out, &err) == VAE_OK, "encode after existing bytes");
    CHECK(out.len > 11 && memcmp(out.data, "abc\x89PNG\r\n\x1a\n", 11) == 0, "PNG appended after 'abc'");
    size_t len = out.len;

    struct { int w, h, ch, level; const char *what; } bad[] = {
        {0, 28, 1, -1, "size"},      {28, 0, 1, -1, "size"},   {-5, 28, 1, -1, "size"},
        {16385, 1, 1, -1, "size"},   {1, 16385, 1, -1, "size"}, {28, 28, 2, -1, "channels"},
        {28, 28, 4, -1, "channels"}, {28, 28, 0, -1, "channels"}, {28, 28, 1, 10, "level"},
        {28, 28, 1, -2, "level"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (vae_error){0};
        vae_status st = vae_png_encode(px, bad[i].w, bad[i].h, bad[i].ch, bad[i].level, &out, &err);
        CHECK(st == VAE_ERR_ARG && err.status == VAE_ERR_ARG, "bad %s (%d,%d,%d,%d) -> %s", bad[i].what,
              bad[i].w, bad[i].h, bad[i].ch, bad[i].level, vae_status_name(st));
        CHECK(strstr(err.message, bad[i].what) != NULL, "message names the %s: %s", bad[i].what, err.message);
        CHECK(out.len == len, "out unchanged on error");
    }
    CHECK(vae_png_encode(NULL, 28, 28, 1, -1, &out, &err) == VAE_ERR_ARG, "NULL pixels");
    CHECK(vae_png_encode(px, 28, 28, 1, -1, NULL, NULL) == VAE_ERR_ARG, "NULL out, NULL err");
    CHECK(vae_png_encode(px, 28, 28, 1, -1, &out, NULL) == VAE_OK, "err may be NULL");
    CHECK(out.len > len, "second PNG appended");
    vae_buf_free(&out);
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding every colour type, depth and interlace */

static void test_decode_formats(void) {
    static const int grey_depths[] = {1, 2, 4, 8, 16};
    char name[96];
    for (size_t d = 0; d < 5; d++)
        for (int il = 0; il <= 1; il++) {
            int depth = grey_depths[d];
            uint16_t *v = random_samples(13, 29, 1, depth, 0); /* width 13: partial bytes per row */
            spec s = {13, 29, PNG_COLOR_TYPE_GRAY, depth, il, v, NULL, 0, NULL, 0, NULL};
            snprintf(name, sizeof name, "grey %d-bit%s", depth, il ? " interlaced" : "");
            check_decodes_like_reference(name, &s, 0);
            check_decodes_like_reference(name, &s, 1);
            free(v);
        }
    for (int depth = 8; depth <= 16; depth += 8)
        for (int il = 0; il <= 1; il++) {
            struct { int type; const char *name; } types[] = {
                {PNG_COLOR_TYPE_GRAY_ALPHA, "grey+alpha"},
                {PNG_COLOR_TYPE_RGB, "RGB"},
                {PNG_COLOR_TYPE_RGB_ALPHA, "RGBA"},
            };
            for (int t = 0; t < 3; t++) {
                uint16_t *v = random_samples(31, 17, channels_of(types[t].type), depth, 0);
                spec s = {31, 17, types[t].type, depth, il, v, NULL, 0, NULL, 0, NULL};
                snprintf(name, sizeof name, "%s %d-bit%s", types[t].name, depth, il ? " interlaced" : "");
                check_decodes_like_reference(name, &s, 0);
                check_decodes_like_reference(name, &s, 1);
                free(v);
            }
        }

    /* grey and RGB with a tRNS colour key */
    for (int depth = 2; depth <= 16; depth *= 2) {
        uint16_t *v = random_samples(20, 20, 1, depth, 0);
        png_color_16 key = {.gray = (uint16_t)(depth == 2 ? 1 : 3)};
        for (int i = 0; i < 400; i += 3) v[i] = key.gray; /* plenty of transparent pixels */
        spec s = {20, 20, PNG_COLOR_TYPE_GRAY, depth, 0, v, NULL, 0, NULL, 0, &key};
        snprintf(name, sizeof name, "grey %d-bit with tRNS", depth);
        check_decodes_like_reference(name, &s, 0);
        check_decodes_like_reference(name, &s, 1);
        free(v);
    }
    for (int depth = 8; depth <= 16; depth += 8) {
        uint16_t *v = random_samples(20, 20, 3, depth, 0);
        png_color_16 key = {.red = 7, .green = 9, .blue = 11};
        for (int p = 0; p < 400; p += 2) v[3 * p] = 7, v[3 * p + 1] = 9, v[3 * p + 2] = 11;
        spec s = {20, 20, PNG_COLOR_TYPE_RGB, depth, 0, v, NULL, 0, NULL, 0, &key};
        snprintf(name, sizeof name, "RGB %d-bit with tRNS", depth);
        check_decodes_like_reference(name, &s, 0);
        check_decodes_like_reference(name, &s, 1);
        free(v);
    }

    /* palette at each depth, with and without tRNS (shorter than the palette), interlaced or not */
    png_color pal[256];
    uint8_t alpha[256];
    for (int i = 0; i < 256; i++) {
        pal[i] = (png_color){(png_byte)lcg_below(256), (png_byte)lcg_below(256), (png_byte)lcg_below(256)};
        alpha[i] = (uint8_t)lcg_below(256);
    }
    alpha[0] = 0;
    for (int depth = 1; depth <= 8; depth *= 2)
        for (int trns = 0; trns <= 1; trns++)
            for (int il = 0; il <= 1; il++) {
                int npal = (1 << depth) - (depth > 1); /* a palette shorter than the depth allows */
                uint16_t *v = random_samples(23, 19, 1, depth, npal);
                int ntrns = trns ? (npal + 1) / 2 : 0;
                spec s = {23, 19, PNG_COLOR_TYPE_PALETTE, depth, il, v, pal, npal,
                          trns ? alpha : NULL, ntrns, NULL};
                snprintf(name, sizeof name, "palette %d-bit%s%s", depth, trns ? " with tRNS" : "",
                         il ? " interlaced" : "");
                check_decodes_like_reference(name, &s, 0);
                check_decodes_like_reference(name, &s, 1);
                free(v);
            }

    /* interlaced sizes where some Adam7 passes are empty, plus extreme aspect ratios */
    int sizes[][2] = {{1, 1}, {2, 3}, {3, 2}, {5, 1}, {1, 9}, {8, 8}, {9, 9}, {2000, 1}, {1, 2000}, {100, 3}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++)
        for (int il = 0; il <= 1; il++) {
            int w = sizes[t][0], h = sizes[t][1];
            uint16_t *v = random_samples(w, h, 4, 8, 0);
            spec s = {w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8, il, v, NULL, 0, NULL, 0, NULL};
            snprintf(name, sizeof name, "RGBA %dx%d%s", w, h, il ? " interlaced" : "");
            check_decodes_like_reference(name, &s, 0);
            free(v);
        }
}

/* Interlaced and plain encodings of the same pixels decode alike; so do many small IDATs and
 * ancillary chunks (known, unknown, compressed garbage) that the decoder skips. */
static void test_decode_equivalences(void) {
    uint16_t *v = random_samples(57, 43, 1, 8, 0);
    spec s = {57, 43, PNG_COLOR_TYPE_GRAY, 8, 0, v, NULL, 0, NULL, 0, NULL};
    vae_buf plain = make_png(&s);
    s.interlace = 1;
    vae_buf adam7 = make_png(&s);
    float a[NPIX], b[NPIX];
    vae_error err = {0};
    CHECK(decode_exact(plain.data, plain.len, MAXPX, 0, a, &err) == VAE_OK, "plain");
    CHECK(decode_exact(adam7.data, adam7.len, MAXPX, 0, b, &err) == VAE_OK, "adam7");
    CHECK_CLOSE(max_abs_diff(a, b, NPIX), 0.0, 1e-6, "interlaced decodes like non-interlaced");

    const char *extras[] = {"tEXt", "zTXt", "iCCP", "gAMA", "vaEx"};
    for (int i = 0; i < 5; i++) {
        vae_buf odd = rechunk(&adam7, 7, extras[i]);
        CHECK(find_chunk(&odd, extras[i]) > 0, "chunk %s inserted", extras[i]);
        err = (vae_error){0};
        CHECK(decode_exact(odd.data, odd.len, MAXPX, 0, a, &err) == VAE_OK,
              "7-byte IDATs with a junk %s chunk: %s", extras[i], err.message);
        CHECK_CLOSE(max_abs_diff(a, b, NPIX), 0.0, 1e-6, "same pixels with a junk ancillary chunk");
        vae_buf_free(&odd);
    }
    vae_buf crit = rechunk(&plain, 1 << 20, "VAEX"); /* unknown critical chunk */
    err = (vae_error){0};
    CHECK(decode_exact(crit.data, crit.len, MAXPX, 0, a, &err) == VAE_ERR_FORMAT,
          "unknown critical chunk refused");
    CHECK(strstr(err.message, "VAEX") != NULL, "message names the chunk: %s", err.message);
    vae_buf_free(&crit);

    /* no IEND: the image data is complete, so it decodes */
    long iend = find_chunk(&plain, "IEND");
    CHECK(iend > 0 && decode_exact(plain.data, (size_t)iend, MAXPX, 0, b, &err) == VAE_OK,
          "missing IEND after complete image data is accepted: %s", err.message);

    vae_buf_free(&plain);
    vae_buf_free(&adam7);
    free(v);
}

static void test_decode_geometry(void) {
    /* 280x280 in 10x10 blocks of one value: each output pixel is exactly its block */
    enum { BIG = 280 };
    uint16_t *v = malloc(sizeof *v * BIG * BIG);
    uint8_t block[NPIX];
    for (int i = 0; i < NPIX; i++) block[i] = (uint8_t)lcg_below(256);
    for (int y = 0; y < BIG; y++)
        for (int x = 0; x < BIG; x++) v[y * BIG + x] = block[(y / 10) * SIDE + x / 10];
    spec s = {BIG, BIG, PNG_COLOR_TYPE_GRAY, 8, 0, v, NULL, 0, NULL, 0, NULL};
    vae_buf png = make_png(&s);
    float out[NPIX];
    vae_error err = {0};
    CHECK(decode_exact(png.data, png.len, MAXPX, 0, out, &err) == VAE_OK, "280x280");
    double dev = 0.0, mean = 0.0;
    for (int i = 0; i < NPIX; i++) dev = fmax(dev, fabs(out[i] - block[i] / 255.0)), mean += block[i] / 255.0;
    CHECK_CLOSE(dev, 0.0, 1e-6, "280x280 blocks downscale to their values");
    CHECK_CLOSE(mean_of(out, NPIX), mean / NPIX, 1e-6, "280x280 area mean");
    vae_buf_free(&png);
    free(v);

    /* random 280x280 and 10x10 (upscale) against the reference resize */
    uint16_t *r = random_samples(BIG, BIG, 1, 8, 0);
    spec big = {BIG, BIG, PNG_COLOR_TYPE_GRAY, 8, 0, r, NULL, 0, NULL, 0, NULL};
    check_decodes_like_reference("random 280x280", &big, 0);
    free(r);
    uint16_t *t = random_samples(10, 10, 1, 8, 0);
    spec tiny = {10, 10, PNG_COLOR_TYPE_GRAY, 8, 0, t, NULL, 0, NULL, 0, NULL};
    check_decodes_like_reference("10x10 upscale", &tiny, 0);
    png = make_png(&tiny);
    CHECK(decode_exact(png.data, png.len, MAXPX, 0, out, &err) == VAE_OK, "10x10");
    CHECK_CLOSE(out[0], t[0] / 255.0, 1e-6, "upscale: top-left output pixel inside source pixel 0");
    CHECK_CLOSE(out[NPIX - 1], t[99] / 255.0, 1e-6, "upscale: bottom-right inside source pixel 99");
    CHECK_CLOSE(out[1], t[0] / 255.0, 1e-6, "upscale: output pixel 1 inside source pixel 0");
    CHECK_CLOSE(out[2], (8.0 * t[0] + 2.0 * t[1]) / 10.0 / 255.0, 1e-6, "upscale: fractional overlap");
    vae_buf_free(&png);
    free(t);

    /* 28x28 in, 28x28 out: the same values */
    uint16_t *e = random_samples(28, 28, 1, 16, 0);
    spec same = {28, 28, PNG_COLOR_TYPE_GRAY, 16, 0, e, NULL, 0, NULL, 0, NULL};
    png = make_png(&same);
    CHECK(decode_exact(png.data, png.len, MAXPX, 0, out, &err) == VAE_OK, "28x28/16");
    dev = 0.0;
    for (int i = 0; i < NPIX; i++) dev = fmax(dev, fabs(out[i] - e[i] / 65535.0));
    CHECK_CLOSE(dev, 0.0, 1e-7, "16-bit precision kept");
    vae_buf_free(&png);
    free(e);
}

/* invert=1 on dark ink over white equals invert=0 on its negative; transparency is background. */
static void test_invert_and_alpha(void) {
    enum { W = 40, H = 36 };
    uint16_t ink_on_white[W * H], negative[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int stroke = abs(x - 20) < 4 || (y > 10 && y < 15);
            uint16_t v = stroke ? (uint16_t)lcg_below(60) : (uint16_t)(255 - lcg_below(8));
            ink_on_white[y * W + x] = v;
            negative[y * W + x] = (uint16_t)(255 - v);
        }
    spec a = {W, H, PNG_COLOR_TYPE_GRAY, 8, 0, ink_on_white, NULL, 0, NULL, 0, NULL};
    spec b = {W, H, PNG_COLOR_TYPE_GRAY, 8, 0, negative, NULL, 0, NULL, 0, NULL};
    vae_buf pa = make_png(&a), pb = make_png(&b);
    float oa[NPIX], ob[NPIX];
    vae_error err = {0};
    CHECK(decode_exact(pa.data, pa.len, MAXPX, 1, oa, &err) == VAE_OK, "ink, invert");
    CHECK(decode_exact(pb.data, pb.len, MAXPX, 0, ob, &err) == VAE_OK, "negative");
    CHECK_CLOSE(max_abs_diff(oa, ob, NPIX), 0.0, 1e-6, "invert=1 on ink == invert=0 on negative");
    CHECK(oa[0] < 0.05f && oa[14 * SIDE + 14] > 0.7f, "background dark, stroke bright after invert");
    vae_buf_free(&pa);
    vae_buf_free(&pb);

    /* RGBA: a fully transparent frame (white in one half, black in the other) around opaque pixels */
    uint16_t px[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint16_t *p = px + (y * W + x) * 4;
            int inside = x >= 10 && x < 30 && y >= 9 && y < 27;
            uint16_t c = inside ? 255 : (x < W / 2 ? 255 : 0);
            p[0] = p[1] = p[2] = c;
            p[3] = inside ? 255 : 0;
        }
    spec t = {W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, px, NULL, 0, NULL, 0, NULL};
    vae_buf pt = make_png(&t);
    for (int inv = 0; inv <= 1; inv++) {
        float out[NPIX];
        CHECK(decode_exact(pt.data, pt.len, MAXPX, inv, out, &err) == VAE_OK, "rgba");
        /* output pixel (0,0) covers only the transparent frame */
        CHECK_CLOSE(out[0], 0.0, 1e-7, inv ? "transparent white is background (invert=1)"
                                           : "transparent white is background (invert=0)");
        CHECK_CLOSE(out[SIDE - 1], 0.0, 1e-7, "transparent black is background");
        CHECK_CLOSE(out[14 * SIDE + 14], inv ? 0.0 : 1.0, 1e-6, "opaque white inside");
    }
    vae_buf_free(&pt);

    /* half alpha: ink scales with alpha, the rest is background */
    uint16_t ga[4] = {255, 128, 0, 128}; /* white at alpha 128, black at alpha 128 */
    spec h = {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, NULL, 0, NULL, 0, NULL};
    vae_buf ph = make_png(&h);
    float o0[NPIX], o1[NPIX];
    CHECK(decode_exact(ph.data, ph.len, MAXPX, 0, o0, &err) == VAE_OK, "ga 0");
    CHECK(decode_exact(ph.data, ph.len, MAXPX, 1, o1, &err) == VAE_OK, "ga 1");
    CHECK_CLOSE(o0[0], 128.0 / 255.0, 1e-6, "half-transparent white, invert=0");
    CHECK_CLOSE(o0[SIDE - 1], 0.0, 1e-6, "half-transparent black, invert=0");
    CHECK_CLOSE(o1[0], 0.0, 1e-6, "half-transparent white, invert=1");
    CHECK_CLOSE(o1[SIDE - 1], 128.0 / 255.0, 1e-6, "half-transparent black, invert=1");
    vae_buf_free(&ph);
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding errors */

static const float SENTINEL = 42.5f;

/* Any problem kind but VAE_PNG_NONE (for damage that either of two checks may catch first). */
#define ANY_PROBLEM ((vae_png_problem)-2)

/* Decodes bytes expecting a failure with `want` status, problem `kind` and `needle` in the message;
 * checks out[] is untouched. */
static void expect_error(const char *what, const uint8_t *bytes, size_t len, long max_pixels,
                         vae_status want, vae_png_problem kind, const char *needle) {
    float out[NPIX];
    for (int i = 0; i < NPIX; i++) out[i] = SENTINEL;
    vae_error err = {0};
    vae_status st = decode_exact(bytes, len, max_pixels, 0, out, &err);
    CHECK(st == want, "%s: got %s (%s), want %s", what, vae_status_name(st), err.message,
          vae_status_name(want));
    CHECK(err.status == want, "%s: err.status", what);
    CHECK(kind == ANY_PROBLEM ? last_problem != VAE_PNG_NONE : last_problem == kind,
          "%s: problem kind %d, want %d", what, (int)last_problem, (int)kind);
    CHECK(needle == NULL || strstr(err.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
          err.message, needle);
    CHECK(untouched(out, SENTINEL), "%s: out[] written on failure", what);
}

static void test_decode_errors(void) {
    uint16_t *v = random_samples(28, 28, 1, 8, 0);
    spec s = {28, 28, PNG_COLOR_TYPE_GRAY, 8, 0, v, NULL, 0, NULL, 0, NULL};
    vae_buf good = make_png(&s);

    expect_error("empty", (const uint8_t *)"", 0, MAXPX, VAE_ERR_FORMAT, VAE_PNG_EMPTY, "empty");
    expect_error("empty NULL", NULL, 0, MAXPX, VAE_ERR_FORMAT, VAE_PNG_EMPTY, "empty");
    expect_error("7 bytes", good.data, 7, MAXPX, VAE_ERR_FORMAT, VAE_PNG_TRUNCATED, "truncated");
    expect_error("20 bytes", good.data, 20, MAXPX, VAE_ERR_FORMAT, VAE_PNG_TRUNCATED, "truncated");
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1};
    expect_error("JPEG", jpeg, sizeof jpeg, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_NOT_PNG, "not a PNG (it looks like a JPEG)");
    expect_error("JPEG magic only", jpeg, 3, MAXPX, VAE_ERR_FORMAT, VAE_PNG_NOT_PNG, "JPEG");
    expect_error("GIF", (const uint8_t *)"GIF89a\x01\x00\x01\x00", 10, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_NOT_PNG, "GIF");
    expect_error("JSON", (const uint8_t *)"{\"z\":[1,2]}", 11, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_NOT_PNG, "JSON");
    expect_error("base64", (const uint8_t *)"iVBORw0KGgoAAAANSUhEUg", 22, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_BASE64, "base64");
    expect_error("text", (const uint8_t *)"hello world", 11, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_NOT_PNG, "68 65 6c 6c");
    uint8_t *crlf = malloc(good.len + 1); /* a text-mode transfer turned \n into \r\n */
    memcpy(crlf, good.data, 7);
    crlf[7] = '\r';
    memcpy(crlf + 8, good.data + 7, good.len - 7);
    expect_error("CRLF-mangled", crlf, good.len + 1, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_LINE_ENDINGS, "line-ending");
    free(crlf);

    long idat = find_chunk(&good, "IDAT");
    CHECK(idat > 0, "IDAT found");
    uint32_t idat_len = get_be32(good.data + idat);
    expect_error("cut in IDAT", good.data, (size_t)idat + 8 + idat_len / 2, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_TRUNCATED, "truncated");
    expect_error("cut before IDAT CRC", good.data, (size_t)idat + 8 + idat_len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_TRUNCATED, "invalid PNG");

    uint8_t *bad = malloc(good.len);
    memcpy(bad, good.data, good.len);
    bad[8 + 8 + 9] ^= 0x02; /* colour type byte of IHDR: CRC no longer matches */
    expect_error("flipped IHDR byte", bad, good.len, MAXPX, VAE_ERR_FORMAT, VAE_PNG_BAD_CRC, "CRC");
    memcpy(bad, good.data, good.len);
    bad[idat + 8 + idat_len / 2] ^= 0x40;
    /* libpng inflates a chunk as it streams and checks its CRC at the end, so zlib's own check
     * usually catches a damaged byte first */
    expect_error("flipped IDAT byte", bad, good.len, MAXPX, VAE_ERR_FORMAT, ANY_PROBLEM, "IDAT");
    memcpy(bad, good.data, good.len);
    bad[idat + 8 + idat_len + 2] ^= 0x10; /* the IDAT CRC itself */
    expect_error("flipped IDAT CRC", bad, good.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_BAD_CRC, "IDAT: CRC error");
    memcpy(bad, good.data, good.len);
    bad[idat + 8] = 0x00, bad[idat + 9] = 0x00; /* broken zlib header, CRC made to match */
    fix_crcs(bad, good.len);
    expect_error("corrupt zlib stream", bad, good.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_CORRUPT_DATA, "IDAT");
    memcpy(bad, good.data, good.len);
    bad[idat + 8 + idat_len - 1] ^= 0xff; /* adler32 of the zlib stream, CRC made to match */
    fix_crcs(bad, good.len);
    expect_error("bad adler32", bad, good.len, MAXPX, VAE_ERR_FORMAT, VAE_PNG_CORRUPT_DATA, "IDAT");
    memcpy(bad, good.data, good.len);
    memcpy(bad + 12, "IHDX", 4);
    expect_error("first chunk not IHDR", bad, good.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_BAD_HEADER, "IHDR");
    memcpy(bad, good.data, good.len);
    bad[8 + 8 + 8] = 3; /* bit depth 3 does not exist */
    fix_crcs(bad, good.len);
    expect_error("bit depth 3", bad, good.len, MAXPX, VAE_ERR_FORMAT, VAE_PNG_BAD_HEADER, "invalid PNG");
    free(bad);

    /* IHDR then IEND: no image data at all */
    vae_buf none = header_only(28, 28, 0);
    append_chunk(&none, "IEND", NULL, 0);
    expect_error("no IDAT", none.data, none.len, MAXPX, VAE_ERR_FORMAT, VAE_PNG_INVALID, "invalid PNG");
    vae_buf_free(&none);

    /* a palette image without its PLTE */
    png_color pal[4] = {{0, 0, 0}, {255, 255, 255}, {9, 9, 9}, {80, 80, 80}};
    uint16_t *pv = random_samples(16, 16, 1, 2, 4);
    spec ps = {16, 16, PNG_COLOR_TYPE_PALETTE, 2, 0, pv, pal, 4, NULL, 0, NULL};
    vae_buf pp = make_png(&ps);
    long plte = find_chunk(&pp, "PLTE");
    CHECK(plte > 0, "PLTE found");
    size_t plte_size = 12 + get_be32(pp.data + plte);
    memmove(pp.data + plte, pp.data + plte + plte_size, pp.len - plte - plte_size);
    expect_error("palette without PLTE", pp.data, pp.len - plte_size, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_INVALID, "PLTE");
    vae_buf_free(&pp);
    free(pv);

    /* size limits, judged from the header before any image-sized allocation */
    vae_buf huge = header_only(100000, 100000, 64);
    expect_error("100000x100000", huge.data, huge.len, MAXPX,
                 VAE_ERR_LIMIT, VAE_PNG_TOO_LARGE, "100000x100000");
    expect_error("100000x100000 limit", huge.data, huge.len, MAXPX,
                 VAE_ERR_LIMIT, VAE_PNG_TOO_LARGE, "16777216");
    expect_error("100000x100000, header only", huge.data, 33, MAXPX,
                 VAE_ERR_LIMIT, VAE_PNG_TOO_LARGE, "limit");
    vae_buf_free(&huge);
    vae_buf wide = header_only(20000000, 1, 16);
    expect_error("20000000x1", wide.data, wide.len, MAXPX,
                 VAE_ERR_LIMIT, VAE_PNG_TOO_LARGE, "20000000x1");
    vae_buf_free(&wide);
    vae_buf zero_w = header_only(0, 28, 16);
    expect_error("zero width", zero_w.data, zero_w.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_ZERO_SIZE, "zero");
    vae_buf_free(&zero_w);
    vae_buf zero_h = header_only(28, 0, 16);
    expect_error("zero height", zero_h.data, zero_h.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_ZERO_SIZE, "28x0");
    vae_buf_free(&zero_h);
    vae_buf beyond = header_only(0x80000000u, 1, 16);
    expect_error("width >= 2^31", beyond.data, beyond.len, MAXPX,
                 VAE_ERR_FORMAT, VAE_PNG_BAD_HEADER, "out of range");
    vae_buf_free(&beyond);
    expect_error("784 pixels over a limit of 783", good.data, good.len, 783,
                 VAE_ERR_LIMIT, VAE_PNG_TOO_LARGE, "783");
    float out[NPIX];
    vae_error err = {0};
    CHECK(decode_exact(good.data, good.len, 784, 0, out, &err) == VAE_OK, "exactly at the limit: %s",
          err.message);

    /* arguments */
    expect_error("max_pixels 0", good.data, good.len, 0, VAE_ERR_ARG, VAE_PNG_NONE, "max_pixels");
    CHECK(vae_png_decode_input(good.data, good.len, MAXPX, 0, NULL, NULL, NULL) == VAE_ERR_ARG,
          "NULL out");
    CHECK(vae_png_decode_input(NULL, 5, MAXPX, 0, out, NULL, NULL) == VAE_ERR_ARG, "NULL bytes");
    CHECK(vae_png_decode_input(jpeg, sizeof jpeg, MAXPX, 0, out, NULL, NULL) == VAE_ERR_FORMAT,
          "err may be NULL");

    vae_buf_free(&good);
    free(v);
}

/* Every prefix of a valid PNG fails cleanly until the image data is complete. */
static void test_truncation_sweep(void) {
    png_color pal[8];
    uint8_t alpha[8];
    for (int i = 0; i < 8; i++) {
        pal[i] = (png_color){(png_byte)(30 * i), (png_byte)(20 * i), 7};
        alpha[i] = (uint8_t)(36 * i);
    }
    uint16_t *v = random_samples(21, 14, 1, 4, 8);
    spec s = {21, 14, PNG_COLOR_TYPE_PALETTE, 4, 1, v, pal, 8, alpha, 8, NULL};
    vae_buf full = make_png(&s);
    long iend = find_chunk(&full, "IEND");
    CHECK(iend > 0, "IEND found");
    int failures_ok = 1, tail_ok = 1;
    for (size_t cut = 0; cut < full.len; cut++) {
        float out[NPIX];
        for (int i = 0; i < NPIX; i++) out[i] = SENTINEL;
        vae_error err = {0};
        vae_status st = decode_exact(full.data, cut, MAXPX, 0, out, &err);
        if (cut < (size_t)iend) {
            if (st != VAE_ERR_FORMAT || !untouched(out, SENTINEL) || err.message[0] == 0) {
                failures_ok = 0;
                fprintf(stderr, "cut at %zu of %zu: %s (%s)\n", cut, full.len, vae_status_name(st),
                        err.message);
            }
        } else if (st != VAE_OK) {
            tail_ok = 0;
        }
    }
    CHECK(failures_ok, "every cut before the end of the image data is a format error, out untouched");
    CHECK(tail_ok, "cuts inside IEND still decode");
    vae_buf_free(&full);
    free(v);
}

/* The concatenated data of every IDAT chunk (the zlib stream) into z; returns its length. */
static size_t zlib_stream(const uint8_t *d, size_t len, uint8_t *z) {
    size_t pos = 8, n = 0;
    while (pos + 12 <= len) {
        uint32_t k = get_be32(d + pos);
        if (k > len - pos - 12) break;
        if (memcmp(d + pos + 4, "IDAT", 4) == 0) memcpy(z + n, d + pos + 8, k), n += k;
        pos += 12 + (size_t)k;
    }
    return n;
}

/* Damaged compressed image data is refused: one byte of the zlib stream changed and the chunk CRC
 * made to match again, so that only zlib (its codes, lengths and adler32) can tell. Every position
 * and three kinds of change, on grey, palette, RGBA, interlaced and 16-bit images, stored (level 0:
 * a changed byte is a changed pixel, caught only by the adler32 after the last row) and deflated.
 * The oracle is zlib's own uncompress: bytes it accepts with the original image data may decode,
 * anything else must be VAE_ERR_FORMAT / VAE_PNG_CORRUPT_DATA with out[] untouched. The same images
 * without their IEND chunk still decode, to the same pixels. */
static void test_damaged_image_data(void) {
    png_color pal[16];
    for (int i = 0; i < 16; i++)
        pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(i * 9), (png_byte)(255 - i)};
    uint8_t alpha[3] = {0, 90, 180};
    uint16_t *grey = random_samples(23, 19, 1, 8, 0), *idx = random_samples(21, 17, 1, 4, 16);
    uint16_t *rgba = random_samples(13, 11, 4, 8, 0), *deep = random_samples(15, 9, 3, 16, 0);
    uint16_t *lace = random_samples(19, 23, 2, 8, 0);
    const spec specs[5] = {
        {23, 19, PNG_COLOR_TYPE_GRAY, 8, 0, grey, NULL, 0, NULL, 0, NULL},
        {21, 17, PNG_COLOR_TYPE_PALETTE, 4, 0, idx, pal, 16, alpha, 3, NULL},
        {13, 11, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL, 0, NULL, 0, NULL},
        {19, 23, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 1, lace, NULL, 0, NULL, 0, NULL},
        {15, 9, PNG_COLOR_TYPE_RGB, 16, 0, deep, NULL, 0, NULL, 0, NULL},
    };
    static const uint8_t masks[3] = {0x01, 0x80, 0xff};
    /* one IDAT, or the stream in 7-byte and 1-byte IDATs: then zlib's checksum arrives only after the
     * last row, where libpng reports a mismatch as a warning unless told otherwise */
    static const uint32_t pieces[3] = {1u << 20, 7, 1};
    int refused = 0, accepted_exact = 0, wrong = 0, iend_ok = 1;
    for (int level = 0; level <= 9; level += 9) {
        make_png_level = level;
        for (int t = 0; t < 5 * 3; t++) {
            const int k = t / 3;
            vae_buf whole = make_png(&specs[k]);
            vae_buf png = rechunk(&whole, pieces[t % 3], NULL);
            vae_buf_free(&whole);
            float want[NPIX];
            vae_error err = {0};
            CHECK(decode_exact(png.data, png.len, MAXPX, 0, want, &err) == VAE_OK, "image %d level %d: %s",
                  k, level, err.message);
            long iend = find_chunk(&png, "IEND");
            float cut[NPIX];
            iend_ok &= iend > 0 && decode_exact(png.data, (size_t)iend, MAXPX, 0, cut, &err) == VAE_OK &&
                       memcmp(cut, want, sizeof cut) == 0;
            uint8_t *z = malloc(png.len), *z2 = malloc(png.len), *m = malloc(png.len);
            size_t zlen = zlib_stream(png.data, png.len, z);
            uLongf raw_len = 1 << 16;
            uint8_t *raw = malloc(raw_len + 1), *raw2 = malloc(raw_len + 1);
            CHECK(uncompress(raw, &raw_len, z, zlen) == Z_OK, "image %d: reference stream", k);
            for (size_t pos = 8; pos + 12 <= png.len; pos += 12 + (size_t)get_be32(png.data + pos)) {
                if (memcmp(png.data + pos + 4, "IDAT", 4) != 0) continue;
                for (size_t at = pos + 8; at < pos + 8 + get_be32(png.data + pos); at++) {
                    for (int mk = 0; mk < 3; mk++) {
                        memcpy(m, png.data, png.len);
                        m[at] ^= masks[mk];
                        fix_crcs(m, png.len);
                        uLongf got_len = raw_len + 1;
                        size_t z2len = zlib_stream(m, png.len, z2);
                        int intact = uncompress(raw2, &got_len, z2, z2len) == Z_OK && got_len == raw_len &&
                                     memcmp(raw, raw2, raw_len) == 0;
                        float out[NPIX];
                        for (int i = 0; i < NPIX; i++) out[i] = SENTINEL;
                        err = (vae_error){0};
                        vae_status st = decode_exact(m, png.len, MAXPX, 0, out, &err);
                        if (intact && st == VAE_OK && memcmp(out, want, sizeof out) == 0) {
                            accepted_exact++;
                        } else if (!intact && st == VAE_ERR_FORMAT && last_problem == VAE_PNG_CORRUPT_DATA &&
                                   untouched(out, SENTINEL) && err.message[0]) {
                            refused++;
                        } else {
                            wrong++;
                            fprintf(stderr, "image %d level %d IDATs of %u: byte %zu ^ 0x%02x: %s (problem %d, "
                                    "%s), zlib %s\n", k, level, pieces[t % 3], at, masks[mk], vae_status_name(st),
                                    (int)last_problem, err.message, intact ? "accepts it" : "refuses it");
                        }
                    }
                }
            }
            free(z);
            free(z2);
            free(m);
            free(raw);
            free(raw2);
            vae_buf_free(&png);
        }
    }
    make_png_level = Z_DEFAULT_COMPRESSION;
    CHECK(wrong == 0, "damaged image data: %d decodes disagree with zlib (%d refused, %d intact)", wrong,
          refused, accepted_exact);
    CHECK(refused > 1000, "damaged image data is refused: %d cases", refused);
    CHECK(iend_ok, "complete, verified image data without its IEND still decodes to the same pixels");
    free(grey);
    free(idx);
    free(rgba);
    free(deep);
    free(lace);
}

/* A small mutation fuzz: random byte changes, with CRCs fixed half the time so the damage reaches
 * the zlib and row decoding. Must never crash or leak (run under valgrind/ASan), and out is only
 * written on success. */
static void test_mutations(void) {
    uint16_t *g = random_samples(28, 28, 1, 8, 0), *c = random_samples(9, 11, 4, 16, 0);
    png_color pal[16];
    uint8_t alpha[5] = {0, 50, 100, 150, 200};
    for (int i = 0; i < 16; i++) pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 16), 128};
    uint16_t *p = random_samples(17, 13, 1, 4, 16);
    spec seeds[3] = {
        {28, 28, PNG_COLOR_TYPE_GRAY, 8, 0, g, NULL, 0, NULL, 0, NULL},
        {9, 11, PNG_COLOR_TYPE_RGB_ALPHA, 16, 1, c, NULL, 0, NULL, 0, NULL},
        {17, 13, PNG_COLOR_TYPE_PALETTE, 4, 1, p, pal, 16, alpha, 5, NULL},
    };
    int bad_status = 0, bad_out = 0, ok = 0;
    for (int k = 0; k < 3; k++) {
        vae_buf png = make_png(&seeds[k]);
        uint8_t *m = malloc(png.len);
        for (int iter = 0; iter < 400; iter++) {
            memcpy(m, png.data, png.len);
            int flips = 1 + (int)lcg_below(4);
            for (int f = 0; f < flips; f++) {
                size_t at = 8 + lcg_below((uint32_t)(png.len - 8));
                m[at] = lcg_below(2) ? (uint8_t)lcg_below(256) : (uint8_t)(m[at] ^ (1u << lcg_below(8)));
            }
            if (iter % 2) fix_crcs(m, png.len);
            size_t len = iter % 5 == 0 ? 8 + lcg_below((uint32_t)(png.len - 7)) : png.len;
            float out[NPIX];
            for (int i = 0; i < NPIX; i++) out[i] = SENTINEL;
            vae_error err = {0};
            vae_status st = vae_png_decode_input(m, len, 4096, (int)lcg_below(2), out, NULL, &err);
            if (st == VAE_OK) {
                ok++;
                for (int i = 0; i < NPIX; i++) bad_out += !(out[i] >= 0.0f && out[i] <= 1.0f);
            } else {
                bad_status += st != VAE_ERR_FORMAT && st != VAE_ERR_LIMIT;
                bad_out += !untouched(out, SENTINEL);
            }
        }
        free(m);
        vae_buf_free(&png);
    }
    CHECK(bad_status == 0, "mutated inputs give format or limit errors (%d others)", bad_status);
    CHECK(bad_out == 0, "outputs in [0,1] on success, untouched on failure (%d bad)", bad_out);
    CHECK(ok > 0, "some mutations (ancillary bytes, pixel values) still decode: %d", ok);
    free(g);
    free(c);
    free(p);
}

/* ---------------------------------------------------------------------------------------------- */
/* Threads: no shared state */

typedef struct {
    const vae_buf *png;
    const float *want;
    int mismatches;
} thread_job;

static void *decode_many(void *arg) {
    thread_job *job = arg;
    for (int i = 0; i < 40; i++) {
        float out[NPIX];
        vae_error err;
        if (vae_png_decode_input(job->png->data, job->png->len, MAXPX, 0, out, NULL, &err) != VAE_OK ||
            memcmp(out, job->want, sizeof out) != 0)
            job->mismatches++;
        vae_buf enc = {0};
        uint8_t px[NPIX];
        for (int k = 0; k < NPIX; k++) px[k] = vae_pixel_to_u8(out[k]);
        if (vae_png_encode(px, 28, 28, 1, -1, &enc, &err) != VAE_OK) job->mismatches++;
        vae_buf_free(&enc);
    }
    return NULL;
}

static void test_threads(void) {
    uint16_t *v = random_samples(64, 48, 4, 8, 0);
    spec s = {64, 48, PNG_COLOR_TYPE_RGB_ALPHA, 8, 1, v, NULL, 0, NULL, 0, NULL};
    vae_buf png = make_png(&s);
    float want[NPIX];
    vae_error err = {0};
    CHECK(vae_png_decode_input(png.data, png.len, MAXPX, 0, want, NULL, &err) == VAE_OK, "ref");
    enum { T = 4 };
    pthread_t th[T];
    thread_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (thread_job){&png, want, 0};
        CHECK(pthread_create(&th[t], NULL, decode_many, &jobs[t]) == 0, "thread %d", t);
    }
    int mismatches = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        mismatches += jobs[t].mismatches;
    }
    CHECK(mismatches == 0, "concurrent decodes agree (%d mismatches)", mismatches);
    vae_buf_free(&png);
    free(v);
}

int main(void) {
    test_buf();
    test_pixel_to_u8();
    test_resize();
    test_grid();
    test_grid_values();
    test_encode_roundtrip();
    test_encode_runs();
    test_encode_appends_and_errors();
    test_decode_formats();
    test_decode_equivalences();
    test_decode_geometry();
    test_invert_and_alpha();
    test_decode_errors();
    test_truncation_sweep();
    test_damaged_image_data();
    test_mutations();
    test_threads();
    CHECK_DONE();
}
