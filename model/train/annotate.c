/* The statistics vae-train stores beside the parameters: centroids and class spreads, the principal
 * plane, diagnostics, score calibration tables, and the importance-weighted test NLL. */
#include "annotate.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "vae/latent.h"

/* Images per vae_score_images call. */
#define SCORE_CHUNK 256
/* Images encoded per call for the test set's codes. */
#define ENCODE_BATCH 256

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* One vae_annotate_score call, shared by its threads: chunk c goes to thread c % threads. */
typedef struct {
    const vae_model *model;
    const vae_dataset *ds;
    int first, stride, count, k, threads, report;
    unsigned long long seed;
    vae_score *out;
    float *complexity;
    double started;
    _Atomic int images_done, chunks_done;
} score_job;

typedef struct {
    score_job *job;
    int part;
    vae_status st;
    vae_error err;
} score_part;

static void *score_part_run(void *arg) {
    score_part *p = arg;
    score_job *j = p->job;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * SCORE_CHUNK);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&j->model->config), 512);
    if (!x || !ws) p->st = vae_error_set(&p->err, VAE_ERR_NOMEM, "out of memory scoring images");
    for (int c = p->part; (size_t)c * SCORE_CHUNK < (size_t)j->count && p->st == VAE_OK; c += j->threads) {
        int start = c * SCORE_CHUNK, n = j->count - start < SCORE_CHUNK ? j->count - start : SCORE_CHUNK;
        for (int i = 0; i < n; i++) {
            float *xi = x + (size_t)i * VAE_INPUT_DIM;
            vae_dataset_image(j->ds, j->first + (start + i) * j->stride, xi);
            if (j->complexity) j->complexity[start + i] = vae_image_complexity_bits(xi);
        }
        /* each chunk's own seed, so the split over threads changes no bit */
        p->st = vae_score_images(j->model, ws, x, n, j->k, j->seed + (uint64_t)start * VAE_SCORE_SEED_STEP,
                                 j->out + start, &p->err);
        int done = atomic_fetch_add(&j->images_done, n) + n;
        if (j->report && (atomic_fetch_add(&j->chunks_done, 1) + 1) % 4 == 0) {
            printf("  k = %d: %d of %d images, %.0f s\n", j->k, done, j->count, vae_now_seconds() - j->started);
            fflush(stdout);
        }
    }
    free(x);
    vae_workspace_destroy(ws);
    return NULL;
}

vae_status vae_annotate_score(const vae_model *model, const vae_dataset *ds, int first, int stride,
                              int count, int k, unsigned long long seed, int threads, vae_score *out,
                              float *complexity, vae_error *err) {
    score_job job = {.model = model, .ds = ds, .first = first, .stride = stride, .count = count, .k = k,
                     .threads = threads < 1 ? 1 : threads > VAE_ANNOTATE_MAX_THREADS ? VAE_ANNOTATE_MAX_THREADS : threads,
                     .report = k >= 1000 && count >= 1000, /* a long run says where it is */
                     .seed = seed, .out = out, .complexity = complexity, .started = vae_now_seconds()};
    score_part parts[VAE_ANNOTATE_MAX_THREADS];
    pthread_t tid[VAE_ANNOTATE_MAX_THREADS];
    int started = 1;
    for (int t = 0; t < job.threads; t++) parts[t] = (score_part){.job = &job, .part = t, .st = VAE_OK};
    for (; started < job.threads; started++)
        if (pthread_create(&tid[started], NULL, score_part_run, &parts[started]) != 0) break;
    /* parts that got no thread run here, after part 0 */
    score_part_run(&parts[0]);
    for (int t = started; t < job.threads; t++) score_part_run(&parts[t]);
    for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
    for (int t = 0; t < job.threads; t++)
        if (parts[t].st != VAE_OK) {
            if (err) *err = parts[t].err;
            return parts[t].st;
        }
    return VAE_OK;
}

