/* Vector helpers shared by the inference kernels (kernels.c) and the training kernels
 * (kernels_train.c), libvae-internal: the one exp per ISA that the sigmoid and the BCE use. */
#ifndef VAE_KERNELS_SIMD_H
#define VAE_KERNELS_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VAE_X86 1

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

__attribute__((target("avx512f"))) static inline __m512 vae_exp16(__m512 v) {
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

/* The same exp for v in [-87, 88], 2^n from the exponent bits (n + 127 stays in 1..254 there). */
__attribute__((target("avx2,fma"))) static inline __m256 vae_exp8(__m256 v) {
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

#endif

#endif
