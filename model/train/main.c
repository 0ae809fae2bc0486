/* vae-train: trains the VAE on MNIST-style data with Adam and writes a safetensors weights file. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../util.h"
#include "annotate.h"
#include "measure.h"
#include "options.h"
#include "report.h"
#include "vae/dataset.h"
#include "vae/latent.h"
#include "vae/prepare.h"
#include "vae/train.h"
#include "vae/weights.h"

/* Fails fast, before training, when the output could not be written at the end. */
static vae_status check_writable(const char *path, vae_error *err) {
    size_t size = strlen(path) + 16;
    char *tmp = malloc(size);
    if (!tmp) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    snprintf(tmp, size, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    vae_status st = VAE_OK;
    if (fd < 0) st = vae_error_set(err, VAE_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    else {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    return st;
}

/* Copies image idx into out (784 floats in [0,1]), translated by (dx, dy) with zero fill. */
static void load_shifted(const vae_dataset *ds, int idx, int dx, int dy, float *out) {
    if (!dx && !dy) {
        vae_dataset_image(ds, idx, out);
        return;
    }
    const uint8_t *src = ds->pixels + (size_t)idx * VAE_INPUT_DIM;
    for (int y = 0; y < VAE_IMAGE_SIDE; y++) {
        int sy = y - dy;
        for (int x = 0; x < VAE_IMAGE_SIDE; x++) {
            int sx = x - dx;
            int inside = sy >= 0 && sy < VAE_IMAGE_SIDE && sx >= 0 && sx < VAE_IMAGE_SIDE;
            out[y * VAE_IMAGE_SIDE + x] = inside ? vae_pixel_values[src[sy * VAE_IMAGE_SIDE + sx]] : 0.0f;
        }
    }
}

/* The test set of a --binarize dynamic model is binarized once, from this offset of its seed. */
#define TEST_BINARIZE_SEED 0xb1a7u
/* The evaluation noise of the canonical test loss: the run's seed xor this. */
#define EVAL_SEED 0x7e57u

/* Replaces every pixel of ds by 0 or 255, drawn as Bernoulli of its grey value: the fixed binarized
 * test set of a --binarize dynamic model. */
static void binarize_dataset(vae_dataset *ds, unsigned long long seed) {
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    size_t n = (size_t)ds->count * VAE_INPUT_DIM;
    for (size_t i = 0; i < n; i++) ds->pixels[i] = vae_rng_uniform(&rng) * 255.0 < ds->pixels[i] ? 255 : 0;
}

/* x (n) in [0,1] becomes 0 or 1 by Bernoulli draws from rng (dynamic binarization). */
static void binarize_batch(float *x, size_t n, vae_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = vae_rng_uniform(rng) < x[i] ? 1.0f : 0.0f;
}

/* The KL weight at a step: beta, reached linearly over the first --kl-warmup epochs. */
static float beta_at(const vae_train_options *o, long step, long steps_per_epoch) {
    long warm = (long)o->kl_warmup * steps_per_epoch;
    return step < warm ? o->beta * (float)(step + 1) / (float)warm : o->beta;
}

/* The metadata `normalize`: --normalize, or what the training images show of their preparation
 * (mnist for digits fitted to 20x20 and centred by mass, fill for Fashion-MNIST's, none otherwise). */
static const char *normalize_of(const vae_train_options *o, const vae_dataset *train) {
    if (o->normalize) return o->normalize;
    return vae_normalize_name(vae_prepare_recognise(train->pixels, train->count));
}

/* Learning rate at a step: optional linear warm-up, then constant or cosine decay to lr_min. */
static float lr_at(const vae_train_options *o, long step, long steps_per_epoch) {
    long warm = (long)o->warmup_epochs * steps_per_epoch;
    long total = (long)o->epochs * steps_per_epoch;
    if (step < warm) return o->lr * (float)(step + 1) / (float)warm;
    if (o->schedule == VAE_LR_CONSTANT) return o->lr;
    double t = (double)(step - warm) / (double)(total - warm);
    return (float)(o->lr_min + 0.5 * (o->lr - o->lr_min) * (1.0 + cos(M_PI * t)));
}

static void progress(int epoch, int epochs, int done, int total, double started) {
    double elapsed = vae_now_seconds() - started;
    double rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, filled = total ? (int)((long)width * done / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] %3d%% %7.0f img/s ETA %5.1fs ", epoch, epochs, bar,
            total ? 100 * done / total : 100, rate, eta);
    fflush(stderr);
}

static vae_status set_metadata(vae_model *model, const vae_train_options *o, int n_train,
                               const vae_epoch_stats *last) {
    char buf[256];
    vae_metadata *md = &model->metadata;
    vae_status st = VAE_OK;
#define SET(key, ...)                                              \
    do {                                                           \
        snprintf(buf, sizeof buf, __VA_ARGS__);                    \
        if (st == VAE_OK) st = vae_metadata_set(md, key, buf);     \
    } while (0)
    SET("format", "vae-serve/1");
    SET("activation", "%s", vae_activation_name(o->model.activation));
    SET("latent_dim", "%d", o->model.latent_dim);
    vae_config_hidden_string(&o->model, buf, sizeof buf);
    if (st == VAE_OK) st = vae_metadata_set(md, "hidden", buf);
    SET("input_shape", "%dx%d", VAE_IMAGE_SIDE, VAE_IMAGE_SIDE);
    SET("dataset", "%s", o->dataset_name);
    SET("train_images", "%d", n_train);
    SET("epochs", "%d", o->epochs);
    SET("batch", "%d", o->batch);
    SET("beta", "%g", o->beta);
    SET("seed", "%llu", o->seed);
    if (o->binarize == VAE_BINARIZE_DYNAMIC) SET("binarize", "dynamic");
    if (o->kl_warmup) SET("kl_warmup", "%d", o->kl_warmup);
    if (o->ema > 0) SET("ema", "%g", o->ema);
    SET("train_loss", "%.3f", last->train_loss);
    SET("test_loss", "%.3f", last->test_loss);
    SET("test_bce", "%.3f", last->test_bce);
    SET("test_kl", "%.3f", last->test_kl);
#undef SET
    if (st == VAE_OK) st = vae_metadata_set(md, "command", o->command);
    return st;
}

/* Everything one training run holds: the data, the model and its trainer, the per-batch buffers, the
 * random stream and the schedule's position. Allocated by run_create, freed by run_destroy. */
typedef struct {
    const vae_train_options *o;
    vae_dataset train, test;
    vae_model *model;
    vae_trainer *tr;
    float *x;                 /* (batch, 784): the training batch */
    float *eps;               /* (batch, d): its noise */
    signed char *shifts;      /* (batch, 2): its augmentation offsets, dx then dy per image */
    float *test_x;            /* (batch, 784): a test batch */
    float *ema;               /* (n_params): the moving average of the parameters, with --ema */
    float *live;              /* (n_params): the trained parameters while the average is evaluated */
    uint32_t *order;          /* (train.count): this epoch's order of the training images */
    vae_epoch_stats *history; /* (epochs) */
    vae_rng rng;              /* shuffling, augmentation and noise, in that order per batch */
    vae_adam_config adam;
    long step, steps_per_epoch;
    int show_bar;
} training_run;

/* Loads both splits and allocates the model (initialised from the seed), the trainer and every
 * buffer. On failure prints the reason and returns -1 (what was made is freed by run_destroy). */
static int run_create(training_run *run, const vae_train_options *o) {
    vae_error err = {0};
    memset(run, 0, sizeof *run);
    run->o = o;
    if (vae_dataset_load(o->data_dir, "train", &run->train, &err) != VAE_OK ||
        vae_dataset_load(o->data_dir, "t10k", &run->test, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        return -1;
    }
    if (o->max_train && o->max_train < run->train.count) run->train.count = o->max_train;
    if (o->binarize == VAE_BINARIZE_DYNAMIC) binarize_dataset(&run->test, o->seed + TEST_BINARIZE_SEED);
    const int d = o->model.latent_dim;
    run->model = vae_model_create(&o->model, &err);
    run->tr = run->model ? vae_trainer_create(run->model, o->batch, &err) : NULL;
    run->x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o->batch);
    run->eps = malloc(sizeof(float) * (size_t)d * (size_t)o->batch);
    run->shifts = calloc(2 * (size_t)o->batch, 1);
    run->test_x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o->batch);
    run->order = malloc(sizeof(uint32_t) * (size_t)run->train.count);
    run->history = calloc((size_t)o->epochs, sizeof *run->history);
    if (!run->model || !run->tr || !run->x || !run->eps || !run->shifts || !run->test_x || !run->order ||
        !run->history) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        return -1;
    }
    vae_model_init_params(run->model, o->seed);
    if (o->ema > 0) {
        run->ema = malloc(sizeof(float) * run->model->n_params);
        run->live = malloc(sizeof(float) * run->model->n_params);
        if (!run->ema || !run->live) {
            fprintf(stderr, "vae-train: out of memory\n");
            return -1;
        }
        memcpy(run->ema, run->model->params, sizeof(float) * run->model->n_params);
    }
    vae_rng_seed(&run->rng, o->seed);
    for (int i = 0; i < run->train.count; i++) run->order[i] = (uint32_t)i;
    run->adam = (vae_adam_config){.lr = o->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                  .weight_decay = o->weight_decay};
    run->steps_per_epoch = (run->train.count + o->batch - 1) / o->batch;
    run->show_bar = !o->quiet && isatty(STDERR_FILENO);
    return 0;
}

