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
    SET("input_shape", "28x28");
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
    return st;
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
    if (check_writable(o.out_path, &err) != VAE_OK ||
        (o.report_dir && (vae_make_dirs(o.report_dir, &err) != VAE_OK ||
                          check_writable(o.report_dir, &err) != VAE_OK))) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        return 1;
    }
    openblas_set_num_threads(o.threads);

    vae_dataset train = {0}, test = {0};
    if (vae_dataset_load(o.data_dir, "train", &train, &err) != VAE_OK ||
        vae_dataset_load(o.data_dir, "t10k", &test, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message);
        vae_dataset_free(&train);
        return 1;
    }
    if (o.max_train && o.max_train < train.count) train.count = o.max_train;

    int status = 1;
    vae_model *model = vae_model_create(&o.model, &err);
    vae_trainer *tr = model ? vae_trainer_create(model, o.batch, &err) : NULL;
    const int d = o.model.latent_dim;
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o.batch);
    float *eps = malloc(sizeof(float) * (size_t)d * (size_t)o.batch);
    float *test_x = malloc(sizeof(float) * VAE_INPUT_DIM * (size_t)o.batch);
    uint32_t *order = malloc(sizeof(uint32_t) * (size_t)train.count);
    vae_epoch_stats *history = calloc((size_t)o.epochs, sizeof *history);
    if (!model || !tr || !x || !eps || !test_x || !order || !history) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        goto done;
    }
    vae_model_init_params(model, o.seed);
    vae_rng rng;
    vae_rng_seed(&rng, o.seed);
    for (int i = 0; i < train.count; i++) order[i] = (uint32_t)i;

    char arch[96];
    vae_config_architecture_string(&o.model, arch, sizeof arch);
    printf("vae-train: %s, %s %s, %zu parameters, %d training and %d test images, batch %d, "
           "%d threads\n",
           o.dataset_name, arch, vae_activation_name(o.model.activation), model->n_params,
           train.count, test.count, o.batch, o.threads);
    fflush(stdout);

    const int show_bar = !o.quiet && isatty(STDERR_FILENO);
    const long steps_per_epoch = (train.count + o.batch - 1) / o.batch;
    long step = 0;
    vae_adam_config adam = {.lr = o.lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                            .weight_decay = o.weight_decay};
    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        double started = vae_now_seconds(), last_bar = 0;
        vae_rng_shuffle(&rng, order, (size_t)train.count);
        vae_loss sum = {0};
        for (int start = 0; start < train.count; start += o.batch) {
            int B = train.count - start < o.batch ? train.count - start : o.batch;
            for (int b = 0; b < B; b++) {
                int dx = 0, dy = 0;
                if (o.shift) {
                    dx = (int)vae_rng_below(&rng, 2u * o.shift + 1) - o.shift;
                    dy = (int)vae_rng_below(&rng, 2u * o.shift + 1) - o.shift;
                }
                load_shifted(&train, (int)order[start + b], dx, dy, x + (size_t)b * VAE_INPUT_DIM);
            }
            vae_rng_normal_fill(&rng, eps, (size_t)B * d, 1.0f);
            vae_loss l = vae_trainer_forward_backward(tr, x, eps, B, o.beta);
            adam.lr = lr_at(&o, step++, steps_per_epoch);
            vae_trainer_adam_step(tr, &adam);
            sum.bce += l.bce;
            sum.kl += l.kl;
            sum.count += B;
            if (show_bar && vae_now_seconds() - last_bar > 0.1) {
                progress(epoch, o.epochs, start + B, train.count, started);
                last_bar = vae_now_seconds();
            }
        }
        double train_seconds = vae_now_seconds() - started;
        if (show_bar) fprintf(stderr, "\r%*s\r", 79, "");

        /* the same noise every epoch, so test losses are comparable across epochs */
        vae_rng eval_rng;
        vae_rng_seed(&eval_rng, o.seed ^ 0x7e57u);
        vae_loss t = {0};
        for (int start = 0; start < test.count; start += o.batch) {
            int B = test.count - start < o.batch ? test.count - start : o.batch;
            for (int b = 0; b < B; b++)
                vae_dataset_image(&test, start + b, test_x + (size_t)b * VAE_INPUT_DIM);
            vae_loss l = vae_trainer_evaluate(tr, test_x, B, &eval_rng);
            t.bce += l.bce;
            t.kl += l.kl;
            t.count += l.count;
        }
        vae_epoch_stats *s = &history[epoch - 1];
        s->epoch = epoch;
        s->train_bce = sum.bce / sum.count;
        s->train_kl = sum.kl / sum.count;
        s->train_loss = s->train_bce + o.beta * s->train_kl;
        s->test_bce = t.bce / t.count;
        s->test_kl = t.kl / t.count;
        s->test_loss = s->test_bce + o.beta * s->test_kl;
        s->seconds = train_seconds;
        s->lr = adam.lr;
        printf("epoch %3d/%d  train %8.3f  test %8.3f  (test bce %7.3f + kl %6.3f)  lr %.2e  "
               "%6.2f s  + %.2f s test\n",
               epoch, o.epochs, s->train_loss, s->test_loss, s->test_bce, s->test_kl, s->lr,
               train_seconds, vae_now_seconds() - started - train_seconds);
        fflush(stdout);
        if (!isfinite(s->train_loss)) {
            fprintf(stderr, "vae-train: the loss diverged (NaN/Inf) at epoch %d: lower --lr\n", epoch);
            goto done;
        }
    }

    if (vae_latent_compute_centroids(model, &train, &err) != VAE_OK ||
        set_metadata(model, &o, train.count, &history[o.epochs - 1]) != VAE_OK ||
        vae_model_save(model, o.out_path, &err) != VAE_OK) {
        fprintf(stderr, "vae-train: %s\n", err.message[0] ? err.message : "out of memory");
        goto done;
    }
    double mean_seconds = 0;
    for (int e = 0; e < o.epochs; e++) mean_seconds += history[e].seconds / o.epochs;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("vae-train: wrote %s (test loss %.3f nats per image; %.2f s per epoch; peak memory %.1f MB)\n",
           o.out_path, history[o.epochs - 1].test_loss, mean_seconds, usage.ru_maxrss / 1024.0);
    if (o.report_dir) {
        if (vae_report_write(o.report_dir, model, &test, history, o.epochs, o.seed, &err) != VAE_OK) {
            fprintf(stderr, "vae-train: report: %s\n", err.message);
            goto done;
        }
        printf("vae-train: report in %s\n", o.report_dir);
    }
    status = 0;
done:
    free(x);
    free(eps);
    free(test_x);
    free(order);
    free(history);
    vae_trainer_destroy(tr);
    vae_model_free(model);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    return status;
}
