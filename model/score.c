/* Density scores of images: negative ELBO, importance-weighted NLL, percentiles against the stored
 * calibration tables, and the out-of-distribution score. */
#include "vae/score.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"
#include "vae/rng.h"

/* Odd multiplier spreading image indices over seeds (not splitmix64's increment: seeds one increment
 * apart would give streams shifted by one draw). */
#define IMAGE_SEED_STEP 0xD1B54A32D192ED03ULL

/* Rows decoded per call by vae_score_images when k is small: several images' samples together. */
#define SCORE_ROWS 2048

void vae_score_draw_eps(float *eps, int n, int k, int d, uint64_t seed) {
    const size_t per_image = (size_t)k * (size_t)d;
    for (int i = 0; i < n; i++) {
        vae_rng rng;
        vae_rng_seed(&rng, seed + (uint64_t)i * IMAGE_SEED_STEP);
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

/* -log p(x|z) of one image: the BCE of its 784 pixels, summed in double. */
static double image_bce(const float *x, const float *logits) {
    double sum = 0.0;
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        float l = logits[p];
        sum += (double)(fmaxf(l, 0.0f) - l * x[p] + log1pf(expf(-fabsf(l))));
    }
    return sum;
}

void vae_score_compute(const float *x, const float *mu, const float *logvar, const float *eps,
                       const float *logits, int n, int k, int d, vae_score *out) {
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
            double bce = image_bce(xi, logits + row * VAE_INPUT_DIM);
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

float vae_score_ood_value(const vae_score_tables *t, float nll, float corrected) {
    float a = vae_score_percentile(&t->nll, nll), b = vae_score_percentile(&t->corrected, corrected);
    if (isnan(a) || isnan(b)) return NAN;
    return a > b ? a : b;
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
        vae_score_draw_eps(eps, g, k, d, seed + (uint64_t)start * IMAGE_SEED_STEP);
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
