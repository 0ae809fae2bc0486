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
    const uint8_t *src = ds->pixels + (size_t)idx * VAE_INPUT_DIM;
    if (!dx && !dy) {
        for (int j = 0; j < VAE_INPUT_DIM; j++) out[j] = src[j] / 255.0f;
        return;
    }
    for (int y = 0; y < VAE_IMAGE_SIDE; y++) {
        int sy = y - dy;
        for (int x = 0; x < VAE_IMAGE_SIDE; x++) {
            int sx = x - dx;
            int inside = sy >= 0 && sy < VAE_IMAGE_SIDE && sx >= 0 && sx < VAE_IMAGE_SIDE;
            out[y * VAE_IMAGE_SIDE + x] = inside ? src[sy * VAE_IMAGE_SIDE + sx] / 255.0f : 0.0f;
        }
    }
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
                               vae_normalize normalize, const vae_epoch_stats *last) {
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
    SET("train_loss", "%.3f", last->train_loss);
    SET("test_loss", "%.3f", last->test_loss);
    SET("test_bce", "%.3f", last->test_bce);
    SET("test_kl", "%.3f", last->test_kl);
#undef SET
    if (st == VAE_OK) st = vae_metadata_set(md, "command", o->command);
    /* last, so that --annotate (which appends it) writes the same header as a training run */
    if (st == VAE_OK) st = vae_metadata_set(md, VAE_METADATA_NORMALIZE, vae_normalize_name(normalize));
    return st;
}

/* The preparation to record: --normalize, or recognised from the training images. */
static vae_normalize normalize_of(const vae_train_options *o, const vae_dataset *train, const char **how) {
    *how = o->normalize >= 0 ? "--normalize" : "recognised from the training images";
    return o->normalize >= 0 ? (vae_normalize)o->normalize : vae_prepare_recognise(train->pixels, train->count);
}

/* --annotate FILE: records the preparation in FILE's metadata and writes it back (atomically, its
 * tensors as they were). Returns 0, or 1 after printing the reason. */
static int annotate(const vae_train_options *o) {
    vae_error err = {0};
    vae_dataset train = {0};
    vae_model *model = NULL;
    const char *how = "--normalize";
    vae_normalize n = o->normalize >= 0 ? (vae_normalize)o->normalize : VAE_NORMALIZE_NONE;
    int ok = (o->normalize >= 0 || vae_dataset_load(o->data_dir, "train", &train, &err) == VAE_OK) &&
             vae_weights_load(o->annotate, &model, &err) == VAE_OK;
    if (ok) {
        n = normalize_of(o, &train, &how);
        ok = vae_metadata_set(&model->metadata, VAE_METADATA_NORMALIZE, vae_normalize_name(n)) == VAE_OK &&
             vae_weights_save(model, o->annotate, &err) == VAE_OK;
    }
    if (ok) printf("vae-train: %s: normalize = %s (%s)\n", o->annotate, vae_normalize_name(n), how);
    else fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
    vae_model_destroy(model);
    vae_dataset_free(&train);
    return ok ? 0 : 1;
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
    float *test_x;            /* (batch, 784): a test batch */
    uint32_t *order;          /* (train.count): this epoch's order of the training images */
    vae_epoch_stats *history; /* (epochs) */
    vae_rng rng;              /* shuffling, augmentation and noise, in that order per batch */
    vae_normalize normalize;  /* the training images' preparation, for the metadata */
    const char *normalize_how;
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
    run->normalize = normalize_of(o, &run->train, &run->normalize_how);
    const int d = o->model.latent_dim;
    run->model = vae_model_create(&o->model, &err);
    run->tr = run->model ? vae_trainer_create(run->model, o->batch, &err) : NULL;
    run->x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o->batch);
    run->eps = malloc(sizeof(float) * (size_t)d * (size_t)o->batch);
    run->test_x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o->batch);
    run->order = malloc(sizeof(uint32_t) * (size_t)run->train.count);
    run->history = calloc((size_t)o->epochs, sizeof *run->history);
    if (!run->model || !run->tr || !run->x || !run->eps || !run->test_x || !run->order ||
        !run->history) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        return -1;
    }
    vae_model_init_params(run->model, o->seed);
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
    free(run->test_x);
    free(run->order);
    free(run->history);
    vae_trainer_destroy(run->tr);
    vae_model_destroy(run->model);
    vae_dataset_free(&run->train);
    vae_dataset_free(&run->test);
}

