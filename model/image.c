/* PNG encode/decode (libpng, in memory), area resizing and grids for the model's grey images. */
#include "vae/image.h"

#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define VAE_PNG_MAX_SIDE 16384      /* largest width or height vae_png_encode writes */
#define VAE_PNG_CHUNK_MAX (2u << 20) /* largest chunk libpng may buffer; PLTE/tRNS are < 1 KiB */
#define VAE_IN 28                   /* model input side */

/* ---------------------------------------------------------------------------------------------- */
/* vae_buf */

vae_status vae_buf_reserve(vae_buf *buf, size_t extra) {
    if (extra <= buf->cap - buf->len) return VAE_OK;
    if (extra > SIZE_MAX - buf->len) return VAE_ERR_NOMEM;
    size_t need = buf->len + extra;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2; /* geometric, saturating */
    uint8_t *data = realloc(buf->data, cap);
    if (!data) return VAE_ERR_NOMEM;
    buf->data = data;
    buf->cap = cap;
    return VAE_OK;
}

vae_status vae_buf_append(vae_buf *buf, const void *bytes, size_t n) {
    if (n == 0) return VAE_OK;
    vae_status st = vae_buf_reserve(buf, n);
    if (st != VAE_OK) return st;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return VAE_OK;
}

void vae_buf_free(vae_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* libpng plumbing shared by both directions: libpng reports errors through a callback that must not
 * return, so it records the message and longjmps back to the setjmp in the *_run function. */

typedef struct {
    char msg[200];
    int nomem; /* our own allocation failed inside a libpng callback */
} libpng_failure;

static void on_png_error(png_structp png, png_const_charp msg) {
    libpng_failure *f = png_get_error_ptr(png);
    snprintf(f->msg, sizeof f->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings (ignored ancillary chunks, extra data after the image) do not stop the decode and must
 * not print to a server's stderr. */
static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* ---------------------------------------------------------------------------------------------- */
/* Encoding */

typedef struct {
    libpng_failure fail;
    vae_buf *out;
} encode_state;

static void write_to_buf(png_structp png, png_bytep data, size_t n) {
    encode_state *w = png_get_io_ptr(png);
    if (vae_buf_append(w->out, data, n) != VAE_OK) {
        w->fail.nomem = 1;
        png_error(png, "out of memory");
    }
}

static void flush_nothing(png_structp png) { (void)png; }

/* Everything that can longjmp lives here, so the caller's locals (png, info) are never modified
 * between setjmp and longjmp and need no volatile. Returns 0, or -1 after a libpng error. */
static int encode_run(png_structp png, png_infop info, encode_state *w, const uint8_t *pixels,
                      int width, int height, int channels, int level) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, w, write_to_buf, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, level);
    /* Mostly-black digits compress best unfiltered; adaptive filtering cost 1.5-4x the time and
     * gave larger files at every level measured. */
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    return 0;
}

/* Level -1 is the run-length writer (png_rle.c): for the server's 28x28 digits about 25k
 * instructions and ~540 bytes, against ~260k and ~510 bytes through libpng at zlib level 1 without
 * filters (itself the best libpng setting measured: adaptive filters made these images larger).
 * Levels 0..9 go through libpng with that level and no filters. On failure out->len is as it was
 * (the capacity may have grown). */
vae_status vae_png_encode(const uint8_t *pixels, int width, int height, int channels, int level,
                          vae_buf *out, vae_error *err) {
    if (!pixels || !out) return vae_error_set(err, VAE_ERR_ARG, "png encode: NULL argument");
    if (width <= 0 || height <= 0 || width > VAE_PNG_MAX_SIDE || height > VAE_PNG_MAX_SIDE)
        return vae_error_set(err, VAE_ERR_ARG, "png encode: size %dx%d is not in 1..%d per side",
                             width, height, VAE_PNG_MAX_SIDE);
    if (channels != 1 && channels != 3)
        return vae_error_set(err, VAE_ERR_ARG, "png encode: %d channels (want 1 or 3)", channels);
    if (level < -1 || level > 9)
        return vae_error_set(err, VAE_ERR_ARG, "png encode: level %d is not in -1..9", level);
    if (level == -1) return vae_png_encode_rle(pixels, width, height, channels, out, err);

    encode_state w = {.out = out};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.fail, on_png_error, on_png_warning);
    if (!png) return vae_error_set(err, VAE_ERR_NOMEM, "png encode: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return vae_error_set(err, VAE_ERR_NOMEM, "png encode: out of memory");
    }
    size_t old_len = out->len;
    int rc = encode_run(png, info, &w, pixels, width, height, channels, level);
    png_destroy_write_struct(&png, &info);
    if (rc == 0) return VAE_OK;
    out->len = old_len; /* drop a partial PNG */
    if (w.fail.nomem || strncmp(w.fail.msg, "Out of memory", 13) == 0) /* ours or libpng's */
        return vae_error_set(err, VAE_ERR_NOMEM, "png encode: out of memory");
    return vae_error_set(err, VAE_ERR_FORMAT, "png encode: %s", w.fail.msg);
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding: signature and header checks done by hand (for helpful messages, and to refuse huge
 * images before libpng allocates anything), then libpng row by row into 28x28 area sums. */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int starts_with(const uint8_t *bytes, size_t len, const char *magic, size_t n) {
    return len >= n && memcmp(bytes, magic, n) == 0;
}

/* What a non-PNG body most likely is, so the client learns what it sent; NULL if unknown. */
static const char *sniff_format(const uint8_t *b, size_t len) {
    if (starts_with(b, len, "\xff\xd8\xff", 3)) return "a JPEG";
    if (starts_with(b, len, "GIF87a", 6) || starts_with(b, len, "GIF89a", 6)) return "a GIF";
    if (len >= 12 && starts_with(b, len, "RIFF", 4) && memcmp(b + 8, "WEBP", 4) == 0)
        return "a WebP";
    if (starts_with(b, len, "II*\0", 4) || starts_with(b, len, "MM\0*", 4)) return "a TIFF";
    if (starts_with(b, len, "BM", 2)) return "a BMP";
    if (starts_with(b, len, "%PDF", 4)) return "a PDF";
    if (starts_with(b, len, "\x1f\x8b", 2)) return "gzip data";
    if (starts_with(b, len, "PK\x03\x04", 4)) return "a ZIP archive";
    if (starts_with(b, len, "iVBORw0KGgo", 11)) return "a base64-encoded PNG; send the raw bytes";
    if (starts_with(b, len, "--", 2)) return "a multipart form; send the raw PNG bytes";
    if (b[0] == '{' || b[0] == '[') return "JSON";
    if (b[0] == '<') return "HTML or XML";
    if (len >= 4 && memcmp(b, png_signature, 4) == 0) /* "\x89PNG", then \r\n or \n rewritten */
        return "a PNG with damaged line-ending bytes; was it sent in text mode?";
    return NULL;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks the signature and the IHDR chunk (which the PNG spec puts first, at byte 8). */
static vae_status check_header(const uint8_t *bytes, size_t len, long max_pixels, vae_error *err) {
    if (len == 0) return vae_error_set(err, VAE_ERR_FORMAT, "empty body (expected a PNG image)");
    if (len < sizeof png_signature || memcmp(bytes, png_signature, sizeof png_signature) != 0) {
        if (len < sizeof png_signature && memcmp(bytes, png_signature, len) == 0)
            return vae_error_set(err, VAE_ERR_FORMAT, "truncated PNG: only %zu bytes", len);
        const char *kind = sniff_format(bytes, len);
        if (kind) return vae_error_set(err, VAE_ERR_FORMAT, "body is not a PNG (it looks like %s)", kind);
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "body is not a PNG (bad signature, starts with %02x %02x %02x %02x)",
                             bytes[0], len > 1 ? bytes[1] : 0, len > 2 ? bytes[2] : 0,
                             len > 3 ? bytes[3] : 0);
    }
    const size_t ihdr_end = 8 + 8 + 13 + 4; /* signature, length+type, data, CRC */
    if (len < ihdr_end)
        return vae_error_set(err, VAE_ERR_FORMAT, "truncated PNG: %zu bytes, header incomplete", len);
    const uint8_t *chunk = bytes + 8;
    if (be32(chunk) != 13 || memcmp(chunk + 4, "IHDR", 4) != 0)
        return vae_error_set(err, VAE_ERR_FORMAT, "invalid PNG: first chunk is not a valid IHDR");
    /* A corrupt header's dimensions mean nothing: check its CRC before judging them. */
    uint32_t crc = (uint32_t)crc32(0L, chunk + 4, 4 + 13);
    if (crc != be32(chunk + 8 + 13))
        return vae_error_set(err, VAE_ERR_FORMAT, "invalid PNG: IHDR: CRC error (corrupt header)");
    uint32_t w = be32(chunk + 8), h = be32(chunk + 12);
    if (w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX)
        return vae_error_set(err, VAE_ERR_FORMAT, "invalid PNG: size %" PRIu32 "x%" PRIu32
                             " is out of range", w, h);
    if (w == 0 || h == 0)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "invalid PNG: the header says %" PRIu32 "x%" PRIu32 " (a zero dimension)",
                             w, h);
    unsigned long long pixels = (unsigned long long)w * h;
    if (pixels > (unsigned long long)max_pixels)
        return vae_error_set(err, VAE_ERR_LIMIT,
                             "image is %" PRIu32 "x%" PRIu32 " = %llu pixels, more than the limit of %ld",
                             w, h, pixels, max_pixels);
    return VAE_OK;
}

