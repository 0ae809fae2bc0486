/* Operations in the latent space: class centroids and spreads (the mean code of each digit and how
 * far its codes scatter), class-conditional samples, interpolation between two codes, the manifold
 * grid through the inverse normal CDF, traversals of one coordinate, the principal plane of a set of
 * codes and the diagnostics of each coordinate, as the trainer, its report and the server use them. */
#ifndef VAE_LATENT_H
#define VAE_LATENT_H

#include <stdint.h>

#include "vae/dataset.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/rng.h"

/* out (VAE_NUM_CLASSES, d) = for each class k, the mean of the rows of mu (n, d) labelled k (summed in
 * double precision, in row order), or zeros when no row is. labels holds n values in
 * 0..VAE_NUM_CLASSES-1. VAE_ERR_NOMEM (out untouched) when its (VAE_NUM_CLASSES, d) sums cannot be
 * allocated. */
vae_status vae_latent_class_means(float *out, const float *mu, const uint8_t *labels, int n, int d,
                                  vae_error *err);

/* Sets model->centroids (VAE_NUM_CLASSES, d) to the class means of mu (as vae_latent_class_means)
 * and model->class_std (VAE_NUM_CLASSES, d) to the per-coordinate standard deviation of mu within
 * each class (population form, 0 for a class without images) over every image of ds, unaugmented,
 * encoded in batches without keeping them all: the anchors of "morph a 3 into an 8" and the Gaussians
 * of class-conditional sampling. Labels must be 0..VAE_NUM_CLASSES-1 (as vae_dataset_load
 * guarantees). Replaces (and frees) what the model had. VAE_ERR_NOMEM leaves the model as it was. */
vae_status vae_latent_compute_centroids(vae_model *model, const vae_dataset *ds, vae_error *err);

/* z (n, d) = centroid + temperature * class_std * eps for class `label`, eps ~ N(0, I) drawn from rng
 * row by row in the order vae_rng_normal_fill draws them (so a seed gives the same eps as for the
 * prior). VAE_ERR_ARG for a label outside 0..9 or n < 0, VAE_ERR_UNSUPPORTED when the model has no
 * class statistics (vae_model_require's message); z untouched on failure. */
vae_status vae_latent_sample_class(float *z, const vae_model *model, int label, int n,
                                   float temperature, vae_rng *rng, vae_error *err);

/* The inverse of the standard normal CDF: x with P(N(0,1) <= x) = p, to double precision (relative
 * error below 1e-14 over (0, 1)). -INFINITY at 0, +INFINITY at 1, NaN outside [0, 1] or for NaN. */
double vae_normal_quantile(double p);

/* The decoder's view of a plane, Kingma and Welling's learned-manifold figure: z (n*n, d), cell (r, c)
 * (row r from the top, column c from the left) at row r*n + c, equal to
 *   base + q[c] * scale_a * dir_a + q[n-1-r] * scale_b * dir_b,  q[i] = vae_normal_quantile((i+0.5)/n)
 * (the unit square's cell centres through the inverse Gaussian CDF; up is +dir_b). For d = 2 with
 * base 0, dir_a = e1, dir_b = e2 and scales 1 this is exactly the paper's grid. base may be NULL
 * (the origin). n >= 1. */
void vae_latent_manifold(float *z, const float *base, const float *dir_a, float scale_a,
                         const float *dir_b, float scale_b, int d, int n);

/* z (steps, d): base with coordinate dim swept from lo to hi in steps evenly spaced values (row 0 is
 * lo, the last row hi exactly; steps 1 gives lo); every other coordinate equals base's. */
void vae_latent_traverse(float *z, const float *base, int d, int dim, float lo, float hi, int steps);

/* order (d) = the latent coordinates by decreasing diagnostic activity (model->diag.mu_var, ties by
 * index), so the active units come first. VAE_ERR_UNSUPPORTED without diagnostics. */
vae_status vae_latent_dims_by_activity(const vae_model *model, int *order, vae_error *err);

/* The principal plane of n codes mu (n, d): mean (d), the two leading eigenvectors of their
 * covariance (population form) as the rows of dirs (2, d), orthonormal, each with its largest entry
 * positive, and std (2) the square roots of their eigenvalues (the spread of the codes along each).
 * Eigenvectors by cyclic Jacobi rotations in double precision (deterministic). VAE_ERR_ARG for d < 2
 * or n < 1, VAE_ERR_NOMEM; outputs written only on success. */
vae_status vae_latent_principal_plane(float *mean, float *dirs, float *std, const float *mu, int n,
                                      int d, vae_error *err);

/* Burda et al.'s diagnostics of n codes: mu_var (d) = the variance over the n images of each
 * coordinate of the posterior mean (population form; active when above VAE_ACTIVE_UNIT_THRESHOLD),
 * kl (d) = the mean over the images of each coordinate's KL term 0.5 (exp(lv) - lv - 1 + mu^2).
 * Sums in double. n >= 1. */
void vae_latent_diagnostics(float *mu_var, float *kl, const float *mu, const float *logvar, int n,
                            int d);

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
