/* The model's grey images as bytes: quantisation, grids, the area resize (of pixel arrays, and the
 * tests' check of the PNG decoder's own), and the complexity of an image as the size of its PNG. */
#include "vae/image.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "vae/png.h"

/* zlib level of the complexity measure: the smallest files (Serra et al. use the maximum level). */
#define COMPLEXITY_LEVEL 9

float vae_image_complexity_bits(const float x[VAE_INPUT_DIM]) {
    uint8_t pixels[VAE_INPUT_DIM];
    vae_pixels_to_u8(pixels, x, VAE_INPUT_DIM);
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

/* 16 and then 4 pixels at a time where there is SSE2 (every x86-64): max with 0 (NaN gives 0, as
 * maxps returns its second operand), min with 1, the same multiply and add, truncated; the same
 * bytes. Measured: the 8x8 grid of /sample?n=64 in 11 us instead of 37. */
void vae_pixels_to_u8(uint8_t *out, const float *src, size_t n) {
    size_t x = 0;
#ifdef __SSE2__
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), scale = _mm_set1_ps(255.0f),
                 half = _mm_set1_ps(0.5f);
    for (; x + 16 <= n; x += 16) {
        __m128i q[4];
        for (int j = 0; j < 4; j++) {
            __m128 v = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + x + 4 * j), zero), one);
            q[j] = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(v, scale), half));
        }
        __m128i w = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
        _mm_storeu_si128((__m128i *)(out + x), w);
    }
    for (; x + 4 <= n; x += 4) {
        __m128 v = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + x), zero), one);
        __m128i q = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(v, scale), half));
        q = _mm_packus_epi16(_mm_packs_epi32(q, q), q);
        int four = _mm_cvtsi128_si32(q);
        memcpy(out + x, &four, 4);
    }
#endif
    for (; x < n; x++) out[x] = vae_pixel_to_u8(src[x]);
}

void vae_image_grid(const float *images, int n, int side, int cols, uint8_t *out) {
    if (n <= 0 || side <= 0 || cols <= 0) return;
    int rows = (n + cols - 1) / cols;
    size_t out_w = (size_t)cols * (size_t)side;
    for (int cell = 0; cell < rows * cols; cell++) {
        uint8_t *dst = out + (size_t)(cell / cols) * side * out_w + (size_t)(cell % cols) * side;
        const float *img = images + (size_t)cell * side * side;
        for (int y = 0; y < side; y++) {
            uint8_t *line = dst + (size_t)y * out_w;
            if (cell >= n) {
                memset(line, 0, (size_t)side);
                continue;
            }
            vae_pixels_to_u8(line, img + (size_t)y * side, (size_t)side);
        }
    }
}
