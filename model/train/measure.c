/* Measurements that pick the server's defaults: out-of-distribution AUROCs of the candidate scores,
 * with ROC curves, and the completion chains against the mean-image fill. */
#include "measure.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "annotate.h"
#include "plot.h"
#include "vae/complete.h"
#include "vae/image.h"
#include "vae/score.h"

#define PATH_MAX_LEN 4096

/* ---- out-of-distribution ---- */

enum { RULE_LIK, RULE_CORRECTED, RULE_FISHER, RULE_MAX_PCT, RULE_SUM, N_RULES };
static const char *rule_names[N_RULES] = {"likelihood alone", "complexity-corrected",
                                          "Fisher's combination (ood_score)", "max of the two percentiles",
                                          "sum of the percentiles"};

/* One image's likelihood score (nll, or the loss at z = mu) and complexity-corrected score. */
typedef struct {
    float lik, corrected;
} scored;

/* The candidate scores of one image against tables of the likelihood and corrected scores (larger is
 * more unusual for every rule). */
static void rules_of(const scored *s, const vae_score_table *lik, const vae_score_table *corr, double *out) {
    double a = vae_score_percentile(lik, s->lik), b = vae_score_percentile(corr, s->corrected);
    vae_score_tables t = {.nll = *lik, .corrected = *corr};
    out[RULE_LIK] = s->lik;
    out[RULE_CORRECTED] = s->corrected;
    out[RULE_FISHER] = vae_score_ood_value(&t, s->lik, s->corrected); /* the library's rule */
    out[RULE_MAX_PCT] = a > b ? a : b;
    out[RULE_SUM] = a + b;
}

typedef struct {
    double v;
    int positive;
} labelled;

static int compare_labelled(const void *a, const void *b) {
    double x = ((const labelled *)a)->v, y = ((const labelled *)b)->v;
    return x < y ? -1 : x > y;
}

/* AUROC of the positives (the other data set) scoring higher: the Mann-Whitney statistic with ties
 * counted half. all (n) is sorted in place. When roc is not NULL, fills roc (2 * points) with
 * (false-positive rate, true-positive rate) at `points` thresholds from the top down. */
static double auroc(labelled *all, int n, double *roc, int points) {
    qsort(all, (size_t)n, sizeof *all, compare_labelled);
    double n_pos = 0, n_neg = 0, rank_sum = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && all[j].v == all[i].v) j++;
        double mid_rank = 0.5 * (i + 1 + j); /* ranks i+1..j share their mean */
        for (int t = i; t < j; t++)
            if (all[t].positive) rank_sum += mid_rank;
        i = j;
    }
    for (int i = 0; i < n; i++) n_pos += all[i].positive, n_neg += !all[i].positive;
    if (roc) {
        /* point p flags the top p/(points-1) of all images */
        double tp = 0, fp = 0;
        int taken = 0;
        for (int p = 0; p < points; p++) {
            int target = (int)((long)p * n / (points - 1));
            for (; taken < target; taken++) all[n - 1 - taken].positive ? tp++ : fp++;
            roc[2 * p] = fp / n_neg;
            roc[2 * p + 1] = tp / n_pos;
        }
    }
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

/* The loss at one sample z = mu (no noise) of the images first, first + stride, ... of ds. */
static vae_status loss_at_mean(const vae_model *model, const vae_dataset *ds, int first, int stride, int count,
                               float *loss, vae_error *err) {
    const int d = model->config.latent_dim, B = 256;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * B), *logits = malloc(sizeof(float) * VAE_INPUT_DIM * B);
    float *mu = malloc(sizeof(float) * d * B), *lv = malloc(sizeof(float) * d * B), *eps = calloc((size_t)d * B, sizeof(float));
    vae_score *s = malloc(sizeof *s * B);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&model->config), B);
    vae_status st = VAE_OK;
    if (!x || !logits || !mu || !lv || !eps || !s || !ws) st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    for (int start = 0; start < count && st == VAE_OK; start += B) {
        int n = count - start < B ? count - start : B;
        for (int i = 0; i < n; i++) vae_dataset_image(ds, first + (start + i) * stride, x + (size_t)i * VAE_INPUT_DIM);
        vae_encode(model, ws, x, n, mu, lv);
        vae_decode_logits(model, ws, mu, n, logits);
        vae_score_compute(x, mu, lv, eps, logits, n, 1, d, s);
        for (int i = 0; i < n; i++) loss[start + i] = s[i].loss;
    }
    free(x);
    free(logits);
    free(mu);
    free(lv);
    free(eps);
    free(s);
    vae_workspace_destroy(ws);
    return st;
}

