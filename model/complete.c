/* Completion chains: pseudo-Gibbs and Metropolis-within-Gibbs, as pure per-step functions and a
 * batched reference driver. */
#include "vae/complete.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vae/layers.h"
#include "vae/score.h"


const char *vae_complete_method_name(vae_complete_method method) {
    return method == VAE_COMPLETE_MWG ? "mwg" : "pseudo_gibbs";
}

int vae_complete_method_parse(const char *name, vae_complete_method *out) {
    if (!strcmp(name, "pseudo_gibbs")) *out = VAE_COMPLETE_PSEUDO_GIBBS;
    else if (!strcmp(name, "mwg")) *out = VAE_COMPLETE_MWG;
    else return -1;
    return 0;
}

double vae_complete_log_lik(const float *x, const uint8_t *mask, const float *logits) {
    double sum = 0.0;
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        if (!mask[p]) continue;
        float l = logits[p];
        sum += (double)(fmaxf(l, 0.0f) - l * x[p] + log1pf(expf(-fabsf(l))));
    }
    return -sum;
}

double vae_complete_log_prior(const float *z, int d) {
    double sq = 0.0;
    for (int j = 0; j < d; j++) sq += (double)z[j] * z[j];
    return -0.5 * sq - 0.5 * d * log(2.0 * M_PI);
}

double vae_complete_log_q(const float *z, const float *mu, const float *logvar, int d) {
    double sum = 0.0;
    for (int j = 0; j < d; j++) {
        double diff = (double)z[j] - mu[j];
        sum += diff * diff * exp(-(double)logvar[j]) + logvar[j];
    }
    return -0.5 * sum - 0.5 * d * log(2.0 * M_PI);
}

double vae_complete_mwg_log_ratio(double lik_prop, double prior_prop, double q_prop, double lik_cur,
                                  double prior_cur, double q_cur) {
    return (lik_prop + prior_prop - q_prop) - (lik_cur + prior_cur - q_cur);
}

int vae_complete_mwg_accept(double log_ratio, vae_rng *rng) {
    double u = vae_rng_uniform(rng);
    if (isnan(log_ratio)) return 0;
    /* u in [0, 1): log(u) < log_ratio with probability min(1, exp(log_ratio)) */
    return log_ratio >= 0.0 || log(u) < log_ratio;
}

void vae_complete_clamp(float *x, const float *known, const uint8_t *mask, const float *fill) {
    for (int p = 0; p < VAE_INPUT_DIM; p++) x[p] = mask[p] ? known[p] : fill ? fill[p] : 0.0f;
}

int vae_complete_update(vae_complete_method method, float *x, float *z_cur, float *logits_cur,
                        double *lik_cur, const float *known, const uint8_t *mask, const float *mu,
                        const float *logvar, const float *z_prop, const float *logits_prop, int d,
                        int first, vae_rng *rng) {
    double lik_prop = vae_complete_log_lik(known, mask, logits_prop);
    int take = 1;
    if (method == VAE_COMPLETE_MWG && !first) {
        double ratio = vae_complete_mwg_log_ratio(
            lik_prop, vae_complete_log_prior(z_prop, d), vae_complete_log_q(z_prop, mu, logvar, d),
            *lik_cur, vae_complete_log_prior(z_cur, d), vae_complete_log_q(z_cur, mu, logvar, d));
        take = vae_complete_mwg_accept(ratio, rng);
    }
    if (take) {
        memcpy(z_cur, z_prop, sizeof(float) * (size_t)d);
        memcpy(logits_cur, logits_prop, sizeof(float) * VAE_INPUT_DIM);
        *lik_cur = lik_prop;
    }
    float mean[VAE_INPUT_DIM];
    vae_sigmoid_forward(mean, logits_cur, VAE_INPUT_DIM);
    vae_complete_clamp(x, known, mask, mean);
    return take;
}

vae_status vae_complete_images(const vae_model *model, vae_workspace *ws, const float *x,
                               const uint8_t *mask, int n, vae_complete_method method, int steps,
                               uint64_t seed, float *out, float *chain, int *accepted, vae_error *err) {
    if (n < 0 || steps < 1)
        return vae_error_set(err, VAE_ERR_ARG, "complete: n %d, steps %d (steps must be >= 1)", n, steps);
    if (n == 0) return VAE_OK;
    const int d = model->config.latent_dim;
    const size_t nd = (size_t)n * d, npx = (size_t)n * VAE_INPUT_DIM;
    float *cur = alloc_floats(npx), *mu = alloc_floats(nd), *logvar = alloc_floats(nd);
    float *eps = alloc_floats(nd), *z_prop = alloc_floats(nd), *z_cur = alloc_floats(nd);
    float *logits_prop = alloc_floats(npx), *logits_cur = alloc_floats(npx);
    double *lik = calloc((size_t)n, sizeof(double));
    int *taken = calloc((size_t)n, sizeof(int));
    vae_rng *rng = malloc(sizeof *rng * (size_t)n);
    vae_status st = VAE_OK;
    if (!cur || !mu || !logvar || !eps || !z_prop || !z_cur || !logits_prop || !logits_cur || !lik ||
        !taken || !rng) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory completing %d images", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        vae_rng_seed(&rng[i], seed + (uint64_t)i * VAE_SCORE_SEED_STEP);
        vae_complete_clamp(cur + (size_t)i * VAE_INPUT_DIM, x + (size_t)i * VAE_INPUT_DIM,
                           mask + (size_t)i * VAE_INPUT_DIM, NULL);
    }
    for (int t = 0; t < steps; t++) {
        vae_encode(model, ws, cur, n, mu, logvar);
        for (int i = 0; i < n; i++) vae_rng_normal_fill(&rng[i], eps + (size_t)i * d, (size_t)d, 1.0f);
        vae_score_latents(z_prop, mu, logvar, eps, n, 1, d);
        vae_decode_logits(model, ws, z_prop, n, logits_prop);
        for (int i = 0; i < n; i++) {
            const size_t pi = (size_t)i * VAE_INPUT_DIM, di = (size_t)i * d;
            taken[i] += vae_complete_update(method, cur + pi, z_cur + di, logits_cur + pi, &lik[i], x + pi,
                                            mask + pi, mu + di, logvar + di, z_prop + di, logits_prop + pi,
                                            d, t == 0, &rng[i]);
            if (chain)
                memcpy(chain + ((size_t)i * steps + t) * VAE_INPUT_DIM, cur + pi,
                       sizeof(float) * VAE_INPUT_DIM);
        }
    }
    memcpy(out, cur, sizeof(float) * npx);
    if (accepted) memcpy(accepted, taken, sizeof(int) * (size_t)n);
done:
    free(cur);
    free(mu);
    free(logvar);
    free(eps);
    free(z_prop);
    free(z_cur);
    free(logits_prop);
    free(logits_cur);
    free(lik);
    free(taken);
    free(rng);
    return st;
}
