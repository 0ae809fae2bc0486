/* Density scores: the importance-weighted NLL against an independent double-precision computation on
 * fixed seeds (its own forward pass, Gaussian densities written out, a plain log-sum-exp), the staged
 * pipeline against the one-call form, nll <= loss on average and falling as k grows, stability with
 * extreme logits, the per-pixel map, percentiles, the OOD score and the complexity measure. */
#include "vae/score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/kernels.h"
#include "check.h"
#include "vae/png.h"
#include "vae/rng.h"

#define N_IMAGES 6

static vae_model *make_model(vae_activation act, unsigned long long seed) {
    vae_config cfg = {.n_hidden = 2, .hidden = {16, 12}, .latent_dim = 4, .activation = act};
    vae_model *m = vae_model_create(&cfg, NULL);
    vae_model_init_params(m, seed);
    return m;
}

/* Grey images with some pure black and white pixels, like MNIST's. */
static void make_images(float *x, int n, unsigned long long seed) {
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    for (int i = 0; i < n * VAE_INPUT_DIM; i++) {
        double u = vae_rng_uniform(&rng);
        x[i] = u < 0.6 ? 0.0f : u > 0.85 ? 1.0f : (float)vae_rng_uniform(&rng);
    }
}

/* ---- the reference: everything in double, written without the library's helpers ---- */

static double act_of(double v, vae_activation act) {
    return act == VAE_ACT_TANH ? tanh(v) : act == VAE_ACT_RELU ? (v > 0 ? v : 0) : (v > 0 ? v : 0.2 * v);
}

/* out (l->out) = act(W in + b) in double, act applied when `activate`. */
static void ref_linear(double *out, const double *in, const vae_linear *l, vae_activation act, int activate) {
    for (int o = 0; o < l->out; o++) {
        double s = l->bias[o];
        for (int i = 0; i < l->in; i++) s += (double)l->weight[(size_t)o * l->in + i] * in[i];
        out[o] = activate ? act_of(s, act) : s;
    }
}

/* -log p(x) estimated with k samples, and the mean BCE and the KL, for one image. */
static void ref_score(const vae_model *m, const float *x, const float *eps, int k, double *nll, double *bce,
                      double *kl) {
    const vae_layers *ly = &m->layers;
    const int L = m->config.n_hidden, d = m->config.latent_dim;
    const vae_activation act = m->config.activation;
    double a[VAE_INPUT_DIM], b[VAE_INPUT_DIM], mu[16], lv[16], z[16], *logw = malloc(sizeof(double) * k);
    for (int p = 0; p < VAE_INPUT_DIM; p++) a[p] = x[p];
    for (int i = 0; i < L; i++) {
        ref_linear(b, a, &ly->enc[i], act, 1);
        memcpy(a, b, sizeof(double) * ly->enc[i].out);
    }
    ref_linear(mu, a, &ly->mu, act, 0);
    ref_linear(lv, a, &ly->logvar, act, 0);
    *kl = 0;
    for (int j = 0; j < d; j++) *kl += 0.5 * (exp(lv[j]) - lv[j] - 1 + mu[j] * mu[j]);
    *bce = 0;
    for (int s = 0; s < k; s++) {
        double log_pz = 0, log_q = 0;
        for (int j = 0; j < d; j++) {
            double sigma = exp(0.5 * lv[j]);
            z[j] = mu[j] + eps[(size_t)s * d + j] * sigma;
            log_pz += -0.5 * z[j] * z[j] - 0.5 * log(2 * M_PI);
            double u = (z[j] - mu[j]) / sigma;
            log_q += -0.5 * u * u - log(sigma) - 0.5 * log(2 * M_PI);
        }
        memcpy(a, z, sizeof(double) * d);
        for (int i = 0; i < L; i++) {
            ref_linear(b, a, &ly->dec[i], act, 1);
            memcpy(a, b, sizeof(double) * ly->dec[i].out);
        }
        ref_linear(b, a, &ly->out, act, 0);
        double log_px = 0;
        for (int p = 0; p < VAE_INPUT_DIM; p++) {
            /* log sigmoid(l) = -log(1 + e^-l), log(1 - sigmoid(l)) = -log(1 + e^l) */
            double l = b[p], lp = l >= 0 ? -log1p(exp(-l)) : l - log1p(exp(l));
            double lq = lp - l; /* log(1 - sigmoid(l)) */
            log_px += x[p] * lp + (1 - x[p]) * lq;
        }
        *bce -= log_px / k;
        logw[s] = log_px + log_pz - log_q;
    }
    double top = logw[0];
    for (int s = 1; s < k; s++) top = fmax(top, logw[s]);
    double sum = 0;
    for (int s = 0; s < k; s++) sum += exp(logw[s] - top);
    *nll = -(top + log(sum / k));
    free(logw);
}

