/* The model's grey images as bytes: quantisation, grids of several images, area resizing, and the
 * compressed size that measures an image's complexity. */
#ifndef VAE_IMAGE_H
#define VAE_IMAGE_H

#include <stdint.h>

#include "vae/model.h"

/* Quantises a value in [0,1] to 0..255 (rounded, clamped; NaN gives 0). */
uint8_t vae_pixel_to_u8(float v);

/* out[i] = vae_pixel_to_u8(src[i]) for i < n, the same bytes, several pixels at a time. */
void vae_pixels_to_u8(uint8_t *out, const float *src, size_t n);

/* Lays out n side x side float images ([0,1]) in a grid of `cols` columns and ceil(n/cols) rows, into
 * out, which holds (rows*side) x (cols*side) bytes. Cells past n are black. */
void vae_image_grid(const float *images, int n, int side, int cols, uint8_t *out);

/* Area-averaging resize of a grey float image (each output pixel is the mean of the source area it
 * covers, fractional overlaps weighted). Works for up- and down-scaling. The preparation of pixel
 * arrays (vae_prepare_image) uses it; tests/unit/test_image.c checks the PNG decoder's own area
 * averaging (done row by row as it decodes) against it. */
void vae_image_resize_area(const float *src, int src_w, int src_h, float *dst, int dst_w, int dst_h);

/* The image's complexity in bits (Serra et al., ICLR 2020: the length of a lossless compression of
 * the input), as the trainer's calibration and the server's /score both compute it: x (784 values in
 * [0,1]) quantised with vae_pixel_to_u8 into a 28x28 8-bit grey image, written as an ordinary PNG by
 * vae_png_encode at zlib level 9 (libpng: no row filter, libpng's default zlib strategy and window,
 * no ancillary chunks), and 8 times the length of that file in bytes (its 57 bytes of signature, IHDR,
 * IDAT and IEND framing included). Thread-safe. NaN when out of memory. */
float vae_image_complexity_bits(const float x[VAE_INPUT_DIM]);

#endif
