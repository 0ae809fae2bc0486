/* The model's grey images as bytes: quantisation, grids, the area resize (of pixel arrays, and the
 * tests' check of the PNG decoder's own), and the complexity of an image as the size of its PNG. */
#include "vae/image.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "vae/png.h"

/* zlib level of the complexity measure: the smallest files (Serra et al. use the maximum level). */
#define COMPLEXITY_LEVEL 9

float vae_image_complexity_bits(const float x[VAE_INPUT_DIM]) {
    uint8_t pixels[VAE_INPUT_DIM];
    for (int i = 0; i < VAE_INPUT_DIM; i++) pixels[i] = vae_pixel_to_u8(x[i]);
    vae_buf png = {0};
    vae_status st = vae_png_encode(pixels, VAE_IMAGE_SIDE, VAE_IMAGE_SIDE, 1, COMPLEXITY_LEVEL, &png, NULL);
    float bits = st == VAE_OK ? 8.0f * (float)png.len : NAN;
    vae_buf_free(&png);
    return bits;
}

/* Gathers each output pixel from the source pixels it overlaps, in the same exact integer units as
 * the PNG decoder's add_row (png_decode.c: a source pixel is dst_w units wide, an output pixel
 * src_w), so it needs no scratch. */
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