typedef struct {
    libpng_failure fail;
    const uint8_t *bytes; /* the whole input; libpng pulls from pos */
    size_t len, pos;
    int invert;
    uint8_t small_row[1024]; /* rows of typical inputs fit here: no allocation */
    uint8_t *heap_row;       /* else; freed by the caller on every path */
    /* Scaled coordinates make overlaps exact integers: a source pixel is 28 units wide (tall) and
     * an output pixel is width (height) units, so each output pixel's area is width*height. */
    double sums[VAE_IN * VAE_IN];
} decode_state;

static void read_from_bytes(png_structp png, png_bytep data, size_t n) {
    decode_state *r = png_get_io_ptr(png);
    if (n > r->len - r->pos) png_error(png, "unexpected end of data (the PNG is truncated)");
    memcpy(data, r->bytes + r->pos, n);
    r->pos += n;
}

/* The ink of one pixel in [0,1]: luminance (Rec.709 weights on the coded values) composited over
 * the background. The background is black (0) normally and white (1) for dark ink, which the
 * inversion (base 1, sign -1) turns back into 0: transparent pixels are background either way.
 * p holds `channels` samples (grey, grey+alpha, RGB, RGBA) of `depth` bits, 16-bit big-endian. */
static inline __attribute__((always_inline)) double pixel_ink(const uint8_t *p, int channels,
                                                              int depth, double base, double sign) {
    double s[4];
    for (int c = 0; c < channels; c++)
        s[c] = depth == 16 ? (double)(p[2 * c] << 8 | p[2 * c + 1]) * (1.0 / 65535.0)
                           : (double)p[c] * (1.0 / 255.0);
    double luma = channels <= 2 ? s[0] : 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
    double alpha = channels == 2 ? s[1] : channels == 4 ? s[3] : 1.0;
    return alpha * (base + sign * luma);
}

