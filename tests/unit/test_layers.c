/* Finite-difference gradient checks of every layer's backward against its forward. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/layers.h"
#include "vae/rng.h"

static vae_rng rng;

static void fill_uniform(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)vae_rng_uniform(&rng);
}

/* Values bounded away from 0, so kinked activations are differentiable within +-h. */
static void fill_away_from_zero(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = 0.1f + 0.9f * (float)vae_rng_uniform(&rng);
        p[i] = vae_rng_uniform(&rng) < 0.5 ? -v : v;
    }
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Relative-or-absolute closeness used by every check below (float32 finite differences). */
static int grad_close(double analytic, double numeric) {
    return fabs(analytic - numeric) <= 2e-3 + 2e-2 * fabs(numeric);
}

static void test_linear(void) {
    enum { B = 3, C = 7, OC = 5 };
    float inp[B * C], w[OC * C], b[OC], out[B * OC], r[B * OC];
    float dinp[B * C], dw[OC * C], db[OC];
    fill_uniform(inp, B * C, -1, 1);
    fill_uniform(w, OC * C, -1, 1);
    fill_uniform(b, OC, -1, 1);
    fill_uniform(r, B * OC, -1, 1); /* L = sum(out * r), so dL/dout = r */
    /* dweight and dbias accumulate: start them at a known non-zero value */
    for (int i = 0; i < OC * C; i++) dw[i] = 0.5f;
    for (int i = 0; i < OC; i++) db[i] = -0.25f;
    vae_linear_backward(dinp, dw, db, r, inp, w, B, C, OC);
    const float h = 1e-2f;
    struct { float *p, *g; int n; float offset; const char *name; } params[] = {
        {inp, dinp, B * C, 0.0f, "linear dinp"},
        {w, dw, OC * C, 0.5f, "linear dweight"},
        {b, db, OC, -0.25f, "linear dbias"},
    };
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
        for (int i = 0; i < params[k].n; i++) {
            float saved = params[k].p[i];
            params[k].p[i] = saved + h;
            vae_linear_forward(out, inp, w, b, B, C, OC);
            double lp = dot(out, r, B * OC);
            params[k].p[i] = saved - h;
            vae_linear_forward(out, inp, w, b, B, C, OC);
            double lm = dot(out, r, B * OC);
            params[k].p[i] = saved;
            double numeric = (lp - lm) / (2 * h);
            double analytic = params[k].g[i] - params[k].offset;
            CHECK(grad_close(analytic, numeric), "%s[%d]: analytic %g numeric %g", params[k].name,
                  i, analytic, numeric);
        }
    }
    /* B == 1 takes the gemv path: it must agree with the batched path row for row */
    float single[OC];
    vae_linear_forward(out, inp, w, b, B, C, OC);
    vae_linear_forward(single, inp + C, w, b, 1, C, OC);
    for (int o = 0; o < OC; o++) CHECK_CLOSE(single[o], out[OC + o], 1e-6, "gemv vs gemm row");
    /* dinp NULL is allowed (first layer) */
    vae_linear_backward(NULL, dw, db, r, inp, w, B, C, OC);
}

static void test_activation(vae_activation act) {
    enum { N = 64 };
    float inp[N], out[N], r[N], dinp[N], tmp[N];
    fill_away_from_zero(inp, N);
    fill_uniform(r, N, -1, 1);
    vae_activation_forward(out, inp, N, act);
    vae_activation_backward(dinp, r, inp, out, N, act);
    const float h = 1e-3f;
    for (int i = 0; i < N; i++) {
        float saved = inp[i];
        inp[i] = saved + h;
        vae_activation_forward(tmp, inp, N, act);
        double lp = dot(tmp, r, N);
        inp[i] = saved - h;
        vae_activation_forward(tmp, inp, N, act);
        double lm = dot(tmp, r, N);
        inp[i] = saved;
        double numeric = (lp - lm) / (2 * h);
        CHECK(grad_close(dinp[i], numeric), "%s d[%d]: analytic %g numeric %g",
              vae_activation_name(act), i, dinp[i], numeric);
    }
    /* values, not only gradients */
    float probe[3] = {-2.0f, 0.0f, 3.0f}, res[3];
    vae_activation_forward(res, probe, 3, act);
    if (act == VAE_ACT_RELU) CHECK(res[0] == 0 && res[1] == 0 && res[2] == 3, "relu values");
    if (act == VAE_ACT_LEAKY_RELU) CHECK_CLOSE(res[0], -0.4, 1e-6, "leaky_relu(-2)");
    if (act == VAE_ACT_TANH) CHECK_CLOSE(res[2], tanh(3.0), 1e-6, "tanh(3)");
    /* in-place backward (dinp == dout) as the trainer uses it */
    memcpy(tmp, r, sizeof r);
    vae_activation_backward(tmp, tmp, inp, out, N, act);
    CHECK(memcmp(tmp, dinp, sizeof tmp) == 0, "%s in-place backward", vae_activation_name(act));
}

