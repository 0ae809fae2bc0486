/* Scoring images with the model as a density: the negative ELBO, the importance-weighted estimate of
 * -log p(x) (Burda et al. 2016), bits per dimension, a per-pixel map of the reconstruction's BCE, and
 * where a score falls among the model's own test images (the calibration tables of model.h), with one
 * out-of-distribution score built from the likelihood and the image's complexity (Serra et al. 2020).
 *
 * The likelihood is the one the trainer optimises: each pixel's grey value x in [0,1] scored by the
 * Bernoulli log-likelihood of the decoder's sigmoid output, in the stable logits form
 *   log p(x|z) = -sum_pixels [max(l, 0) - l*x + log(1 + exp(-|l|))].
 * All figures are in nats per image unless named otherwise.
 *
 * A caller that runs the model itself (the server, in stages) does, for n images and k samples:
 *   vae_encode(x) -> mu, logvar (n, d); vae_score_draw_eps(eps, n, k, d, seed);
 *   vae_score_latents(z, mu, logvar, eps) -> z (n*k, d); vae_decode_logits(z) -> logits (n*k, 784);
 *   vae_score_compute(x, mu, logvar, eps, logits, n, k, d, out).
 * vae_score_images does all of it in one call. */
#ifndef VAE_SCORE_H
#define VAE_SCORE_H

#include <stdint.h>

#include "vae/error.h"
#include "vae/image.h"
#include "vae/model.h"

/* The server's default number of importance samples, and that of the stored calibration tables. */
#define VAE_SCORE_DEFAULT_K 64

/* Image i of a call draws its randomness from a vae_rng seeded with seed + i * this (an odd constant,
 * not splitmix64's increment: seeds one increment apart would give streams shifted by one draw). */
#define VAE_SCORE_SEED_STEP 0xD1B54A32D192ED03ULL

typedef struct {
    float loss;         /* negative ELBO: bce + kl, the trained quantity */
    float bce;          /* -log p(x|z) averaged over the k samples z_i ~ q(z|x) */
    float kl;           /* KL(q(z|x) || N(0, I)), analytic */
    float nll;          /* -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), log-sum-exp in double */
    float bits_per_dim; /* nll / (784 ln 2) */
} vae_score;

/* Fills eps (n*k, d) with N(0, 1) draws: rows i*k .. i*k+k-1 belong to image i and come from a vae_rng
 * seeded with seed + i * VAE_SCORE_SEED_STEP (so an image's numbers depend on the seed and its index,
 * not on how a caller splits a batch; image 0 uses seed itself). Cannot fail. */
void vae_score_draw_eps(float *eps, int n, int k, int d, uint64_t seed);

/* z (n*k, d) = mu + eps * exp(logvar / 2), row i*k+j from image i's mu and logvar (n, d), in float as
 * the trainer's reparameterisation computes it. */
void vae_score_latents(float *z, const float *mu, const float *logvar, const float *eps, int n, int k,
                       int d);

/* Scores n images from pieces the caller computed: x (n, 784) in [0,1], the encoder's mu and logvar
 * (n, d), the noise eps (n*k, d) with z = mu + eps*exp(logvar/2) (vae_score_latents), and the
 * decoder's logits of those z (n*k, 784). out (n). k >= 1. Cannot fail; reads its inputs only. */
void vae_score_compute(const float *x, const float *mu, const float *logvar, const float *eps,
                       const float *logits, int n, int k, int d, vae_score *out);

/* out[p] = the BCE of pixel p of x (784) under logits (784) (the terms of log p(x|z) above, negated):
 * for the heat map of where the model finds an image unusual, from the logits of z = mu. */
void vae_score_pixel_bce(const float x[VAE_INPUT_DIM], const float logits[VAE_INPUT_DIM],
                         float out[VAE_INPUT_DIM]);

/* The complexity-corrected score of Serra et al.: nll in bits minus the image's complexity in bits
 * (vae_image_complexity_bits). Larger is more unusual. */
float vae_score_corrected(float nll, float complexity_bits);

/* Where value falls in the table: 100 * (values below + half the values equal) / count, in 0..100;
 * 99.9 means 99.9% of the calibration images scored lower (better). NaN for a NaN value or an empty
 * table. */
float vae_score_percentile(const vae_score_table *t, float value);

/* The out-of-distribution score from an image's nll (nats) and complexity-corrected score, against
 * the tables: Fisher's combination of the two scores' upper-tail probabilities,
 *   ood_score = -ln(1 - P_nll) - ln(1 - P_corrected),   P = percentile / 100,
 * each tail kept at least half a calibration image (0.5 / count) so that the score stays finite
 * (0 .. 2 ln(2 count)). Large when either score is far out in its tail, larger when both are: the
 * likelihood catches images unlike the training data that are complex (Fashion-MNIST under a digit
 * model), the corrected score simple ones that the likelihood rates too well (digits under a
 * Fashion-MNIST model). Chosen over the larger of the two percentiles and their sum by the AUROCs
 * measured in both directions (README). NaN when an input is NaN or a table is missing. */
float vae_score_ood_value(const vae_score_tables *t, float nll, float corrected);

/* ood_score (vae_score_ood_value of s->nll and its corrected score) and ood_percentile (its
 * percentile in the table score.ood) of a scored image with the given complexity. VAE_ERR_UNSUPPORTED
 * (outputs untouched) when the model has no score tables (vae_model_require words it). */
vae_status vae_score_ood(const vae_model *model, const vae_score *s, float complexity_bits,
                         float *ood_score, float *ood_percentile);

/* Encodes, samples and decodes n images x (n, 784) with k samples each (eps from vae_score_draw_eps
 * with seed) and scores them into out (n), decoding several images' samples per call. ws is the
 * caller's (any max_batch). VAE_ERR_ARG for k < 1 or n < 0, VAE_ERR_NOMEM; out written only on
 * success. Thread-safe as vae_decode is. */
vae_status vae_score_images(const vae_model *model, vae_workspace *ws, const float *x, int n, int k,
                            uint64_t seed, vae_score *out, vae_error *err);

#endif
