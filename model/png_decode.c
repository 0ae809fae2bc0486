/* PNG to model input: signature and header checks done by hand (to name the problem, and to refuse
 * huge images before libpng allocates anything), then libpng row by row into area sums over a grid:
 * 28x28, or the preparation's grid (prepare_core.h) for the MNIST and fill normalisations. */
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "libpng_glue.h"
#include "prepare_core.h"
#include "util.h"
#include "vae/png.h"

#define VAE_PNG_CHUNK_MAX (2u << 20) /* largest chunk libpng may buffer; PLTE/tRNS are < 1 KiB */
#define SIDE VAE_IMAGE_SIDE          /* the model input's side */

/* Records a refusal: the kind in *problem (when not NULL), the status and message in err. */
#define REFUSE(problem, kind, err, status, ...) \
    ((problem) ? (void)(*(problem) = (kind)) : (void)0, vae_error_set((err), (status), __VA_ARGS__))

static int starts_with(const uint8_t *bytes, size_t len, const char *magic, size_t n) {
    return len >= n && memcmp(bytes, magic, n) == 0;
}

/* What bytes without a PNG signature most likely are, so the sender learns what was sent: sets
 * *kind and returns a name ("a JPEG"), or NULL if unknown (kind left as VAE_PNG_NOT_PNG). */
static const char *sniff_format(const uint8_t *b, size_t len, vae_png_problem *kind) {
    *kind = VAE_PNG_NOT_PNG;
    if (starts_with(b, len, "\xff\xd8\xff", 3)) return "a JPEG";
    if (starts_with(b, len, "GIF87a", 6) || starts_with(b, len, "GIF89a", 6)) return "a GIF";
    if (len >= 12 && starts_with(b, len, "RIFF", 4) && memcmp(b + 8, "WEBP", 4) == 0)
        return "a WebP";
    if (starts_with(b, len, "II*\0", 4) || starts_with(b, len, "MM\0*", 4)) return "a TIFF";
    if (starts_with(b, len, "BM", 2)) return "a BMP";
    if (starts_with(b, len, "%PDF", 4)) return "a PDF";
    if (starts_with(b, len, "\x1f\x8b", 2)) return "gzip data";
    if (starts_with(b, len, "PK\x03\x04", 4)) return "a ZIP archive";
    if (starts_with(b, len, "iVBORw0KGgo", 11)) { /* base64 of the signature */
        *kind = VAE_PNG_BASE64;
        return "a base64-encoded PNG";
    }
    if (starts_with(b, len, "--", 2)) {
        *kind = VAE_PNG_MULTIPART;
        return "MIME multipart data";
    }
    if (b[0] == '{' || b[0] == '[') return "JSON";
    if (b[0] == '<') return "HTML or XML";
    if (len >= 4 && memcmp(b, VAE_PNG_SIGNATURE, 4) == 0) { /* "\x89PNG", then \r\n or \n rewritten */
        *kind = VAE_PNG_LINE_ENDINGS;
        return "a PNG whose signature has damaged line-ending bytes (\\r\\n rewritten)";
    }
    return NULL;
}

