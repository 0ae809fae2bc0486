/* vae-train's measurements of a model's scores and chains, which decide the server's defaults:
 * how well each candidate out-of-distribution score tells another data set's test images from the
 * model's own (AUROC, ROC curves), and how the two completion chains fill a hidden bottom half. */
#ifndef VAE_TRAIN_MEASURE_H
#define VAE_TRAIN_MEASURE_H

#include "vae/dataset.h"
#include "vae/error.h"
#include "vae/model.h"

/* The model's own test images of odd index (those the calibration tables did not use) against every
 * test image of `other`, both scored with k samples (seeds seed + 2 and seed + 3), and again at one
 * sample z = mu (the loss, with tables built here from the even-indexed images). For each of the
 * candidate scores (the likelihood alone, the complexity-corrected score, Fisher's combination of their
 * two percentiles (the library's ood_score), the larger of the two percentiles, their sum):
 * the AUROC of "other" as the positive class. Prints a table; with report_dir writes ood_auroc.csv
 * and roc.png (the ROC curves at k samples) there. The model needs its score tables. The k-sample
 * scores run on `threads` threads (the same bits for any count). */
vae_status vae_measure_ood(const vae_model *model, const vae_dataset *test, const vae_dataset *other,
                           const char *other_name, int k, unsigned long long seed, int threads,
                           const char *report_dir, vae_error *err);

/* Every test image with its bottom half (rows 14..27) hidden, completed by pseudo-Gibbs and by
 * Metropolis-within-Gibbs for `steps` steps (seed), against filling the hidden half with the mean
 * training image: how often the nearest class centroid of the completion's encoding is the true label,
 * and the mean squared and absolute pixel error on the hidden half, at several chain lengths. Prints a
 * table; with report_dir writes completion.csv and completion.png (examples) there. The model needs
 * its centroids. */
vae_status vae_measure_completion(const vae_model *model, const vae_dataset *train, const vae_dataset *test,
                                  int steps, unsigned long long seed, const char *report_dir, vae_error *err);

#endif
