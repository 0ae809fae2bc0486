/* Small-batch inference kernels with run-time ISA dispatch (see kernels.h). */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VAE_X86 1
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
    return VAE_OK;
}

void vae_packed_free(vae_packed_linear *p) {
    if (!p) return;
    free(p->data);
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

static void adam_generic(float *p, float *m, float *v, const float *g, size_t n, float b1, float b2,
                         float step_size, float bc2_sqrt, float eps, float decay) {
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

#ifdef VAE_X86
/* exp(v) for v in [-87, 88]: v = n*ln2 + r with n = round(v/ln2) and r computed in two steps
 * (Cody-Waite: ln2 split into an exactly representable high part and a low part, so r keeps its
 * accuracy even where n*ln2 is large), |r| <= ln2/2; e^r by its degree-7 Taylor polynomial
 * (relative error 1.5e-8 there), times 2^n (scalef on AVX-512, exponent bits on AVX2). */
#define LN2_HI 0.693145751953125f
#define LN2_LO 1.428606765330187e-06f
#define EXP_C7 1.9841269841e-4f
#define EXP_C6 1.3888888889e-3f
#define EXP_C5 8.3333333333e-3f
#define EXP_C4 4.1666666667e-2f
#define EXP_C3 1.6666666667e-1f
#define EXP_C2 0.5f

__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 v) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXP_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx512f"))) static inline __m512 sigmoid16(__m512 x) {
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(-87.0f)),
                             _mm512_set1_ps(88.0f));
    __m512 e = exp16(v);
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

/* The same exp for v in [-87, 88], 2^n from the exponent bits (n + 127 stays in 1..254 there). */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 v) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), v);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static inline __m256 sigmoid8(__m256 x) {
    __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), x), _mm256_set1_ps(-87.0f)),
                             _mm256_set1_ps(88.0f));
    __m256 e = exp8(v);
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

__attribute__((target("avx512f"))) static void adam_avx512(float *p, float *m, float *v, const float *g,
                                                            size_t n, float b1, float b2, float step_size,
                                                            float bc2_sqrt, float eps, float decay) {
    const __m512 vb1 = _mm512_set1_ps(b1), vb1c = _mm512_set1_ps(1.0f - b1);
    const __m512 vb2 = _mm512_set1_ps(b2), vb2c = _mm512_set1_ps(1.0f - b2);
    const __m512 vstep = _mm512_set1_ps(step_size), vbc2 = _mm512_set1_ps(bc2_sqrt);
    const __m512 veps = _mm512_set1_ps(eps), vdecay = _mm512_set1_ps(decay);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_fmadd_ps(vb1, _mm512_loadu_ps(m + i), _mm512_mul_ps(vb1c, gi));
        __m512 vi = _mm512_fmadd_ps(vb2, _mm512_loadu_ps(v + i), _mm512_mul_ps(vb2c, _mm512_mul_ps(gi, gi)));
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), vbc2), veps);
        __m512 pi = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), vdecay),
                                  _mm512_div_ps(_mm512_mul_ps(vstep, mi), denom));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(p + i, pi);
    }
    adam_generic(p + i, m + i, v + i, g + i, n - i, b1, b2, step_size, bc2_sqrt, eps, decay);
}

__attribute__((target("avx2,fma"))) static void adam_avx2(float *p, float *m, float *v, const float *g,
                                                          size_t n, float b1, float b2, float step_size,
                                                          float bc2_sqrt, float eps, float decay) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb1c = _mm256_set1_ps(1.0f - b1);
    const __m256 vb2 = _mm256_set1_ps(b2), vb2c = _mm256_set1_ps(1.0f - b2);
    const __m256 vstep = _mm256_set1_ps(step_size), vbc2 = _mm256_set1_ps(bc2_sqrt);
    const __m256 veps = _mm256_set1_ps(eps), vdecay = _mm256_set1_ps(decay);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(m + i), _mm256_mul_ps(vb1c, gi));
        __m256 vi = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(v + i), _mm256_mul_ps(vb2c, _mm256_mul_ps(gi, gi)));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc2), veps);
        __m256 pi = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), vdecay),
                                  _mm256_div_ps(_mm256_mul_ps(vstep, mi), denom));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    adam_generic(p + i, m + i, v + i, g + i, n - i, b1, b2, step_size, bc2_sqrt, eps, decay);
}