/* Checks the signature and the IHDR chunk (which the PNG spec puts first, at byte 8). */
static vae_status check_header(const uint8_t *bytes, size_t len, long max_pixels,
                               vae_png_problem *problem, vae_error *err) {
    const size_t sig = VAE_PNG_SIGNATURE_LEN;
    if (len == 0)
        return REFUSE(problem, VAE_PNG_EMPTY, err, VAE_ERR_FORMAT,
                      "empty (no bytes; expected a PNG image)");
    if (len < sig || memcmp(bytes, VAE_PNG_SIGNATURE, sig) != 0) {
        if (len < sig && memcmp(bytes, VAE_PNG_SIGNATURE, len) == 0)
            return REFUSE(problem, VAE_PNG_TRUNCATED, err, VAE_ERR_FORMAT,
                          "truncated PNG: only %zu bytes", len);
        vae_png_problem kind;
        const char *name = sniff_format(bytes, len, &kind);
        if (name)
            return REFUSE(problem, kind, err, VAE_ERR_FORMAT, "not a PNG (it looks like %s)", name);
        return REFUSE(problem, kind, err, VAE_ERR_FORMAT,
                      "not a PNG (bad signature, starts with %02x %02x %02x %02x)", bytes[0],
                      len > 1 ? bytes[1] : 0, len > 2 ? bytes[2] : 0, len > 3 ? bytes[3] : 0);
    }
    const size_t ihdr_end = sig + 8 + 13 + 4; /* signature, length+type, data, CRC */
    if (len < ihdr_end)
        return REFUSE(problem, VAE_PNG_TRUNCATED, err, VAE_ERR_FORMAT,
                      "truncated PNG: %zu bytes, header incomplete", len);
    const uint8_t *chunk = bytes + sig;
    if (read_be32(chunk) != 13 || memcmp(chunk + 4, "IHDR", 4) != 0)
        return REFUSE(problem, VAE_PNG_BAD_HEADER, err, VAE_ERR_FORMAT,
                      "invalid PNG: first chunk is not a valid IHDR");
    /* A corrupt header's dimensions mean nothing: check its CRC before judging them. */
    uint32_t crc = (uint32_t)crc32(0L, chunk + 4, 4 + 13);
    if (crc != read_be32(chunk + 8 + 13))
        return REFUSE(problem, VAE_PNG_BAD_CRC, err, VAE_ERR_FORMAT,
                      "invalid PNG: IHDR: CRC error (corrupt header)");
    uint32_t w = read_be32(chunk + 8), h = read_be32(chunk + 12);
    if (w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX)
        return REFUSE(problem, VAE_PNG_BAD_HEADER, err, VAE_ERR_FORMAT,
                      "invalid PNG: size %" PRIu32 "x%" PRIu32 " is out of range", w, h);
    if (w == 0 || h == 0)
        return REFUSE(problem, VAE_PNG_ZERO_SIZE, err, VAE_ERR_FORMAT,
                      "invalid PNG: the header says %" PRIu32 "x%" PRIu32 " (a zero dimension)", w, h);
    unsigned long long pixels = (unsigned long long)w * h;
    if (pixels > (unsigned long long)max_pixels)
        return REFUSE(problem, VAE_PNG_TOO_LARGE, err, VAE_ERR_LIMIT,
                      "image is %" PRIu32 "x%" PRIu32 " = %llu pixels, more than the limit of %ld", w, h,
                      pixels, max_pixels);
    return VAE_OK;
}

/* Where libpng was when it failed, to name the problem. */
typedef enum { PHASE_CHUNKS, PHASE_IMAGE_DATA } decode_phase;

typedef struct {
    vae_libpng_failure fail;
    const uint8_t *bytes; /* the whole input; libpng pulls from pos */
    size_t len, pos;
    int invert;              /* the ink is accumulated inverted (else the light: alpha * luma) */
    int ran_out;             /* libpng asked for bytes past the end */
    decode_phase phase;
    vae_png_problem problem; /* set by a check of our own after libpng's */
    uint8_t small_row[1024]; /* rows of typical inputs fit here: no allocation */
    uint8_t *heap_row;       /* else; freed by the caller on every path */
    /* Scaled coordinates make overlaps exact integers: a source pixel is gw (gh) units wide (tall)
     * and an output pixel is width (height) units, so each output pixel's area is width*height. */
    int gw, gh;              /* the grid: 28x28, or the preparation's */
    double *sums;            /* (gh, gw): the ink (or light) */
    double *cover;           /* (gh, gw): alpha, when wanted and the image has it; else NULL */
    int want_cover;
    double line[VAE_PREPARE_MAX_SIDE], cover_line[VAE_PREPARE_MAX_SIDE]; /* one source row's sums */
    double small_sums[SIDE * SIDE]; /* the 28x28 grid's sums: no allocation */
} decode_state;