static void test_against_reference(vae_activation act, int packed) {
    vae_model *m = make_model(act, 7 + act);
    if (packed) vae_model_prepare_inference(m, NULL);
    vae_workspace *ws = vae_workspace_create(VAE_INPUT_DIM, 37); /* odd size: decodes in chunks */
    const int k = 50, d = m->config.latent_dim;
    float x[N_IMAGES * VAE_INPUT_DIM], eps[N_IMAGES * 50 * 4];
    make_images(x, N_IMAGES, 3);
    vae_score s[N_IMAGES];
    vae_error err = {0};
    CHECK(vae_score_images(m, ws, x, N_IMAGES, k, 1234, s, &err) == VAE_OK, "%s", err.message);
    vae_score_draw_eps(eps, N_IMAGES, k, d, 1234);
    for (int i = 0; i < N_IMAGES; i++) {
        double nll, bce, kl;
        ref_score(m, x + (size_t)i * VAE_INPUT_DIM, eps + (size_t)i * k * d, k, &nll, &bce, &kl);
        char what[96];
        snprintf(what, sizeof what, "%s%s image %d: nll", vae_activation_name(act), packed ? " packed" : "", i);
        CHECK_CLOSE(s[i].nll, nll, 2e-3 + 2e-6 * fabs(nll), what);
        CHECK_CLOSE(s[i].bce, bce, 2e-3 + 2e-6 * fabs(bce), "bce");
        CHECK_CLOSE(s[i].kl, kl, 1e-4 + 1e-6 * fabs(kl), "kl");
        CHECK_CLOSE(s[i].loss, bce + kl, 2e-3 + 2e-6 * fabs(bce), "loss");
        CHECK_CLOSE(s[i].bits_per_dim, nll / (784 * log(2.0)), 1e-5, "bits per dim");
    }
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
}

/* The server's stages give the one-call numbers bit for bit, and an image's numbers do not depend on
 * the batch it came in. */