/* BCE from logits, 16 at a time: e = exp(-|l|) (Cody-Waite as in sigmoid16), loss = max(l,0) - l*t +
 * log1p(e) with log1p(e) = 2 atanh(e / (2 + e)) by its odd series to u^13 (e <= 1, so u <= 1/3:
 * relative error below 5e-9), gradient sigmoid(l) - t with sigmoid(l) = 1/(1+e) or e/(1+e). */
__attribute__((target("avx512f"))) static inline __m512 bce16(__m512 l, __m512 t, __m512 *grad) {
    __m512 a = _mm512_abs_ps(l);
    __m512 v = _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), _mm512_set1_ps(-87.0f));
    __m512 e = exp16(v);
    __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    __mmask16 neg = _mm512_cmp_ps_mask(l, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 s = _mm512_mask_mul_ps(inv, neg, e, inv);
    *grad = _mm512_sub_ps(s, t);
    __m512 u = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.0f), e));
    __m512 u2 = _mm512_mul_ps(u, u);
    __m512 q = _mm512_set1_ps(1.0f / 13.0f);
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 11.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 9.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 7.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 5.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 3.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f));
    __m512 log1p_e = _mm512_mul_ps(_mm512_add_ps(u, u), q);
    __m512 loss = _mm512_fnmadd_ps(l, t, _mm512_max_ps(l, _mm512_setzero_ps()));
    return _mm512_add_ps(loss, log1p_e);
}

__attribute__((target("avx512f"))) static double bce_avx512(float *dlogits, const float *logits,
                                                            const float *target, size_t n, float scale) {
    double total = 0.0;
    const __m512 vscale = _mm512_set1_ps(scale);
    size_t i = 0;
    /* sums in float lanes over short stretches, then in double: the loss of a batch is ~1e5 */
    while (i < n) {
        __m512 acc = _mm512_setzero_ps();
        size_t stop = n - i > 1024 ? i + 1024 : n;
        for (; i + 16 <= stop; i += 16) {
            __m512 grad;
            acc = _mm512_add_ps(acc, bce16(_mm512_loadu_ps(logits + i), _mm512_loadu_ps(target + i), &grad));
            _mm512_storeu_ps(dlogits + i, _mm512_mul_ps(vscale, grad));
        }
        if (i < stop) {
            __mmask16 mask = (__mmask16)((1u << (stop - i)) - 1);
            __m512 grad;
            __m512 loss = bce16(_mm512_maskz_loadu_ps(mask, logits + i), _mm512_maskz_loadu_ps(mask, target + i),
                                &grad);
            acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(mask, loss));
            _mm512_mask_storeu_ps(dlogits + i, mask, _mm512_mul_ps(vscale, grad));
            i = stop;
        }
        total += (double)_mm512_reduce_add_ps(acc);
    }
    return total;
}

__attribute__((target("avx2,fma"))) static inline __m256 bce8(__m256 l, __m256 t, __m256 *grad) {
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), l);
    __m256 v = _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), _mm256_set1_ps(-87.0f));
    __m256 e = exp8(v);
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    __m256 neg = _mm256_cmp_ps(l, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 s = _mm256_blendv_ps(inv, _mm256_mul_ps(e, inv), neg);
    *grad = _mm256_sub_ps(s, t);
    __m256 u = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e));
    __m256 u2 = _mm256_mul_ps(u, u);
    __m256 q = _mm256_set1_ps(1.0f / 13.0f);
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 11.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 9.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 7.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 5.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 3.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f));
    __m256 log1p_e = _mm256_mul_ps(_mm256_add_ps(u, u), q);
    __m256 loss = _mm256_fnmadd_ps(l, t, _mm256_max_ps(l, _mm256_setzero_ps()));
    return _mm256_add_ps(loss, log1p_e);
}

__attribute__((target("avx2,fma"))) static double bce_avx2(float *dlogits, const float *logits,
                                                           const float *target, size_t n, float scale) {
    double total = 0.0;
    const __m256 vscale = _mm256_set1_ps(scale);
    size_t i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        size_t stop = n - i > 1024 ? i + 1024 : n;
        for (; i + 8 <= stop; i += 8) {
            __m256 grad;
            acc = _mm256_add_ps(acc, bce8(_mm256_loadu_ps(logits + i), _mm256_loadu_ps(target + i), &grad));
            _mm256_storeu_ps(dlogits + i, _mm256_mul_ps(vscale, grad));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int k = 0; k < 8; k++) total += lanes[k];
    }
    /* the last few (fewer than 8) take the scalar path */
    if (i < n) total += vae_bce_logits_forward_backward(dlogits + i, logits + i, target + i, n - i, scale);
    return total;
}