static void read_from_bytes(png_structp png, png_bytep data, size_t n) {
    decode_state *r = png_get_io_ptr(png);
    if (n > r->len - r->pos) {
        r->ran_out = 1;
        png_error(png, "unexpected end of data (the PNG is truncated)");
    }
    memcpy(data, r->bytes + r->pos, n);
    r->pos += n;
}

/* The ink of one pixel in [0,1]: luminance (Rec.709 weights on the coded values) composited over
 * the background. The background is black (0) normally and white (1) for dark ink, which the
 * inversion (base 1, sign -1) turns back into 0: transparent pixels are background either way.
 * p holds `channels` samples (grey, grey+alpha, RGB, RGBA) of `depth` bits, 16-bit big-endian. */
static inline __attribute__((always_inline)) double pixel_ink(const uint8_t *p, int channels,
                                                              int depth, double base, double sign,
                                                              double *alpha_out) {
    double s[4];
    for (int c = 0; c < channels; c++)
        s[c] = depth == 16 ? (double)(p[2 * c] << 8 | p[2 * c + 1]) * (1.0 / 65535.0)
                           : (double)p[c] * (1.0 / 255.0);
    double luma = channels <= 2 ? s[0] : 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
    double alpha = channels == 2 ? s[1] : channels == 4 ? s[3] : 1.0;
    *alpha_out = alpha;
    return alpha * (base + sign * luma);
}

/* Adds count pixels of one row, at columns x0, x0+dx, ..., to line[] (one entry per output
 * column of the gw, weighted by overlap in units), and their alpha to cover_line[] unless it is
 * NULL. Inlined per pixel layout so the loop is specialised. */
static inline __attribute__((always_inline)) void add_pixels(double *line, double *cover_line,
                                                             const uint8_t *row, uint32_t count,
                                                             uint32_t x0, uint32_t dx, uint32_t width,
                                                             int gw, int channels, int depth,
                                                             double base, double sign) {
    const size_t step = (size_t)channels * (size_t)(depth / 8);
    const int64_t W = width, G = gw;
    int64_t j = 0, next = W;     /* output column of the current pixel and its right edge */
    int64_t a = (int64_t)x0 * G; /* current pixel spans [a, a+gw) */
    for (uint32_t k = 0; k < count; k++, a += (int64_t)dx * G) {
        double alpha;
        double ink = pixel_ink(row + (size_t)k * step, channels, depth, base, sign, &alpha);
        int64_t b = a + G;
        while (next <= a) j++, next += W;
        if (b <= next) { /* the whole pixel falls in one output column: the usual case */
            line[j] += ink * (double)G;
            if (cover_line) cover_line[j] += alpha * (double)G;
            continue;
        }
        for (int64_t jj = j; jj < G && jj * W < b; jj++) {
            int64_t lo = a > jj * W ? a : jj * W, hi = b < (jj + 1) * W ? b : (jj + 1) * W;
            line[jj] += ink * (double)(hi - lo);
            if (cover_line) cover_line[jj] += alpha * (double)(hi - lo);
        }
    }
}

/* Adds one decoded row (count pixels at columns x0, x0+dx, ... of image row y) to r->sums (and
 * its alpha to r->cover). */
