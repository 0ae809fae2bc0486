/* The trainer's --report DIR output: pictures of what the model learned and the per-epoch numbers.
 */
#ifndef VAE_TRAIN_REPORT_H
#define VAE_TRAIN_REPORT_H

#include "vae/dataset.h"
#include "vae/error.h"
#include "vae/model.h"

/* One epoch's numbers as the trainer measured them (losses are per image: bce + beta * kl). */
typedef struct {
    int epoch;
    double train_loss, test_loss, train_bce, train_kl, test_bce, test_kl, seconds, lr;
} vae_epoch_stats;

/* Sizes of the pictures, in pixels, for callers and tests that check them. */
#define VAE_REPORT_ZOOM 3 /* each 28x28 image pixel becomes 3x3 */
#define VAE_REPORT_CELL (VAE_IMAGE_SIDE * VAE_REPORT_ZOOM)
#define VAE_REPORT_SAMPLES_W (8 * VAE_REPORT_CELL)
#define VAE_REPORT_SAMPLES_H (8 * VAE_REPORT_CELL)
#define VAE_REPORT_SEPARATOR 4
#define VAE_REPORT_HEADER 30
#define VAE_REPORT_RECON_W (2 * 8 * VAE_REPORT_CELL + VAE_REPORT_SEPARATOR)
#define VAE_REPORT_RECON_H (VAE_REPORT_HEADER + 8 * VAE_REPORT_CELL)
#define VAE_REPORT_MORPH_STEPS 10
#define VAE_REPORT_MORPH_W (VAE_REPORT_MORPH_STEPS * VAE_REPORT_CELL)
#define VAE_REPORT_MORPH_H (VAE_REPORT_CELL + VAE_REPORT_HEADER)
#define VAE_REPORT_MAP_W 980
#define VAE_REPORT_MAP_H 870
#define VAE_REPORT_LOSS_W 1000
#define VAE_REPORT_LOSS_H 620
#define VAE_REPORT_MANIFOLD_N 20   /* cells per side of the manifold grid */
#define VAE_REPORT_MANIFOLD_ZOOM 2
#define VAE_REPORT_MANIFOLD_W (VAE_REPORT_MANIFOLD_N * VAE_IMAGE_SIDE * VAE_REPORT_MANIFOLD_ZOOM)
#define VAE_REPORT_MANIFOLD_H (VAE_REPORT_MANIFOLD_W + VAE_REPORT_HEADER)
#define VAE_REPORT_TRAVERSE_STEPS 11 /* from -3 to +3 */
#define VAE_REPORT_TRAVERSE_ROWS 10  /* at most: the most active coordinates */
#define VAE_REPORT_TRAVERSE_LABEL 80 /* width of the row labels */
#define VAE_REPORT_TRAVERSE_W (VAE_REPORT_TRAVERSE_LABEL + VAE_REPORT_TRAVERSE_STEPS * VAE_REPORT_CELL)
/* height for d latent coordinates */
#define VAE_REPORT_TRAVERSE_H(d)                                                                     \
    (VAE_REPORT_HEADER + ((d) < VAE_REPORT_TRAVERSE_ROWS ? (d) : VAE_REPORT_TRAVERSE_ROWS) * VAE_REPORT_CELL)

/* Writes into dir (created, parents included, if missing):
 *   samples.png          64 decodings of z ~ N(0, I) drawn from `seed`, an 8x8 grid at 3x zoom;
 *   reconstructions.png  the first 64 test images (8x8, left) and their reconstructions
 *                        decode(mu(x)) in the same places (right), under a caption band, split by
 *                        a grey bar;
 *   morph_3_to_8.png     10 decodings along the line from the class-3 centroid to the class-8 one
 *                        (model->centroids when present, else the class means of mu over test; a
 *                        class with no test image uses the prior mean 0), captioned;
 *   latent_map.png       the test-set means mu coloured by label with a legend: the plane itself
 *                        when d == 2, the top two principal components when d > 2, and for d == 1
 *                        mu against the class (each class a jittered row);
 *   loss.png             train and test loss per epoch (lines with markers, legend, axes, title);
 *   epochs.csv           a header, then one row per epoch of every vae_epoch_stats field;
 *   and the pictures of vae_report_write_latent.
 * Picture sizes are the VAE_REPORT_* constants above. test must hold at least one 28x28 image;
 * n_epochs may be 0 (an empty loss plot) and history may then be NULL.
 * Returns VAE_OK, or VAE_ERR_ARG (bad arguments), VAE_ERR_NOMEM, or VAE_ERR_IO naming the directory
 * or file that could not be written; files written before a failure stay. Allocates its scratch
 * once and frees everything on every path. */
vae_status vae_report_write(const char *dir, const vae_model *model, const vae_dataset *test,
                            const vae_epoch_stats *history, int n_epochs, unsigned long long seed,
                            vae_error *err);

/* Writes into dir (which must exist) the pictures of the latent space itself:
 *   manifold.png   the decoder over a 20 x 20 grid (vae_latent_manifold) under a caption: for d = 2
 *                  Kingma and Welling's learned-manifold figure (the unit square's cell centres
 *                  through the inverse Gaussian CDF); for d > 2 the principal plane of the test
 *                  codes (model->plane when present, else computed from test), around its mean, each
 *                  direction scaled by its spread; not written for d = 1;
 *   traversal.png  from the origin, each of the (up to 10) coordinates whose test-set posterior means
 *                  vary most (model->diag when present, else measured on test) swept from -3 to +3
 *                  in 11 steps, one labelled row each (VAE_REPORT_TRAVERSE_H(d) high).
 * Errors as vae_report_write. */
vae_status vae_report_write_latent(const char *dir, const vae_model *model, const vae_dataset *test,
                                   vae_error *err);

#endif
