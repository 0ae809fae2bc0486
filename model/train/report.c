/* vae-train --report DIR: samples, reconstructions, a 3-to-8 morph, the latent map, the loss curves
 * and epochs.csv, drawn with plot.c. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "plot.h"
#include "vae/image.h"
#include "vae/latent.h"
#include "vae/rng.h"

#define REPORT_GRID 8                        /* samples and reconstructions are 8x8 grids */
#define REPORT_N (REPORT_GRID * REPORT_GRID) /* images per grid */
#define REPORT_BATCH 256                     /* test images encoded per call */
#define MORPH_FROM 3
#define MORPH_TO 8
#define REPORT_PATH_MAX 4096

/* One grid buffer holds the 8x8 grids and the morph's row; z holds the morph's steps and its end. */
_Static_assert(VAE_REPORT_MORPH_STEPS >= REPORT_GRID, "the grid buffer is sized by the morph");
_Static_assert(VAE_REPORT_MORPH_STEPS + 2 <= REPORT_N, "z holds the morph's rows and its `to` row");
_Static_assert(VAE_REPORT_SAMPLES_W == REPORT_GRID * VAE_REPORT_CELL, "report.h's sizes use the grid");

/* Text on the black image pictures. */
#define CAPTION_INK VAE_PLOT_RGB(205, 205, 205)

/* Every buffer the report needs, allocated once up front. */
typedef struct {
    vae_workspace *ws;
    float *x;      /* (REPORT_BATCH, 784): test images being encoded, then pictures' inputs */
    float *xhat;   /* (REPORT_N, 784): decoder outputs */
    float *mu;     /* (count, d): the test set's means */
    float *logvar; /* (REPORT_BATCH, d) */
    float *z;      /* (REPORT_N, d): latent codes to decode */
    float *means;  /* (VAE_NUM_CLASSES, d): class means of mu, for a model without centroids */
    double *map;   /* (count, 2): latent-map coordinates */
    double *cov;   /* (d, d) */
    double *vec;   /* (4, d): mean, two components, one power-iteration temporary */
    uint8_t *grid; /* (8*28, 10*28) bytes: the largest image grid (8x8 images, or the morph's row) */
} report_scratch;

static void scratch_free(report_scratch *s) {
    vae_workspace_destroy(s->ws);
    free(s->x);
    free(s->xhat);
    free(s->mu);
    free(s->logvar);
    free(s->z);
    free(s->means);
    free(s->map);
    free(s->cov);
    free(s->vec);
    free(s->grid);
    memset(s, 0, sizeof *s);
}

static vae_status scratch_alloc(report_scratch *s, const vae_model *model, int count,
                                vae_error *err) {
    size_t d = (size_t)model->config.latent_dim;
    memset(s, 0, sizeof *s);
    s->ws = vae_workspace_create(vae_config_max_width(&model->config), REPORT_BATCH);
    s->x = malloc(sizeof(float) * REPORT_BATCH * VAE_INPUT_DIM);
    s->xhat = malloc(sizeof(float) * REPORT_N * VAE_INPUT_DIM);
    s->mu = malloc(sizeof(float) * (size_t)count * d);
    s->logvar = malloc(sizeof(float) * REPORT_BATCH * d);
    s->z = malloc(sizeof(float) * REPORT_N * d);
    s->means = malloc(sizeof(float) * VAE_NUM_CLASSES * d);
    s->map = malloc(sizeof(double) * (size_t)count * 2);
    s->cov = malloc(sizeof(double) * d * d);
    s->vec = malloc(sizeof(double) * 4 * d);
    s->grid =
        malloc((size_t)REPORT_GRID * VAE_IMAGE_SIDE * VAE_REPORT_MORPH_STEPS * VAE_IMAGE_SIDE);
    if (!s->ws || !s->x || !s->xhat || !s->mu || !s->logvar || !s->z || !s->means || !s->map ||
        !s->cov || !s->vec || !s->grid) {
        scratch_free(s);
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory for the report of %d test images",
                             count);
    }
    return VAE_OK;
}

static vae_status join_path(char *out, const char *dir, const char *name, vae_error *err) {
    int n = snprintf(out, REPORT_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= REPORT_PATH_MAX)
        return vae_error_set(err, VAE_ERR_ARG, "report path too long: %s/%s", dir, name);
    return VAE_OK;
}

static vae_status save_canvas(const vae_plot_canvas *canvas, const char *dir, const char *name,
                              vae_error *err) {
    char path[REPORT_PATH_MAX];
    vae_status st = join_path(path, dir, name, err);
    return st != VAE_OK ? st : vae_plot_save_png(canvas, path, err);
}

