/* Tests for the latent-space operations: class means and centroids, linear and spherical
 * interpolation (exact ends, fallbacks, norms). */
#include "vae/latent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"

#define D 7

static double norm_of(const float *v, int d) {
    double s = 0.0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static void random_vector(vae_rng *rng, float *v, int d, float scale) {
    vae_rng_normal_fill(rng, v, (size_t)d, scale);
}

static void test_lerp(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 11);
    float a[D], b[D], out[D];
    for (int trial = 0; trial < 50; trial++) {
        random_vector(&rng, a, D, 3.0f);
        random_vector(&rng, b, D, 0.01f + (float)trial);
        vae_latent_lerp(out, a, b, D, 0.0f);
        CHECK(memcmp(out, a, sizeof a) == 0, "lerp at t = 0 is a exactly (trial %d)", trial);
        vae_latent_lerp(out, a, b, D, 1.0f);
        CHECK(memcmp(out, b, sizeof b) == 0, "lerp at t = 1 is b exactly (trial %d)", trial);
    }
    const float p[2] = {1.0f, -2.0f}, q[2] = {3.0f, 6.0f};
    float mid[2];
    vae_latent_lerp(mid, p, q, 2, 0.25f);
    CHECK(mid[0] == 1.5f && mid[1] == 0.0f, "lerp at t = 0.25: (%g, %g)", mid[0], mid[1]);
}

static void test_slerp_ends_and_norms(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 12);
    float a[D], b[D], out[D];
    for (int trial = 0; trial < 50; trial++) {
        random_vector(&rng, a, D, 1.0f + (float)trial);
        random_vector(&rng, b, D, 0.5f);
        vae_latent_slerp(out, a, b, D, 0.0f);
        CHECK(memcmp(out, a, sizeof a) == 0, "slerp at t = 0 is a exactly (trial %d)", trial);
        vae_latent_slerp(out, a, b, D, 1.0f);
        CHECK(memcmp(out, b, sizeof b) == 0, "slerp at t = 1 is b exactly (trial %d)", trial);

        /* b rescaled to a's norm: every point of the arc keeps that norm */
        double na = norm_of(a, D), nb = norm_of(b, D);
        for (int i = 0; i < D; i++) b[i] = (float)(b[i] * (na / nb));
        double worst = 0.0;
        for (int s = 0; s <= 10; s++) {
            vae_latent_slerp(out, a, b, D, (float)s / 10.0f);
            worst = fmax(worst, fabs(norm_of(out, D) - na) / na);
        }
        CHECK(worst < 1e-5, "equal norms are kept along the arc (relative error %g)", worst);
    }
    /* orthogonal ends of norms 1 and 4: cos/sin weights, the norm moves from 1 to 4 */
    const float e1[2] = {1.0f, 0.0f}, e2[2] = {0.0f, 4.0f};
    float half[2];
    vae_latent_slerp(half, e1, e2, 2, 0.5f);
    CHECK_CLOSE(half[0], cos(M_PI / 4), 1e-6, "slerp x at the middle of a right angle");
    CHECK_CLOSE(half[1], 4.0 * sin(M_PI / 4), 1e-6, "slerp y at the middle of a right angle");
    double last = 1.0;
    int rising = 1;
    for (int s = 1; s <= 10; s++) {
        vae_latent_slerp(half, e1, e2, 2, (float)s / 10.0f);
        double n = norm_of(half, 2);
        rising &= n >= last && n <= 4.0 + 1e-6;
        last = n;
    }
    CHECK(rising, "between orthogonal ends the norm grows from the first's to the second's");
}

static void test_slerp_fallbacks(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 13);
    float a[D], b[D], zero[D] = {0}, out[D], lin[D];
    random_vector(&rng, a, D, 2.0f);
    const float ts[4] = {0.0f, 0.3f, 0.5f, 1.0f};
    for (int k = 0; k < 4; k++) {
        const float t = ts[k];
        for (int i = 0; i < D; i++) b[i] = 3.0f * a[i]; /* parallel */
        vae_latent_slerp(out, a, b, D, t);
        vae_latent_lerp(lin, a, b, D, t);
        CHECK(memcmp(out, lin, sizeof out) == 0, "parallel ends: slerp is lerp at t = %g", t);
        for (int i = 0; i < D; i++) b[i] = -0.5f * a[i]; /* antiparallel */
        vae_latent_slerp(out, a, b, D, t);
        vae_latent_lerp(lin, a, b, D, t);
        CHECK(memcmp(out, lin, sizeof out) == 0, "antiparallel ends: slerp is lerp at t = %g", t);
        vae_latent_slerp(out, zero, a, D, t);
        vae_latent_lerp(lin, zero, a, D, t);
        CHECK(memcmp(out, lin, sizeof out) == 0, "zero start: slerp is lerp at t = %g", t);
        vae_latent_slerp(out, a, zero, D, t);
        vae_latent_lerp(lin, a, zero, D, t);
        CHECK(memcmp(out, lin, sizeof out) == 0, "zero end: slerp is lerp at t = %g", t);
        int zeros = 1;
        vae_latent_slerp(out, zero, zero, D, t);
        for (int i = 0; i < D; i++) zeros &= out[i] == 0.0f;
        CHECK(zeros, "both ends zero: zero at t = %g", t);
    }
}

