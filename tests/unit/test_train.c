/* The whole training step: gradient of the full loss by finite differences (every tensor, every
 * activation), Adam against its formula, and bit-identical results from the same seed. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/kernels.h"
#include "check.h"
#include "vae/dataset.h"
#include "vae/train.h"

static vae_rng rng;

static vae_model *make_model(vae_activation act, int n_hidden, const int *hidden, int latent,
                             unsigned long long seed) {
    vae_config cfg = {.n_hidden = n_hidden, .latent_dim = latent, .activation = act};
    memcpy(cfg.hidden, hidden, sizeof(int) * (size_t)n_hidden);
    vae_error err;
    vae_model *m = vae_model_create(&cfg, &err);
    if (!m) {
        fprintf(stderr, "model: %s\n", err.message);
        exit(1);
    }
    vae_model_init_params(m, seed);
    return m;
}

/* Synthetic "images": smooth blobs in [0,1], so the loss behaves like it does on digits. */
static void make_images(float *x, int n) {
    for (int b = 0; b < n; b++) {
        float cx = 8 + 12 * (float)vae_rng_uniform(&rng), cy = 8 + 12 * (float)vae_rng_uniform(&rng);
        for (int y = 0; y < 28; y++)
            for (int xx = 0; xx < 28; xx++) {
                float d2 = (xx - cx) * (xx - cx) + (y - cy) * (y - cy);
                x[b * 784 + y * 28 + xx] = expf(-d2 / 18.0f);
            }
    }
}

static double total_loss(vae_trainer *tr, const float *x, const float *eps, int B, float beta) {
    vae_loss l = vae_trainer_forward(tr, x, eps, B);
    return l.bce + beta * l.kl;
}

/* Distance from the analytic derivative to the nearest finite-difference estimate: central, or
 * one-sided when a ReLU kink lies between the point and one of its neighbours (then only the other
 * side's difference is a derivative of the piece the point is on). */
static double best_difference(double analytic, double l0, double lp, double lm, double h) {
    double central = fabs(analytic - (lp - lm) / (2 * h));
    double forward = fabs(analytic - (lp - l0) / h), backward = fabs(analytic - (l0 - lm) / h);
    double best = central < forward ? central : forward;
    return best < backward ? best : backward;
}

/* Directional derivative along a random direction inside each tensor, and a few single entries. */
static void check_gradients(vae_activation act, int n_hidden, const int *hidden, int latent,
                            float beta) {
    enum { B = 2 };
    vae_model *m = make_model(act, n_hidden, hidden, latent, 7);
    vae_error err;
    vae_trainer *tr = vae_trainer_create(m, B, &err);
    float x[B * 784], eps[B * 8];
    make_images(x, B);
    vae_rng_normal_fill(&rng, eps, (size_t)B * latent, 1.0f);
    vae_loss l = vae_trainer_forward_backward(tr, x, eps, B, beta);
    CHECK_CLOSE(l.bce + beta * l.kl, total_loss(tr, x, eps, B, beta), 1e-3,
                "forward_backward's loss equals forward's");
    const float *g = vae_trainer_grads(tr);
    float *grad = malloc(m->n_params * sizeof(float));
    memcpy(grad, g, m->n_params * sizeof(float));

    vae_tensor_info t[VAE_MAX_TENSORS];
    int n = vae_config_tensors(&m->config, t);
    float *dir = malloc(m->n_params * sizeof(float));
    const float h = 1e-3f;
    for (int k = 0; k < n; k++) {
        size_t count = (size_t)t[k].rows * (t[k].rank == 2 ? (size_t)t[k].cols : 1);
        float *p = m->params + t[k].offset;
        double analytic = 0;
        for (size_t i = 0; i < count; i++) {
            dir[i] = (float)vae_rng_normal(&rng);
            analytic += (double)dir[i] * grad[t[k].offset + i];
        }
        double l0 = total_loss(tr, x, eps, B, beta);
        for (size_t i = 0; i < count; i++) p[i] += h * dir[i];
        double lp = total_loss(tr, x, eps, B, beta);
        for (size_t i = 0; i < count; i++) p[i] -= 2 * h * dir[i];
        double lm = total_loss(tr, x, eps, B, beta);
        for (size_t i = 0; i < count; i++) p[i] += h * dir[i];
        double err_fd = best_difference(analytic, l0, lp, lm, h);
        CHECK(err_fd <= 0.05 + 0.02 * fabs(analytic), "%s %s: directional analytic %g, numeric %g",
              vae_activation_name(act), t[k].name, analytic, (lp - lm) / (2 * h));
    }
    /* single entries of the biggest gradients of each tensor */
    for (int k = 0; k < n; k++) {
        size_t count = (size_t)t[k].rows * (t[k].rank == 2 ? (size_t)t[k].cols : 1), best = 0;
        for (size_t i = 1; i < count; i++)
            if (fabsf(grad[t[k].offset + i]) > fabsf(grad[t[k].offset + best])) best = i;
        float *p = m->params + t[k].offset + best;
        float saved = *p;
        double l0 = total_loss(tr, x, eps, B, beta);
        *p = saved + 1e-2f;
        double lp = total_loss(tr, x, eps, B, beta);
        *p = saved - 1e-2f;
        double lm = total_loss(tr, x, eps, B, beta);
        *p = saved;
        double analytic = grad[t[k].offset + best];
        CHECK(best_difference(analytic, l0, lp, lm, 1e-2) <= 0.02 + 0.03 * fabs(analytic),
              "%s %s[%zu]: analytic %g numeric %g", vae_activation_name(act), t[k].name, best,
              analytic, (lp - lm) / 2e-2);
    }
    free(dir);
    free(grad);
    vae_trainer_destroy(tr);
    vae_model_destroy(m);
}