static void add_row(decode_state *r, const uint8_t *row, int channels, int depth, uint32_t count,
                    uint32_t x0, uint32_t dx, uint32_t y, uint32_t width, uint32_t height) {
    const int gw = r->gw, gh = r->gh;
    double *line = r->line, *cover_line = r->cover ? r->cover_line : NULL;
    memset(line, 0, sizeof(double) * (size_t)gw);
    if (cover_line) memset(cover_line, 0, sizeof(double) * (size_t)gw);
    double base = r->invert ? 1.0 : 0.0, sign = r->invert ? -1.0 : 1.0;
#define VAE_ADD(C, D) add_pixels(line, cover_line, row, count, x0, dx, width, gw, C, D, base, sign)
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
    int64_t H = height, a = (int64_t)y * gh, b = a + gh;
    for (int64_t i = a / H; i < gh && i * H < b; i++) {
        int64_t lo = a > i * H ? a : i * H, hi = b < (i + 1) * H ? b : (i + 1) * H;
        double *dst = r->sums + i * gw;
        for (int jj = 0; jj < gw; jj++) dst[jj] += line[jj] * (double)(hi - lo);
        if (cover_line) {
            double *cov = r->cover + i * gw;
            for (int jj = 0; jj < gw; jj++) cov[jj] += cover_line[jj] * (double)(hi - lo);
        }
    }
}

/* Runs libpng over r->bytes, accumulating into r->sums. Everything that can longjmp lives here;
 * the state that must survive a longjmp (heap_row, phase) is in *r, not in this function's locals.
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
    png_set_sig_bytes(png, VAE_PNG_SIGNATURE_LEN);
    r->pos = VAE_PNG_SIGNATURE_LEN;
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
    if (!r->want_cover || (channels != 2 && channels != 4)) r->cover = NULL; /* opaque */
    if (r->cover) memset(r->cover, 0, sizeof(double) * (size_t)r->gw * (size_t)r->gh);

    uint8_t *row = r->small_row;
    if (rowbytes > sizeof r->small_row) {
        r->heap_row = malloc(rowbytes);
        if (!r->heap_row) return VAE_ERR_NOMEM;
        row = r->heap_row;
    }
    r->phase = PHASE_IMAGE_DATA;
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

/* Records a failure found outside libpng: its kind and message. Returns VAE_ERR_FORMAT. */
static vae_status refuse_data(decode_state *r, vae_png_problem kind, const char *msg) {
    r->problem = kind;
    snprintf(r->fail.msg, sizeof r->fail.msg, "IDAT: %s", msg);
    return VAE_ERR_FORMAT;
}

/* Inflates the zlib stream of the IDAT chunks once more, start to end, discarding the output, so
 * that its end code and adler32 are checked. libpng stops inflating at the last row: what follows
 * it is checked only as far as libpng's current input buffer reaches (not into later IDAT chunks),
 * and a failure there is a mere warning, so damaged data could decode into other pixels. The chunks
 * after the stream's end (IEND) are not looked at. Returns VAE_OK, VAE_ERR_NOMEM, or VAE_ERR_FORMAT
 * with r->problem and r->fail.msg set. */
static vae_status verify_image_data(decode_state *r) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return VAE_ERR_NOMEM;
    const uint8_t *b = r->bytes;
    const size_t len = r->len;
    vae_status st = VAE_OK;
    int in_idat = 0, ret = Z_OK;
    /* the rows are done: small_row is free to take the discarded output */
    uint8_t *sink = r->small_row;
    for (size_t pos = VAE_PNG_SIGNATURE_LEN; ret != Z_STREAM_END && st == VAE_OK;) {
        if (len - pos < 12 || read_be32(b + pos) > len - pos - 12) {
            st = refuse_data(r, VAE_PNG_TRUNCATED, "unexpected end of data (the PNG is truncated)");
            break;
        }
        const uint32_t n = read_be32(b + pos);
        const uint8_t *type = b + pos + 4, *data = b + pos + 8;
        if (memcmp(type, "IDAT", 4) != 0) {
            if (in_idat)
                st = refuse_data(r, VAE_PNG_CORRUPT_DATA, "the image data ends before its zlib stream");
            pos += 12 + (size_t)n;
            continue;
        }
        in_idat = 1;
        if ((uint32_t)crc32(0L, type, 4 + n) != read_be32(data + n)) {
            st = refuse_data(r, VAE_PNG_BAD_CRC, "CRC error");
            break;
        }
        zs.next_in = (Bytef *)data;
        zs.avail_in = n;
        do { /* until this chunk is used up and no output is pending */
            zs.next_out = sink;
            zs.avail_out = sizeof r->small_row;
            ret = inflate(&zs, Z_NO_FLUSH);
        } while (ret == Z_OK && (zs.avail_in > 0 || zs.avail_out == 0));
        if (ret == Z_MEM_ERROR) st = VAE_ERR_NOMEM;
        else if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) /* BUF: wants more input */
            st = refuse_data(r, VAE_PNG_CORRUPT_DATA, zs.msg ? zs.msg : "corrupt zlib stream");
        pos += 12 + (size_t)n;
    }
    inflateEnd(&zs);
    return st;
}

