/* Density scores of images: negative ELBO, importance-weighted NLL, percentiles against the stored
 * calibration tables, and the out-of-distribution score. */
#include "vae/score.h"

#include <math.h>
#include <stdlib.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "util.h"
#include "vae/rng.h"


/* Rows decoded per call by vae_score_images when k is small: several images' samples together. */
#define SCORE_ROWS 2048

void vae_score_draw_eps(float *eps, int n, int k, int d, uint64_t seed) {
    const size_t per_image = (size_t)k * (size_t)d;
    for (int i = 0; i < n; i++) {
        vae_rng rng;
        vae_rng_seed(&rng, seed + (uint64_t)i * VAE_SCORE_SEED_STEP);
        vae_rng_normal_fill(&rng, eps + (size_t)i * per_image, per_image, 1.0f);
    }
}

void vae_score_latents(float *z, const float *mu, const float *logvar, const float *eps, int n, int k,
                       int d) {
    for (int i = 0; i < n; i++) {
        const float *m = mu + (size_t)i * d, *lv = logvar + (size_t)i * d;
        for (int s = 0; s < k; s++) {
            const size_t row = ((size_t)i * k + s) * d;
            /* the expression of vae_reparam_forward, so the server's and the trainer's z agree */
            for (int j = 0; j < d; j++) z[row + j] = m[j] + eps[row + j] * expf(0.5f * lv[j]);
        }
    }
}

/* -log p(x|z) of one image in scalar code: the BCE of its 784 pixels, summed in double. */
static double image_bce_generic(const float *x, const float *logits) {
    double sum = 0.0;
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        float l = logits[p];
        sum += (double)(fmaxf(l, 0.0f) - l * x[p] + log1pf(expf(-fabsf(l))));
    }
    return sum;
}

#ifdef VAE_X86
/* The BCE terms 16 (8) at a time, as the trainer's vector BCE computes them: e = exp(-|l|), then
 * log1p(e) = 2 atanh(u) with u = e / (2 + e) <= 1/3, by the odd series to u^13 (relative error below
 * 5e-9). libm's scalar expf and log1pf took most of a k = 5000 score's time. */
_Static_assert(VAE_INPUT_DIM % 16 == 0, "an image is a whole number of vectors");

__attribute__((target("avx512f"))) static double image_bce_avx512(const float *x, const float *logits) {
    __m512 acc = _mm512_setzero_ps();
    for (int p = 0; p < VAE_INPUT_DIM; p += 16) {
        __m512 l = _mm512_loadu_ps(logits + p), t = _mm512_loadu_ps(x + p);
        __m512 v = _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(l)), _mm512_set1_ps(-87.0f));
        __m512 e = vae_exp16(v);
        __m512 u = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.0f), e)), u2 = _mm512_mul_ps(u, u);
        __m512 q = _mm512_set1_ps(1.0f / 13.0f);
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 11.0f));
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 9.0f));
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 7.0f));
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 5.0f));
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 3.0f));
        q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f));
        __m512 term = _mm512_fnmadd_ps(l, t, _mm512_max_ps(l, _mm512_setzero_ps()));
        acc = _mm512_add_ps(acc, _mm512_fmadd_ps(_mm512_add_ps(u, u), q, term));
    }
    return (double)_mm512_reduce_add_ps(acc);
}

__attribute__((target("avx2,fma"))) static double image_bce_avx2(const float *x, const float *logits) {
    __m256 acc = _mm256_setzero_ps();
    for (int p = 0; p < VAE_INPUT_DIM; p += 8) {
        __m256 l = _mm256_loadu_ps(logits + p), t = _mm256_loadu_ps(x + p);
        __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), l);
        __m256 e = vae_exp8(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), _mm256_set1_ps(-87.0f)));
        __m256 u = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e)), u2 = _mm256_mul_ps(u, u);
        __m256 q = _mm256_set1_ps(1.0f / 13.0f);
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 11.0f));
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 9.0f));
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 7.0f));
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 5.0f));
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 3.0f));
        q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f));
        __m256 term = _mm256_fnmadd_ps(l, t, _mm256_max_ps(l, _mm256_setzero_ps()));
        acc = _mm256_add_ps(acc, _mm256_fmadd_ps(_mm256_add_ps(u, u), q, term));
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return (double)_mm_cvtss_f32(h);
}
#endif

/* -log p(x|z) of one image (784 pixels) on the instruction set the kernels chose. */
static double image_bce(vae_isa isa, const float *x, const float *logits) {
#ifdef VAE_X86
    if (isa == VAE_ISA_AVX512) return image_bce_avx512(x, logits);
    if (isa == VAE_ISA_AVX2) return image_bce_avx2(x, logits);
#endif
    (void)isa;
    return image_bce_generic(x, logits);
}