/* Three Adam steps against the textbook update computed here in double precision. */
static void check_adam(void) {
    const int hidden[1] = {3};
    vae_model *m = make_model(VAE_ACT_RELU, 1, hidden, 2, 3);
    vae_error err;
    vae_trainer *tr = vae_trainer_create(m, 1, &err);
    const size_t n = m->n_params;
    double *p = malloc(n * sizeof(double)), *mom = calloc(n, sizeof(double)), *vel = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) p[i] = m->params[i];
    vae_adam_config cfg = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.1f};
    float x[784], eps[2];
    int bad = 0;
    for (int step = 1; step <= 3; step++) {
        make_images(x, 1);
        vae_rng_normal_fill(&rng, eps, 2, 1.0f);
        vae_trainer_forward_backward(tr, x, eps, 1, 1.0f);
        const float *g = vae_trainer_grads(tr);
        vae_trainer_adam_step(tr, &cfg);
        double b1 = cfg.beta1, b2 = cfg.beta2;
        for (size_t i = 0; i < n; i++) {
            mom[i] = b1 * mom[i] + (1 - b1) * g[i];
            vel[i] = b2 * vel[i] + (1 - b2) * (double)g[i] * g[i];
            double mhat = mom[i] / (1 - pow(b1, step)), vhat = vel[i] / (1 - pow(b2, step));
            p[i] = p[i] * (1 - cfg.lr * cfg.weight_decay) - cfg.lr * mhat / (sqrt(vhat) + cfg.eps);
            if (fabs(m->params[i] - p[i]) > 2e-5 * (1 + fabs(p[i]))) bad++;
        }
    }
    CHECK(bad == 0, "%d parameter updates differ from the Adam(W) formula", bad);
    free(p);
    free(mom);
    free(vel);
    vae_trainer_destroy(tr);
    vae_model_destroy(m);
}

/* A few steps of training from a seed; returns the parameters (caller frees). */
static float *train_a_little(unsigned long long seed, size_t *n_params) {
    const int hidden[2] = {64, 32};
    vae_model *m = make_model(VAE_ACT_RELU, 2, hidden, 4, seed);
    vae_error err;
    vae_trainer *tr = vae_trainer_create(m, 32, &err);
    vae_rng r;
    vae_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * 784 * 32), eps[32 * 4];
    vae_adam_config cfg = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    vae_rng saved = rng;
    rng = r;
    for (int step = 0; step < 5; step++) {
        make_images(x, 32);
        vae_rng_normal_fill(&rng, eps, 32 * 4, 1.0f);
        vae_trainer_forward_backward(tr, x, eps, 32, 1.0f);
        vae_trainer_adam_step(tr, &cfg);
    }
    rng = saved;
    float *out = malloc(m->n_params * sizeof(float));
    memcpy(out, m->params, m->n_params * sizeof(float));
    *n_params = m->n_params;
    free(x);
    vae_trainer_destroy(tr);
    vae_model_destroy(m);
    return out;
}