static void run_destroy(training_run *run) {
    free(run->x);
    free(run->eps);
    free(run->shifts);
    free(run->test_x);
    free(run->ema);
    free(run->live);
    free(run->order);
    free(run->history);
    vae_trainer_destroy(run->tr);
    vae_model_destroy(run->model);
    vae_dataset_free(&run->train);
    vae_dataset_free(&run->test);
}

/* One batch being loaded: image b is order[start + b] shifted by run->shifts[2b], [2b + 1]. */
typedef struct {
    training_run *run;
    int start, B;
} batch_load;

static void load_part(void *ctx, int part, int parts) {
    const batch_load *l = ctx;
    const training_run *run = l->run;
    const int lo = (int)((long)l->B * part / parts), hi = (int)((long)l->B * (part + 1) / parts);
    for (int b = lo; b < hi; b++)
        load_shifted(&run->train, (int)run->order[l->start + b], run->shifts[2 * b], run->shifts[2 * b + 1],
                     run->x + (size_t)b * VAE_INPUT_DIM);
}

/* Fills run->x with the B training images order[start..start+B), each shifted by a random offset
 * of up to --shift pixels (drawn from run->rng, dx then dy) when augmentation is on. The offsets are
 * drawn here, in order; the images are copied on the trainer's threads (on one thread, the copy
 * took a tenth of the step while the others waited). */
