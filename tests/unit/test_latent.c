/* Tests for the latent-space operations: class means, centroids and spreads, linear and spherical
 * interpolation (exact ends, fallbacks, norms), the inverse normal CDF against known values, the
 * manifold grid, traversals, the principal plane, diagnostics and class-conditional samples. */
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
    /* class_std: the population standard deviation of each class's codes, computed directly */
    double worst = 0.0;
    for (int k = 0; k < VAE_NUM_CLASSES; k++)
        for (int j = 0; j < 3; j++) {
            double sum = 0, sq = 0;
            int count = 0;
            for (int i = 0; i < N; i++)
                if (ds.labels[i] == k) sum += mu[i * 3 + j], count++;
            double mean = count ? sum / count : 0;
            for (int i = 0; i < N; i++)
                if (ds.labels[i] == k) sq += (mu[i * 3 + j] - mean) * (mu[i * 3 + j] - mean);
            double want_std = count ? sqrt(sq / count) : 0;
            worst = fmax(worst, fabs(want_std - model->class_std[k * 3 + j]));
        }
    CHECK(model->class_std && worst < 1e-5, "class_std against a direct computation: %g", worst);
    vae_workspace_destroy(ws);
    free(x);
    free(mu);
    free(logvar);
    vae_dataset_free(&ds);
    vae_model_destroy(model);
}

static void test_normal_quantile(void) {
    /* reference values: Wichura's AS241 (Python's statistics.NormalDist.inv_cdf) */
    static const double cases[][2] = {
        {1e-300, -37.0470962993612},      {1e-100, -21.27345356096532}, {1e-20, -9.262340089798405},
        {1e-10, -6.361340902404056},      {1e-06, -4.753424308822899},  {0.001, -3.090232306167813},
        {0.00125, -3.023341439739147},    {0.01, -2.3263478740408408},  {0.025, -1.9599639845400538},
        {0.05, -1.6448536269514726},      {0.1, -1.2815515655446008},   {0.25, -0.6744897501960817},
        {0.4, -0.2533471031357998},       {0.6, 0.2533471031357998},    {0.75, 0.6744897501960817},
        {0.9, 1.2815515655446008},        {0.975, 1.9599639845400536},  {0.99, 2.3263478740408408},
        {0.999, 3.090232306167813},       {0.999999, 4.753424308817089}, {0.999999999999, 7.0344869100478356},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = vae_normal_quantile(cases[i][0]), want = cases[i][1];
        CHECK(fabs(got - want) <= 1e-13 * fabs(want) + 1e-15, "quantile(%g) = %.17g, expected %.17g",
              cases[i][0], got, want);
    }
    CHECK(vae_normal_quantile(0.5) == 0.0, "quantile(0.5) = %g", vae_normal_quantile(0.5));
    CHECK(vae_normal_quantile(0.0) == -INFINITY && vae_normal_quantile(1.0) == INFINITY, "ends");
    CHECK(isnan(vae_normal_quantile(-0.1)) && isnan(vae_normal_quantile(1.5)) && isnan(vae_normal_quantile(NAN)),
          "outside [0, 1]");
    /* the CDF undoes it, it is odd about 1/2, and it increases */
    double worst = 0, prev = -INFINITY;
    int increasing = 1, odd = 1;
    for (int i = 1; i < 4096; i++) {
        double p = i / 4096.0, q = vae_normal_quantile(p); /* dyadic: 1 - p is exact */
        worst = fmax(worst, fabs(0.5 * erfc(-q / M_SQRT2) - p) / fmin(p, 1 - p));
        increasing &= q > prev;
        odd &= q == -vae_normal_quantile(1.0 - p);
        prev = q;
    }
    CHECK(worst < 1e-13, "Phi(quantile(p)) vs p: relative %g", worst);
    CHECK(increasing && odd, "increasing %d, odd %d", increasing, odd);
}