/* Complexity bits of the selected images. */
static void complexity_of(const vae_dataset *ds, int first, int stride, int count, float *bits) {
    float x[VAE_INPUT_DIM];
    for (int i = 0; i < count; i++) {
        vae_dataset_image(ds, first + i * stride, x);
        bits[i] = vae_image_complexity_bits(x);
    }
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

#define ROC_POINTS 201
#define ROC_RULES 3 /* drawn: the likelihood, the corrected score, ood_score (the first three rules) */

static vae_status write_roc(const char *dir, const double *roc, const char *title, vae_error *err) {
    vae_plot_canvas *c = vae_plot_create(900, 860, VAE_PLOT_WHITE, err);
    if (!c) return err ? err->status : VAE_ERR_NOMEM;
    vae_plot_ticks t = {.lo = 0, .hi = 1, .step = 0.2, .count = 6, .decimals = 1};
    vae_plot_axes ax;
    const int left = 120, top = 64, side = 700;
    vae_plot_axes_init(&ax, left, top, side, side, &t, 0, 1, &t, 0, 1);
    vae_plot_axes_draw(c, &ax, title, "false-positive rate (own test images flagged)",
                       "true-positive rate (other images flagged)", 2);
    vae_plot_line(c, vae_plot_axes_px(&ax, 0), vae_plot_axes_py(&ax, 0), vae_plot_axes_px(&ax, 1),
                  vae_plot_axes_py(&ax, 1), 1.0, VAE_PLOT_RGB(180, 180, 180), 1);
    static const char *labels[ROC_RULES] = {"nll", "complexity-corrected", "ood_score"};
    vae_plot_legend_entry entries[ROC_RULES];
    for (int r = 0; r < ROC_RULES; r++) {
        const double *p = roc + (size_t)r * 2 * ROC_POINTS;
        for (int i = 0; i + 1 < ROC_POINTS; i++)
            vae_plot_line(c, vae_plot_axes_px(&ax, p[2 * i]), vae_plot_axes_py(&ax, p[2 * i + 1]),
                          vae_plot_axes_px(&ax, p[2 * i + 2]), vae_plot_axes_py(&ax, p[2 * i + 3]), 2.5,
                          vae_plot_category_colour(r), 1);
        entries[r] = (vae_plot_legend_entry){labels[r], vae_plot_category_colour(r)};
    }
    int lw, lh;
    vae_plot_legend_size(entries, ROC_RULES, 2, &lw, &lh);
    vae_plot_legend(c, left + side - lw - 12, top + side - lh - 12, entries, ROC_RULES, 2, VAE_PLOT_KEY_LINE);
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/roc.png", dir);
    vae_status st = vae_plot_save_png(c, path, err);
    vae_plot_destroy(c);
    return st;
}

vae_status vae_measure_ood(const vae_model *model, const vae_dataset *test, const vae_dataset *other,
                           const char *other_name, int k, unsigned long long seed, int threads,
                           const char *report_dir, vae_error *err) {
    vae_status st = vae_model_require(model, VAE_PART_SCORES, err);
    if (st != VAE_OK) return st;
    const int n_in = test->count / 2, n_out = other->count, n_cal = (test->count + 1) / 2, n = n_in + n_out;
    vae_score *s = malloc(sizeof *s * (size_t)(n > n_cal ? n : n_cal));
    float *bits = malloc(sizeof(float) * (size_t)(n + n_cal)), *loss = malloc(sizeof(float) * (size_t)(n + n_cal));
    scored *sc = malloc(sizeof *sc * (size_t)n);
    labelled *all = malloc(sizeof *all * (size_t)n);
    double *roc = malloc(sizeof(double) * 2 * ROC_POINTS * ROC_RULES);
    float *cal_lik = malloc(sizeof(float) * (size_t)n_cal), *cal_corr = malloc(sizeof(float) * (size_t)n_cal);
    double (*rules)[N_RULES] = malloc(sizeof *rules * (size_t)n);
    FILE *csv = NULL;
    if (!s || !bits || !loss || !sc || !all || !roc || !cal_lik || !cal_corr || !rules) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory measuring the OOD scores");
        goto done;
    }
    double started = vae_now_seconds();
    /* k samples: the stored tables and the images they did not see */
    if ((st = vae_annotate_score(model, test, 1, 2, n_in, k, seed + 2, threads, s, bits, err)) != VAE_OK ||
        (st = vae_annotate_score(model, other, 0, 1, n_out, k, seed + 3, threads, s + n_in, bits + n_in, err)) !=
            VAE_OK)
        goto done;
    for (int i = 0; i < n; i++) sc[i] = (scored){s[i].nll, vae_score_corrected(s[i].nll, bits[i])};
    double auc[2][N_RULES];
    for (int i = 0; i < n; i++) rules_of(&sc[i], &model->scores.nll, &model->scores.corrected, rules[i]);
    for (int r = 0; r < N_RULES; r++) {
        for (int i = 0; i < n; i++) all[i] = (labelled){rules[i][r], i >= n_in};
        auc[0][r] = auroc(all, n, r < ROC_RULES ? roc + (size_t)r * 2 * ROC_POINTS : NULL, ROC_POINTS);
    }
    /* one sample at z = mu, the first measurement, with tables of the same quantity */
    if ((st = loss_at_mean(model, test, 0, 2, n_cal, loss + n, err)) != VAE_OK ||
        (st = loss_at_mean(model, test, 1, 2, n_in, loss, err)) != VAE_OK ||
        (st = loss_at_mean(model, other, 0, 1, n_out, loss + n_in, err)) != VAE_OK)
        goto done;
    complexity_of(test, 0, 2, n_cal, bits + n);
    for (int i = 0; i < n_cal; i++) {
        cal_lik[i] = loss[n + i];
        cal_corr[i] = vae_score_corrected(loss[n + i], bits[n + i]);
    }
    qsort(cal_lik, (size_t)n_cal, sizeof(float), compare_floats);
    qsort(cal_corr, (size_t)n_cal, sizeof(float), compare_floats);
    vae_score_table tl = {cal_lik, n_cal}, tc = {cal_corr, n_cal};
    for (int i = 0; i < n; i++) {
        scored m = {loss[i], vae_score_corrected(loss[i], bits[i])};
        rules_of(&m, &tl, &tc, rules[i]);
    }
    for (int r = 0; r < N_RULES; r++) {
        for (int i = 0; i < n; i++) all[i] = (labelled){rules[i][r], i >= n_in};
        auc[1][r] = auroc(all, n, NULL, 0);
    }
    printf("vae-train: OOD: %d own test images (odd index) against %d %s test images (%.0f s)\n", n_in, n_out,
           other_name, vae_now_seconds() - started);
    printf("  %-42s  AUROC at k = %d   at z = mu\n", "score", k);
    for (int r = 0; r < N_RULES; r++) printf("  %-42s  %.4f          %.4f\n", rule_names[r], auc[0][r], auc[1][r]);
    fflush(stdout);
    if (report_dir) {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "%s/ood_auroc.csv", report_dir);
        if (!(csv = fopen(path, "w"))) {
            st = vae_error_set(err, VAE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
            goto done;
        }
        fprintf(csv, "score,auroc_k%d,auroc_z_mu,own_images,other_images,other\n", k);
        for (int r = 0; r < N_RULES; r++)
            fprintf(csv, "%s,%.5f,%.5f,%d,%d,%s\n", rule_names[r], auc[0][r], auc[1][r], n_in, n_out, other_name);
        if (fclose(csv) != 0) st = vae_error_set(err, VAE_ERR_IO, "cannot write %s", path);
        csv = NULL;
        char title[128];
        const char *own = vae_metadata_get(&model->metadata, "dataset");
        snprintf(title, sizeof title, "%s model, %s as outliers (k = %d)", own ? own : "this", other_name, k);
        if (st == VAE_OK) st = write_roc(report_dir, roc, title, err);
    }
done:
    if (csv) fclose(csv);
    free(s);
    free(bits);
    free(loss);
    free(sc);
    free(all);
    free(roc);
    free(cal_lik);
    free(cal_corr);
    free(rules);
    return st;
}