static void load_batch(training_run *run, int start, int B) {
    const int shift = run->o->shift;
    if (shift)
        for (int i = 0; i < 2 * B; i++)
            run->shifts[i] = (signed char)((int)vae_rng_below(&run->rng, 2u * shift + 1) - shift);
    batch_load l = {run, start, B};
    vae_trainer_parallel(run->tr, load_part, &l);
}

/* The moving average after a step: decay o->ema, or (1 + t) / (10 + t) while that is smaller (the
 * first steps' average would otherwise be held to the random initialisation). */
static void update_average(training_run *run) {
    const double t = (double)run->step;
    const float decay = (float)fmin(run->o->ema, (1.0 + t) / (10.0 + t));
    const float *p = run->model->params;
    for (size_t i = 0; i < run->model->n_params; i++) run->ema[i] = decay * run->ema[i] + (1.0f - decay) * p[i];
}

/* With --ema: swaps the trained parameters and their average in the model (call twice to undo). */
static void swap_average(training_run *run) {
    if (!run->ema) return;
    size_t bytes = sizeof(float) * run->model->n_params;
    memcpy(run->live, run->model->params, bytes);
    memcpy(run->model->params, run->ema, bytes);
    memcpy(run->ema, run->live, bytes);
}

/* One pass over the shuffled training set, an Adam step per batch. Returns the loss sums. */
static vae_loss train_epoch(training_run *run, int epoch, double started) {
    const vae_train_options *o = run->o;
    const int n = run->train.count, d = o->model.latent_dim;
    double last_bar = 0;
    vae_rng_shuffle(&run->rng, run->order, (size_t)n);
    vae_loss sum = {0};
    for (int start = 0; start < n; start += o->batch) {
        int B = n - start < o->batch ? n - start : o->batch;
        load_batch(run, start, B);
        if (o->binarize == VAE_BINARIZE_DYNAMIC) binarize_batch(run->x, (size_t)B * VAE_INPUT_DIM, &run->rng);
        vae_rng_normal_fill(&run->rng, run->eps, (size_t)B * d, 1.0f);
        float beta = beta_at(o, run->step, run->steps_per_epoch);
        vae_loss l = vae_trainer_forward_backward(run->tr, run->x, run->eps, B, beta);
        run->adam.lr = lr_at(o, run->step++, run->steps_per_epoch);
        vae_trainer_adam_step(run->tr, &run->adam);
        if (run->ema) update_average(run);
        sum.bce += l.bce;
        sum.kl += l.kl;
        sum.count += B;
        if (run->show_bar && vae_now_seconds() - last_bar > 0.1) {
            progress(epoch, o->epochs, start + B, n, started);
            last_bar = vae_now_seconds();
        }
    }
    if (run->show_bar) fprintf(stderr, "\r%*s\r", 79, "");
    return sum;
}