/* Adds count pixels of one row, at columns x0, x0+dx, ..., to line[] (one entry per output
 * column, weighted by overlap in units). Inlined per pixel layout so the loop is specialised. */
static inline __attribute__((always_inline)) void add_pixels(double *line, const uint8_t *row,
                                                             uint32_t count, uint32_t x0, uint32_t dx,
                                                             uint32_t width, int channels, int depth,
                                                             double base, double sign) {
    const size_t step = (size_t)channels * (size_t)(depth / 8);
    const int64_t W = width;
    int64_t j = 0, next = W;        /* output column of the current pixel and its right edge */
    int64_t a = (int64_t)x0 * VAE_IN; /* current pixel spans [a, a+28) */
    for (uint32_t k = 0; k < count; k++, a += (int64_t)dx * VAE_IN) {
        double ink = pixel_ink(row + (size_t)k * step, channels, depth, base, sign);
        int64_t b = a + VAE_IN;
        while (next <= a) j++, next += W;
        if (b <= next) { /* the whole pixel falls in one output column: the usual case */
            line[j] += ink * VAE_IN;
            continue;
        }
        for (int64_t jj = j; jj < VAE_IN && jj * W < b; jj++) {
            int64_t lo = a > jj * W ? a : jj * W, hi = b < (jj + 1) * W ? b : (jj + 1) * W;
            line[jj] += ink * (double)(hi - lo);
        }
    }
}