/* ---- completion ---- */

#define HIDDEN_FROM_ROW 14 /* rows 14..27 hidden */
#define COMPLETE_CHUNK 500
#define N_CHECKPOINTS 6
#define EXAMPLES 8

/* Nearest centroid (Euclidean) of each of the n images' encodings. */
static void classify(const vae_model *model, vae_workspace *ws, const float *x, int n, float *mu, float *lv,
                     int *label) {
    const int d = model->config.latent_dim;
    vae_encode(model, ws, x, n, mu, lv);
    for (int i = 0; i < n; i++) {
        double best = INFINITY;
        for (int c = 0; c < VAE_NUM_CLASSES; c++) {
            double dist = 0;
            for (int j = 0; j < d; j++) {
                double diff = mu[(size_t)i * d + j] - model->centroids[(size_t)c * d + j];
                dist += diff * diff;
            }
            if (dist < best) best = dist, label[i] = c;
        }
    }
}

typedef struct {
    double correct, sq, abs;
    long count;
    long accepted, proposals;
} fill_stats;

/* Adds n completed images' accuracy and hidden-half errors against the truth. */
static void add_stats(fill_stats *f, const vae_model *model, vae_workspace *ws, const float *filled,
                      const float *truth, const uint8_t *labels, int n, float *mu, float *lv, int *pred) {
    classify(model, ws, filled, n, mu, lv, pred);
    for (int i = 0; i < n; i++) {
        f->correct += pred[i] == labels[i];
        for (int p = HIDDEN_FROM_ROW * VAE_IMAGE_SIDE; p < VAE_INPUT_DIM; p++) {
            double e = filled[(size_t)i * VAE_INPUT_DIM + p] - truth[(size_t)i * VAE_INPUT_DIM + p];
            f->sq += e * e;
            f->abs += fabs(e);
        }
    }
    f->count += n;
}

