/* Small-batch inference kernels and the run-time ISA choice that every kernel follows (see kernels.h). */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_simd.h"

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
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VAE_ISA_AVX2;
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
    switch (vae_kernel_isa_id()) {
#ifdef VAE_X86
    case VAE_ISA_AVX512: linear_avx512(out, inp, w, B, epilogue); return;
    case VAE_ISA_AVX2: linear_avx2(out, inp, w, B, epilogue); return;
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