static void test_staged_and_split(void) {
    vae_model *m = make_model(VAE_ACT_RELU, 21);
    vae_model_prepare_inference(m, NULL);
    const int n = 5, k = 9, d = m->config.latent_dim;
    vae_workspace *ws = vae_workspace_create(VAE_INPUT_DIM, 64);
    float x[5 * VAE_INPUT_DIM], mu[5 * 4], lv[5 * 4], eps[5 * 9 * 4], z[5 * 9 * 4];
    float *logits = malloc(sizeof(float) * n * k * VAE_INPUT_DIM);
    make_images(x, n, 4);
    vae_score whole[5], staged[5], alone;
    CHECK(vae_score_images(m, ws, x, n, k, 77, whole, NULL) == VAE_OK, "score");
    vae_encode(m, ws, x, n, mu, lv);
    vae_score_draw_eps(eps, n, k, d, 77);
    vae_score_latents(z, mu, lv, eps, n, k, d);
    vae_decode_logits(m, ws, z, n * k, logits);
    vae_score_compute(x, mu, lv, eps, logits, n, k, d, staged);
    CHECK(memcmp(whole, staged, sizeof whole) == 0, "staged pipeline differs from vae_score_images");
    for (int i = 0; i < n; i++) {
        vae_score_images(m, ws, x + (size_t)i * VAE_INPUT_DIM, 1, k, 77 + (uint64_t)i * 0xD1B54A32D192ED03ULL,
                         &alone, NULL);
        CHECK(memcmp(&alone, &whole[i], sizeof alone) == 0, "image %d scored alone differs", i);
    }
    vae_score again[5];
    vae_score_images(m, ws, x, n, k, 77, again, NULL);
    CHECK(memcmp(again, whole, sizeof again) == 0, "same seed, different numbers");
    vae_score_images(m, ws, x, n, k, 78, again, NULL);
    CHECK(again[0].nll != whole[0].nll, "another seed gave the same nll");
    /* vae_decode is the sigmoid of vae_decode_logits */
    float *xhat = malloc(sizeof(float) * n * k * VAE_INPUT_DIM);
    vae_decode(m, ws, z, n * k, xhat);
    double worst = 0;
    for (int i = 0; i < n * k * VAE_INPUT_DIM; i++) worst = fmax(worst, fabs(xhat[i] - 1 / (1 + exp(-(double)logits[i]))));
    CHECK(worst < 1e-6, "decode vs sigmoid(decode_logits): %g", worst);
    CHECK(vae_score_images(m, ws, x, n, 0, 1, whole, NULL) == VAE_ERR_ARG, "k = 0 accepted");
    free(logits);
    free(xhat);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
}

/* Burda et al.: E[nll_k] <= loss, and it does not grow with k. */
static void test_bound_tightens(void) {
    vae_model *m = make_model(VAE_ACT_TANH, 5);
    vae_model_prepare_inference(m, NULL);
    enum { N = 40 };
    float *x = malloc(sizeof(float) * N * VAE_INPUT_DIM);
    make_images(x, N, 9);
    vae_workspace *ws = vae_workspace_create(VAE_INPUT_DIM, 256);
    static const int ks[] = {1, 4, 16, 64, 256};
    double previous = INFINITY, loss = 0;
    vae_score s[N];
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        CHECK(vae_score_images(m, ws, x, N, ks[t], 100 + t, s, NULL) == VAE_OK, "score k %d", ks[t]);
        double nll = 0;
        loss = 0;
        for (int i = 0; i < N; i++) nll += s[i].nll / N, loss += s[i].loss / N;
        printf("random model, %d images: k %3d  mean nll %.3f  mean loss %.3f\n", N, ks[t], nll, loss);
        if (ks[t] > 1) CHECK(nll < loss, "k %d: mean nll %.3f is not below mean loss %.3f", ks[t], nll, loss);
        CHECK(nll < previous, "k %d: mean nll %.3f did not fall from %.3f", ks[t], nll, previous);
        previous = nll;
    }
    free(x);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
}

/* Extreme logits and far-apart importance weights stay finite (the log-sum-exp's job). */
static void test_stability(void) {
    const int k = 3, d = 2;
    float x[VAE_INPUT_DIM], mu[2] = {40.0f, -30.0f}, lv[2] = {-20.0f, 8.0f};
    float eps[3 * 2] = {0.0f, 0.0f, 5.0f, -5.0f, -7.0f, 6.5f};
    float *logits = malloc(sizeof(float) * k * VAE_INPUT_DIM);
    make_images(x, 1, 12);
    for (int i = 0; i < k * VAE_INPUT_DIM; i++) logits[i] = (i % 3 ? 1.0f : -1.0f) * 90.0f * (float)(1 + i % 7);
    vae_score s;
    vae_score_compute(x, mu, lv, eps, logits, 1, k, d, &s);
    CHECK(isfinite(s.nll) && isfinite(s.loss) && isfinite(s.bce) && isfinite(s.kl),
          "extreme inputs: nll %g loss %g", s.nll, s.loss);
    /* k copies of one sample: nll equals that sample's -log w exactly as k = 1 gives it */
    float eps1[3 * 2] = {0.3f, -0.2f, 0.3f, -0.2f, 0.3f, -0.2f};
    for (int i = 1; i < k; i++) memcpy(logits + (size_t)i * VAE_INPUT_DIM, logits, sizeof(float) * VAE_INPUT_DIM);
    vae_score one, three;
    vae_score_compute(x, mu, lv, eps1, logits, 1, 1, d, &one);
    vae_score_compute(x, mu, lv, eps1, logits, 1, 3, d, &three);
    CHECK_CLOSE(one.nll, three.nll, 1e-3, "k identical samples");
    free(logits);
}