/* A new malloc'd table of the n values, sorted ascending; NULL when out of memory. */
static float *sorted_copy(const float *v, int n) {
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) return NULL;
    memcpy(t, v, sizeof(float) * (size_t)n);
    qsort(t, (size_t)n, sizeof(float), compare_floats);
    return t;
}

/* The calibration tables from the even-indexed test images. */
static vae_status score_tables(vae_model *model, const vae_dataset *test, const vae_annotate_options *o,
                               int *n_cal, vae_error *err) {
    const int n = (test->count + 1) / VAE_ANNOTATE_CALIBRATION_STRIDE;
    vae_score *s = malloc(sizeof *s * (size_t)n);
    float *bits = malloc(sizeof(float) * (size_t)n), *nll = malloc(sizeof(float) * (size_t)n);
    float *corr = malloc(sizeof(float) * (size_t)n), *ood = malloc(sizeof(float) * (size_t)n);
    vae_score_tables t = {.k = o->score_k, .seed = o->seed};
    vae_status st = VAE_OK;
    if (!s || !bits || !nll || !corr || !ood) st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory for the tables");
    if (st == VAE_OK)
        st = vae_annotate_score(model, test, 0, VAE_ANNOTATE_CALIBRATION_STRIDE, n, o->score_k, o->seed, o->threads,
                                s, bits, err);
    if (st == VAE_OK) {
        for (int i = 0; i < n; i++) {
            nll[i] = s[i].nll;
            corr[i] = vae_score_corrected(s[i].nll, bits[i]);
        }
        t.nll = (vae_score_table){sorted_copy(nll, n), n};
        t.corrected = (vae_score_table){sorted_copy(corr, n), n};
        if (!t.nll.values || !t.corrected.values) st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    }
    if (st == VAE_OK) {
        /* each calibration image's ood_score against the tables it is part of */
        for (int i = 0; i < n; i++) ood[i] = vae_score_ood_value(&t, nll[i], corr[i]);
        t.ood = (vae_score_table){sorted_copy(ood, n), n};
        if (!t.ood.values) st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    }
    if (st == VAE_OK) {
        free(model->scores.nll.values);
        free(model->scores.corrected.values);
        free(model->scores.ood.values);
        model->scores = t;
        *n_cal = n;
    } else {
        free(t.nll.values);
        free(t.corrected.values);
        free(t.ood.values);
    }
    free(s);
    free(bits);
    free(nll);
    free(corr);
    free(ood);
    return st;
}

/* The principal plane and the diagnostics from the test set's codes. */
static vae_status test_codes(vae_model *model, const vae_dataset *test, vae_error *err) {
    const int n = test->count, d = model->config.latent_dim;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * ENCODE_BATCH);
    float *mu = malloc(sizeof(float) * (size_t)n * d), *logvar = malloc(sizeof(float) * (size_t)n * d);
    float *mean = malloc(sizeof(float) * d), *dirs = malloc(sizeof(float) * 2 * d), *std = malloc(sizeof(float) * 2);
    float *mu_var = malloc(sizeof(float) * d), *kl = malloc(sizeof(float) * d);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&model->config), ENCODE_BATCH);
    vae_status st = VAE_OK;
    if (!x || !mu || !logvar || !mean || !dirs || !std || !mu_var || !kl || !ws)
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory encoding the test set");
    for (int start = 0; start < n && st == VAE_OK; start += ENCODE_BATCH) {
        int B = n - start < ENCODE_BATCH ? n - start : ENCODE_BATCH;
        for (int i = 0; i < B; i++) vae_dataset_image(test, start + i, x + (size_t)i * VAE_INPUT_DIM);
        vae_encode(model, ws, x, B, mu + (size_t)start * d, logvar + (size_t)start * d);
    }
    if (st == VAE_OK) {
        vae_latent_diagnostics(mu_var, kl, mu, logvar, n, d);
        free(model->diag.mu_var);
        free(model->diag.kl);
        model->diag.mu_var = mu_var;
        model->diag.kl = kl;
        mu_var = kl = NULL;
        model->diag.active_units = 0;
        for (int j = 0; j < d; j++) model->diag.active_units += model->diag.mu_var[j] > VAE_ACTIVE_UNIT_THRESHOLD;
    }
    /* a plane needs two dimensions: a 1-D model has none */
    if (st == VAE_OK && d >= 2 && (st = vae_latent_principal_plane(mean, dirs, std, mu, n, d, err)) == VAE_OK) {
        free(model->plane.mean);
        free(model->plane.dirs);
        free(model->plane.std);
        model->plane = (vae_latent_plane){mean, dirs, std};
        mean = dirs = std = NULL;
    }
    free(x);
    free(mu);
    free(logvar);
    free(mean);
    free(dirs);
    free(std);
    free(mu_var);
    free(kl);
    vae_workspace_destroy(ws);
    return st;
}

