/* Image completion (inpainting): the pixels of an image that a mask marks known are kept, the others
 * filled in by a chain that alternates the encoder and the decoder. Two chains:
 *   - pseudo-Gibbs (Rezende et al. 2014): z ~ q(z|x_t), x_{t+1} = known pixels + the decoder's mean
 *     elsewhere;
 *   - Metropolis-within-Gibbs (Mattei and Frellsen 2018): the same proposal z' ~ q(z|x_t), accepted
 *     with probability min(1, rho),
 *       rho = p(x_obs|z') p(z') q(z_t|x_t) / (p(x_obs|z_t) p(z_t) q(z'|x_t)),
 *     where p(x_obs|z) scores the known pixels only; the hidden pixels come from the current z.
 * Which one the server uses by default is measured (README: completion); both are here.
 *
 * One step of one image, as the server stages it (model calls batched by the caller):
 *   vae_encode(x) -> mu, logvar;  vae_rng_normal_fill(rng, eps, d, 1);
 *   vae_score_latents(z_prop, mu, logvar, eps, 1, 1, d);  vae_decode_logits(z_prop) -> logits_prop;
 *   vae_complete_update(...)  (MwG draws one uniform from the same rng after the first step).
 * vae_complete_images runs whole chains that way. */
#ifndef VAE_COMPLETE_H
#define VAE_COMPLETE_H

#include <stdint.h>

#include "vae/error.h"
#include "vae/model.h"
#include "vae/rng.h"

typedef enum {
    VAE_COMPLETE_PSEUDO_GIBBS = 0,
    VAE_COMPLETE_MWG,
} vae_complete_method;

/* "pseudo_gibbs", "mwg". */
const char *vae_complete_method_name(vae_complete_method method);
/* Parses a name as printed by vae_complete_method_name: 0, or -1 if unknown. */
int vae_complete_method_parse(const char *name, vae_complete_method *out);

/* log p(x_obs|z): minus the BCE of the pixels whose mask byte is nonzero, x and logits (784). */
double vae_complete_log_lik(const float *x, const uint8_t *mask, const float *logits);

/* log N(z; 0, I) of z (d). */
double vae_complete_log_prior(const float *z, int d);

/* log N(z; mu, diag(exp(logvar))) of z (d). */
double vae_complete_log_q(const float *z, const float *mu, const float *logvar, int d);

/* log rho of the Metropolis-within-Gibbs step from the proposal's and the current state's
 * log p(x_obs|z), log p(z) and log q(z|x_t) (both q under the current image's encoding):
 *   (lik_prop + prior_prop - q_prop) - (lik_cur + prior_cur - q_cur). */
double vae_complete_mwg_log_ratio(double lik_prop, double prior_prop, double q_prop, double lik_cur,
                                  double prior_cur, double q_cur);

/* 1 with probability min(1, exp(log_ratio)), from one uniform drawn from rng (always drawn, so the
 * stream does not depend on the outcome); 0 otherwise. NaN rejects. */
int vae_complete_mwg_accept(double log_ratio, vae_rng *rng);

/* x (784) = known where mask is nonzero, fill elsewhere (fill NULL: 0, the background). x may be
 * fill. */
void vae_complete_clamp(float *x, const float *known, const uint8_t *mask, const float *fill);

/* One step of one image's chain after the caller encoded x (784, the current image: known pixels
 * clamped) into mu, logvar (d), drew z_prop = mu + eps * exp(logvar / 2) and decoded it into
 * logits_prop (784). The chain's state is z_cur (d), logits_cur (784) and *lik_cur (log p(x_obs|z_cur));
 * `first` marks the first step, which has no state yet and always takes the proposal. Pseudo-Gibbs
 * always takes it; MwG takes it with vae_complete_mwg_accept (one uniform from rng, after the first
 * step). When taken, the state becomes the proposal. Then x = known pixels + sigmoid(logits_cur)
 * elsewhere. Returns 1 when the proposal was taken, else 0. */
int vae_complete_update(vae_complete_method method, float *x, float *z_cur, float *logits_cur,
                        double *lik_cur, const float *known, const uint8_t *mask, const float *mu,
                        const float *logvar, const float *z_prop, const float *logits_prop, int d,
                        int first, vae_rng *rng);

/* Completes n images: x (n, 784) with the known pixels of image i marked by mask (n, 784); hidden
 * pixels start at 0; `steps` (>= 1) steps of `method`, image i's randomness from a vae_rng seeded
 * with seed + i * VAE_SCORE_SEED_STEP (score.h); out (n, 784) the final images (known pixels exactly as given).
 * chain, when not NULL, (n, steps, 784) receives each step's image. accepted, when not NULL, (n)
 * counts the proposals taken. VAE_ERR_ARG (steps < 1, n < 0), VAE_ERR_NOMEM; outputs written only on
 * success. */
vae_status vae_complete_images(const vae_model *model, vae_workspace *ws, const float *x,
                               const uint8_t *mask, int n, vae_complete_method method, int steps,
                               uint64_t seed, float *out, float *chain, int *accepted, vae_error *err);

#endif