static void test_pixel_map(void) {
    vae_model *m = make_model(VAE_ACT_RELU, 31);
    vae_workspace *ws = vae_workspace_create(VAE_INPUT_DIM, 4);
    float x[VAE_INPUT_DIM], mu[4], lv[4], eps[4] = {0}, logits[VAE_INPUT_DIM], map[VAE_INPUT_DIM];
    make_images(x, 1, 13);
    vae_encode(m, ws, x, 1, mu, lv);
    vae_decode_logits(m, ws, mu, 1, logits);
    vae_score_pixel_bce(x, logits, map);
    vae_score s;
    vae_score_compute(x, mu, lv, eps, logits, 1, 1, 4, &s);
    double sum = 0;
    int negative = 0;
    for (int p = 0; p < VAE_INPUT_DIM; p++) sum += map[p], negative += map[p] < 0;
    CHECK_CLOSE(sum, s.bce, 1e-3, "the map sums to the BCE at z = mu");
    CHECK(negative == 0, "%d negative pixel BCEs", negative);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
}

static void test_percentile_and_ood(void) {
    float values[4] = {1, 2, 2, 3};
    vae_score_table t = {values, 4};
    CHECK(vae_score_percentile(&t, 0.5f) == 0.0f, "below all");
    CHECK(vae_score_percentile(&t, 1.0f) == 12.5f, "at the first: half of one value");
    CHECK(vae_score_percentile(&t, 1.5f) == 25.0f, "between");
    CHECK(vae_score_percentile(&t, 2.0f) == 50.0f, "a tie: one below, half of two");
    CHECK(vae_score_percentile(&t, 2.5f) == 75.0f, "between");
    CHECK(vae_score_percentile(&t, 7.0f) == 100.0f, "above all");
    CHECK(isnan(vae_score_percentile(&t, NAN)), "NaN value");
    vae_score_table empty = {NULL, 0};
    CHECK(isnan(vae_score_percentile(&empty, 1.0f)), "empty table");
    /* a table's own values are uniform over 0..100 */
    enum { T = 1000 };
    float *u = malloc(sizeof(float) * T);
    for (int i = 0; i < T; i++) u[i] = (float)i * 0.5f;
    vae_score_table ut = {u, T};
    double mean = 0;
    for (int i = 0; i < T; i++) mean += vae_score_percentile(&ut, u[i]) / T;
    CHECK_CLOSE(mean, 50.0, 1e-3, "mean percentile of the table's own values");

    CHECK_CLOSE(vae_score_corrected(100.0f, 50.0f), 100.0 / log(2.0) - 50.0, 1e-4, "corrected score");
    float nll[4] = {80, 90, 100, 110}, corr[4] = {-300, -200, -100, 0}, ood[4] = {0.5f, 1.0f, 2.0f, 3.0f};
    vae_model *m = make_model(VAE_ACT_RELU, 1);
    vae_score s = {.nll = 95.0f};
    float o = -1, p = -1;
    CHECK(vae_score_ood(m, &s, 0.0f, &o, &p) == VAE_ERR_UNSUPPORTED && o == -1 && p == -1,
          "no tables: unsupported, outputs untouched");
    m->scores.nll = (vae_score_table){nll, 4};
    m->scores.corrected = (vae_score_table){corr, 4};
    m->scores.ood = (vae_score_table){ood, 4};
    /* Fisher's combination: nll 95 is at the 50th percentile (tail 0.5); corrected
     * 95/ln2 - 400 = -262.9 at the 25th (tail 0.75) */
    CHECK_CLOSE(vae_score_ood_value(&m->scores, 95.0f, -262.9f), -log(0.5) - log(0.75), 1e-6, "ood value");
    CHECK(vae_score_ood(m, &s, 400.0f, &o, &p) == VAE_OK && fabs(o - (-log(0.5) - log(0.75))) < 1e-6 && p == 25.0f,
          "ood %g at percentile %g", o, p);
    /* a simple image (few complexity bits) with a fine nll is flagged by the corrected score: beyond
     * the whole table its tail is kept at half an image, 0.5 / 4 */
    CHECK(vae_score_ood(m, &s, 50.0f, &o, &p) == VAE_OK && fabs(o - (-log(0.5) - log(0.125))) < 1e-6 && p == 75.0f,
          "ood %g, %g", o, p);
    CHECK_CLOSE(vae_score_ood_value(&m->scores, 1000.0f, 1000.0f), -2 * log(0.125), 1e-6, "the largest ood_score");
    CHECK(vae_score_ood_value(&m->scores, 10.0f, -1000.0f) == 0.0f, "below both tables: 0");
    CHECK(isnan(vae_score_ood_value(&m->scores, NAN, 1.0f)), "NaN nll");
    memset(&m->scores, 0, sizeof m->scores); /* the tables are the test's */
    vae_model_destroy(m);
    free(u);
}