/* The kind of a failure libpng reported, from where it happened and what it said. */
static vae_png_problem libpng_problem(const decode_state *r) {
    if (r->problem != VAE_PNG_NONE) return r->problem;
    if (r->ran_out) return VAE_PNG_TRUNCATED;
    if (strstr(r->fail.msg, "CRC error")) return VAE_PNG_BAD_CRC;
    if (strstr(r->fail.msg, "unknown critical chunk")) return VAE_PNG_UNSUPPORTED;
    if (r->phase == PHASE_IMAGE_DATA) return VAE_PNG_CORRUPT_DATA;
    if (strstr(r->fail.msg, "IHDR")) return VAE_PNG_BAD_HEADER;
    return VAE_PNG_INVALID;
}

/* Where the sums go when they are not the 28x28 ones in the state: the work buffer, laid out as
 * sums and cover (doubles), the planes handed to the preparation (floats), then its own work. */
typedef struct {
    double *sums, *cover;
    float *plane, *cover_plane;
    void *core;
} grid_memory;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static vae_status reserve_grid(vae_buf *work, int gw, int gh, grid_memory *m) {
    const size_t n = (size_t)gw * (size_t)gh, d = round16(n * sizeof(double)), f = round16(n * sizeof(float));
    work->len = 0;
    if (vae_buf_reserve(work, 2 * d + 2 * f + vae_prepare_work_bytes(gw, gh)) != VAE_OK) return VAE_ERR_NOMEM;
    uint8_t *p = work->data;
    memset(p, 0, d); /* the cover's sums are zeroed when the image turns out to have alpha */
    m->sums = (double *)p;
    m->cover = (double *)(p + d);
    m->plane = (float *)(p + 2 * d);
    m->cover_plane = (float *)(p + 2 * d + f);
    m->core = p + 2 * d + 2 * f;
    return VAE_OK;
}