static void test_manifold(void) {
    enum { n = 20 };
    float z[n * n * 2];
    const float e1[2] = {1, 0}, e2[2] = {0, 1};
    vae_latent_manifold(z, NULL, e1, 1.0f, e2, 1.0f, 2, n);
    int exact = 1;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            /* Kingma and Welling's figure: the unit square's cell centres through the inverse CDF */
            float want_x = (float)vae_normal_quantile((c + 0.5) / n);
            float want_y = (float)vae_normal_quantile((n - 1 - r + 0.5) / n);
            exact &= z[(r * n + c) * 2] == want_x && z[(r * n + c) * 2 + 1] == want_y;
        }
    CHECK(exact, "d = 2 grid cells are the inverse normal CDF of the unit square's cell centres");
    CHECK(z[0] < 0 && z[1] > 0 && z[(n * n - 1) * 2] > 0 && z[(n * n - 1) * 2 + 1] < 0,
          "top left is (-, +), bottom right (+, -)");
    CHECK_CLOSE(z[0], -1.959963984540054, 1e-6, "first column of 20 at p = 0.025");
    /* a plane in d = 5 around a base point */
    float base[5] = {1, 2, 3, 4, 5}, a[5] = {0, 0.6f, 0.8f, 0, 0}, b[5] = {0, 0, 0, 0, 1}, g[3 * 3 * 5];
    vae_latent_manifold(g, base, a, 2.0f, b, 0.5f, 5, 3);
    CHECK(g[4 * 5 + 0] == 1 && g[4 * 5 + 1] == 2 && g[4 * 5 + 4] == 5, "the middle of an odd grid is the base");
    double qa = vae_normal_quantile(2.5 / 3);
    CHECK_CLOSE(g[5 * 5 + 1], 2 + qa * 2.0 * 0.6, 1e-6, "middle row, right cell: along a");
    CHECK_CLOSE(g[1 * 5 + 4], 5 + qa * 0.5, 1e-6, "top row, middle cell: up along b");
    CHECK(g[5 * 5 + 0] == 1 && g[5 * 5 + 3] == 4, "coordinates off the plane stay");
}

static void test_traverse(void) {
    float base[4] = {0.5f, -1, 2, 3}, z[7 * 4];
    vae_latent_traverse(z, base, 4, 2, -3.0f, 3.0f, 7);
    int others = 1;
    for (int s = 0; s < 7; s++) {
        others &= z[s * 4] == 0.5f && z[s * 4 + 1] == -1 && z[s * 4 + 3] == 3;
        CHECK_CLOSE(z[s * 4 + 2], -3.0 + s, 1e-6, "traversed coordinate");
    }
    CHECK(others, "a traversal row varies only its own coordinate");
    CHECK(z[2] == -3.0f && z[6 * 4 + 2] == 3.0f, "ends exact");
    vae_latent_traverse(z, base, 4, 0, 7.0f, 9.0f, 1);
    CHECK(z[0] == 7.0f && z[1] == -1, "one step is lo");
}

static void test_principal_plane(void) {
    enum { N = 2000, d = 4 };
    /* codes spread 3 along u, 1 along v, 0.1 along the rest, around m */
    const double u[d] = {0.5, 0.5, 0.5, 0.5}, v[d] = {0.5, -0.5, 0.5, -0.5}, w[d] = {0.5, 0.5, -0.5, -0.5};
    const double x4[d] = {0.5, -0.5, -0.5, 0.5}, m[d] = {1, -2, 0.5, 0};
    float *mu = malloc(sizeof(float) * N * d);
    vae_rng rng;
    vae_rng_seed(&rng, 8);
    for (int i = 0; i < N; i++) {
        double a = 3 * vae_rng_normal(&rng), b = vae_rng_normal(&rng), c = 0.1 * vae_rng_normal(&rng),
               e = 0.1 * vae_rng_normal(&rng);
        for (int j = 0; j < d; j++) mu[i * d + j] = (float)(m[j] + a * u[j] + b * v[j] + c * w[j] + e * x4[j]);
    }
    float mean[d], dirs[2 * d], std[2];
    vae_error err = {0};
    CHECK(vae_latent_principal_plane(mean, dirs, std, mu, N, d, &err) == VAE_OK, "%s", err.message);
    double du = 0, dv = 0, nn[2] = {0, 0}, dot = 0;
    for (int j = 0; j < d; j++) {
        du += dirs[j] * u[j], dv += dirs[d + j] * v[j];
        nn[0] += dirs[j] * dirs[j], nn[1] += dirs[d + j] * dirs[d + j], dot += dirs[j] * dirs[d + j];
        CHECK_CLOSE(mean[j], m[j], 0.2, "mean");
    }
    CHECK(fabs(du) > 0.999 && fabs(dv) > 0.99, "directions: |u.d1| %g, |v.d2| %g", du, dv);
    CHECK(fabs(nn[0] - 1) < 1e-6 && fabs(nn[1] - 1) < 1e-6 && fabs(dot) < 1e-6, "orthonormal: %g %g %g",
          nn[0], nn[1], dot);
    CHECK_CLOSE(std[0], 3.0, 0.15, "spread along the first");
    CHECK_CLOSE(std[1], 1.0, 0.05, "spread along the second");
    CHECK(vae_latent_principal_plane(mean, dirs, std, mu, N, 1, &err) == VAE_ERR_ARG, "d = 1");
    /* a diagonal covariance: the axes themselves, largest first */
    const float diag[3 * 3] = {0, 5, 0, 0, -5, 0, 0, 0, 1};
    float m3[3], d3[6], s3[2];
    vae_latent_principal_plane(m3, d3, s3, diag, 3, 3, &err);
    CHECK(fabs(d3[1]) > 0.999999 && fabs(d3[5]) > 0.99, "axis-aligned codes: %g %g", d3[1], d3[5]);
    free(mu);
}