/* mu for every test image, encoded REPORT_BATCH at a time. */
static void encode_test_set(report_scratch *s, const vae_model *model, const vae_dataset *test) {
    int d = model->config.latent_dim;
    for (int start = 0; start < test->count; start += REPORT_BATCH) {
        int n = test->count - start < REPORT_BATCH ? test->count - start : REPORT_BATCH;
        for (int i = 0; i < n; i++)
            vae_dataset_image(test, start + i, s->x + (size_t)i * VAE_INPUT_DIM);
        vae_encode(model, s->ws, s->x, n, s->mu + (size_t)start * d, s->logvar);
    }
}

static vae_status write_samples(report_scratch *s, const char *dir, const vae_model *model,
                                unsigned long long seed, vae_error *err) {
    int d = model->config.latent_dim;
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_rng_normal_fill(&rng, s->z, (size_t)REPORT_N * d, 1.0f);
    vae_decode(model, s->ws, s->z, REPORT_N, s->xhat);
    vae_image_grid(s->xhat, REPORT_N, VAE_IMAGE_SIDE, REPORT_GRID, s->grid);

    vae_plot_canvas *c =
        vae_plot_create(VAE_REPORT_SAMPLES_W, VAE_REPORT_SAMPLES_H, VAE_PLOT_BLACK, err);
    if (!c)
        return err ? err->status : VAE_ERR_NOMEM;
    int side = REPORT_GRID * VAE_IMAGE_SIDE;
    vae_plot_image_grey(c, 0, 0, s->grid, side, side, VAE_REPORT_ZOOM);
    vae_status st = save_canvas(c, dir, "samples.png", err);
    vae_plot_destroy(c);
    return st;
}

static vae_status write_reconstructions(report_scratch *s, const char *dir, const vae_model *model,
                                        const vae_dataset *test, vae_error *err) {
    int n = test->count < REPORT_N ? test->count : REPORT_N;
    for (int i = 0; i < n; i++)
        vae_dataset_image(test, i, s->x + (size_t)i * VAE_INPUT_DIM);
    vae_reconstruct(model, s->ws, s->x, n, s->xhat);

    vae_plot_canvas *c =
        vae_plot_create(VAE_REPORT_RECON_W, VAE_REPORT_RECON_H, VAE_PLOT_BLACK, err);
    if (!c)
        return err ? err->status : VAE_ERR_NOMEM;
    int side = REPORT_GRID * VAE_IMAGE_SIDE;
    int block = side * VAE_REPORT_ZOOM;
    int right = block + VAE_REPORT_SEPARATOR;
    int ty = (VAE_REPORT_HEADER - vae_plot_text_height(2)) / 2 + 2;
    vae_plot_text(c, block / 2, ty, "test images", 2, CAPTION_INK, VAE_PLOT_ALIGN_CENTER);
    vae_plot_text(c, right + block / 2, ty, "reconstructions", 2, CAPTION_INK,
                  VAE_PLOT_ALIGN_CENTER);
    vae_image_grid(s->x, n, VAE_IMAGE_SIDE, REPORT_GRID, s->grid);
    vae_plot_image_grey(c, 0, VAE_REPORT_HEADER, s->grid, side, side, VAE_REPORT_ZOOM);
    vae_image_grid(s->xhat, n, VAE_IMAGE_SIDE, REPORT_GRID, s->grid);
    vae_plot_image_grey(c, right, VAE_REPORT_HEADER, s->grid, side, side, VAE_REPORT_ZOOM);
    /* The bar runs the full height so the caption band is split too. */
    vae_plot_rect_fill(c, block, 0, VAE_REPORT_SEPARATOR, VAE_REPORT_RECON_H,
                       VAE_PLOT_RGB(110, 110, 110), 1.0);
    vae_status st = save_canvas(c, dir, "reconstructions.png", err);
    vae_plot_destroy(c);
    return st;
}