/* sums[0..n) * norm, clamped to [0,1], into plane. */
static void to_plane(const double *sums, size_t n, double norm, float *plane) {
    for (size_t i = 0; i < n; i++) {
        double v = sums[i] * norm;
        plane[i] = (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
    }
}

/* Trailing chunks after the image data (normally just IEND) are not read: bytes cut after the end
 * of the zlib stream still decode, while bytes cut anywhere in the image data fail. */
vae_status vae_png_decode_prepared(const uint8_t *bytes, size_t len, long max_pixels,
                                   const vae_prepare_options *opts, vae_buf *work, float out[VAE_INPUT_DIM],
                                   vae_prepare_info *info, vae_png_problem *problem, vae_error *err) {
    if (problem) *problem = VAE_PNG_NONE;
    if (!out || !opts || (!bytes && len > 0))
        return vae_error_set(err, VAE_ERR_ARG, "png decode: NULL argument");
    if (max_pixels <= 0)
        return vae_error_set(err, VAE_ERR_ARG, "png decode: max_pixels %ld is not positive", max_pixels);
    if ((unsigned)opts->normalize > VAE_NORMALIZE_FILL || (unsigned)opts->invert > VAE_INVERT_AUTO)
        return vae_error_set(err, VAE_ERR_ARG, "png decode: preparation options out of range");
    vae_status st = check_header(bytes, len, max_pixels, problem, err);
    if (st != VAE_OK) return st;

    /* the plain 28x28 average with a given polarity sums the ink itself, in the state; the rest sums
     * the light (and alpha) on the preparation's grid, in work memory */
    const int plain = opts->normalize == VAE_NORMALIZE_NONE && opts->invert != VAE_INVERT_AUTO;
    const uint32_t width = read_be32(bytes + VAE_PNG_SIGNATURE_LEN + 8);
    const uint32_t height = read_be32(bytes + VAE_PNG_SIGNATURE_LEN + 12);
    decode_state *r = calloc(1, sizeof *r); /* ~17 KiB: off the (possibly small) thread stack */
    if (!r) return vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    vae_buf local = {0}, *buf = work ? work : &local;
    grid_memory m = {0};
    r->bytes = bytes;
    r->len = len;
    r->invert = opts->invert == VAE_INVERT_YES;
    r->gw = r->gh = SIDE;
    r->sums = r->small_sums;
    if (!plain) {
        vae_prepare_grid_size((int)width, (int)height, opts->normalize, &r->gw, &r->gh);
        if (reserve_grid(buf, r->gw, r->gh, &m) != VAE_OK) {
            free(r);
            return vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
        }
        r->sums = m.sums;
        r->want_cover = opts->invert == VAE_INVERT_AUTO;
        r->cover = r->want_cover ? m.cover : NULL;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->fail, vae_libpng_on_error,
                                             vae_libpng_on_warning);
    png_infop info_ptr = png ? png_create_info_struct(png) : NULL;
    if (!info_ptr) {
        png_destroy_read_struct(&png, NULL, NULL);
        free(r);
        vae_buf_free(&local);
        return vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    }
    st = decode_run(png, info_ptr, r, max_pixels);
    if (st == VAE_OK) st = verify_image_data(r);
    png_destroy_read_struct(&png, &info_ptr, NULL);
    free(r->heap_row);
    const double norm = 1.0 / ((double)width * (double)height);
    if (st == VAE_OK && plain) {
        for (int i = 0; i < SIDE * SIDE; i++) {
            double v = r->sums[i] * norm;
            out[i] = (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
        }
        if (info)
            *info = (vae_prepare_info){.normalize = VAE_NORMALIZE_NONE, .inverted = r->invert,
                                       .polarity = VAE_POLARITY_ASKED, .width = (int)width, .height = (int)height};
    } else if (st == VAE_OK) {
        const size_t n = (size_t)r->gw * (size_t)r->gh;
        to_plane(m.sums, n, norm, m.plane);
        if (r->cover) to_plane(m.cover, n, norm, m.cover_plane);
        vae_prepare_grid g = {.plane = m.plane, .cover = r->cover ? m.cover_plane : NULL, .gw = r->gw, .gh = r->gh,
                              .width = (int)width, .height = (int)height,
                              .polarised = opts->invert != VAE_INVERT_AUTO};
        st = vae_prepare_finish(&g, opts, m.core, out, info, err);
    } else if (st == VAE_ERR_NOMEM || vae_libpng_out_of_memory(&r->fail)) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "png decode: out of memory");
    } else {
        st = REFUSE(problem, libpng_problem(r), err, VAE_ERR_FORMAT, "invalid PNG: %s", r->fail.msg);
    }
    free(r);
    vae_buf_free(&local);
    return st;
}

vae_status vae_png_decode_input(const uint8_t *bytes, size_t len, long max_pixels, int invert,
                                float out[VAE_INPUT_DIM], vae_png_problem *problem, vae_error *err) {
    const vae_prepare_options plain = {VAE_NORMALIZE_NONE, invert ? VAE_INVERT_YES : VAE_INVERT_NO};
    return vae_png_decode_prepared(bytes, len, max_pixels, &plain, NULL, out, NULL, problem, err);
}