static vae_status write_examples(const char *dir, const float *rows, int n_rows, vae_error *err) {
    const int side = VAE_IMAGE_SIDE, zoom = 3;
    uint8_t *grid = malloc((size_t)n_rows * side * EXAMPLES * side);
    if (!grid) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    vae_image_grid(rows, n_rows * EXAMPLES, side, EXAMPLES, grid);
    vae_plot_canvas *c = vae_plot_create(EXAMPLES * side * zoom + 260, n_rows * side * zoom, VAE_PLOT_BLACK, err);
    if (!c) {
        free(grid);
        return err ? err->status : VAE_ERR_NOMEM;
    }
    vae_plot_image_grey(c, 260, 0, grid, EXAMPLES * side, n_rows * side, zoom);
    static const char *names[] = {"test image", "top half", "mean fill", "pseudo-Gibbs", "MwG"};
    for (int r = 0; r < n_rows; r++)
        vae_plot_text(c, 250, r * side * zoom + side * zoom / 2 - 8, names[r], 2, VAE_PLOT_RGB(205, 205, 205),
                      VAE_PLOT_ALIGN_RIGHT);
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/completion.png", dir);
    vae_status st = vae_plot_save_png(c, path, err);
    vae_plot_destroy(c);
    free(grid);
    return st;
}