static vae_status write_morph(report_scratch *s, const char *dir, const vae_model *model,
                              const vae_dataset *test, vae_error *err) {
    int d = model->config.latent_dim;
    int steps = VAE_REPORT_MORPH_STEPS;
    /* The model's centroids when it carries them, else the class means of mu over the test set (a
     * class with no test image: the prior mean 0). */
    const float *centroids = model->centroids;
    if (!centroids) {
        vae_status st = vae_latent_class_means(s->means, s->mu, test->labels, test->count, d, err);
        if (st != VAE_OK)
            return st;
        centroids = s->means;
    }
    float *from = s->z, *to = s->z + (size_t)(steps + 1) * d; /* z has room for REPORT_N rows */
    memcpy(from, centroids + (size_t)MORPH_FROM * d, sizeof(float) * d);
    memcpy(to, centroids + (size_t)MORPH_TO * d, sizeof(float) * d);
    /* Row 0 already holds `from`; fill rows 1..steps-1, the last being `to` exactly. */
    for (int i = steps - 1; i >= 1; i--)
        vae_latent_lerp(s->z + (size_t)i * d, from, to, d, (float)i / (float)(steps - 1));
    vae_decode(model, s->ws, s->z, steps, s->xhat);
    vae_image_grid(s->xhat, steps, VAE_IMAGE_SIDE, steps, s->grid);

    vae_plot_canvas *c =
        vae_plot_create(VAE_REPORT_MORPH_W, VAE_REPORT_MORPH_H, VAE_PLOT_BLACK, err);
    if (!c)
        return err ? err->status : VAE_ERR_NOMEM;
    vae_plot_image_grey(c, 0, 0, s->grid, steps * VAE_IMAGE_SIDE, VAE_IMAGE_SIDE, VAE_REPORT_ZOOM);
    int cell = VAE_REPORT_CELL;
    int ty = cell + (VAE_REPORT_HEADER - vae_plot_text_height(2)) / 2 + 2;
    char label[8];
    snprintf(label, sizeof label, "%d", MORPH_FROM);
    vae_plot_text(c, cell / 2, ty, label, 2, CAPTION_INK, VAE_PLOT_ALIGN_CENTER);
    snprintf(label, sizeof label, "%d", MORPH_TO);
    vae_plot_text(c, (steps - 1) * cell + cell / 2, ty, label, 2, CAPTION_INK,
                  VAE_PLOT_ALIGN_CENTER);
    vae_plot_text(c, VAE_REPORT_MORPH_W / 2, ty,
                  model->centroids ? "from one class centroid to the other"
                                   : "between test-set class means",
                  2, VAE_PLOT_RGB(140, 140, 140), VAE_PLOT_ALIGN_CENTER);
    vae_status st = save_canvas(c, dir, "morph_3_to_8.png", err);
    vae_plot_destroy(c);
    return st;
}

/* Top eigenvector of the symmetric d x d matrix a into v (unit length, largest entry positive), by
 * power iteration from a start drawn from rng; returns its eigenvalue. tmp holds d doubles. When
 * `against` is not NULL the iterate is kept orthogonal to it (the deflated direction). */
static double power_iteration(const double *a, int d, double *v, double *tmp, const double *against,
                              vae_rng *rng) {
    for (int j = 0; j < d; j++)
        v[j] = vae_rng_normal(rng);
    double lambda = 0.0;
    for (int iter = 0; iter < 1000; iter++) {
        if (against) {
            double dot = 0.0;
            for (int j = 0; j < d; j++)
                dot += v[j] * against[j];
            for (int j = 0; j < d; j++)
                v[j] -= dot * against[j];
        }
        double norm = 0.0;
        for (int j = 0; j < d; j++)
            norm += v[j] * v[j];
        norm = sqrt(norm);
        if (!(norm > 0.0))
            break;
        for (int j = 0; j < d; j++)
            v[j] /= norm;
        for (int r = 0; r < d; r++) {
            double acc = 0.0;
            for (int j = 0; j < d; j++)
                acc += a[(size_t)r * d + j] * v[j];
            tmp[r] = acc;
        }
        double next = 0.0, change = 0.0;
        for (int j = 0; j < d; j++)
            next += v[j] * tmp[j];
        double tn = 0.0;
        for (int j = 0; j < d; j++)
            tn += tmp[j] * tmp[j];
        tn = sqrt(tn);
        if (!(tn > 0.0)) {
            lambda = 0.0;
            break;
        }
        for (int j = 0; j < d; j++) {
            double w = tmp[j] / tn;
            change += (w - v[j]) * (w - v[j]);
            v[j] = w;
        }
        lambda = next;
        if (change < 1e-20)
            break;
    }
    int big = 0;
    for (int j = 1; j < d; j++)
        if (fabs(v[j]) > fabs(v[big]))
            big = j;
    if (v[big] < 0.0)
        for (int j = 0; j < d; j++)
            v[j] = -v[j];
    return lambda;
}