static void test_class_means(void) {
    /* 6 rows of d = 2: class 1 twice, class 4 three times, class 9 once; the others have none */
    const float mu[6 * 2] = {1, 2, 10, 20, 3, 4, 30, 40, 5, 6, -1, 0.5f};
    const uint8_t labels[6] = {1, 4, 1, 4, 9, 4};
    float means[VAE_NUM_CLASSES * 2];
    for (int i = 0; i < VAE_NUM_CLASSES * 2; i++) means[i] = 99.0f;
    vae_error err = {0};
    CHECK(vae_latent_class_means(means, mu, labels, 6, 2, &err) == VAE_OK, "class means: %s",
          err.message);
    CHECK(means[2] == 2.0f && means[3] == 3.0f, "class 1: (%g, %g)", means[2], means[3]);
    CHECK(means[8] == 13.0f && means[9] == 20.166666f, "class 4: (%g, %g)", means[8], means[9]);
    CHECK(means[18] == 5.0f && means[19] == 6.0f, "class 9: (%g, %g)", means[18], means[19]);
    int zeros = 1;
    for (int k = 0; k < VAE_NUM_CLASSES; k++)
        if (k != 1 && k != 4 && k != 9) zeros &= means[2 * k] == 0.0f && means[2 * k + 1] == 0.0f;
    CHECK(zeros, "a class without rows gets the prior mean 0");
}

/* Centroids computed from a dataset equal the class means of the dataset's encodings. */
static void test_compute_centroids(void) {
    enum { N = 300 }; /* more than one encoding batch */
    vae_error err = {0};
    vae_config cfg = {.n_hidden = 1, .hidden = {16}, .latent_dim = 3, .activation = VAE_ACT_TANH};
    vae_model *model = vae_model_create(&cfg, &err);
    CHECK(model != NULL, "model: %s", err.message);
    if (!model) return;
    vae_model_init_params(model, 21);
    vae_dataset ds = {.count = N, .rows = VAE_IMAGE_SIDE, .cols = VAE_IMAGE_SIDE};
    ds.pixels = malloc((size_t)N * VAE_INPUT_DIM);
    ds.labels = malloc(N);
    float *x = malloc(sizeof(float) * (size_t)N * VAE_INPUT_DIM);
    float *mu = malloc(sizeof(float) * (size_t)N * 3), *logvar = malloc(sizeof(float) * (size_t)N * 3);
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&cfg), N);
    if (!ds.pixels || !ds.labels || !x || !mu || !logvar || !ws) abort();
    vae_rng rng;
    vae_rng_seed(&rng, 22);
    for (size_t i = 0; i < (size_t)N * VAE_INPUT_DIM; i++)
        ds.pixels[i] = (uint8_t)vae_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) /* labels 0..8: no image of class 9 */
        ds.labels[i] = (uint8_t)(i % 7 == 3 ? 2 : vae_rng_below(&rng, 9));
    model->centroids = calloc(VAE_NUM_CLASSES * 3, sizeof(float)); /* replaced, not leaked */
    CHECK(vae_latent_compute_centroids(model, &ds, &err) == VAE_OK, "centroids: %s", err.message);
    for (int i = 0; i < N; i++) vae_dataset_image(&ds, i, x + (size_t)i * VAE_INPUT_DIM);
    vae_encode(model, ws, x, N, mu, logvar);
    float want[VAE_NUM_CLASSES * 3];
    CHECK(vae_latent_class_means(want, mu, ds.labels, N, 3, &err) == VAE_OK, "means: %s", err.message);
    double diff = 0.0;
    for (int i = 0; i < VAE_NUM_CLASSES * 3; i++) diff = fmax(diff, fabs(want[i] - model->centroids[i]));
    CHECK(diff < 1e-5, "centroids are the class means of the encodings (max difference %g)", diff);
    CHECK(model->centroids[27] == 0.0f && model->centroids[28] == 0.0f && model->centroids[29] == 0.0f,
          "class 9 has no image: prior mean 0");
    vae_workspace_destroy(ws);
    free(x);
    free(mu);
    free(logvar);
    vae_dataset_free(&ds);
    vae_model_destroy(model);
}

int main(void) {
    test_lerp();
    test_slerp_ends_and_norms();
    test_slerp_fallbacks();
    test_class_means();
    test_compute_centroids();
    CHECK_DONE();
}