/* The test set's loss sums, with the same noise every epoch so that epochs compare. */
static vae_loss evaluate(training_run *run) {
    const int n = run->test.count, batch = run->o->batch;
    vae_rng eval_rng;
    vae_rng_seed(&eval_rng, run->o->seed ^ EVAL_SEED);
    vae_loss t = {0};
    for (int start = 0; start < n; start += batch) {
        int B = n - start < batch ? n - start : batch;
        for (int b = 0; b < B; b++)
            vae_dataset_image(&run->test, start + b, run->test_x + (size_t)b * VAE_INPUT_DIM);
        vae_loss l = vae_trainer_evaluate(run->tr, run->test_x, B, &eval_rng);
        t.bce += l.bce;
        t.kl += l.kl;
        t.count += l.count;
    }
    return t;
}

/* Records epoch's numbers in run->history and prints its line. */
static const vae_epoch_stats *record_epoch(training_run *run, int epoch, vae_loss train, vae_loss test,
                                           double train_seconds, double test_seconds) {
    const vae_train_options *o = run->o;
    vae_epoch_stats *s = &run->history[epoch - 1];
    s->epoch = epoch;
    s->train_bce = train.bce / train.count;
    s->train_kl = train.kl / train.count;
    s->train_loss = s->train_bce + o->beta * s->train_kl;
    s->test_bce = test.bce / test.count;
    s->test_kl = test.kl / test.count;
    s->test_loss = s->test_bce + o->beta * s->test_kl;
    s->seconds = train_seconds;
    s->lr = run->adam.lr;
    printf("epoch %3d/%d  train %8.3f  test %8.3f  (test bce %7.3f + kl %6.3f)  lr %.2e  "
           "%6.2f s  + %.2f s test\n",
           epoch, o->epochs, s->train_loss, s->test_loss, s->test_bce, s->test_kl, s->lr,
           train_seconds, test_seconds);
    fflush(stdout);
    return s;
}

