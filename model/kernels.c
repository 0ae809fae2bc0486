/* Small-batch inference kernels and the run-time ISA choice that every kernel follows (see kernels.h). */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_simd.h"
#include "vae/weights.h"

#ifdef VAE_X86
#include <cpuid.h>
#endif

vae_status vae_pack_linear(vae_packed_linear *p, const float *weight, const float *bias, int in,
                           int out) {
    memset(p, 0, sizeof *p);
    int panels = (out + VAE_PANEL - 1) / VAE_PANEL;
    size_t data_bytes = (size_t)panels * (size_t)in * VAE_PANEL * sizeof(float);
    size_t bias_bytes = (size_t)panels * VAE_PANEL * sizeof(float);
    p->data = aligned_alloc(64, (data_bytes + 63) & ~(size_t)63);
    p->bias = aligned_alloc(64, (bias_bytes + 63) & ~(size_t)63);
    if (!p->data || !p->bias) {
        vae_packed_free(p);
        return VAE_ERR_NOMEM;
    }
    p->in = in;
    p->out = out;
    p->panels = panels;
    for (int pi = 0; pi < panels; pi++) {
        float *dst = p->data + (size_t)pi * in * VAE_PANEL;
        for (int k = 0; k < in; k++)
            for (int j = 0; j < VAE_PANEL; j++) {
                int o = pi * VAE_PANEL + j;
                dst[(size_t)k * VAE_PANEL + j] = o < out ? weight[(size_t)o * in + k] : 0.0f;
            }
        for (int j = 0; j < VAE_PANEL; j++) {
            int o = pi * VAE_PANEL + j;
            p->bias[pi * VAE_PANEL + j] = o < out ? bias[o] : 0.0f;
        }
    }
    /* the F16 copy, kept only when exact (a float layer gives up at its first weight; the padding's
     * zeros are exact) */
    size_t n = (size_t)panels * (size_t)in * VAE_PANEL;
    p->half = aligned_alloc(64, (n * sizeof(uint16_t) + 63) & ~(size_t)63);
    if (!p->half) {
        vae_packed_free(p);
        return VAE_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        p->half[i] = vae_f32_to_f16(p->data[i]);
        float back = vae_f16_to_f32(p->half[i]);
        if (memcmp(&back, &p->data[i], sizeof back) != 0) {
            free(p->half);
            p->half = NULL;
            break;
        }
    }
    return VAE_OK;
}

void vae_packed_free(vae_packed_linear *p) {
    if (!p) return;
    free(p->data);
    free(p->half);
    free(p->bias);
    memset(p, 0, sizeof *p);
}

/* ---- portable versions ---- */

static void linear_generic(float *out, const float *inp, const vae_packed_linear *w, int B,
                           vae_epilogue ep) {
    const int C = w->in, OC = w->out;
    for (int pi = 0; pi < w->panels; pi++) {
        const float *wp = w->data + (size_t)pi * C * VAE_PANEL;
        int cols = OC - pi * VAE_PANEL < VAE_PANEL ? OC - pi * VAE_PANEL : VAE_PANEL;
        for (int b = 0; b < B; b++) {
            float acc[VAE_PANEL];
            memcpy(acc, w->bias + pi * VAE_PANEL, sizeof acc);
            const float *x = inp + (size_t)b * C;
            for (int k = 0; k < C; k++)
                for (int j = 0; j < VAE_PANEL; j++) acc[j] += wp[(size_t)k * VAE_PANEL + j] * x[k];
            float *o = out + (size_t)b * OC + pi * VAE_PANEL;
            for (int j = 0; j < cols; j++) {
                float v = acc[j];
                if (ep == VAE_EPILOGUE_RELU) v = v > 0.0f ? v : 0.0f;
                else if (ep == VAE_EPILOGUE_LEAKY) v = v > 0.0f ? v : VAE_LEAKY_SLOPE * v;
                o[j] = v;
            }
        }
    }
}

static void sigmoid_generic(float *out, const float *inp, size_t n) { vae_sigmoid_forward(out, inp, n); }

