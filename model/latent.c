/* Latent-space operations: class means of encoded images, and linear and spherical interpolation. */
#include "vae/latent.h"

#include <math.h>
#include <stdlib.h>

/* Images encoded per call while computing centroids. */
#define CENTROID_BATCH 256

/* Adds the n rows of mu (n, d) into sum (VAE_NUM_CLASSES, d) by label, counting them in count. */
static void add_class_rows(double *sum, int *count, const float *mu, const uint8_t *labels, int n,
                           int d) {
    for (int i = 0; i < n; i++) {
        const int k = labels[i];
        count[k]++;
        for (int j = 0; j < d; j++) sum[(size_t)k * d + j] += mu[(size_t)i * d + j];
    }
}

/* means (VAE_NUM_CLASSES, d) = sum / count, 0 for a class without rows. */
static void class_means_of(float *means, const double *sum, const int *count, int d) {
    for (int k = 0; k < VAE_NUM_CLASSES; k++)
        for (int j = 0; j < d; j++)
            means[(size_t)k * d + j] = count[k] ? (float)(sum[(size_t)k * d + j] / count[k]) : 0.0f;
}

vae_status vae_latent_class_means(float *out, const float *mu, const uint8_t *labels, int n, int d,
                                  vae_error *err) {
    double *sum = calloc((size_t)VAE_NUM_CLASSES * (size_t)d, sizeof(double));
    if (!sum) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory computing class means");
    int count[VAE_NUM_CLASSES] = {0};
    add_class_rows(sum, count, mu, labels, n, d);
    class_means_of(out, sum, count, d);
    free(sum);
    return VAE_OK;
}

vae_status vae_latent_compute_centroids(vae_model *model, const vae_dataset *ds, vae_error *err) {
    const int d = model->config.latent_dim;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * CENTROID_BATCH);
    float *mu = malloc(sizeof(float) * (size_t)d * CENTROID_BATCH);
    float *logvar = malloc(sizeof(float) * (size_t)d * CENTROID_BATCH);
    double *sum = calloc((size_t)VAE_NUM_CLASSES * (size_t)d, sizeof(double));
    float *centroids = malloc(sizeof(float) * VAE_NUM_CLASSES * (size_t)d);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&model->config), CENTROID_BATCH);
    int count[VAE_NUM_CLASSES] = {0};
    vae_status st = VAE_OK;
    if (!x || !mu || !logvar || !sum || !centroids || !ws) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory computing centroids");
        goto done;
    }
    for (int start = 0; start < ds->count; start += CENTROID_BATCH) {
        int B = ds->count - start < CENTROID_BATCH ? ds->count - start : CENTROID_BATCH;
        for (int b = 0; b < B; b++) vae_dataset_image(ds, start + b, x + (size_t)b * VAE_INPUT_DIM);
        vae_encode(model, ws, x, B, mu, logvar);
        add_class_rows(sum, count, mu, ds->labels + start, B, d);
    }
    class_means_of(centroids, sum, count, d);
    free(model->centroids);
    model->centroids = centroids;
    centroids = NULL;
done:
    free(x);
    free(mu);
    free(logvar);
    free(sum);
    free(centroids);
    vae_workspace_destroy(ws);
    return st;
}

void vae_latent_lerp(float *out, const float *a, const float *b, int d, float t) {
    for (int i = 0; i < d; i++) out[i] = (1.0f - t) * a[i] + t * b[i];
}

void vae_latent_slerp(float *out, const float *a, const float *b, int d, float t) {
    double na = 0, nb = 0, dot = 0;
    for (int i = 0; i < d; i++) {
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        dot += (double)a[i] * b[i];
    }
    double c = (na > 0 && nb > 0) ? dot / sqrt(na * nb) : 1.0;
    if (c > 1) c = 1;
    if (c < -1) c = -1;
    double omega = acos(c), so = sin(omega);
    if (so < 1e-6) {
        vae_latent_lerp(out, a, b, d, t);
        return;
    }
    double wa = sin((1 - t) * omega) / so, wb = sin(t * omega) / so;
    for (int i = 0; i < d; i++) out[i] = (float)(wa * a[i] + wb * b[i]);
}