/* Every epoch; -1 (after saying so) when the loss diverges. */
static int train_all(training_run *run) {
    const vae_train_options *o = run->o;
    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        double started = vae_now_seconds();
        vae_loss train = train_epoch(run, epoch, started);
        double train_seconds = vae_now_seconds() - started;
        swap_average(run); /* the average is what is evaluated and, after the last epoch, kept */
        vae_loss test = evaluate(run);
        if (epoch < o->epochs) swap_average(run);
        double test_seconds = vae_now_seconds() - started - train_seconds;
        const vae_epoch_stats *s = record_epoch(run, epoch, train, test, train_seconds, test_seconds);
        if (!isfinite(s->train_loss)) {
            fprintf(stderr, "vae-train: the loss diverged (NaN/Inf) at epoch %d: lower --lr\n", epoch);
            return -1;
        }
    }
    return 0;
}

/* Writes evaluation.txt into the report directory: the figures of the summary line. */
static vae_status write_evaluation(const char *dir, const vae_model *m, const vae_annotate_result *r, vae_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/evaluation.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return vae_error_set(err, VAE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    fprintf(f, "test_loss: %.3f (BCE + KL, one z per image, %s)\n", m->diag.test_loss, "canonical");
    if (m->diag.test_nll_k)
        fprintf(f, "test_nll: %.3f (importance-weighted, K = %d; its K-sample mean loss %.3f)\n", m->diag.test_nll,
                m->diag.test_nll_k, r->iwae_loss);
    fprintf(f, "active_units: %d of %d (posterior-mean variance over the test set > %g)\n", m->diag.active_units,
            m->config.latent_dim, (double)VAE_ACTIVE_UNIT_THRESHOLD);
    fprintf(f, "kl_per_dim:");
    for (int j = 0; j < m->config.latent_dim; j++) fprintf(f, " %.3f", m->diag.kl[j]);
    fprintf(f, "\nscore tables: %d images, k = %d, seed %llu\n", r->calibration_images, m->scores.k, m->scores.seed);
    if (fclose(f) != 0) return vae_error_set(err, VAE_ERR_IO, "cannot write %s", path);
    return VAE_OK;
}

/* The canonical test loss of model (one z per image, the training run's evaluation noise) into its
 * diagnostics and metadata. Returns 0, or -1 after printing the reason. */
static int measure_test_loss(vae_model *model, const vae_dataset *test, const vae_train_options *o) {
    vae_error err = {0};
    vae_trainer *tr = vae_trainer_create(model, o->batch, &err);
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)test->count);
    if (!tr || !x) {
        fprintf(stderr, "vae-train: %s\n", tr ? "out of memory" : err.message);
        vae_trainer_destroy(tr);
        free(x);
        return -1;
    }
    for (int i = 0; i < test->count; i++) vae_dataset_image(test, i, x + (size_t)i * VAE_INPUT_DIM);
    vae_rng rng;
    vae_rng_seed(&rng, o->seed ^ EVAL_SEED);
    vae_loss l = vae_trainer_evaluate(tr, x, test->count, &rng);
    vae_trainer_destroy(tr);
    free(x);
    model->diag.test_loss = (l.bce + l.kl) / l.count;
    const double figures[3] = {model->diag.test_loss, l.bce / l.count, l.kl / l.count};
    static const char *keys[3] = {"test_loss", "test_bce", "test_kl"};
    for (int i = 0; i < 3; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.3f", figures[i]);
        if (vae_metadata_set(&model->metadata, keys[i], buf) != VAE_OK) {
            fprintf(stderr, "vae-train: out of memory\n");
            return -1;
        }
    }
    return 0;
}

/* --dtype: rounds the weights to what the file will hold, so that every figure measured after this
 * is the stored model's; the test loss is measured again, and the metadata says so. Returns 0, or -1
 * after printing the reason. */