/* Adds one decoded row (count pixels at columns x0, x0+dx, ... of image row y) to r->sums. */
static void add_row(decode_state *r, const uint8_t *row, int channels, int depth, uint32_t count,
                    uint32_t x0, uint32_t dx, uint32_t y, uint32_t width, uint32_t height) {
    double line[VAE_IN] = {0};
    double base = r->invert ? 1.0 : 0.0, sign = r->invert ? -1.0 : 1.0;
#define VAE_ADD(C, D) add_pixels(line, row, count, x0, dx, width, C, D, base, sign)
    if (depth == 8) {
        switch (channels) {
        case 1: VAE_ADD(1, 8); break;
        case 2: VAE_ADD(2, 8); break;
        case 3: VAE_ADD(3, 8); break;
        default: VAE_ADD(4, 8); break;
        }
    } else {
        switch (channels) {
        case 1: VAE_ADD(1, 16); break;
        case 2: VAE_ADD(2, 16); break;
        case 3: VAE_ADD(3, 16); break;
        default: VAE_ADD(4, 16); break;
        }
    }
#undef VAE_ADD
    int64_t H = height, a = (int64_t)y * VAE_IN, b = a + VAE_IN;
    for (int64_t i = a / H; i < VAE_IN && i * H < b; i++) {
        int64_t lo = a > i * H ? a : i * H, hi = b < (i + 1) * H ? b : (i + 1) * H;
        double *dst = r->sums + i * VAE_IN;
        for (int jj = 0; jj < VAE_IN; jj++) dst[jj] += line[jj] * (double)(hi - lo);
    }
}

/* Runs libpng over r->bytes, accumulating into r->sums. Everything that can longjmp lives here;
 * the state that must survive a longjmp (heap_row) is in *r, not in this function's locals.
 * Returns VAE_OK, VAE_ERR_NOMEM, or VAE_ERR_FORMAT with the reason in r->fail.msg. */
static vae_status decode_run(png_structp png, png_infop info, decode_state *r, long max_pixels) {
    if (setjmp(png_jmpbuf(png))) return VAE_ERR_FORMAT;
    png_uint_32 side_max = max_pixels < (long)PNG_UINT_31_MAX ? (png_uint_32)max_pixels
                                                              : PNG_UINT_31_MAX;
    png_set_user_limits(png, side_max, side_max);
    png_set_chunk_malloc_max(png, VAE_PNG_CHUNK_MAX);
    png_set_chunk_cache_max(png, 32);
    /* Skip every ancillary chunk but tRNS (text, ICC, EXIF, gamma...): we use coded values, and
     * skipped chunks cost no allocation and no decompression. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_read_fn(png, r, read_from_bytes);
    png_set_sig_bytes(png, 8);
    r->pos = 8;
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    png_set_expand(png); /* palette -> RGB, 1/2/4-bit grey -> 8, tRNS -> alpha; 16 bits kept */
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info), depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        rowbytes < (size_t)width * (size_t)channels * (size_t)(depth / 8))
        png_error(png, "unexpected pixel layout after expansion");

    uint8_t *row = r->small_row;
    if (rowbytes > sizeof r->small_row) {
        r->heap_row = malloc(rowbytes);
        if (!r->heap_row) return VAE_ERR_NOMEM;
        row = r->heap_row;
    }
    if (!interlaced) {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, row, NULL);
            add_row(r, row, channels, depth, width, 0, 1, y, width, height);
        }
        return VAE_OK;
    }
    /* Without png_set_interlace_handling libpng hands over each Adam7 pass as its own sub-image
     * (empty passes skipped); every pixel arrives once, so the sums need no full frame. */
    for (int pass = 0; pass < 7; pass++) {
        png_uint_32 cols = PNG_PASS_COLS(width, pass), rows = PNG_PASS_ROWS(height, pass);
        if (cols == 0 || rows == 0) continue;
        for (png_uint_32 k = 0; k < rows; k++) {
            png_read_row(png, row, NULL);
            add_row(r, row, channels, depth, cols, PNG_COL_FROM_PASS_COL(0, pass),
                    1u << PNG_PASS_COL_SHIFT(pass), PNG_ROW_FROM_PASS_ROW(k, pass), width, height);
        }
    }
    return VAE_OK;
}

