/* Images in and out of the model: PNG encoding of grey or RGB pixels, PNG decoding of any colour type
 * into the model's 28x28 [0,1] input, area resizing, and image grids. Used by the server and the
 * trainer's report. */
#ifndef VAE_IMAGE_H
#define VAE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vae/error.h"

/* A growable byte buffer. Zero-initialise, append, free with vae_buf_free. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} vae_buf;

/* Makes room for `extra` more bytes; VAE_ERR_NOMEM on failure (buffer unchanged). */
vae_status vae_buf_reserve(vae_buf *buf, size_t extra);
vae_status vae_buf_append(vae_buf *buf, const void *bytes, size_t n);
/* Frees the bytes; buf is empty afterwards. */
void vae_buf_free(vae_buf *buf);

/* Encodes width x height pixels with 1 (grey) or 3 (RGB) 8-bit channels, rows top to bottom, as a PNG
 * appended to out. level is the zlib level 0..9 (-1 for the codec's tuned default). */
vae_status vae_png_encode(const uint8_t *pixels, int width, int height, int channels, int level,
                          vae_buf *out, vae_error *err);

/* Encodes like vae_png_encode with a writer made for the server's small images: one pass, fixed
 * Huffman codes and run-length matches only, nothing set up per image (no libpng, no zlib stream).
 * Appends to out. vae_png_encode uses it for level -1. */
vae_status vae_png_encode_rle(const uint8_t *pixels, int width, int height, int channels,
                              vae_buf *out, vae_error *err);

/* Largest width*height vae_png_decode_input accepts by default (checked from the header, before
 * anything the size of the image is allocated). */
#define VAE_PNG_DEFAULT_MAX_PIXELS (4096L * 4096L)

/* Decodes a PNG of any colour type and bit depth (grey, grey+alpha, RGB, RGBA, palette, with or
 * without tRNS, 1..16 bits, interlaced or not) into the model input: grey, composited over the
 * background (transparent means background), area-averaged to 28x28, scaled to [0,1], 0 = background.
 * With invert, the PNG is taken to be dark ink on a light background and is inverted.
 * Errors: VAE_ERR_FORMAT (not a PNG, truncated, bad CRC, corrupt data, a zero dimension) or
 * VAE_ERR_LIMIT (more than max_pixels pixels, judged from the header before anything the size of
 * the image is allocated), each with a message saying what is wrong. */
vae_status vae_png_decode_input(const uint8_t *bytes, size_t len, long max_pixels, int invert,
                                float out[784], vae_error *err);

/* Area-averaging resize of a grey float image (each output pixel is the mean of the source area it
 * covers, fractional overlaps weighted). Works for up- and down-scaling. */
void vae_image_resize_area(const float *src, int src_w, int src_h, float *dst, int dst_w, int dst_h);

/* Quantises a value in [0,1] to 0..255 (rounded, clamped; NaN gives 0). */
uint8_t vae_pixel_to_u8(float v);

/* Lays out n side x side float images ([0,1]) in a grid of `cols` columns and ceil(n/cols) rows, into
 * out, which holds (rows*side) x (cols*side) bytes. Cells past n are black. */
void vae_image_grid(const float *images, int n, int side, int cols, uint8_t *out);

#endif