/* Fills run->x with the B training images order[start..start+B), each shifted by a random offset
 * of up to --shift pixels (drawn from run->rng, dx then dy) when augmentation is on. */
static void load_batch(training_run *run, int start, int B) {
    const int shift = run->o->shift;
    for (int b = 0; b < B; b++) {
        int dx = 0, dy = 0;
        if (shift) {
            dx = (int)vae_rng_below(&run->rng, 2u * shift + 1) - shift;
            dy = (int)vae_rng_below(&run->rng, 2u * shift + 1) - shift;
        }
        float *out = run->x + (size_t)b * VAE_INPUT_DIM;
        load_shifted(&run->train, (int)run->order[start + b], dx, dy, out);
    }
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
        vae_rng_normal_fill(&run->rng, run->eps, (size_t)B * d, 1.0f);
        vae_loss l = vae_trainer_forward_backward(run->tr, run->x, run->eps, B, o->beta);
        run->adam.lr = lr_at(o, run->step++, run->steps_per_epoch);
        vae_trainer_adam_step(run->tr, &run->adam);
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
    vae_rng_seed(&eval_rng, run->o->seed ^ 0x7e57u);
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
        vae_loss test = evaluate(run);
        double test_seconds = vae_now_seconds() - started - train_seconds;
        const vae_epoch_stats *s = record_epoch(run, epoch, train, test, train_seconds, test_seconds);
        if (!isfinite(s->train_loss)) {
            fprintf(stderr, "vae-train: the loss diverged (NaN/Inf) at epoch %d: lower --lr\n", epoch);
            return -1;
        }
    }
    return 0;
}

/* After training: class centroids, metadata, the weights file, the summary line and the report.
 * Returns 0, or -1 after printing the reason. */
static int finish(training_run *run) {
    const vae_train_options *o = run->o;
    const vae_epoch_stats *last = &run->history[o->epochs - 1];
    vae_error err = {0};
    if (vae_latent_compute_centroids(run->model, &run->train, &err) != VAE_OK ||
        set_metadata(run->model, o, run->train.count, run->normalize, last) != VAE_OK ||
        vae_weights_save(run->model, o->out_path, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        return -1;
    }
    double mean_seconds = 0;
    for (int e = 0; e < o->epochs; e++) mean_seconds += run->history[e].seconds / o->epochs;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("vae-train: wrote %s (test loss %.3f nats per image; %.2f s per epoch; peak memory %.1f MB)\n",
           o->out_path, last->test_loss, mean_seconds, usage.ru_maxrss / 1024.0);
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
    if (o.annotate) return annotate(&o);
    if (check_writable(o.out_path, &err) != VAE_OK ||
        (o.report_dir && (vae_make_dirs(o.report_dir, &err) != VAE_OK ||
                          check_writable(o.report_dir, &err) != VAE_OK))) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        return 1;
    }
    openblas_set_num_threads(o.threads);

    training_run run;
    int status = 1;
    if (run_create(&run, &o) == 0) {
        char arch[96];
        vae_config_architecture_string(&o.model, arch, sizeof arch);
        printf("vae-train: %s, %s %s, %zu parameters, %d training and %d test images, batch %d, "
               "%d threads, normalize %s (%s)\n",
               o.dataset_name, arch, vae_activation_name(o.model.activation), run.model->n_params,
               run.train.count, run.test.count, o.batch, o.threads, vae_normalize_name(run.normalize),
               run.normalize_how);
        fflush(stdout);
        status = train_all(&run) == 0 && finish(&run) == 0 ? 0 : 1;
    }
    run_destroy(&run);
    return status;
}