/* The pixel table is the division it replaced, for every byte, and vae_dataset_image uses it. */
static void check_pixel_values(void) {
    int exact = 1;
    for (int k = 0; k < 256; k++) {
        volatile float v = (float)k; /* divided at run time, not folded */
        exact &= vae_pixel_values[k] == v / 255.0f;
    }
    CHECK(exact, "vae_pixel_values[k] != k / 255.0f for some k");
    uint8_t px[VAE_INPUT_DIM];
    for (int j = 0; j < VAE_INPUT_DIM; j++) px[j] = (uint8_t)(j * 7);
    vae_dataset ds = {.count = 1, .rows = VAE_IMAGE_SIDE, .cols = VAE_IMAGE_SIDE, .pixels = px};
    float out[VAE_INPUT_DIM];
    vae_dataset_image(&ds, 0, out);
    int same = 1;
    for (int j = 0; j < VAE_INPUT_DIM; j++) same &= out[j] == (float)px[j] / 255.0f;
    CHECK(same, "vae_dataset_image is not pixel / 255");
}

int main(void) {
    vae_rng_seed(&rng, 1234);
    check_pixel_values();
    openblas_set_num_threads(1);
    const int one[1] = {6}, two[2] = {6, 5}, three[3] = {7, 6, 5};
    check_gradients(VAE_ACT_RELU, 1, one, 3, 1.0f);
    check_gradients(VAE_ACT_RELU, 2, two, 3, 1.0f);
    check_gradients(VAE_ACT_LEAKY_RELU, 1, one, 3, 1.0f);
    check_gradients(VAE_ACT_TANH, 2, two, 3, 1.0f);
    check_gradients(VAE_ACT_LEAKY_RELU, 2, two, 3, 1.0f);
    check_gradients(VAE_ACT_TANH, 3, three, 2, 4.0f); /* a beta-VAE */
    check_adam();

    for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        size_t n1, n2;
        float *a = train_a_little(99, &n1), *b = train_a_little(99, &n2), *c = train_a_little(100, &n2);
        CHECK(n1 == n2 && memcmp(a, b, n1 * sizeof(float)) == 0,
              "same seed, %d thread(s): parameters differ", threads);
        CHECK(memcmp(a, c, n1 * sizeof(float)) != 0, "different seeds gave identical parameters");
        free(a);
        free(b);
        free(c);
    }
    /* the products, Adam and the BCE's gradient compute each value on one thread in a fixed order:
     * the same parameters on one thread and on two */
    {
        size_t n1, n2;
        openblas_set_num_threads(1);
        float *a = train_a_little(99, &n1);
        openblas_set_num_threads(2);
        float *b = train_a_little(99, &n2);
        CHECK(n1 == n2 && memcmp(a, b, n1 * sizeof(float)) == 0, "one and two threads: parameters differ");
        free(a);
        free(b);
    }
    /* every ISA the CPU runs trains to the same parameters as OpenBLAS (generic), to float rounding */
    {
        size_t n;
        CHECK(vae_kernel_force("generic") == 0, "generic must always run");
        float *ref = train_a_little(5, &n);
        const char *isas[] = {"avx2", "avx512"};
        for (int k = 0; k < 2; k++) {
            if (vae_kernel_force(isas[k]) != 0) continue;
            float *p = train_a_little(5, &n);
            double worst = 0;
            for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(p[i] - ref[i]));
            CHECK(worst < 1e-4, "%s vs OpenBLAS after 5 steps: parameters differ by up to %g", isas[k], worst);
            free(p);
        }
        free(ref);
    }
    CHECK_DONE();
}