/* Fills s->map with the 2-D coordinates of each test mean and writes the axis texts. */
static void latent_coordinates(report_scratch *s, const vae_model *model, const vae_dataset *test,
                               unsigned long long seed, char *title, size_t title_size,
                               char *xlabel, char *ylabel, size_t size) {
    int d = model->config.latent_dim, n = test->count;
    if (d == 1) {
        /* One latent: mu across, the class down, jittered so each class is a band of dots. */
        vae_rng rng;
        vae_rng_seed(&rng, seed ^ 0x6a177e7ULL);
        for (int i = 0; i < n; i++) {
            s->map[2 * i] = s->mu[i];
            s->map[2 * i + 1] = test->labels[i] + 0.6 * (vae_rng_uniform(&rng) - 0.5);
        }
        snprintf(title, title_size, "Latent means of the test set by class (d = 1)");
        snprintf(xlabel, size, "z1 (mean mu)");
        snprintf(ylabel, size, "class (rows jittered)");
        return;
    }
    if (d == 2) {
        for (int i = 0; i < 2 * n; i++)
            s->map[i] = s->mu[i];
        snprintf(title, title_size, "Latent means of the test set (d = 2)");
        snprintf(xlabel, size, "z1");
        snprintf(ylabel, size, "z2");
        return;
    }
    double *mean = s->vec, *pc1 = s->vec + d, *pc2 = s->vec + 2 * (size_t)d,
           *tmp = s->vec + 3 * (size_t)d;
    for (int j = 0; j < d; j++)
        mean[j] = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            mean[j] += s->mu[(size_t)i * d + j];
    for (int j = 0; j < d; j++)
        mean[j] /= n;
    memset(s->cov, 0, sizeof(double) * (size_t)d * d);
    for (int i = 0; i < n; i++) {
        const float *m = s->mu + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            tmp[j] = m[j] - mean[j];
        }
        for (int r = 0; r < d; r++)
            for (int c = r; c < d; c++)
                s->cov[(size_t)r * d + c] += tmp[r] * tmp[c];
    }
    double total = 0.0;
    for (int r = 0; r < d; r++) {
        for (int c = r; c < d; c++) {
            s->cov[(size_t)r * d + c] /= n;
            s->cov[(size_t)c * d + r] = s->cov[(size_t)r * d + c];
        }
        total += s->cov[(size_t)r * d + r];
    }
    vae_rng rng;
    vae_rng_seed(&rng, seed ^ 0x9ca5eedULL);
    double l1 = power_iteration(s->cov, d, pc1, tmp, NULL, &rng);
    for (int r = 0; r < d; r++) /* deflate: remove the first component's variance */
        for (int c = 0; c < d; c++)
            s->cov[(size_t)r * d + c] -= l1 * pc1[r] * pc1[c];
    double l2 = power_iteration(s->cov, d, pc2, tmp, pc1, &rng);
    for (int i = 0; i < n; i++) {
        const float *m = s->mu + (size_t)i * d;
        double a = 0.0, b = 0.0;
        for (int j = 0; j < d; j++) {
            a += (m[j] - mean[j]) * pc1[j];
            b += (m[j] - mean[j]) * pc2[j];
        }
        s->map[2 * i] = a;
        s->map[2 * i + 1] = b;
    }
    double f1 = total > 0.0 ? 100.0 * l1 / total : 0.0, f2 = total > 0.0 ? 100.0 * l2 / total : 0.0;
    snprintf(title, title_size, "Latent means of the test set: PCA of d = %d (%.0f%% of variance)",
             d, f1 + f2);
    snprintf(xlabel, size, "PC1 (%.0f%% of variance)", f1);
    snprintf(ylabel, size, "PC2 (%.0f%% of variance)", f2);
}

static void finite_range(const double *v, int n, int stride, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double x = v[(size_t)i * stride];
        if (!isfinite(x))
            continue;
        *lo = fmin(*lo, x);
        *hi = fmax(*hi, x);
    }
}