static vae_status set_number(vae_model *model, const char *key, const char *fmt, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    return vae_metadata_set(&model->metadata, key, buf);
}

vae_status vae_annotate(vae_model *model, const vae_dataset *train, const vae_dataset *test,
                        const vae_annotate_options *o, vae_annotate_result *r, vae_error *err) {
    if (test->count < 2 || train->count < 1)
        return vae_error_set(err, VAE_ERR_ARG, "annotate: needs training images and at least 2 test images");
    memset(r, 0, sizeof *r);
    r->iwae_nll = r->iwae_loss = NAN;
    double started = vae_now_seconds();
    vae_status st = vae_latent_compute_centroids(model, train, err);
    if (st == VAE_OK) st = test_codes(model, test, err);
    if (st == VAE_OK) st = score_tables(model, test, o, &r->calibration_images, err);
    if (st != VAE_OK) return st;
    r->table_seconds = vae_now_seconds() - started;
    char images[96];
    snprintf(images, sizeof images, "%d test images of even index", r->calibration_images);
    if ((st = vae_metadata_set(&model->metadata, "normalize", o->normalize)) != VAE_OK ||
        (st = set_number(model, "score_k", "%.0f", o->score_k)) != VAE_OK ||
        (st = vae_metadata_set(&model->metadata, "score_images", images)) != VAE_OK)
        return vae_error_set(err, st, "metadata: out of memory or full");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", o->seed);
    if ((st = vae_metadata_set(&model->metadata, "score_seed", seed)) != VAE_OK)
        return vae_error_set(err, st, "metadata: out of memory or full");
    printf("vae-train: statistics: %d active units of %d, score tables of %d images at k = %d (%.1f s)\n",
           model->diag.active_units, model->config.latent_dim, r->calibration_images, o->score_k,
           r->table_seconds);
    fflush(stdout);
    if (!o->iwae_k) return VAE_OK;

    started = vae_now_seconds();
    vae_score *s = malloc(sizeof *s * (size_t)test->count);
    if (!s) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory for the NLL");
    st = vae_annotate_score(model, test, 0, 1, test->count, o->iwae_k, o->seed + 1, o->threads, s, NULL, err);
    if (st == VAE_OK) {
        double nll = 0, loss = 0;
        for (int i = 0; i < test->count; i++) nll += s[i].nll, loss += s[i].loss;
        r->iwae_nll = nll / test->count;
        r->iwae_loss = loss / test->count;
        r->iwae_seconds = vae_now_seconds() - started;
        model->diag.test_nll = r->iwae_nll;
        model->diag.test_nll_k = o->iwae_k;
        if ((st = set_number(model, "test_nll", "%.3f", r->iwae_nll)) != VAE_OK ||
            (st = set_number(model, "test_nll_k", "%.0f", o->iwae_k)) != VAE_OK)
            st = vae_error_set(err, st, "metadata: out of memory or full");
    }
    free(s);
    return st;
}
