/* What vae-train measures of a trained model and stores beside its parameters (model.h's optional
 * groups): class centroids and spreads over the training set; the principal plane, the diagnostics
 * and the score calibration tables over the test set; and, on request, the test set's
 * importance-weighted NLL. Run at the end of training and by --annotate on an existing file. */
#ifndef VAE_TRAIN_ANNOTATE_H
#define VAE_TRAIN_ANNOTATE_H

#include "vae/dataset.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/score.h"

typedef struct {
    int score_k;             /* importance samples of the calibration tables */
    unsigned long long seed; /* score_seed; the IWAE estimate draws from seed + 1 */
    int iwae_k;              /* samples of the test NLL; 0: not measured */
    const char *normalize;   /* metadata `normalize` ("mnist" or "fill") */
    int threads;             /* threads that score images (the tables and the NLL); any count gives
                                the same bits */
} vae_annotate_options;

typedef struct {
    double iwae_nll;      /* mean over the test set, nats; NAN when not measured */
    double iwae_loss;     /* the same run's mean negative ELBO (BCE over the K samples + KL) */
    double table_seconds; /* centroids, plane, diagnostics and tables */
    double iwae_seconds;
    int calibration_images;
} vae_annotate_result;

/* The calibration images: the test images of even index (the odd ones are left for measuring). */
#define VAE_ANNOTATE_CALIBRATION_STRIDE 2

/* The most threads vae_annotate_score uses. */
#define VAE_ANNOTATE_MAX_THREADS 64

/* Scores the images first, first + stride, ... of ds (count of them) with k samples each, as one
 * vae_score_images call over them would (image j of the selection draws from seed + j *
 * VAE_SCORE_SEED_STEP), in chunks spread over `threads` threads (1..VAE_ANNOTATE_MAX_THREADS; the
 * same bits for any count); out (count) and, when not NULL, complexity (count) their
 * vae_image_complexity_bits. VAE_ERR_NOMEM. */
vae_status vae_annotate_score(const vae_model *model, const vae_dataset *ds, int first, int stride,
                              int count, int k, unsigned long long seed, int threads, vae_score *out,
                              float *complexity, vae_error *err);

/* Computes every group and writes it into model (replacing what it had), with the metadata keys
 * normalize, score_k, score_seed, score_images and, with iwae_k, test_nll and test_nll_k. The test
 * set needs at least 2 images (one calibration image). The model's parameters are not changed.
 * Prints one progress line per phase to stdout. VAE_ERR_ARG, VAE_ERR_NOMEM. */
vae_status vae_annotate(vae_model *model, const vae_dataset *train, const vae_dataset *test,
                        const vae_annotate_options *o, vae_annotate_result *r, vae_error *err);

#endif