static vae_status write_latent_map(report_scratch *s, const char *dir, const vae_model *model,
                                   const vae_dataset *test, unsigned long long seed,
                                   vae_error *err) {
    char title[128], xlabel[64], ylabel[64];
    int d = model->config.latent_dim, n = test->count;
    latent_coordinates(s, model, test, seed, title, sizeof title, xlabel, ylabel, sizeof xlabel);

    vae_plot_ticks xt, yt;
    double xlo, xhi, ylo, yhi;
    finite_range(s->map, n, 2, &xlo, &xhi);
    vae_plot_axis_fit(xlo, xhi, 8, 0.0, 0.04, &xt, &xlo, &xhi);
    if (d == 1) {
        /* Rows 0..9 with room for their jitter. */
        yt = (vae_plot_ticks){.lo = 0, .hi = 9, .step = 1, .count = 10, .decimals = 0};
        ylo = -0.6;
        yhi = 9.6;
    } else {
        finite_range(s->map + 1, n, 2, &ylo, &yhi);
        vae_plot_axis_fit(ylo, yhi, 8, 0.0, 0.04, &yt, &ylo, &yhi);
    }

    vae_plot_canvas *c = vae_plot_create(VAE_REPORT_MAP_W, VAE_REPORT_MAP_H, VAE_PLOT_WHITE, err);
    if (!c)
        return err ? err->status : VAE_ERR_NOMEM;
    const int left = 120, top = 64, side = 720;
    vae_plot_axes ax;
    vae_plot_axes_init(&ax, left, top, side, side, &xt, xlo, xhi, &yt, ylo, yhi);
    vae_plot_axes_draw(c, &ax, title, xlabel, ylabel, 2);

    /* Dots small and translucent enough that 10,000 of them still show where classes overlap. */
    double radius = n > 3000 ? 1.9 : n > 500 ? 2.6 : 3.5;
    double alpha = n > 3000 ? 0.55 : 0.8;
    vae_plot_clip(c, left + 1, top + 1, side - 2, side - 2);
    for (int i = 0; i < n; i++)
        vae_plot_disc(c, vae_plot_axes_px(&ax, s->map[2 * i]),
                      vae_plot_axes_py(&ax, s->map[2 * i + 1]), radius,
                      vae_plot_category_colour(test->labels[i]), alpha);
    vae_plot_clip_reset(c);

    /* The legend lives outside the plot, right of it, so it never hides data. */
    static const char *digits[VAE_NUM_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    vae_plot_legend_entry entries[VAE_NUM_CLASSES];
    for (int k = 0; k < VAE_NUM_CLASSES; k++)
        entries[k] = (vae_plot_legend_entry){digits[k], vae_plot_category_colour(k)};
    int lx = left + side + 22, ly = top + 28;
    vae_plot_text(c, lx, top, "class", 2, VAE_PLOT_RGB(30, 30, 30), VAE_PLOT_ALIGN_LEFT);
    vae_plot_legend(c, lx, ly, entries, VAE_NUM_CLASSES, 2, VAE_PLOT_KEY_DISC);

    vae_status st = save_canvas(c, dir, "latent_map.png", err);
    vae_plot_destroy(c);
    return st;
}

/* How many sample points of the loss curves fall inside the rectangle (x, y, w, h). */
static int points_inside(const vae_plot_axes *ax, const vae_epoch_stats *h, int n, int x, int y,
                         int w, int hgt) {
    int hits = 0;
    for (int series = 0; series < 2; series++) {
        for (int i = 0; i < n; i++) {
            double v0 = series ? h[i].test_loss : h[i].train_loss;
            double v1 = i + 1 < n ? (series ? h[i + 1].test_loss : h[i + 1].train_loss) : v0;
            double e1 = i + 1 < n ? h[i + 1].epoch : h[i].epoch;
            if (!isfinite(v0) || !isfinite(v1))
                continue;
            for (int k = 0; k < 16; k++) { /* along the segment to the next point */
                double t = k / 16.0;
                double px = vae_plot_axes_px(ax, h[i].epoch + t * (e1 - h[i].epoch));
                double py = vae_plot_axes_py(ax, v0 + t * (v1 - v0));
                if (px >= x && px < x + w && py >= y && py < y + hgt)
                    hits++;
            }
        }
    }
    return hits;
}

static vae_status write_loss(const char *dir, const vae_epoch_stats *h, int n, vae_error *err) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        xlo = fmin(xlo, h[i].epoch);
        xhi = fmax(xhi, h[i].epoch);
        double v[2] = {h[i].train_loss, h[i].test_loss};
        for (int k = 0; k < 2; k++) {
            if (isfinite(v[k])) {
                ylo = fmin(ylo, v[k]);
                yhi = fmax(yhi, v[k]);
            }
        }
    }
    if (n == 0) {
        xlo = 1;
        xhi = 1;
    }
    vae_plot_ticks xt, yt;
    vae_plot_axis_fit(xlo, xhi, 10, 1.0, 0.03, &xt, &xlo, &xhi);
    vae_plot_axis_fit(ylo, yhi, 7, 0.0, 0.06, &yt, &ylo, &yhi);

    vae_plot_canvas *c = vae_plot_create(VAE_REPORT_LOSS_W, VAE_REPORT_LOSS_H, VAE_PLOT_WHITE, err);
    if (!c)
        return err ? err->status : VAE_ERR_NOMEM;
    const int left = 130, top = 64, width = 840, height = 460;
    vae_plot_axes ax;
    vae_plot_axes_init(&ax, left, top, width, height, &xt, xlo, xhi, &yt, ylo, yhi);
    vae_plot_axes_draw(c, &ax, n > 0 ? "Loss per epoch" : "Loss per epoch (no epochs)", "epoch",
                       "loss per image (BCE + beta KL)", 2);

    double spacing = n > 1 ? (width - 1) / (xhi - xlo) : width;
    double radius = fmin(4.5, fmax(1.5, 0.3 * spacing));
    vae_plot_clip(c, left + 1, top + 1, width - 2, height - 2);
    for (int series = 0; series < 2; series++) {
        vae_plot_rgb colour = vae_plot_category_colour(series);
        for (int i = 0; i + 1 < n; i++) {
            double a = series ? h[i].test_loss : h[i].train_loss;
            double b = series ? h[i + 1].test_loss : h[i + 1].train_loss;
            if (isfinite(a) && isfinite(b))
                vae_plot_line(c, vae_plot_axes_px(&ax, h[i].epoch), vae_plot_axes_py(&ax, a),
                              vae_plot_axes_px(&ax, h[i + 1].epoch), vae_plot_axes_py(&ax, b), 2.5,
                              colour, 1);
        }
        for (int i = 0; i < n; i++) {
            double a = series ? h[i].test_loss : h[i].train_loss;
            if (isfinite(a))
                vae_plot_disc(c, vae_plot_axes_px(&ax, h[i].epoch), vae_plot_axes_py(&ax, a),
                              radius, colour, 1.0);
        }
    }
    vae_plot_clip_reset(c);

    char train_label[48] = "train", test_label[48] = "test";
    if (n > 0) {
        snprintf(train_label, sizeof train_label, "train (last %.2f)", h[n - 1].train_loss);
        snprintf(test_label, sizeof test_label, "test (last %.2f)", h[n - 1].test_loss);
    }
    vae_plot_legend_entry entries[2] = {{train_label, vae_plot_category_colour(0)},
                                        {test_label, vae_plot_category_colour(1)}};
    int lw, lh;
    vae_plot_legend_size(entries, 2, 2, &lw, &lh);
    /* The corner whose box covers the fewest curve points; top right on a tie (losses fall). */
    const int margin = 12;
    int cx[4] = {left + width - margin - lw, left + width - margin - lw, left + margin,
                 left + margin};
    int cy[4] = {top + margin, top + height - margin - lh, top + margin,
                 top + height - margin - lh};
    int best = 0, best_hits = -1;
    for (int k = 0; k < 4; k++) {
        int hits = points_inside(&ax, h, n, cx[k], cy[k], lw, lh);
        if (best_hits < 0 || hits < best_hits) {
            best = k;
            best_hits = hits;
        }
    }
    vae_plot_legend(c, cx[best], cy[best], entries, 2, 2, VAE_PLOT_KEY_LINE_DISC);

    vae_status st = save_canvas(c, dir, "loss.png", err);
    vae_plot_destroy(c);
    return st;
}

