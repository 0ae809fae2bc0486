/* PNG encoding through libpng, in memory; level -1 goes to the run-length writer (png_rle.c). */
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include "libpng_glue.h"
#include "vae/png.h"

typedef struct {
    vae_libpng_failure fail;
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
 * Levels 0..9 go through libpng with that level and no filters. */
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
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.fail, vae_libpng_on_error,
                                              vae_libpng_on_warning);
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
    if (vae_libpng_out_of_memory(&w.fail))
        return vae_error_set(err, VAE_ERR_NOMEM, "png encode: out of memory");
    return vae_error_set(err, VAE_ERR_FORMAT, "png encode: %s", w.fail.msg);
}
