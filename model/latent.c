/* Latent-space operations: class means and spreads of encoded images, class-conditional samples,
 * linear and spherical interpolation, the inverse normal CDF and the manifold grid, traversals, the
 * principal plane (Jacobi eigenvectors) and per-coordinate diagnostics. */
#include "vae/latent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Images encoded per call while computing centroids. */
#define CENTROID_BATCH 256

/* Adds the n rows of mu (n, d) into sum (VAE_NUM_CLASSES, d) by label, counting them in count, and
 * their squares into sq (same shape) when sq is not NULL. */
static void add_class_rows(double *sum, double *sq, int *count, const float *mu, const uint8_t *labels,
                           int n, int d) {
    for (int i = 0; i < n; i++) {
        const int k = labels[i];
        count[k]++;
        for (int j = 0; j < d; j++) {
            double v = mu[(size_t)i * d + j];
            sum[(size_t)k * d + j] += v;
            if (sq) sq[(size_t)k * d + j] += v * v;
        }
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
    add_class_rows(sum, NULL, count, mu, labels, n, d);
    class_means_of(out, sum, count, d);
    free(sum);
    return VAE_OK;
}

vae_status vae_latent_compute_centroids(vae_model *model, const vae_dataset *ds, vae_error *err) {
    const int d = model->config.latent_dim;
    const size_t cd = (size_t)VAE_NUM_CLASSES * (size_t)d;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * CENTROID_BATCH);
    float *mu = malloc(sizeof(float) * (size_t)d * CENTROID_BATCH);
    float *logvar = malloc(sizeof(float) * (size_t)d * CENTROID_BATCH);
    double *sum = calloc(cd, sizeof(double)), *sq = calloc(cd, sizeof(double));
    float *centroids = malloc(sizeof(float) * cd), *spread = malloc(sizeof(float) * cd);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&model->config), CENTROID_BATCH);
    int count[VAE_NUM_CLASSES] = {0};
    vae_status st = VAE_OK;
    if (!x || !mu || !logvar || !sum || !sq || !centroids || !spread || !ws) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory computing centroids");
        goto done;
    }
    for (int start = 0; start < ds->count; start += CENTROID_BATCH) {
        int B = ds->count - start < CENTROID_BATCH ? ds->count - start : CENTROID_BATCH;
        for (int b = 0; b < B; b++) vae_dataset_image(ds, start + b, x + (size_t)b * VAE_INPUT_DIM);
        vae_encode(model, ws, x, B, mu, logvar);
        add_class_rows(sum, sq, count, mu, ds->labels + start, B, d);
    }
    class_means_of(centroids, sum, count, d);
    for (int k = 0; k < VAE_NUM_CLASSES; k++)
        for (int j = 0; j < d; j++) {
            size_t at = (size_t)k * d + j;
            double mean = count[k] ? sum[at] / count[k] : 0.0;
            double var = count[k] ? sq[at] / count[k] - mean * mean : 0.0;
            spread[at] = var > 0 ? (float)sqrt(var) : 0.0f;
        }
    free(model->centroids);
    free(model->class_std);
    model->centroids = centroids;
    model->class_std = spread;
    centroids = spread = NULL;
done:
    free(x);
    free(mu);
    free(logvar);
    free(sum);
    free(sq);
    free(centroids);
    free(spread);
    vae_workspace_destroy(ws);
    return st;
}

vae_status vae_latent_sample_class(float *z, const vae_model *model, int label, int n,
                                   float temperature, vae_rng *rng, vae_error *err) {
    if (label < 0 || label >= VAE_NUM_CLASSES || n < 0)
        return vae_error_set(err, VAE_ERR_ARG, "class sample: label %d (must be 0..%d), n %d", label,
                             VAE_NUM_CLASSES - 1, n);
    vae_status st = vae_model_require(model, VAE_PART_CLASS_STATS, err);
    if (st != VAE_OK) return st;
    const int d = model->config.latent_dim;
    const float *mean = model->centroids + (size_t)label * d, *std = model->class_std + (size_t)label * d;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            z[(size_t)i * d + j] = mean[j] + temperature * std[j] * (float)vae_rng_normal(rng);
    return VAE_OK;
}