/* R rows of the batch (R <= 12, a constant after inlining) against one 32-output panel: up to 24
 * accumulators, two weight vectors and one broadcast input in the 32 zmm registers. Twelve rows
 * (not six) because batches under load average about nine: measured, 9 rows take 88 us instead of
 * 99 through the shipped decoder, other sizes unchanged (110 GFLOP/s on one core from 4 rows on). */
__attribute__((target("avx512f"), always_inline)) static inline void block_avx512(
    float *out, const float *inp, const float *wp, const float *bias, int C, int ld, int R, int cols,
    vae_epilogue ep) {
    __m512 acc[12][2];
    /* the row loops must unroll fully so the accumulators live in registers (GCC's -O2 does not
     * unroll beyond two rows by itself) */
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < C; k++) {
        __m512 w0 = _mm512_load_ps(wp + (size_t)k * VAE_PANEL);
        __m512 w1 = _mm512_load_ps(wp + (size_t)k * VAE_PANEL + 16);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_set1_ps(inp[(size_t)r * C + k]);
            acc[r][0] = _mm512_fmadd_ps(w0, x, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(w1, x, acc[r][1]);
        }
    }
    __m512 b0 = _mm512_load_ps(bias), b1 = _mm512_load_ps(bias + 16);
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        __m512 v0 = _mm512_add_ps(acc[r][0], b0), v1 = _mm512_add_ps(acc[r][1], b1);
        if (ep == VAE_EPILOGUE_RELU) {
            v0 = _mm512_max_ps(v0, _mm512_setzero_ps());
            v1 = _mm512_max_ps(v1, _mm512_setzero_ps());
        } else if (ep == VAE_EPILOGUE_LEAKY) {
            v0 = _mm512_max_ps(v0, _mm512_mul_ps(v0, _mm512_set1_ps(VAE_LEAKY_SLOPE)));
            v1 = _mm512_max_ps(v1, _mm512_mul_ps(v1, _mm512_set1_ps(VAE_LEAKY_SLOPE)));
        }
        _mm512_mask_storeu_ps(out + (size_t)r * ld, m0, v0);
        if (m1) _mm512_mask_storeu_ps(out + (size_t)r * ld + 16, m1, v1);
    }
}

__attribute__((target("avx512f"))) static void linear_avx512(float *out, const float *inp,
                                                              const vae_packed_linear *w, int B,
                                                              vae_epilogue ep) {
    const int C = w->in, OC = w->out;
    for (int pi = 0; pi < w->panels; pi++) {
        /* one panel (C x 32 floats) stays in cache while every row block of the batch uses it */
        const float *wp = w->data + (size_t)pi * C * VAE_PANEL;
        const float *bias = w->bias + pi * VAE_PANEL;
        int cols = OC - pi * VAE_PANEL < VAE_PANEL ? OC - pi * VAE_PANEL : VAE_PANEL;
        for (int b = 0; b < B; b += 12) {
            float *o = out + (size_t)b * OC + pi * VAE_PANEL;
            const float *x = inp + (size_t)b * C;
            switch (B - b < 12 ? B - b : 12) {
            case 1: block_avx512(o, x, wp, bias, C, OC, 1, cols, ep); break;
            case 2: block_avx512(o, x, wp, bias, C, OC, 2, cols, ep); break;
            case 3: block_avx512(o, x, wp, bias, C, OC, 3, cols, ep); break;
            case 4: block_avx512(o, x, wp, bias, C, OC, 4, cols, ep); break;
            case 5: block_avx512(o, x, wp, bias, C, OC, 5, cols, ep); break;
            case 6: block_avx512(o, x, wp, bias, C, OC, 6, cols, ep); break;
            case 7: block_avx512(o, x, wp, bias, C, OC, 7, cols, ep); break;
            case 8: block_avx512(o, x, wp, bias, C, OC, 8, cols, ep); break;
            case 9: block_avx512(o, x, wp, bias, C, OC, 9, cols, ep); break;
            case 10: block_avx512(o, x, wp, bias, C, OC, 10, cols, ep); break;
            case 11: block_avx512(o, x, wp, bias, C, OC, 11, cols, ep); break;
            default: block_avx512(o, x, wp, bias, C, OC, 12, cols, ep); break;
            }
        }
    }
}