static int round_weights(vae_model *model, vae_dtype dtype) {
    vae_error err = {0};
    if (vae_model_round_params(model, dtype, &err) != VAE_OK ||
        (model->inference && vae_model_prepare_inference(model, &err) != VAE_OK) ||
        vae_metadata_set(&model->metadata, "rounded_to", vae_dtype_name(dtype)) != VAE_OK) {
        fprintf(stderr, "vae-train: --dtype: %s\n", err.message[0] ? err.message : "out of memory");
        return -1;
    }
    model->diag.test_loss = NAN;
    return 0;
}

/* The statistics of a model (trained or loaded), the figures printed, and the measurements asked for;
 * then the file. Returns 0, or -1 after printing the reason. */
static int annotate_and_save(vae_model *model, const vae_train_options *o, const vae_dataset *train,
                             const vae_dataset *test, const char *out_path) {
    vae_error err = {0};
    vae_annotate_options ao = {.score_k = o->score_k,
                               .seed = o->seed,
                               .iwae_k = o->eval_iwae,
                               .normalize = normalize_of(o, train),
                               .threads = o->threads};
    vae_annotate_result r;
    if (vae_annotate(model, train, test, &ao, &r, &err) != VAE_OK ||
        vae_weights_save(model, out_path, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        return -1;
    }
    if (o->eval_iwae)
        printf("vae-train: test NLL %.3f nats per image (importance-weighted, K = %d; the same samples' mean loss "
               "%.3f; one-sample test loss %.3f; %.0f s)\n",
               r.iwae_nll, o->eval_iwae, r.iwae_loss, model->diag.test_loss, r.iwae_seconds);
    if (o->report_dir && write_evaluation(o->report_dir, model, &r, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: report: %s\n", err.message);
        return -1;
    }
    if (o->ood_dir) {
        vae_dataset other = {0};
        char name[128];
        const char *slash = strrchr(o->ood_dir, '/');
        snprintf(name, sizeof name, "%s", slash && slash[1] ? slash + 1 : o->ood_dir);
        vae_status st = vae_dataset_load(o->ood_dir, "t10k", &other, &err);
        if (st == VAE_OK)
            st = vae_measure_ood(model, test, &other, name, o->score_k, o->seed, o->threads, o->report_dir, &err);
        vae_dataset_free(&other);
        if (st != VAE_OK) {
            fprintf(stderr, "vae-train: --ood-data: %s\n", err.message);
            return -1;
        }
    }
    if (o->complete_steps &&
        vae_measure_completion(model, train, test, o->complete_steps, o->seed, o->report_dir, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: --measure-completion: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* After training: metadata, statistics, the weights file, the summary line and the report.
 * Returns 0, or -1 after printing the reason. */
static int finish(training_run *run) {
    const vae_train_options *o = run->o;
    const vae_epoch_stats *last = &run->history[o->epochs - 1];
    vae_error err = {0};
    if (set_metadata(run->model, o, run->train.count, last) != VAE_OK) {
        fprintf(stderr, "vae-train: out of memory\n");
        return -1;
    }
    run->model->diag.test_loss = last->test_loss;
    if (o->dtype != VAE_DTYPE_F32 &&
        (round_weights(run->model, o->dtype) != 0 || measure_test_loss(run->model, &run->test, o) != 0))
        return -1;
    double mean_seconds = 0;
    for (int e = 0; e < o->epochs; e++) mean_seconds += run->history[e].seconds / o->epochs;
    if (annotate_and_save(run->model, o, &run->train, &run->test, o->out_path) != 0) return -1;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("vae-train: wrote %s (test loss %.3f nats per image%s; %.2f s per epoch; peak memory %.1f MB)\n",
           o->out_path, run->model->diag.test_loss, o->dtype != VAE_DTYPE_F32 ? ", rounded weights" : "",
           mean_seconds, usage.ru_maxrss / 1024.0);
    if (o->report_dir) {
        if (vae_report_write(o->report_dir, run->model, &run->test, run->history, o->epochs, o->seed,
                             &err) != VAE_OK) {
            fprintf(stderr, "vae-train: report: %s\n", err.message);
            return -1;
        }
        printf("vae-train: report in %s\n", o->report_dir);
    }
    return 0;
}

/* --annotate FILE: the statistics of an existing model (one exported from PyTorch included) on --data,
 * written into FILE (or --out) atomically. The canonical test loss is measured when the file lacks it.
 * Returns the exit status. */
static int annotate_file(vae_train_options *o) {
    vae_error err = {0};
    vae_model *model = NULL;
    vae_dataset train = {0}, test = {0};
    int status = 1;
    if (vae_weights_load(o->annotate, &model, &err) != VAE_OK ||
        vae_dataset_load(o->data_dir, "train", &train, &err) != VAE_OK ||
        vae_dataset_load(o->data_dir, "t10k", &test, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        goto done;
    }
    /* the seed the file was trained with: its tables, its binarized test set, its evaluation noise */
    const char *seed = vae_metadata_get(&model->metadata, "seed");
    if (seed && strspn(seed, "0123456789") == strlen(seed) && *seed) o->seed = strtoull(seed, NULL, 10);
    const char *bin = vae_metadata_get(&model->metadata, "binarize");
    if (bin && !strcmp(bin, "dynamic")) binarize_dataset(&test, o->seed + TEST_BINARIZE_SEED);
    if (!vae_metadata_get(&model->metadata, "dataset") &&
        vae_metadata_set(&model->metadata, "dataset", o->dataset_name) != VAE_OK)
        goto done;
    if (o->dtype_given && o->dtype == VAE_DTYPE_F32) {
        model->param_dtype = VAE_DTYPE_F32; /* widening changes no value: nothing to measure again */
    } else if (o->dtype_given && o->dtype != model->param_dtype) {
        if (!isnan(model->diag.test_nll) && !o->eval_iwae) {
            fprintf(stderr, "vae-train: --dtype %s changes the weights, so the file's test NLL would no "
                            "longer be theirs: add --eval-iwae %d to measure it again\n",
                    vae_dtype_name(o->dtype), model->diag.test_nll_k);
            goto done;
        }
        if (round_weights(model, o->dtype) != 0) goto done;
    }
    if (isnan(model->diag.test_loss) && measure_test_loss(model, &test, o) != 0) goto done;
    const char *out = o->out_given ? o->out_path : o->annotate;
    if (annotate_and_save(model, o, &train, &test, out) != 0) goto done;
    if (o->report_dir && vae_report_write_latent(o->report_dir, model, &test, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: report: %s\n", err.message);
        goto done;
    }
    printf("vae-train: wrote %s (statistics of %s on %s; test loss %.3f)\n", out, o->annotate, o->data_dir,
           model->diag.test_loss);
    status = 0;
done:
    vae_model_destroy(model);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    return status;
}

int main(int argc, char **argv) {
    vae_train_options o;
    vae_error err = {0};
    int help = 0;
    if (vae_train_options_parse(&o, argc, argv, &help, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        return 2;
    }
    if (help) {
        vae_train_options_usage(stdout);
        return 0;
    }
    const char *target = o.annotate && !o.out_given ? o.annotate : o.out_path;
    if (check_writable(target, &err) != VAE_OK ||
        (o.report_dir && (vae_make_dirs(o.report_dir, &err) != VAE_OK ||
                          check_writable(o.report_dir, &err) != VAE_OK))) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        return 1;
    }
    openblas_set_num_threads(o.threads);
    if (o.annotate) return annotate_file(&o);

    training_run run;
    int status = 1;
    if (run_create(&run, &o) == 0) {
        char arch[96];
        vae_config_architecture_string(&o.model, arch, sizeof arch);
        printf("vae-train: %s, %s %s, %zu parameters, %d training and %d test images, batch %d, "
               "%d threads\n",
               o.dataset_name, arch, vae_activation_name(o.model.activation), run.model->n_params,
               run.train.count, run.test.count, o.batch, o.threads);
        fflush(stdout);
        status = train_all(&run) == 0 && finish(&run) == 0 ? 0 : 1;
    }
    run_destroy(&run);
    return status;
}