/* The quantile for 0 < p <= 0.5 (x <= 0), where the lower tail 0.5 erfc(-x / sqrt 2) is accurate:
 * Abramowitz and Stegun's 26.2.23 (error below 4.5e-4) refined by Halley steps on Phi(x) - p, each
 * of which cubes the relative error. */
static double lower_quantile(double p) {
    const double t = sqrt(-2.0 * log(p));
    double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                         (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    for (int i = 0; i < 4; i++) {
        double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        if (!(pdf > 0.0)) break; /* beyond |x| ~ 38: the guess is all there is */
        double u = (0.5 * erfc(-x / M_SQRT2) - p) / pdf;
        x -= u / (1.0 + 0.5 * x * u);
    }
    return x;
}

double vae_normal_quantile(double p) {
    if (!(p >= 0.0 && p <= 1.0)) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    if (p == 0.5) return 0.0;
    /* 1 - p is exact for p in [0.5, 1], so the upper half mirrors the lower without loss */
    return p < 0.5 ? lower_quantile(p) : -lower_quantile(1.0 - p);
}

void vae_latent_manifold(float *z, const float *base, const float *dir_a, float scale_a,
                         const float *dir_b, float scale_b, int d, int n) {
    for (int r = 0; r < n; r++) {
        double qb = vae_normal_quantile((n - 1 - r + 0.5) / n);
        for (int c = 0; c < n; c++) {
            double qa = vae_normal_quantile((c + 0.5) / n);
            float *row = z + ((size_t)r * n + c) * d;
            for (int j = 0; j < d; j++)
                row[j] = (float)((base ? base[j] : 0.0) + qa * scale_a * dir_a[j] + qb * scale_b * dir_b[j]);
        }
    }
}

void vae_latent_traverse(float *z, const float *base, int d, int dim, float lo, float hi, int steps) {
    for (int s = 0; s < steps; s++) {
        float *row = z + (size_t)s * d;
        memcpy(row, base, sizeof(float) * (size_t)d);
        if (steps == 1) row[dim] = lo;
        else if (s == steps - 1) row[dim] = hi;
        else row[dim] = lo + (hi - lo) * (float)s / (float)(steps - 1);
    }
}

vae_status vae_latent_dims_by_activity(const vae_model *model, int *order, vae_error *err) {
    vae_status st = vae_model_require(model, VAE_PART_DIAGNOSTICS, err);
    if (st != VAE_OK) return st;
    const int d = model->config.latent_dim;
    const float *v = model->diag.mu_var;
    /* insertion sort: stable, so equal activity keeps index order; d <= VAE_MAX_LATENT */
    for (int i = 0; i < d; i++) {
        int j = i;
        while (j > 0 && v[order[j - 1]] < v[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return VAE_OK;
}

/* Diagonalises the symmetric d x d matrix a in place by cyclic Jacobi rotations: afterwards its
 * diagonal holds the eigenvalues and the columns of v (d x d, set to the identity first) the
 * eigenvectors. Each rotation zeroes one off-diagonal pair; sweeps repeat until the off-diagonal mass
 * is negligible against the diagonal. */
static void jacobi_eigen(double *a, double *v, int d) {
    for (int i = 0; i < d * d; i++) v[i] = 0.0;
    for (int i = 0; i < d; i++) v[(size_t)i * d + i] = 1.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int p = 0; p < d; p++) {
            diag += a[(size_t)p * d + p] * a[(size_t)p * d + p];
            for (int q = p + 1; q < d; q++) off += a[(size_t)p * d + q] * a[(size_t)p * d + q];
        }
        if (off <= 1e-30 * diag || off == 0.0) return;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = a[(size_t)p * d + q];
                if (apq == 0.0) continue;
                /* the angle that zeroes a[p][q]: t = tan(theta), the smaller root */
                double theta = (a[(size_t)q * d + q] - a[(size_t)p * d + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < d; k++) { /* columns p and q */
                    double akp = a[(size_t)k * d + p], akq = a[(size_t)k * d + q];
                    a[(size_t)k * d + p] = c * akp - s * akq;
                    a[(size_t)k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) { /* rows p and q */
                    double apk = a[(size_t)p * d + k], aqk = a[(size_t)q * d + k];
                    a[(size_t)p * d + k] = c * apk - s * aqk;
                    a[(size_t)q * d + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < d; k++) {
                    double vkp = v[(size_t)k * d + p], vkq = v[(size_t)k * d + q];
                    v[(size_t)k * d + p] = c * vkp - s * vkq;
                    v[(size_t)k * d + q] = s * vkp + c * vkq;
                }
            }
    }
}

vae_status vae_latent_principal_plane(float *mean, float *dirs, float *std, const float *mu, int n,
                                      int d, vae_error *err) {
    if (d < 2 || n < 1)
        return vae_error_set(err, VAE_ERR_ARG, "principal plane: needs d >= 2 and n >= 1 (d %d, n %d)", d, n);
    double *m = calloc((size_t)d, sizeof(double));
    double *cov = calloc((size_t)d * d, sizeof(double)), *vec = malloc(sizeof(double) * (size_t)d * d);
    if (!m || !cov || !vec) {
        free(m);
        free(cov);
        free(vec);
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory computing the principal plane");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) m[j] += mu[(size_t)i * d + j];
    for (int j = 0; j < d; j++) m[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *row = mu + (size_t)i * d;
        for (int r = 0; r < d; r++) {
            double dr = row[r] - m[r];
            for (int c = r; c < d; c++) cov[(size_t)r * d + c] += dr * (row[c] - m[c]);
        }
    }
    for (int r = 0; r < d; r++)
        for (int c = r; c < d; c++) {
            cov[(size_t)r * d + c] /= n;
            cov[(size_t)c * d + r] = cov[(size_t)r * d + c];
        }
    jacobi_eigen(cov, vec, d);
    int first = 0, second = -1;
    for (int i = 1; i < d; i++)
        if (cov[(size_t)i * d + i] > cov[(size_t)first * d + first]) first = i;
    for (int i = 0; i < d; i++)
        if (i != first && (second < 0 || cov[(size_t)i * d + i] > cov[(size_t)second * d + second])) second = i;
    const int pick[2] = {first, second};
    for (int r = 0; r < 2; r++) {
        int col = pick[r], big = 0;
        for (int j = 1; j < d; j++)
            if (fabs(vec[(size_t)j * d + col]) > fabs(vec[(size_t)big * d + col])) big = j;
        double sign = vec[(size_t)big * d + col] < 0 ? -1.0 : 1.0;
        for (int j = 0; j < d; j++) dirs[(size_t)r * d + j] = (float)(sign * vec[(size_t)j * d + col]);
        double lambda = cov[(size_t)col * d + col];
        std[r] = lambda > 0 ? (float)sqrt(lambda) : 0.0f;
    }
    for (int j = 0; j < d; j++) mean[j] = (float)m[j];
    free(m);
    free(cov);
    free(vec);
    return VAE_OK;
}

void vae_latent_diagnostics(float *mu_var, float *kl, const float *mu, const float *logvar, int n,
                            int d) {
    for (int j = 0; j < d; j++) {
        double mean = 0.0, var = 0.0, k = 0.0;
        for (int i = 0; i < n; i++) mean += mu[(size_t)i * d + j];
        mean /= n;
        for (int i = 0; i < n; i++) {
            double m = mu[(size_t)i * d + j], lv = logvar[(size_t)i * d + j];
            var += (m - mean) * (m - mean);
            k += 0.5 * (exp(lv) - lv - 1.0 + m * m);
        }
        mu_var[j] = (float)(var / n);
        kl[j] = (float)(k / n);
        if (kl[j] < 0.0f) kl[j] = 0.0f; /* rounding only: each term is >= 0 */
    }
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