/* Trailing chunks after the image data (normally just IEND) are not read: a body cut after its
 * last pixel still decodes, while one cut anywhere in the image data fails. */
vae_status vae_png_decode_input(const uint8_t *bytes, size_t len, long max_pixels, int invert,
                                float out[784], vae_error *err) {
    if (!out || (!bytes && len > 0))
        return vae_error_set(err, VAE_ERR_ARG, "png decode: NULL argument");
    if (max_pixels <= 0)
        return vae_error_set(err, VAE_ERR_ARG, "png decode: max_pixels %ld is not positive", max_pixels);
    vae_status st = check_header(bytes, len, max_pixels, err);
    if (st != VAE_OK) return st;

    decode_state *r = calloc(1, sizeof *r); /* ~7 KiB: off the (possibly small) thread stack */
    if (!r) return vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    r->bytes = bytes;
    r->len = len;
    r->invert = invert != 0;
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->fail, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        free(r);
        return vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    }
    st = decode_run(png, info, r, max_pixels);
    uint32_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    free(r->heap_row);
    if (st == VAE_OK) {
        double norm = 1.0 / ((double)width * (double)height);
        for (int i = 0; i < VAE_IN * VAE_IN; i++) {
            double v = r->sums[i] * norm;
            out[i] = (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
        }
    } else if (st == VAE_ERR_NOMEM || strncmp(r->fail.msg, "Out of memory", 13) == 0) { /* libpng's */
        st = vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    } else {
        st = vae_error_set(err, VAE_ERR_FORMAT, "invalid PNG: %s", r->fail.msg);
    }
    free(r);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Resizing, quantisation, grids */

/* Gathers each output pixel from the source pixels it overlaps, in the same exact integer units as
 * add_row (a source pixel is dst_w units wide, an output pixel src_w), so it needs no scratch. */
void vae_image_resize_area(const float *src, int src_w, int src_h, float *dst, int dst_w, int dst_h) {
    if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0) return;
    const int64_t sw = src_w, sh = src_h, dw = dst_w, dh = dst_h;
    const double norm = 1.0 / ((double)sw * (double)sh);
    for (int64_t i = 0; i < dh; i++) {
        int64_t ya = i * sh, yb = ya + sh; /* output row i in source-row units of size dh */
        for (int64_t j = 0; j < dw; j++) {
            int64_t xa = j * sw, xb = xa + sw;
            double sum = 0.0;
            for (int64_t y = ya / dh; y < sh && y * dh < yb; y++) {
                int64_t oy = (yb < (y + 1) * dh ? yb : (y + 1) * dh) - (ya > y * dh ? ya : y * dh);
                const float *srow = src + y * sw;
                double line = 0.0;
                for (int64_t x = xa / dw; x < sw && x * dw < xb; x++) {
                    int64_t ox = (xb < (x + 1) * dw ? xb : (x + 1) * dw) - (xa > x * dw ? xa : x * dw);
                    line += (double)srow[x] * (double)ox;
                }
                sum += line * (double)oy;
            }
            dst[i * dw + j] = (float)(sum * norm);
        }
    }
}

uint8_t vae_pixel_to_u8(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

void vae_image_grid(const float *images, int n, int side, int cols, uint8_t *out) {
    if (n <= 0 || side <= 0 || cols <= 0) return;
    int rows = (n + cols - 1) / cols;
    size_t out_w = (size_t)cols * (size_t)side;
    for (int cell = 0; cell < rows * cols; cell++) {
        const float *img = cell < n ? images + (size_t)cell * side * side : NULL;
        uint8_t *dst = out + (size_t)(cell / cols) * side * out_w + (size_t)(cell % cols) * side;
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++)
                dst[(size_t)y * out_w + x] = img ? vae_pixel_to_u8(img[(size_t)y * side + x]) : 0;
        }
    }
}