static void test_bce(void) {
    enum { N = 50 };
    float logits[N], target[N], dl[N], dl2[N];
    fill_uniform(logits, N, -6, 6);
    fill_uniform(target, N, 0, 1);
    target[0] = 0.0f;
    target[1] = 1.0f;
    vae_bce_logits_backward(dl, logits, target, N, 1.0f);
    const float h = 1e-2f;
    for (int i = 0; i < N; i++) {
        float saved = logits[i];
        logits[i] = saved + h;
        double lp = vae_bce_logits_forward(logits, target, N);
        logits[i] = saved - h;
        double lm = vae_bce_logits_forward(logits, target, N);
        logits[i] = saved;
        double numeric = (lp - lm) / (2 * h);
        CHECK(grad_close(dl[i], numeric), "bce dlogit[%d]: analytic %g numeric %g", i, dl[i], numeric);
    }
    /* the fused form gives the same loss and gradient */
    double fused = vae_bce_logits_forward_backward(dl2, logits, target, N, 1.0f);
    CHECK_CLOSE(fused, vae_bce_logits_forward(logits, target, N), 1e-9, "fused bce loss");
    for (int i = 0; i < N; i++) CHECK_CLOSE(dl2[i], dl[i], 1e-7, "fused bce grad");
    /* against the textbook formula where it is well conditioned */
    float l1 = 0.3f, t1 = 0.7f;
    double s = 1.0 / (1.0 + exp(-l1));
    CHECK_CLOSE(vae_bce_logits_forward(&l1, &t1, 1), -(t1 * log(s) + (1 - t1) * log(1 - s)), 1e-6,
                "bce formula");
    /* numerically stable where log(sigmoid) is not: logit -200 with target 1 costs 200 nats */
    float big = -200.0f, one = 1.0f;
    CHECK_CLOSE(vae_bce_logits_forward(&big, &one, 1), 200.0, 1e-3, "bce at logit -200");
    float big2 = 200.0f, zero = 0.0f;
    CHECK_CLOSE(vae_bce_logits_forward(&big2, &zero, 1), 200.0, 1e-3, "bce at logit 200");
    float sig[2], in2[2] = {-200.0f, 200.0f};
    vae_sigmoid_forward(sig, in2, 2);
    CHECK(sig[0] >= 0.0f && sig[0] < 1e-30f && sig[1] == 1.0f, "sigmoid saturates without NaN");
}

static void test_kl_and_reparam(void) {
    enum { N = 20 };
    float mu[N], lv[N], eps[N], z[N], r[N], dmu[N], dlv[N], tmp[N];
    fill_uniform(mu, N, -2, 2);
    fill_uniform(lv, N, -3, 1);
    fill_uniform(eps, N, -2, 2);
    fill_uniform(r, N, -1, 1);
    const float h = 1e-2f;
    /* KL, with the accumulate contract: start from a known offset */
    for (int i = 0; i < N; i++) dmu[i] = dlv[i] = 1.0f;
    vae_kl_backward(dmu, dlv, mu, lv, N, 0.5f); /* beta = 0.5 */
    for (int i = 0; i < N; i++) {
        float *which[2] = {mu, lv};
        float *grad[2] = {dmu, dlv};
        for (int k = 0; k < 2; k++) {
            float saved = which[k][i];
            which[k][i] = saved + h;
            double lp = 0.5 * vae_kl_forward(mu, lv, N);
            which[k][i] = saved - h;
            double lm = 0.5 * vae_kl_forward(mu, lv, N);
            which[k][i] = saved;
            double numeric = (lp - lm) / (2 * h);
            CHECK(grad_close(grad[k][i] - 1.0f, numeric), "kl %s[%d]: analytic %g numeric %g",
                  k ? "dlogvar" : "dmu", i, grad[k][i] - 1.0f, numeric);
        }
    }
    /* KL of the prior itself is 0 */
    float zeros[4] = {0};
    CHECK_CLOSE(vae_kl_forward(zeros, zeros, 4), 0.0, 1e-12, "KL(N(0,1)||N(0,1))");
    /* reparameterisation */
    vae_reparam_backward(dmu, dlv, r, lv, eps, N);
    for (int i = 0; i < N; i++) {
        float *which[2] = {mu, lv};
        float *grad[2] = {dmu, dlv};
        for (int k = 0; k < 2; k++) {
            float saved = which[k][i];
            which[k][i] = saved + h;
            vae_reparam_forward(tmp, mu, lv, eps, N);
            double lp = dot(tmp, r, N);
            which[k][i] = saved - h;
            vae_reparam_forward(tmp, mu, lv, eps, N);
            double lm = dot(tmp, r, N);
            which[k][i] = saved;
            double numeric = (lp - lm) / (2 * h);
            CHECK(grad_close(grad[k][i], numeric), "reparam %s[%d]: analytic %g numeric %g",
                  k ? "dlogvar" : "dmu", i, grad[k][i], numeric);
        }
    }
    vae_reparam_forward(z, mu, lv, eps, N);
    CHECK_CLOSE(z[3], mu[3] + eps[3] * exp(0.5 * lv[3]), 1e-5, "z = mu + eps*sigma");
}

int main(void) {
    vae_rng_seed(&rng, 42);
    test_linear();
    test_activation(VAE_ACT_RELU);
    test_activation(VAE_ACT_LEAKY_RELU);
    test_activation(VAE_ACT_TANH);
    test_bce();
    test_kl_and_reparam();
    vae_activation a;
    CHECK(vae_activation_parse("leaky_relu", &a) == 0 && a == VAE_ACT_LEAKY_RELU, "parse");
    CHECK(vae_activation_parse("gelu", &a) == -1, "unknown activation rejected");
    CHECK_DONE();
}