static void test_complexity(void) {
    float blank[VAE_INPUT_DIM] = {0}, stroke[VAE_INPUT_DIM] = {0}, noise[VAE_INPUT_DIM];
    for (int y = 6; y < 22; y++) stroke[y * 28 + 14] = stroke[y * 28 + 15] = 1.0f;
    make_images(noise, 1, 5);
    float b = vae_image_complexity_bits(blank), s = vae_image_complexity_bits(stroke);
    float n = vae_image_complexity_bits(noise);
    printf("complexity: blank %.0f bits, a stroke %.0f, noise %.0f\n", b, s, n);
    CHECK(b < s && s < n, "blank %g < stroke %g < noise %g", b, s, n);
    CHECK(b >= 8 * 57 && fmodf(b, 8.0f) == 0.0f, "blank: %g bits, a whole number of bytes and the framing", b);
    /* exactly 8 times the bytes of the level-9 PNG of the quantised image */
    uint8_t px[VAE_INPUT_DIM];
    for (int i = 0; i < VAE_INPUT_DIM; i++) px[i] = vae_pixel_to_u8(noise[i]);
    vae_buf png = {0};
    CHECK(vae_png_encode(px, 28, 28, 1, 9, &png, NULL) == VAE_OK, "encode");
    CHECK(n == 8.0f * (float)png.len, "%g bits vs %zu bytes", n, png.len);
    CHECK(vae_image_complexity_bits(noise) == n, "not deterministic");
    vae_buf_free(&png);
}

int main(void) {
    /* every instruction set the CPU has, against the reference (the vector BCE is score.c's own) */
    static const char *isas[] = {"generic", "avx2", "avx512"};
    static const vae_isa ids[] = {VAE_ISA_GENERIC, VAE_ISA_AVX2, VAE_ISA_AVX512};
    for (int i = 0; i < 3; i++) {
        if (!vae_kernel_cpu_has(ids[i])) continue;
        CHECK(vae_kernel_force(isas[i]) == 0, "force %s", isas[i]);
        printf("scores on %s\n", isas[i]);
        test_against_reference(VAE_ACT_TANH, 0);
        test_against_reference(VAE_ACT_RELU, 1);
        test_against_reference(VAE_ACT_LEAKY_RELU, 1);
    }
    for (int i = 2; i >= 0; i--) /* back to the best the CPU has */
        if (vae_kernel_cpu_has(ids[i])) {
            vae_kernel_force(isas[i]);
            break;
        }
    test_staged_and_split();
    test_bound_tightens();
    test_stability();
    test_pixel_map();
    test_percentile_and_ood();
    test_complexity();
    CHECK_DONE();
}