static void test_diagnostics(void) {
    const float mu[3 * 2] = {1, 0.01f, 3, 0.02f, 5, 0.0f}, lv[3 * 2] = {0, -1, 0.5f, 0, -0.5f, 1};
    float var[2], kl[2];
    vae_latent_diagnostics(var, kl, mu, lv, 3, 2);
    CHECK_CLOSE(var[0], 8.0 / 3, 1e-6, "variance of 1, 3, 5");
    CHECK(var[1] < VAE_ACTIVE_UNIT_THRESHOLD, "an inactive coordinate: %g", var[1]);
    double want = 0;
    for (int i = 0; i < 3; i++) want += 0.5 * (exp(lv[i * 2]) - lv[i * 2] - 1 + mu[i * 2] * mu[i * 2]) / 3;
    CHECK_CLOSE(kl[0], want, 1e-6, "mean KL of the first coordinate");
}

static void test_sample_class(void) {
    vae_config cfg = {.n_hidden = 1, .hidden = {8}, .latent_dim = 3, .activation = VAE_ACT_RELU};
    vae_model *m = vae_model_create(&cfg, NULL);
    float z[3000 * 3];
    vae_rng rng;
    vae_rng_seed(&rng, 4);
    vae_error err = {0};
    CHECK(vae_latent_sample_class(z, m, 2, 1, 1.0f, &rng, &err) == VAE_ERR_UNSUPPORTED &&
              strstr(err.message, "class_std"),
          "no class statistics: %s", err.message);
    m->centroids = calloc(30, sizeof(float));
    m->class_std = calloc(30, sizeof(float));
    for (int j = 0; j < 3; j++) m->centroids[2 * 3 + j] = (float)(j + 1), m->class_std[2 * 3 + j] = 0.5f * (float)(j + 1);
    CHECK(vae_latent_sample_class(z, m, 10, 1, 1.0f, &rng, &err) == VAE_ERR_ARG, "label 10");
    CHECK(vae_latent_sample_class(z, m, 2, 1, 0.0f, &rng, &err) == VAE_OK && z[0] == 1 && z[1] == 2 && z[2] == 3,
          "temperature 0 gives the centroid");
    CHECK(vae_latent_sample_class(z, m, 2, 3000, 0.8f, &rng, &err) == VAE_OK, "%s", err.message);
    for (int j = 0; j < 3; j++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < 3000; i++) sum += z[i * 3 + j], sq += z[i * 3 + j] * z[i * 3 + j];
        double mean = sum / 3000, sd = sqrt(sq / 3000 - mean * mean);
        CHECK_CLOSE(mean, j + 1, 0.05 * (j + 1), "class sample mean");
        CHECK_CLOSE(sd, 0.8 * 0.5 * (j + 1), 0.05 * (j + 1), "class sample spread: temperature x std");
    }
    /* same eps as the prior's draw from the same seed */
    float prior[6], cls[6];
    vae_rng_seed(&rng, 9);
    vae_rng_normal_fill(&rng, prior, 6, 1.0f);
    vae_rng_seed(&rng, 9);
    vae_latent_sample_class(cls, m, 2, 2, 1.0f, &rng, &err);
    CHECK_CLOSE(cls[4], 2 + 1.0 * prior[4], 1e-6, "eps in vae_rng_normal_fill's order");
    /* most active first */
    int order[3];
    CHECK(vae_latent_dims_by_activity(m, order, &err) == VAE_ERR_UNSUPPORTED, "no diagnostics");
    m->diag.mu_var = malloc(sizeof(float) * 3);
    m->diag.kl = calloc(3, sizeof(float));
    m->diag.mu_var[0] = 0.5f, m->diag.mu_var[1] = 2.0f, m->diag.mu_var[2] = 0.5f;
    CHECK(vae_latent_dims_by_activity(m, order, &err) == VAE_OK && order[0] == 1 && order[1] == 0 && order[2] == 2,
          "order %d %d %d", order[0], order[1], order[2]);
    vae_model_destroy(m);
}

int main(void) {
    test_lerp();
    test_slerp_ends_and_norms();
    test_slerp_fallbacks();
    test_class_means();
    test_compute_centroids();
    test_normal_quantile();
    test_manifold();
    test_traverse();
    test_principal_plane();
    test_diagnostics();
    test_sample_class();
    CHECK_DONE();
}