vae_status vae_measure_completion(const vae_model *model, const vae_dataset *train, const vae_dataset *test,
                                  int steps, unsigned long long seed, const char *report_dir, vae_error *err) {
    vae_status st = vae_model_require(model, VAE_PART_CENTROIDS, err);
    if (st != VAE_OK) return st;
    const int d = model->config.latent_dim, B = COMPLETE_CHUNK;
    /* chain lengths reported: 1, 2, 5, 10, 20, ... up to steps */
    int checkpoints[N_CHECKPOINTS], n_check = 0;
    static const int candidates[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && n_check < N_CHECKPOINTS - 1; i++)
        if (candidates[i] < steps) checkpoints[n_check++] = candidates[i];
    checkpoints[n_check++] = steps;
    float *truth = malloc(sizeof(float) * VAE_INPUT_DIM * B), *out = malloc(sizeof(float) * VAE_INPUT_DIM * B);
    float *chain = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)B * steps);
    float *at = malloc(sizeof(float) * VAE_INPUT_DIM * B), *mean = calloc(VAE_INPUT_DIM, sizeof(float));
    float *mu = malloc(sizeof(float) * d * B), *lv = malloc(sizeof(float) * d * B);
    float *examples = calloc((size_t)5 * EXAMPLES * VAE_INPUT_DIM, sizeof(float));
    uint8_t *mask = malloc((size_t)VAE_INPUT_DIM * B);
    int *pred = malloc(sizeof(int) * B), *accepted = malloc(sizeof(int) * B);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&model->config), B);
    fill_stats stats[2][N_CHECKPOINTS], mean_fill = {0};
    memset(stats, 0, sizeof stats);
    FILE *csv = NULL;
    if (!truth || !out || !chain || !at || !mean || !mu || !lv || !examples || !mask || !pred || !accepted || !ws) {
        st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory measuring completion");
        goto done;
    }
    double started = vae_now_seconds();
    {
        double *sum = calloc(VAE_INPUT_DIM, sizeof(double));
        if (!sum) {
            st = vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < train->count; i++) {
            vae_dataset_image(train, i, out);
            for (int p = 0; p < VAE_INPUT_DIM; p++) sum[p] += out[p];
        }
        for (int p = 0; p < VAE_INPUT_DIM; p++) mean[p] = (float)(sum[p] / train->count);
        free(sum);
    }
    for (int i = 0; i < B; i++)
        for (int p = 0; p < VAE_INPUT_DIM; p++) mask[(size_t)i * VAE_INPUT_DIM + p] = p < HIDDEN_FROM_ROW * VAE_IMAGE_SIDE;
    for (int start = 0; start < test->count; start += B) {
        int n = test->count - start < B ? test->count - start : B;
        for (int i = 0; i < n; i++) vae_dataset_image(test, start + i, truth + (size_t)i * VAE_INPUT_DIM);
        for (int i = 0; i < n; i++) vae_complete_clamp(out + (size_t)i * VAE_INPUT_DIM, truth + (size_t)i * VAE_INPUT_DIM, mask, mean);
        add_stats(&mean_fill, model, ws, out, truth, test->labels + start, n, mu, lv, pred);
        if (start == 0)
            for (int i = 0; i < EXAMPLES && i < n; i++) {
                memcpy(examples + (size_t)(0 * EXAMPLES + i) * VAE_INPUT_DIM, truth + (size_t)i * VAE_INPUT_DIM, sizeof(float) * VAE_INPUT_DIM);
                vae_complete_clamp(examples + (size_t)(1 * EXAMPLES + i) * VAE_INPUT_DIM, truth + (size_t)i * VAE_INPUT_DIM, mask, NULL);
                memcpy(examples + (size_t)(2 * EXAMPLES + i) * VAE_INPUT_DIM, out + (size_t)i * VAE_INPUT_DIM, sizeof(float) * VAE_INPUT_DIM);
            }
        for (int method = 0; method < 2; method++) {
            st = vae_complete_images(model, ws, truth, mask, n, method, steps, seed + (uint64_t)start * VAE_SCORE_SEED_STEP,
                                     out, chain, accepted, err);
            if (st != VAE_OK) goto done;
            for (int c = 0; c < n_check; c++) {
                for (int i = 0; i < n; i++)
                    memcpy(at + (size_t)i * VAE_INPUT_DIM, chain + ((size_t)i * steps + checkpoints[c] - 1) * VAE_INPUT_DIM,
                           sizeof(float) * VAE_INPUT_DIM);
                add_stats(&stats[method][c], model, ws, at, truth, test->labels + start, n, mu, lv, pred);
            }
            for (int i = 0; i < n; i++) stats[method][n_check - 1].accepted += accepted[i];
            stats[method][n_check - 1].proposals += (long)n * steps;
            if (start == 0)
                for (int i = 0; i < EXAMPLES && i < n; i++)
                    memcpy(examples + (size_t)((3 + method) * EXAMPLES + i) * VAE_INPUT_DIM, out + (size_t)i * VAE_INPUT_DIM,
                           sizeof(float) * VAE_INPUT_DIM);
        }
    }
    const double hidden = VAE_INPUT_DIM - HIDDEN_FROM_ROW * VAE_IMAGE_SIDE;
    printf("vae-train: completion of %d test images with rows %d..27 hidden (%.0f s)\n", test->count, HIDDEN_FROM_ROW,
           vae_now_seconds() - started);
    printf("  %-14s %6s  %9s  %9s  %9s\n", "fill", "steps", "accuracy", "MSE", "MAE");
    printf("  %-14s %6s  %8.2f%%  %9.5f  %9.5f\n", "mean image", "-", 100.0 * mean_fill.correct / mean_fill.count,
           mean_fill.sq / (mean_fill.count * hidden), mean_fill.abs / (mean_fill.count * hidden));
    for (int method = 0; method < 2; method++)
        for (int c = 0; c < n_check; c++) {
            const fill_stats *f = &stats[method][c];
            printf("  %-14s %6d  %8.2f%%  %9.5f  %9.5f", method ? "MwG" : "pseudo-Gibbs", checkpoints[c],
                   100.0 * f->correct / f->count, f->sq / (f->count * hidden), f->abs / (f->count * hidden));
            if (f->proposals) printf("  (%.1f%% of proposals taken)", 100.0 * f->accepted / f->proposals);
            printf("\n");
        }
    fflush(stdout);
    if (report_dir) {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "%s/completion.csv", report_dir);
        if (!(csv = fopen(path, "w"))) {
            st = vae_error_set(err, VAE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
            goto done;
        }
        fprintf(csv, "fill,steps,accuracy,mse_hidden,mae_hidden,acceptance,images\n");
        fprintf(csv, "mean_image,0,%.5f,%.6f,%.6f,,%ld\n", mean_fill.correct / mean_fill.count,
                mean_fill.sq / (mean_fill.count * hidden), mean_fill.abs / (mean_fill.count * hidden), mean_fill.count);
        for (int method = 0; method < 2; method++)
            for (int c = 0; c < n_check; c++) {
                const fill_stats *f = &stats[method][c];
                fprintf(csv, "%s,%d,%.5f,%.6f,%.6f,", vae_complete_method_name(method), checkpoints[c], f->correct / f->count,
                        f->sq / (f->count * hidden), f->abs / (f->count * hidden));
                if (f->proposals) fprintf(csv, "%.5f", (double)f->accepted / f->proposals);
                fprintf(csv, ",%ld\n", f->count);
            }
        if (fclose(csv) != 0) st = vae_error_set(err, VAE_ERR_IO, "cannot write %s", path);
        csv = NULL;
        if (st == VAE_OK) st = write_examples(report_dir, examples, 5, err);
    }
done:
    if (csv) fclose(csv);
    free(truth);
    free(out);
    free(chain);
    free(at);
    free(mean);
    free(mu);
    free(lv);
    free(examples);
    free(mask);
    free(pred);
    free(accepted);
    vae_workspace_destroy(ws);
    return st;
}