void vae_score_compute(const float *x, const float *mu, const float *logvar, const float *eps,
                       const float *logits, int n, int k, int d, vae_score *out) {
    const vae_isa isa = vae_kernel_isa_id();
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * VAE_INPUT_DIM;
        const float *m = mu + (size_t)i * d, *lv = logvar + (size_t)i * d;
        double kl = 0.0, half_logvar = 0.0;
        for (int j = 0; j < d; j++) {
            kl += 0.5 * ((double)expf(lv[j]) - lv[j] - 1.0 + (double)m[j] * m[j]);
            half_logvar += 0.5 * lv[j];
        }
        /* log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x); the (2 pi)^(d/2) of both Gaussians
         * cancel, and log q(z|x) = -sum (eps^2 + logvar) / 2 at z = mu + eps * sigma */
        double bce_sum = 0.0, max_w = -INFINITY, sum_w = 0.0;
        for (int s = 0; s < k; s++) {
            const size_t row = (size_t)i * k + s;
            const float *e = eps + row * d;
            double bce = image_bce(isa, xi, logits + row * VAE_INPUT_DIM);
            double log_pz_over_q = half_logvar;
            for (int j = 0; j < d; j++) {
                double z = (double)(m[j] + e[j] * expf(0.5f * lv[j]));
                log_pz_over_q += 0.5 * ((double)e[j] * e[j] - z * z);
            }
            double log_w = -bce + log_pz_over_q;
            bce_sum += bce;
            /* streaming log-sum-exp: rescale the running sum when a larger term arrives */
            if (log_w > max_w) {
                sum_w = sum_w * exp(max_w - log_w) + 1.0;
                max_w = log_w;
            } else {
                sum_w += exp(log_w - max_w);
            }
        }
        double nll = -(max_w + log(sum_w) - log((double)k));
        double bce = bce_sum / k;
        out[i].bce = (float)bce;
        out[i].kl = (float)kl;
        out[i].loss = (float)(bce + kl);
        out[i].nll = (float)nll;
        out[i].bits_per_dim = (float)(nll / (VAE_INPUT_DIM * M_LN2));
    }
}

void vae_score_pixel_bce(const float x[VAE_INPUT_DIM], const float logits[VAE_INPUT_DIM],
                         float out[VAE_INPUT_DIM]) {
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        float l = logits[p];
        out[p] = fmaxf(l, 0.0f) - l * x[p] + log1pf(expf(-fabsf(l)));
    }
}

float vae_score_corrected(float nll, float complexity_bits) {
    return (float)((double)nll / M_LN2 - (double)complexity_bits);
}

float vae_score_percentile(const vae_score_table *t, float value) {
    if (!t->values || t->count < 1 || isnan(value)) return NAN;
    /* below = first index with values[i] >= value; upto = first with values[i] > value */
    int lo = 0, hi = t->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->values[mid] < value) lo = mid + 1;
        else hi = mid;
    }
    int below = lo;
    hi = t->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->values[mid] <= value) lo = mid + 1;
        else hi = mid;
    }
    return (float)(100.0 * ((double)below + 0.5 * (double)(lo - below)) / (double)t->count);
}

/* The upper-tail probability 1 - percentile/100 of a value, kept half a calibration image above 0 so
 * that a value beyond the whole table is very unusual but finite. */
static double tail_of(const vae_score_table *t, float value) {
    double tail = 1.0 - vae_score_percentile(t, value) / 100.0, floor = 0.5 / t->count;
    return tail > floor ? tail : floor;
}

float vae_score_ood_value(const vae_score_tables *t, float nll, float corrected) {
    if (isnan(nll) || isnan(corrected) || !t->nll.values || !t->corrected.values) return NAN;
    return (float)(-log(tail_of(&t->nll, nll)) - log(tail_of(&t->corrected, corrected)));
}

vae_status vae_score_ood(const vae_model *model, const vae_score *s, float complexity_bits,
                         float *ood_score, float *ood_percentile) {
    if (!model->scores.nll.values) return VAE_ERR_UNSUPPORTED;
    float v = vae_score_ood_value(&model->scores, s->nll, vae_score_corrected(s->nll, complexity_bits));
    *ood_score = v;
    *ood_percentile = vae_score_percentile(&model->scores.ood, v);
    return VAE_OK;
}

vae_status vae_score_images(const vae_model *model, vae_workspace *ws, const float *x, int n, int k,
                            uint64_t seed, vae_score *out, vae_error *err) {
    if (n < 0 || k < 1) return vae_error_set(err, VAE_ERR_ARG, "score: n %d and k %d (k must be >= 1)", n, k);
    if (n == 0) return VAE_OK;
    const int d = model->config.latent_dim;
    const int group = k >= SCORE_ROWS ? 1 : (SCORE_ROWS / k < n ? SCORE_ROWS / k : n);
    const size_t rows = (size_t)group * (size_t)k;
    float *mu = alloc_floats((size_t)n * d), *logvar = alloc_floats((size_t)n * d);
    float *eps = alloc_floats(rows * d), *z = alloc_floats(rows * d);
    float *logits = alloc_floats(rows * VAE_INPUT_DIM);
    vae_score *scores = malloc(sizeof *scores * (size_t)n);
    vae_status st = VAE_OK;
    if (!mu || !logvar || !eps || !z || !logits || !scores) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory scoring %d images with k = %d", n, k);
        goto done;
    }
    vae_encode(model, ws, x, n, mu, logvar);
    for (int start = 0; start < n; start += group) {
        int g = n - start < group ? n - start : group;
        const float *m = mu + (size_t)start * d, *lv = logvar + (size_t)start * d;
        vae_score_draw_eps(eps, g, k, d, seed + (uint64_t)start * VAE_SCORE_SEED_STEP);
        vae_score_latents(z, m, lv, eps, g, k, d);
        vae_decode_logits(model, ws, z, g * k, logits);
        vae_score_compute(x + (size_t)start * VAE_INPUT_DIM, m, lv, eps, logits, g, k, d, scores + start);
    }
    for (int i = 0; i < n; i++) out[i] = scores[i];
done:
    free(mu);
    free(logvar);
    free(eps);
    free(z);
    free(logits);
    free(scores);
    return st;
}