static vae_status write_csv(const char *dir, const vae_epoch_stats *h, int n, vae_error *err) {
    char path[REPORT_PATH_MAX];
    vae_status st = join_path(path, dir, "epochs.csv", err);
    if (st != VAE_OK)
        return st;
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        return vae_error_set(err, VAE_ERR_IO, "cannot create %s: %s", path, strerror(e));
    }
    int bad =
        fprintf(f, "epoch,train_loss,test_loss,train_bce,train_kl,test_bce,test_kl,seconds,lr\n") <
        0;
    for (int i = 0; i < n && !bad; i++)
        bad = fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.6g\n", h[i].epoch,
                      h[i].train_loss, h[i].test_loss, h[i].train_bce, h[i].train_kl, h[i].test_bce,
                      h[i].test_kl, h[i].seconds, h[i].lr) < 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad)
        return vae_error_set(err, VAE_ERR_IO, "cannot write %s: %s", path, strerror(e));
    return VAE_OK;
}

/* The most active coordinates: model->diag's variances, or those of the test codes in s->mu. */
static int active_order(const report_scratch *s, const vae_model *model, int count, int *order) {
    const int d = model->config.latent_dim;
    if (vae_latent_dims_by_activity(model, order, NULL) == VAE_OK) return d;
    double *var = s->vec; /* 4 d doubles: the mean in the first d, the variance in the next */
    for (int j = 0; j < d; j++) {
        double mean = 0, sq = 0;
        for (int i = 0; i < count; i++) mean += s->mu[(size_t)i * d + j] / count;
        for (int i = 0; i < count; i++) sq += pow(s->mu[(size_t)i * d + j] - mean, 2) / count;
        var[d + j] = sq;
    }
    for (int i = 0; i < d; i++) {
        int j = i;
        while (j > 0 && var[d + order[j - 1]] < var[d + i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return d;
}

static vae_status write_manifold(report_scratch *s, const char *dir, const vae_model *model, int count,
                                 vae_error *err) {
    const int d = model->config.latent_dim, n = VAE_REPORT_MANIFOLD_N;
    float *z = malloc(sizeof(float) * (size_t)n * n * d), *xhat = malloc(sizeof(float) * (size_t)n * n * VAE_INPUT_DIM);
    float *base = calloc((size_t)d, sizeof(float)), *dirs = calloc((size_t)2 * d, sizeof(float));
    uint8_t *grid = malloc((size_t)n * n * VAE_INPUT_DIM);
    float scale[2] = {1.0f, 1.0f};
    char caption[160];
    vae_status st = VAE_OK;
    vae_plot_canvas *c = NULL;
    if (!z || !xhat || !base || !dirs || !grid) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory for the manifold");
        goto done;
    }
    if (d == 2) {
        dirs[0] = dirs[3] = 1.0f;
        snprintf(caption, sizeof caption, "the learned manifold: z = inverse Gaussian CDF of the unit square");
    } else if (model->plane.mean) {
        memcpy(base, model->plane.mean, sizeof(float) * d);
        memcpy(dirs, model->plane.dirs, sizeof(float) * 2 * d);
        scale[0] = model->plane.std[0], scale[1] = model->plane.std[1];
        snprintf(caption, sizeof caption, "the principal plane of the test codes (spreads %.2f, %.2f)", scale[0], scale[1]);
    } else {
        float std[2];
        if ((st = vae_latent_principal_plane(base, dirs, std, s->mu, count, d, err)) != VAE_OK) goto done;
        scale[0] = std[0], scale[1] = std[1];
        snprintf(caption, sizeof caption, "the principal plane of the test codes (spreads %.2f, %.2f)", scale[0], scale[1]);
    }
    vae_latent_manifold(z, base, dirs, scale[0], dirs + d, scale[1], d, n);
    vae_decode(model, s->ws, z, n * n, xhat);
    vae_image_grid(xhat, n * n, VAE_IMAGE_SIDE, n, grid);
    c = vae_plot_create(VAE_REPORT_MANIFOLD_W, VAE_REPORT_MANIFOLD_H, VAE_PLOT_BLACK, err);
    if (!c) {
        st = err ? err->status : VAE_ERR_NOMEM;
        goto done;
    }
    vae_plot_text(c, VAE_REPORT_MANIFOLD_W / 2, (VAE_REPORT_HEADER - vae_plot_text_height(2)) / 2 + 2, caption, 2,
                  CAPTION_INK, VAE_PLOT_ALIGN_CENTER);
    vae_plot_image_grey(c, 0, VAE_REPORT_HEADER, grid, n * VAE_IMAGE_SIDE, n * VAE_IMAGE_SIDE, VAE_REPORT_MANIFOLD_ZOOM);
    st = save_canvas(c, dir, "manifold.png", err);
done:
    vae_plot_destroy(c);
    free(z);
    free(xhat);
    free(base);
    free(dirs);
    free(grid);
    return st;
}

static vae_status write_traversal(report_scratch *s, const char *dir, const vae_model *model, int count,
                                  vae_error *err) {
    const int d = model->config.latent_dim, steps = VAE_REPORT_TRAVERSE_STEPS;
    const int rows = d < VAE_REPORT_TRAVERSE_ROWS ? d : VAE_REPORT_TRAVERSE_ROWS;
    int *order = malloc(sizeof(int) * (size_t)d);
    float *z = malloc(sizeof(float) * (size_t)rows * steps * d), *base = calloc((size_t)d, sizeof(float));
    float *xhat = malloc(sizeof(float) * (size_t)rows * steps * VAE_INPUT_DIM);
    uint8_t *grid = malloc((size_t)rows * steps * VAE_INPUT_DIM);
    vae_status st = VAE_OK;
    vae_plot_canvas *c = NULL;
    if (!order || !z || !base || !xhat || !grid) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory for the traversal");
        goto done;
    }
    active_order(s, model, count, order);
    for (int r = 0; r < rows; r++) vae_latent_traverse(z + (size_t)r * steps * d, base, d, order[r], -3.0f, 3.0f, steps);
    vae_decode(model, s->ws, z, rows * steps, xhat);
    vae_image_grid(xhat, rows * steps, VAE_IMAGE_SIDE, steps, grid);
    c = vae_plot_create(VAE_REPORT_TRAVERSE_W, VAE_REPORT_TRAVERSE_H(d), VAE_PLOT_BLACK, err);
    if (!c) {
        st = err ? err->status : VAE_ERR_NOMEM;
        goto done;
    }
    vae_plot_text(c, VAE_REPORT_TRAVERSE_W / 2, (VAE_REPORT_HEADER - vae_plot_text_height(2)) / 2 + 2,
                  "each coordinate from -3 to +3, the others 0 (most active first)", 2, CAPTION_INK,
                  VAE_PLOT_ALIGN_CENTER);
    vae_plot_image_grey(c, VAE_REPORT_TRAVERSE_LABEL, VAE_REPORT_HEADER, grid, steps * VAE_IMAGE_SIDE,
                        rows * VAE_IMAGE_SIDE, VAE_REPORT_ZOOM);
    for (int r = 0; r < rows; r++) {
        char label[16];
        snprintf(label, sizeof label, "z%d", order[r] + 1);
        vae_plot_text(c, VAE_REPORT_TRAVERSE_LABEL - 10,
                      VAE_REPORT_HEADER + r * VAE_REPORT_CELL + (VAE_REPORT_CELL - vae_plot_text_height(2)) / 2, label,
                      2, CAPTION_INK, VAE_PLOT_ALIGN_RIGHT);
    }
    st = save_canvas(c, dir, "traversal.png", err);
done:
    vae_plot_destroy(c);
    free(order);
    free(z);
    free(base);
    free(xhat);
    free(grid);
    return st;
}

/* The pictures of the latent space, from scratch that already holds the test codes. */
static vae_status write_latent_pictures(report_scratch *s, const char *dir, const vae_model *model, int count,
                                        vae_error *err) {
    vae_status st = model->config.latent_dim >= 2 ? write_manifold(s, dir, model, count, err) : VAE_OK;
    return st == VAE_OK ? write_traversal(s, dir, model, count, err) : st;
}

vae_status vae_report_write_latent(const char *dir, const vae_model *model, const vae_dataset *test,
                                   vae_error *err) {
    if (!dir || !model || !test || test->count < 1)
        return vae_error_set(err, VAE_ERR_ARG, "report needs a directory, a model and test images");
    report_scratch s;
    vae_status st = scratch_alloc(&s, model, test->count, err);
    if (st != VAE_OK) return st;
    encode_test_set(&s, model, test);
    st = write_latent_pictures(&s, dir, model, test->count, err);
    scratch_free(&s);
    return st;
}

vae_status vae_report_write(const char *dir, const vae_model *model, const vae_dataset *test,
                            const vae_epoch_stats *history, int n_epochs, unsigned long long seed,
                            vae_error *err) {
    if (!dir || !model || !test)
        return vae_error_set(err, VAE_ERR_ARG, "report needs a directory, a model and a test set");
    if (test->count < 1 || test->rows != VAE_IMAGE_SIDE || test->cols != VAE_IMAGE_SIDE ||
        !test->pixels || !test->labels)
        return vae_error_set(err, VAE_ERR_ARG,
                             "report needs at least one %dx%d test image (got %d of %dx%d)",
                             VAE_IMAGE_SIDE, VAE_IMAGE_SIDE, test->count, test->rows, test->cols);
    if (n_epochs < 0 || (n_epochs > 0 && !history))
        return vae_error_set(err, VAE_ERR_ARG, "report: bad epoch history (%d epochs)", n_epochs);
    for (int i = 0; i < test->count; i++)
        if (test->labels[i] >= VAE_NUM_CLASSES)
            return vae_error_set(err, VAE_ERR_ARG, "report: test label %d of image %d is not 0..9",
                                 test->labels[i], i);

    vae_status st = vae_make_dirs(dir, err);
    if (st != VAE_OK)
        return st;
    report_scratch s;
    st = scratch_alloc(&s, model, test->count, err);
    if (st != VAE_OK)
        return st;
    encode_test_set(&s, model, test);
    if (st == VAE_OK)
        st = write_samples(&s, dir, model, seed, err);
    if (st == VAE_OK)
        st = write_reconstructions(&s, dir, model, test, err);
    if (st == VAE_OK)
        st = write_morph(&s, dir, model, test, err);
    if (st == VAE_OK)
        st = write_latent_map(&s, dir, model, test, seed, err);
    if (st == VAE_OK)
        st = write_loss(dir, history, n_epochs, err);
    if (st == VAE_OK)
        st = write_csv(dir, history, n_epochs, err);
    if (st == VAE_OK)
        st = write_latent_pictures(&s, dir, model, test->count, err);
    scratch_free(&s);
    return st;
}
