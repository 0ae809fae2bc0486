/* Operations in the latent space: class centroids (the mean code of each digit) and interpolation
 * between two codes, as the trainer, its report and the server's /interpolate use them. */
#ifndef VAE_LATENT_H
#define VAE_LATENT_H

#include <stdint.h>

#include "vae/dataset.h"
#include "vae/error.h"
#include "vae/model.h"

/* out (VAE_NUM_CLASSES, d) = for each class k, the mean of the rows of mu (n, d) labelled k (summed in
 * double precision, in row order), or zeros when no row is. labels holds n values in
 * 0..VAE_NUM_CLASSES-1. VAE_ERR_NOMEM (out untouched) when its (VAE_NUM_CLASSES, d) sums cannot be
 * allocated. */
vae_status vae_latent_class_means(float *out, const float *mu, const uint8_t *labels, int n, int d,
                                  vae_error *err);

/* Sets model->centroids (VAE_NUM_CLASSES, d) to the class means of mu (as vae_latent_class_means)
 * over every image of ds, unaugmented, encoded in batches without keeping them all: the anchors of
 * "morph a 3 into an 8". Labels must be 0..VAE_NUM_CLASSES-1 (as vae_dataset_load guarantees).
 * Replaces (and frees) centroids the model had. VAE_ERR_NOMEM leaves the model as it was. */
vae_status vae_latent_compute_centroids(vae_model *model, const vae_dataset *ds, vae_error *err);

/* out (d) = (1-t) a + t b, the point at t on the straight line from a to b; written in this form
 * (not a + t(b-a)) so that t = 0 and t = 1 give a and b exactly. out may alias neither. */
void vae_latent_lerp(float *out, const float *a, const float *b, int d, float t);

/* out (d) = the point at t on the great-circle arc from a to b (spherical interpolation): when a
 * and b have the same norm, every point keeps it; otherwise the norm moves between theirs along
 * the arc. t = 0 and t = 1 give a and b exactly. Where the arc is undefined (a or b zero, or the
 * two parallel or antiparallel: sin of their angle below 1e-6) it falls back to vae_latent_lerp.
 * Very large ends may overflow float32 (the caller checks isfinite). out may alias neither. */
void vae_latent_slerp(float *out, const float *a, const float *b, int d, float t);

#endif