#ifdef VAE_X86
__attribute__((target("avx512f"))) static inline __m512 sigmoid16(__m512 x) {
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(-87.0f)),
                             _mm512_set1_ps(88.0f));
    __m512 e = vae_exp16(v);
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

__attribute__((target("avx512f"))) static void sigmoid_avx512(float *out, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, sigmoid16(_mm512_loadu_ps(inp + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, inp + i)));
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 sigmoid8(__m256 x) {
    __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), _mm256_set1_ps(-87.0f)),
                             _mm256_set1_ps(88.0f));
    __m256 e = vae_exp8(v);
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma"))) static void sigmoid_avx2(float *out, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, sigmoid8(_mm256_loadu_ps(inp + i)));
    if (i < n) {
        float tmp[8] = {0};
        memcpy(tmp, inp + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(tmp, sigmoid8(_mm256_loadu_ps(tmp)));
        memcpy(out + i, tmp, (n - i) * sizeof(float));
    }
}

/* One row's 32 outputs of a panel, from its two accumulators: + bias, the epilogue, and a store of
 * the first `cols` (1..32). */
__attribute__((target("avx512f"), always_inline)) static inline void finish_avx512(
    float *o, __m512 a0, __m512 a1, const float *bias, int cols, vae_epilogue ep) {
    __m512 v0 = _mm512_add_ps(a0, _mm512_load_ps(bias)), v1 = _mm512_add_ps(a1, _mm512_load_ps(bias + 16));
    if (ep == VAE_EPILOGUE_RELU) {
        v0 = _mm512_max_ps(v0, _mm512_setzero_ps());
        v1 = _mm512_max_ps(v1, _mm512_setzero_ps());
    } else if (ep == VAE_EPILOGUE_LEAKY) {
        v0 = _mm512_max_ps(v0, _mm512_mul_ps(v0, _mm512_set1_ps(VAE_LEAKY_SLOPE)));
        v1 = _mm512_max_ps(v1, _mm512_mul_ps(v1, _mm512_set1_ps(VAE_LEAKY_SLOPE)));
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    _mm512_mask_storeu_ps(o, m0, v0);
    if (m1) _mm512_mask_storeu_ps(o + 16, m1, v1);
}

/* R rows of the batch against P panels side by side (constants after inlining, R <= 12, P <= 4,
 * R * P <= 12): up to 24 accumulators, 2P weight vectors and one broadcast input in the 32 zmm
 * registers. `wp` is the first panel's floats, or with `half` (a constant) `wh` its F16 copy, widened
 * in registers; `cols` counts the outputs from the first panel's to the layer's last (the last panel
 * may be partial). Each output's sum runs over k in order whatever R, P and `half` are, so the bits
 * do not depend on the blocking nor on the batch.
 *
 * The blockings, measured through the shipped decoder on one core, each alternated with the one
 * before it. Batches of 1 to 4 rows (one connection's request, or a few) run 1 to 4 panels, so that
 * more chains of dependent FMAs run side by side than one panel's 2R: 2 and 3 rows 9 and 10% faster,
 * one row of float weights bound by the weight read and the same, one row from F16 panels 15%
 * faster. 5 to 7 rows run twelve rows of one panel. From 8 rows, blocks of up to six rows of two
 * panels, which load 10 vectors per 24 FMAs instead of 14 and keep six rows' inputs within a cache
 * set's ways when their stride is a multiple of 4 KiB (a 1024-wide layer's): 64 rows 1550 us
 * instead of 1760, 16 rows 389 instead of 449, 12 rows 287 instead of 303, 9 rows 213 instead of
 * 216, 8 the same; 7 rows (4 + 3) were slower, 195 against 167. */
__attribute__((target("avx512f"), always_inline)) static inline void block_avx512(
    float *out, const float *inp, const float *wp, const uint16_t *wh, const float *bias, int C, int ld,
    int cols, int R, int P, vae_epilogue ep, const int half) {
    const size_t stride = (size_t)C * VAE_PANEL; /* from one panel to the next */
    __m512 acc[12][4][2];
    /* the loops over rows and panels must unroll fully so the accumulators live in registers (GCC's
     * -O2 does not unroll beyond two rows by itself) */
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) acc[r][q][0] = acc[r][q][1] = _mm512_setzero_ps();
    for (int k = 0; k < C; k++) {
        __m512 wv[4][2];
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) {
            size_t at = q * stride + (size_t)k * VAE_PANEL;
            if (half) {
                wv[q][0] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(wh + at)));
                wv[q][1] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(wh + at + 16)));
            } else {
                wv[q][0] = _mm512_load_ps(wp + at);
                wv[q][1] = _mm512_load_ps(wp + at + 16);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_set1_ps(inp[(size_t)r * C + k]);
#pragma GCC unroll 4
            for (int q = 0; q < P; q++) {
                acc[r][q][0] = _mm512_fmadd_ps(wv[q][0], x, acc[r][q][0]);
                acc[r][q][1] = _mm512_fmadd_ps(wv[q][1], x, acc[r][q][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < P; q++) {
        int c = cols - q * VAE_PANEL;
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            finish_avx512(out + (size_t)r * ld + q * VAE_PANEL, acc[r][q][0], acc[r][q][1],
                          bias + q * VAE_PANEL, c < VAE_PANEL ? c : VAE_PANEL, ep);
    }
}

__attribute__((target("avx512f"))) static void linear_avx512(float *out, const float *inp,
                                                              const vae_packed_linear *w, int B,
                                                              vae_epilogue ep) {
    const int C = w->in, OC = w->out;
    int pi = 0;
    /* pairs of panels, in blocks of at most six rows as even as they go (13 rows: 5, 4, 4) */
    for (; B >= 8 && pi + 2 <= w->panels; pi += 2) {
        /* two panels (2 x C x 32 floats) stay in cache while every row block of the batch uses them */
        const float *wp = w->data + (size_t)pi * C * VAE_PANEL;
        const float *bias = w->bias + pi * VAE_PANEL;
        int cols = OC - pi * VAE_PANEL;
        const int blocks = (B + 5) / 6;
        for (int i = 0, b = 0; i < blocks; i++) {
            int rows = B / blocks + (i < B % blocks);
            float *o = out + (size_t)b * OC + pi * VAE_PANEL;
            const float *x = inp + (size_t)b * C;
            b += rows;
#define BLOCK(R) block_avx512(o, x, wp, NULL, bias, C, OC, cols, R, 2, ep, 0)
            switch (rows) {
            case 1: BLOCK(1); break;
            case 2: BLOCK(2); break;
            case 3: BLOCK(3); break;
            case 4: BLOCK(4); break;
            case 5: BLOCK(5); break;
            default: BLOCK(6); break;
            }
#undef BLOCK
        }
    }
    for (; pi < w->panels; pi++) {
        /* one panel (C x 32 floats) stays in cache while every row block of the batch uses it */
        const float *wp = w->data + (size_t)pi * C * VAE_PANEL;
        const float *bias = w->bias + pi * VAE_PANEL;
        int cols = OC - pi * VAE_PANEL;
        for (int b = 0; b < B; b += 12) {
            float *o = out + (size_t)b * OC + pi * VAE_PANEL;
            const float *x = inp + (size_t)b * C;
#define BLOCK(R) block_avx512(o, x, wp, NULL, bias, C, OC, cols, R, 1, ep, 0)
            switch (B - b < 12 ? B - b : 12) {
            case 1: BLOCK(1); break;
            case 2: BLOCK(2); break;
            case 3: BLOCK(3); break;
            case 4: BLOCK(4); break;
            case 5: BLOCK(5); break;
            case 6: BLOCK(6); break;
            case 7: BLOCK(7); break;
            case 8: BLOCK(8); break;
            case 9: BLOCK(9); break;
            case 10: BLOCK(10); break;
            case 11: BLOCK(11); break;
            default: BLOCK(12); break;
            }
#undef BLOCK
        }
    }
}

/* R rows (a constant) through the layer, P panels at a time and the last few together. */
__attribute__((target("avx512f"), always_inline)) static inline void small_rows_avx512(
    float *out, const float *inp, const vae_packed_linear *w, vae_epilogue ep, const int R, const int P,
    const int half) {
    const int C = w->in, OC = w->out;
    const size_t stride = (size_t)C * VAE_PANEL;
#define GROUP(PI, N)                                                                                  \
    block_avx512(out + (PI) * VAE_PANEL, inp, half ? NULL : w->data + (PI) * stride,                 \
                 half ? w->half + (PI) * stride : NULL, w->bias + (PI) * VAE_PANEL, C, OC,            \
                 OC - (PI) * VAE_PANEL, R, N, ep, half)
    int pi = 0;
    for (; pi + P <= w->panels; pi += P) GROUP(pi, P);
    switch (w->panels - pi) {
    case 3: GROUP(pi, 3); break;
    case 2: GROUP(pi, 2); break;
    case 1: GROUP(pi, 1); break;
    default: break;
    }
#undef GROUP
}

#define SMALL_ROWS 4 /* batches of up to this many rows take several panels at once (small_rows_*) */
_Static_assert(VAE_HALF_ROWS <= SMALL_ROWS, "the F16 panels are read by the small-batch versions");

__attribute__((target("avx512f"))) static void linear_avx512_small(float *out, const float *inp,
                                                                    const vae_packed_linear *w, int B,
                                                                    vae_epilogue ep) {
    const int half = w->half && B <= VAE_HALF_ROWS;
    switch (B * 2 + half) {
    case 2: small_rows_avx512(out, inp, w, ep, 1, 4, 0); break;
    case 3: small_rows_avx512(out, inp, w, ep, 1, 4, 1); break;
    case 4: small_rows_avx512(out, inp, w, ep, 2, 2, 0); break;
    case 5: small_rows_avx512(out, inp, w, ep, 2, 2, 1); break;
    case 6: small_rows_avx512(out, inp, w, ep, 3, 2, 0); break;
    case 7: small_rows_avx512(out, inp, w, ep, 3, 2, 1); break;
    case 8: small_rows_avx512(out, inp, w, ep, 4, 1, 0); break;
    default: small_rows_avx512(out, inp, w, ep, 4, 1, 1); break;
    }
}

/* One row's 16 outputs of a half panel, from its two accumulators: + bias, the epilogue, and a store
 * of the first `cols` (1..16). */
__attribute__((target("avx2,fma"), always_inline)) static inline void finish_avx2(
    float *o, __m256 a0, __m256 a1, const float *bias, int cols, vae_epilogue ep) {
    __m256 v[2] = {_mm256_add_ps(a0, _mm256_load_ps(bias)), _mm256_add_ps(a1, _mm256_load_ps(bias + 8))};
    for (int h = 0; h < 2; h++) {
        if (ep == VAE_EPILOGUE_RELU) v[h] = _mm256_max_ps(v[h], _mm256_setzero_ps());
        else if (ep == VAE_EPILOGUE_LEAKY)
            v[h] = _mm256_max_ps(v[h], _mm256_mul_ps(v[h], _mm256_set1_ps(VAE_LEAKY_SLOPE)));
    }
    if (cols >= 16) {
        _mm256_storeu_ps(o, v[0]);
        _mm256_storeu_ps(o + 8, v[1]);
    } else {
        float tmp[16];
        _mm256_storeu_ps(tmp, v[0]);
        _mm256_storeu_ps(tmp + 8, v[1]);
        memcpy(o, tmp, (size_t)cols * sizeof(float));
    }
}

/* The AVX2 version: half a panel (16 outputs, two ymm) at a time, R <= 6 rows: 12 accumulators,
 * two weights and one broadcast in the 16 ymm registers. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void block_avx2(
    float *out, const float *inp, const float *wp, const float *bias, int C, int ld, int R, int cols,
    vae_epilogue ep) {
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < C; k++) {
        __m256 w0 = _mm256_load_ps(wp + (size_t)k * VAE_PANEL);
        __m256 w1 = _mm256_load_ps(wp + (size_t)k * VAE_PANEL + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(inp + (size_t)r * C + k);
            acc[r][0] = _mm256_fmadd_ps(w0, x, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(w1, x, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) finish_avx2(out + (size_t)r * ld, acc[r][0], acc[r][1], bias, cols, ep);
}

__attribute__((target("avx2,fma,f16c"))) static void linear_avx2(float *out, const float *inp,
                                                                  const vae_packed_linear *w, int B,
                                                                  vae_epilogue ep) {
    const int C = w->in, OC = w->out;
    for (int pi = 0; pi < w->panels; pi++) {
        for (int half = 0; half < 2; half++) {
            int first = pi * VAE_PANEL + half * 16;
            if (first >= OC) break;
            int cols = OC - first < 16 ? OC - first : 16;
            const float *wp = w->data + (size_t)pi * C * VAE_PANEL + half * 16;
            const float *bias = w->bias + first;
            for (int b = 0; b < B; b += 6) {
                float *o = out + (size_t)b * OC + first;
                const float *x = inp + (size_t)b * C;
#define BLOCK(R) block_avx2(o, x, wp, bias, C, OC, R, cols, ep)
                switch (B - b < 6 ? B - b : 6) {
                case 1: BLOCK(1); break;
                case 2: BLOCK(2); break;
                case 3: BLOCK(3); break;
                case 4: BLOCK(4); break;
                case 5: BLOCK(5); break;
                default: BLOCK(6); break;
                }
#undef BLOCK
            }
        }
    }
}

/* The AVX2 version of block_avx512 for the small batches: P half panels (16 outputs each) at a time,
 * R * P <= 4 (the accumulators, weights and broadcast in the 16 ymm registers); the same order of
 * each output's sum as block_avx2. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void small_avx2(
    float *out, const vae_packed_linear *w, const float *inp, int unit, int R, int P, vae_epilogue ep,
    const int half) {
    const int C = w->in, OC = w->out;
    const float *wp[4];
    const uint16_t *wh[4];
#pragma GCC unroll 4
    for (int q = 0; q < P; q++) { /* unit u: panel u / 2, its half u % 2 */
        size_t at = (size_t)((unit + q) / 2) * C * VAE_PANEL + (size_t)((unit + q) % 2) * 16;
        wp[q] = w->data + at;
        wh[q] = half ? w->half + at : NULL;
    }
    __m256 acc[4][4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) acc[r][q][0] = acc[r][q][1] = _mm256_setzero_ps();
    for (int k = 0; k < C; k++) {
        __m256 wv[4][2];
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) {
            size_t at = (size_t)k * VAE_PANEL;
            if (half) {
                wv[q][0] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(wh[q] + at)));
                wv[q][1] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(wh[q] + at + 8)));
            } else {
                wv[q][0] = _mm256_load_ps(wp[q] + at);
                wv[q][1] = _mm256_load_ps(wp[q] + at + 8);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(inp + (size_t)r * C + k);
#pragma GCC unroll 4
            for (int q = 0; q < P; q++) {
                acc[r][q][0] = _mm256_fmadd_ps(wv[q][0], x, acc[r][q][0]);
                acc[r][q][1] = _mm256_fmadd_ps(wv[q][1], x, acc[r][q][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < P; q++) {
        int first = (unit + q) * 16, cols = OC - first < 16 ? OC - first : 16;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            finish_avx2(out + (size_t)r * OC + first, acc[r][q][0], acc[r][q][1], w->bias + first, cols, ep);
    }
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void small_rows_avx2(
    float *out, const float *inp, const vae_packed_linear *w, vae_epilogue ep, const int R, const int P,
    const int half) {
    const int units = (w->out + 15) / 16;
    int u = 0;
    for (; u + P <= units; u += P) small_avx2(out, w, inp, u, R, P, ep, half);
    switch (units - u) {
    case 3: small_avx2(out, w, inp, u, R, 3, ep, half); break;
    case 2: small_avx2(out, w, inp, u, R, 2, ep, half); break;
    case 1: small_avx2(out, w, inp, u, R, 1, ep, half); break;
    default: break;
    }
}

__attribute__((target("avx2,fma,f16c"))) static void linear_avx2_small(float *out, const float *inp,
                                                                        const vae_packed_linear *w, int B,
                                                                        vae_epilogue ep) {
    const int half = w->half && B <= VAE_HALF_ROWS;
    switch (B * 2 + half) {
    case 2: small_rows_avx2(out, inp, w, ep, 1, 4, 0); break;
    case 3: small_rows_avx2(out, inp, w, ep, 1, 4, 1); break;
    case 4: small_rows_avx2(out, inp, w, ep, 2, 2, 0); break;
    case 5: small_rows_avx2(out, inp, w, ep, 2, 2, 1); break;
    case 6: small_rows_avx2(out, inp, w, ep, 3, 1, 0); break;
    case 7: small_rows_avx2(out, inp, w, ep, 3, 1, 1); break;
    case 8: small_rows_avx2(out, inp, w, ep, 4, 1, 0); break;
    default: small_rows_avx2(out, inp, w, ep, 4, 1, 1); break;
    }
}
#endif

/* ---- dispatch ---- */

/* Detected once (pthread_once, so no thread ever reads it half-set); changed afterwards only by
 * vae_kernel_force, which tests call before they start threads. Atomic so that such a change is
 * not a data race either. */
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static _Atomic int current_isa;
static vae_isa best_isa; /* what the CPU reports, written once inside isa_once */

static vae_isa detect(void) {
#ifdef VAE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return VAE_ISA_AVX512;
    /* F16C (the F16 panels' widening) comes with every AVX2 CPU made; it is asked for all the same,
     * from CPUID leaf 1 (ECX bit 29), as clang's __builtin_cpu_supports does not know it */
    unsigned a, b, c, d;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) return VAE_ISA_AVX2;
#endif
    return VAE_ISA_GENERIC;
}

static void detect_once(void) {
    best_isa = detect();
    atomic_store_explicit(&current_isa, (int)best_isa, memory_order_relaxed);
}

vae_isa vae_kernel_isa_id(void) {
    pthread_once(&isa_once, detect_once);
    return (vae_isa)atomic_load_explicit(&current_isa, memory_order_relaxed);
}

const char *vae_kernel_isa_name(vae_isa isa) {
    switch (isa) {
    case VAE_ISA_AVX512: return "avx512";
    case VAE_ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

const char *vae_kernel_isa(void) { return vae_kernel_isa_name(vae_kernel_isa_id()); }

int vae_kernel_cpu_has(vae_isa isa) {
    pthread_once(&isa_once, detect_once);
    return isa >= VAE_ISA_GENERIC && isa <= best_isa;
}

int vae_kernel_force(const char *name) {
    vae_isa want;
    if (!strcmp(name, "avx512")) want = VAE_ISA_AVX512;
    else if (!strcmp(name, "avx2")) want = VAE_ISA_AVX2;
    else if (!strcmp(name, "generic")) want = VAE_ISA_GENERIC;
    else return -1;
    if (!vae_kernel_cpu_has(want)) return -1;
    atomic_store_explicit(&current_isa, (int)want, memory_order_relaxed);
    return 0;
}

void vae_kernel_linear(float *out, const float *inp, const vae_packed_linear *w, int B,
                       vae_epilogue epilogue) {
    const int small = B <= SMALL_ROWS;
    switch (vae_kernel_isa_id()) {
#ifdef VAE_X86
    case VAE_ISA_AVX512: (small ? linear_avx512_small : linear_avx512)(out, inp, w, B, epilogue); return;
    case VAE_ISA_AVX2: (small ? linear_avx2_small : linear_avx2)(out, inp, w, B, epilogue); return;
#endif
    default: linear_generic(out, inp, w, B, epilogue); return;
    }
}

void vae_kernel_sigmoid(float *out, const float *inp, size_t n) {
    switch (vae_kernel_isa_id()) {
#ifdef VAE_X86
    case VAE_ISA_AVX512: sigmoid_avx512(out, inp, n); return;
    case VAE_ISA_AVX2: sigmoid_avx2(out, inp, n); return;
#endif
    default: sigmoid_generic(out, inp, n); return;
    }
}