/* The AVX2 version: half a panel (16 outputs, two ymm) at a time, R <= 6 rows: 12 accumulators,
 * two weights and one broadcast in the 16 ymm registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void block_avx2(
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
    __m256 b0 = _mm256_load_ps(bias), b1 = _mm256_load_ps(bias + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        __m256 v[2] = {_mm256_add_ps(acc[r][0], b0), _mm256_add_ps(acc[r][1], b1)};
        for (int h = 0; h < 2; h++) {
            if (ep == VAE_EPILOGUE_RELU) v[h] = _mm256_max_ps(v[h], _mm256_setzero_ps());
            else if (ep == VAE_EPILOGUE_LEAKY)
                v[h] = _mm256_max_ps(v[h], _mm256_mul_ps(v[h], _mm256_set1_ps(VAE_LEAKY_SLOPE)));
        }
        float *o = out + (size_t)r * ld;
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
}

__attribute__((target("avx2,fma"))) static void linear_avx2(float *out, const float *inp,
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
                switch (B - b < 6 ? B - b : 6) {
                case 1: block_avx2(o, x, wp, bias, C, OC, 1, cols, ep); break;
                case 2: block_avx2(o, x, wp, bias, C, OC, 2, cols, ep); break;
                case 3: block_avx2(o, x, wp, bias, C, OC, 3, cols, ep); break;
                case 4: block_avx2(o, x, wp, bias, C, OC, 4, cols, ep); break;
                case 5: block_avx2(o, x, wp, bias, C, OC, 5, cols, ep); break;
                default: block_avx2(o, x, wp, bias, C, OC, 6, cols, ep); break;
                }
            }
        }
    }
}
#endif

/* ---- dispatch ---- */

typedef enum { ISA_UNSET, ISA_GENERIC, ISA_AVX2, ISA_AVX512 } isa_kind;
static isa_kind current_isa;

static isa_kind detect(void) {
#ifdef VAE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
    return ISA_GENERIC;
}

/* Set once; a racing first call from two threads computes and stores the same value. */
static isa_kind isa(void) {
    if (current_isa == ISA_UNSET) current_isa = detect();
    return current_isa;
}

const char *vae_kernel_isa(void) {
    switch (isa()) {
    case ISA_AVX512: return "avx512";
    case ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

int vae_kernel_force(const char *name) {
    isa_kind best = detect(), want;
    if (!strcmp(name, "avx512")) want = ISA_AVX512;
    else if (!strcmp(name, "avx2")) want = ISA_AVX2;
    else if (!strcmp(name, "generic")) want = ISA_GENERIC;
    else return -1;
    if (want > best) return -1;
    current_isa = want;
    return 0;
}

void vae_kernel_linear(float *out, const float *inp, const vae_packed_linear *w, int B,
                       vae_epilogue epilogue) {
    switch (isa()) {
#ifdef VAE_X86
    case ISA_AVX512: linear_avx512(out, inp, w, B, epilogue); return;
    case ISA_AVX2: linear_avx2(out, inp, w, B, epilogue); return;
#endif
    default: linear_generic(out, inp, w, B, epilogue); return;
    }
}

void vae_kernel_sigmoid(float *out, const float *inp, size_t n) {
    switch (isa()) {
#ifdef VAE_X86
    case ISA_AVX512: sigmoid_avx512(out, inp, n); return;
    case ISA_AVX2: sigmoid_avx2(out, inp, n); return;
#endif
    default: sigmoid_generic(out, inp, n); return;
    }
}

void vae_kernel_adam(float *p, float *m, float *v, const float *g, size_t n, float b1, float b2,
                     float step_size, float bc2_sqrt, float eps, float decay) {
    switch (isa()) {
#ifdef VAE_X86
    case ISA_AVX512: adam_avx512(p, m, v, g, n, b1, b2, step_size, bc2_sqrt, eps, decay); return;
    case ISA_AVX2: adam_avx2(p, m, v, g, n, b1, b2, step_size, bc2_sqrt, eps, decay); return;
#endif
    default: adam_generic(p, m, v, g, n, b1, b2, step_size, bc2_sqrt, eps, decay); return;
    }
}

double vae_kernel_bce(float *dlogits, const float *logits, const float *target, size_t n, float scale) {
    switch (isa()) {
#ifdef VAE_X86
    case ISA_AVX512: return bce_avx512(dlogits, logits, target, n, scale);
    case ISA_AVX2: return bce_avx2(dlogits, logits, target, n, scale);
#endif
    default: return vae_bce_logits_forward_backward(dlogits, logits, target, n, scale);
    }
}
