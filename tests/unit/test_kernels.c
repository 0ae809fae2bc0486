/* The kernels against OpenBLAS and libm, on every ISA this CPU runs (and failing if an ISA the CPU
 * reports was not exercised): the inference linear for every batch size a request produces, the
 * training products (forward, input gradient, weight gradient, with their fused activation) on one
 * and two threads, for widths that do and do not fill whole panels, the sigmoid, BCE and Adam. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/kernels.h"
#include "check.h"
#include "vae/rng.h"
#include "vae/weights.h"

static vae_rng rng;

static void fill(float *p, size_t n, float scale) { vae_rng_normal_fill(&rng, p, n, scale); }

static void check_linear(const char *isa, int B, int C, int OC, vae_epilogue ep) {
    float *w = malloc(sizeof(float) * C * OC), *bias = malloc(sizeof(float) * OC);
    float *x = malloc(sizeof(float) * B * C), *ref = malloc(sizeof(float) * B * OC);
    float *out = malloc(sizeof(float) * (B * OC + 64));
    fill(w, (size_t)C * OC, 0.1f);
    fill(bias, OC, 0.5f);
    fill(x, (size_t)B * C, 1.0f);
    vae_linear_forward(ref, x, w, bias, B, C, OC);
    vae_activation forward_act = ep == VAE_EPILOGUE_LEAKY ? VAE_ACT_LEAKY_RELU : VAE_ACT_RELU;
    if (ep != VAE_EPILOGUE_NONE) vae_activation_forward(ref, ref, (size_t)B * OC, forward_act);
    vae_packed_linear p;
    CHECK(vae_pack_linear(&p, w, bias, C, OC) == VAE_OK, "pack");
    for (int i = 0; i < 64; i++) out[B * OC + i] = 12345.0f; /* guard: nothing written past out */
    vae_kernel_linear(out, x, &p, B, ep);
    double worst = 0;
    for (int i = 0; i < B * OC; i++) {
        double err = fabs(out[i] - ref[i]) / (1.0 + fabs(ref[i]));
        if (err > worst) worst = err;
    }
    CHECK(worst < 2e-5, "%s linear B=%d C=%d OC=%d ep=%d: worst error %g", isa, B, C, OC, (int)ep, worst);
    int guard_ok = 1;
    for (int i = 0; i < 64; i++) guard_ok &= out[B * OC + i] == 12345.0f;
    CHECK(guard_ok, "%s linear B=%d OC=%d wrote past the output", isa, B, OC);
    /* a row alone gives the bits it gives in the batch (the batcher relies on it) */
    float *alone = malloc(sizeof(float) * OC);
    int same = 1;
    for (int b = 0; b < B; b += 5) {
        vae_kernel_linear(alone, x + (size_t)b * C, &p, 1, ep);
        same &= memcmp(alone, out + (size_t)b * OC, sizeof(float) * OC) == 0;
    }
    CHECK(same, "%s linear B=%d C=%d OC=%d: a row alone differs from the same row in the batch", isa, B, C, OC);
    free(alone);
    vae_packed_free(&p);
    free(w);
    free(bias);
    free(x);
    free(ref);
    free(out);
}

/* A layer whose weights are all F16 values gets F16 panels, and every batch gives the bits the float
 * panels give (the widening is exact and the order of the sums the same); one weight that is not an
 * F16 value leaves it without them. */
static void check_half_panels(const char *isa, int C, int OC) {
    float *w = malloc(sizeof(float) * C * OC), *bias = malloc(sizeof(float) * OC);
    float *x = malloc(sizeof(float) * 8 * C), *a = malloc(sizeof(float) * 8 * OC), *b = malloc(sizeof(float) * 8 * OC);
    fill(w, (size_t)C * OC, 0.1f);
    fill(bias, OC, 0.5f);
    fill(x, (size_t)8 * C, 1.0f);
    for (int i = 0; i < C * OC; i++) w[i] = vae_f16_to_f32(vae_f32_to_f16(w[i]));
    vae_packed_linear p;
    CHECK(vae_pack_linear(&p, w, bias, C, OC) == VAE_OK && p.half, "%s: F16 weights packed without F16 panels", isa);
    for (int B = 1; B <= VAE_HALF_ROWS + 2 && p.half; B++)
        for (int ep = 0; ep < 3; ep++) {
            vae_kernel_linear(a, x, &p, B, (vae_epilogue)ep);
            uint16_t *half = p.half;
            p.half = NULL;
            vae_kernel_linear(b, x, &p, B, (vae_epilogue)ep);
            p.half = half;
            CHECK(memcmp(a, b, sizeof(float) * (size_t)B * OC) == 0,
                  "%s: F16 panels B=%d C=%d OC=%d ep=%d differ from the float panels", isa, B, C, OC, ep);
        }
    vae_packed_free(&p);
    w[C * OC / 2] += 1e-6f; /* no longer an F16 value */
    CHECK(vae_pack_linear(&p, w, bias, C, OC) == VAE_OK && !p.half, "%s: F16 panels of float weights", isa);
    vae_packed_free(&p);
    free(w);
    free(bias);
    free(x);
    free(a);
    free(b);
}

static double worst_rel(const float *got, const float *want, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err; /* NaN counts as the worst */
    }
    return worst;
}

/* The three products of a linear layer, B rows, C inputs, OC outputs, against OpenBLAS (layers.c). */
static void check_training_linear(const char *isa, vae_kernel_pool *pool, int B, int C, int OC, vae_epilogue ep) {
    const size_t nx = (size_t)B * C, nw = (size_t)OC * C, no = (size_t)B * OC;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *bias = malloc(sizeof(float) * OC);
    float *out = malloc(sizeof(float) * (no + 64)), *act = malloc(sizeof(float) * no), *ref = malloc(sizeof(float) * no);
    float *dout = malloc(sizeof(float) * no), *gate = malloc(sizeof(float) * nx);
    float *dx = malloc(sizeof(float) * (nx + 64)), *dx_ref = malloc(sizeof(float) * nx);
    float *dw = malloc(sizeof(float) * nw), *dw_ref = malloc(sizeof(float) * nw);
    float *db = malloc(sizeof(float) * OC), *db_ref = malloc(sizeof(float) * OC);
    fill(x, nx, 1.0f);
    fill(w, nw, 0.1f);
    fill(bias, (size_t)OC, 0.5f);
    fill(dout, no, 1.0f);
    fill(gate, nx, 1.0f);
    for (size_t i = 0; i < nw; i++) dw[i] = dw_ref[i] = 0.25f; /* the gradients accumulate */
    for (int i = 0; i < OC; i++) db[i] = db_ref[i] = -0.5f;
    const vae_activation a = ep == VAE_EPILOGUE_LEAKY ? VAE_ACT_LEAKY_RELU : VAE_ACT_RELU;
    const int T = vae_kernel_pool_threads(pool);

    for (int i = 0; i < 64; i++) out[no + i] = dx[nx + i] = 12345.0f; /* guards */
    vae_kernel_linear_forward(pool, out, act, ep, x, w, bias, B, C, OC);
    vae_linear_forward(ref, x, w, bias, B, C, OC);
    CHECK(worst_rel(out, ref, no) < 2e-5, "%s x%d forward B=%d C=%d OC=%d: worst error %g", isa, T, B, C, OC,
          worst_rel(out, ref, no));
    if (ep != VAE_EPILOGUE_NONE) {
        vae_activation_forward(ref, out, no, a);
        CHECK(memcmp(act, ref, no * sizeof(float)) == 0, "%s x%d forward B=%d C=%d OC=%d: fused activation differs",
              isa, T, B, C, OC);
    }

    vae_kernel_linear_backward(pool, dx, 0, gate, ep, dw, db, dout, x, w, B, C, OC);
    vae_linear_backward(dx_ref, dw_ref, db_ref, dout, x, w, B, C, OC);
    if (ep != VAE_EPILOGUE_NONE) vae_activation_backward(dx_ref, dx_ref, gate, NULL, nx, a);
    CHECK(worst_rel(dx, dx_ref, nx) < 2e-5, "%s x%d dinp B=%d C=%d OC=%d ep=%d: worst error %g", isa, T, B, C, OC,
          (int)ep, worst_rel(dx, dx_ref, nx));
    CHECK(worst_rel(dw, dw_ref, nw) < 2e-5, "%s x%d dweight B=%d C=%d OC=%d: worst error %g", isa, T, B, C, OC,
          worst_rel(dw, dw_ref, nw));
    CHECK(memcmp(db, db_ref, (size_t)OC * sizeof(float)) == 0, "%s x%d dbias B=%d OC=%d differs", isa, T, B, OC);
    int guard_ok = 1;
    for (int i = 0; i < 64; i++) guard_ok &= out[no + i] == 12345.0f && dx[nx + i] == 12345.0f;
    CHECK(guard_ok, "%s x%d B=%d C=%d OC=%d wrote past an output", isa, T, B, C, OC);

    /* accumulate: dinp += dout @ W, then the gate */
    fill(dx, nx, 1.0f);
    memcpy(dx_ref, dx, nx * sizeof(float));
    vae_kernel_linear_backward(pool, dx, 1, gate, ep, dw, db, dout, x, w, B, C, OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, w, C, 1.0f, dx_ref, C);
    if (ep != VAE_EPILOGUE_NONE) vae_activation_backward(dx_ref, dx_ref, gate, NULL, nx, a);
    CHECK(worst_rel(dx, dx_ref, nx) < 2e-5, "%s x%d dinp += B=%d C=%d OC=%d: worst error %g", isa, T, B, C, OC,
          worst_rel(dx, dx_ref, nx));
    free(x), free(w), free(bias), free(out), free(act), free(ref), free(dout), free(gate);
    free(dx), free(dx_ref), free(dw), free(dw_ref), free(db), free(db_ref);
}

/* Products on two threads are bit-identical to one thread's: every value is computed by one thread,
 * in the same order, however the work is split. */
static void check_thread_count_invariance(const char *isa, vae_kernel_pool *one, vae_kernel_pool *two) {
    enum { B = 37, C = 150, OC = 93 };
    float x[B * C], w[OC * C], bias[OC], dout[B * OC];
    float o1[B * OC], o2[B * OC], d1[B * C], d2[B * C], w1[OC * C], w2[OC * C], b1[OC], b2[OC];
    fill(x, B * C, 1.0f);
    fill(w, OC * C, 0.1f);
    fill(bias, OC, 0.5f);
    fill(dout, B * OC, 1.0f);
    memset(w1, 0, sizeof w1), memset(w2, 0, sizeof w2), memset(b1, 0, sizeof b1), memset(b2, 0, sizeof b2);
    vae_kernel_linear_forward(one, o1, NULL, VAE_EPILOGUE_NONE, x, w, bias, B, C, OC);
    vae_kernel_linear_forward(two, o2, NULL, VAE_EPILOGUE_NONE, x, w, bias, B, C, OC);
    vae_kernel_linear_backward(one, d1, 0, NULL, VAE_EPILOGUE_NONE, w1, b1, dout, x, w, B, C, OC);
    vae_kernel_linear_backward(two, d2, 0, NULL, VAE_EPILOGUE_NONE, w2, b2, dout, x, w, B, C, OC);
    CHECK(!memcmp(o1, o2, sizeof o1) && !memcmp(d1, d2, sizeof d1) && !memcmp(w1, w2, sizeof w1) &&
              !memcmp(b1, b2, sizeof b1),
          "%s: one and two threads give different bits", isa);
}

static void check_sigmoid(const char *isa) {
    enum { N = 20011 };
    float *x = malloc(sizeof(float) * N), *out = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = -100.0f + 200.0f * (float)i / (N - 1);
    x[0] = -1e30f;
    x[1] = 1e30f;
    x[2] = 0.0f;
    vae_kernel_sigmoid(out, x, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ref = 1.0 / (1.0 + exp(-(double)x[i]));
        double err = fabs(out[i] - ref) / (ref > 1e-30 ? ref : 1e-30);
        if (ref < 1e-37) err = out[i] < 1e-36 ? 0 : 1; /* below float range: any tiny value */
        if (err > worst) worst = err;
    }
    CHECK(worst < 3e-7, "%s sigmoid: worst relative error %g", isa, worst);
    /* every tail length of the vector loops, and in place */
    for (int n = 0; n < 40; n++) {
        float a[40], b[40];
        for (int i = 0; i < n; i++) a[i] = b[i] = (float)i - 20.0f;
        vae_kernel_sigmoid(a, a, (size_t)n);
        vae_sigmoid_forward(b, b, (size_t)n);
        for (int i = 0; i < n; i++) CHECK_CLOSE(a[i], b[i], 1e-6, "sigmoid tail");
    }
    free(x);
    free(out);
}

static void check_training(const char *isa) {
    enum { N = 5003 }; /* not a multiple of any vector width */
    float *l = malloc(sizeof(float) * N), *t = malloc(sizeof(float) * N);
    float *d1 = malloc(sizeof(float) * N), *d2 = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        l[i] = (float)((i % 997) - 498) * 0.05f; /* logits in -25..25, 0 included */
        t[i] = (float)(i % 256) / 255.0f;
    }
    double ref = vae_bce_logits_forward_backward(d1, l, t, N, 0.5f);
    double got = vae_kernel_bce(NULL, d2, l, t, N, 0.5f);
    CHECK(fabs(got - ref) <= 1e-5 * fabs(ref), "%s bce loss %.9g vs %.9g", isa, got, ref);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(d1[i] - d2[i]));
    CHECK(worst < 1e-6, "%s bce gradient: max difference %g", isa, worst);
    /* split over two threads: the same gradient bits, the same sum to rounding; in place too */
    vae_kernel_pool *two = vae_kernel_pool_create(2, 16);
    float *d3 = malloc(sizeof(float) * N);
    memcpy(d3, l, sizeof(float) * N);
    double got2 = vae_kernel_bce(two, d3, d3, t, N, 0.5f);
    CHECK(fabs(got2 - got) <= 1e-9 * fabs(got), "%s bce on two threads: %.12g vs %.12g", isa, got2, got);
    CHECK(memcmp(d2, d3, sizeof(float) * N) == 0, "%s bce gradient on two threads differs", isa);
    free(d3);
    /* Adam against the scalar formula */
    float *p1 = malloc(sizeof(float) * N), *m1 = calloc(N, sizeof(float)), *v1 = calloc(N, sizeof(float));
    float *p2 = malloc(sizeof(float) * N), *m2 = calloc(N, sizeof(float)), *v2 = calloc(N, sizeof(float));
    for (int i = 0; i < N; i++) p1[i] = p2[i] = l[i];
    for (int step = 1; step <= 3; step++) {
        float bc1 = 1.0f - powf(0.9f, (float)step), bc2 = sqrtf(1.0f - powf(0.999f, (float)step));
        for (int i = 0; i < N; i++) {
            m1[i] = 0.9f * m1[i] + 0.1f * d1[i];
            v1[i] = 0.999f * v1[i] + 0.001f * d1[i] * d1[i];
            p1[i] = p1[i] * 0.99f - (1e-2f / bc1) * m1[i] / (sqrtf(v1[i]) / bc2 + 1e-8f);
        }
        vae_kernel_adam(step == 2 ? two : NULL, p2, m2, v2, d1, N, 0.9f, 0.999f, 1e-2f / bc1, bc2, 1e-8f, 0.99f);
    }
    worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(p1[i] - p2[i]));
    CHECK(worst < 1e-5, "%s adam: max parameter difference %g", isa, worst);
    vae_kernel_pool_destroy(two);
    free(l), free(t), free(d1), free(d2), free(p1), free(m1), free(v1), free(p2), free(m2), free(v2);
}

int main(void) {
    vae_rng_seed(&rng, 77);
    const char *isas[] = {"avx512", "avx2", "generic"};
    const vae_isa ids[] = {VAE_ISA_AVX512, VAE_ISA_AVX2, VAE_ISA_GENERIC};
    vae_kernel_pool *one = vae_kernel_pool_create(1, 1024), *two = vae_kernel_pool_create(2, 1024);
    CHECK(one && two, "pool creation");
    int ran[3] = {0};
    for (int k = 0; k < 3; k++) {
        if (vae_kernel_force(isas[k]) != 0) {
            printf("test_kernels: this CPU does not report %s; not run\n", isas[k]);
            continue;
        }
        ran[k] = 1;
        printf("test_kernels: %s\n", isas[k]);
        CHECK(strcmp(vae_kernel_isa(), isas[k]) == 0, "forced %s, running %s", isas[k], vae_kernel_isa());
        const int batches[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 64};
        const int shapes[][2] = {{784, 400}, {400, 784}, {32, 256}, {256, 512}, {512, 784}, {1024, 784}, {400, 20}, {7, 5},
                                 {33, 50}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
                for (int ep = 0; ep < 3; ep++)
                    check_linear(isas[k], batches[b], shapes[s][0], shapes[s][1], (vae_epilogue)ep);
        /* the trainer's shapes (784-400-20 at batch 128 and its last, ragged batch of 43) and widths
         * around every tile and panel edge of both ISAs */
        const int train_shapes[][3] = {{128, 784, 400}, {128, 400, 784}, {128, 400, 20}, {128, 20, 400},
                                       {43, 784, 400},  {43, 20, 400},   {1, 7, 5},      {13, 33, 17},
                                       {25, 16, 48},    {7, 9, 8},       {30, 100, 31},  {12, 64, 1}};
        for (size_t s = 0; s < sizeof train_shapes / sizeof train_shapes[0]; s++)
            for (int ep = 0; ep < 3; ep++) {
                const int *t = train_shapes[s];
                check_training_linear(isas[k], one, t[0], t[1], t[2], (vae_epilogue)ep);
                check_training_linear(isas[k], two, t[0], t[1], t[2], (vae_epilogue)ep);
            }
        const int half_shapes[][2] = {{64, 512}, {512, 1024}, {1024, 784}, {7, 5}, {33, 17}};
        for (size_t s = 0; s < sizeof half_shapes / sizeof half_shapes[0]; s++)
            check_half_panels(isas[k], half_shapes[s][0], half_shapes[s][1]);
        check_thread_count_invariance(isas[k], one, two);
        check_sigmoid(isas[k]);
        check_training(isas[k]);
    }
    /* every ISA the CPU reports must have been exercised: a kernel that no test ran is untested */
    for (int k = 0; k < 3; k++)
        CHECK(!vae_kernel_cpu_has(ids[k]) || ran[k], "the CPU reports %s but it was not tested", isas[k]);
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    CHECK(!__builtin_cpu_supports("avx512f") || ran[0], "the CPU reports avx512f but avx512 was not tested");
    CHECK(!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) || ran[1],
          "the CPU reports avx2 and fma but avx2 was not tested");
#endif
    CHECK(ran[2], "generic was not tested");
    CHECK(vae_kernel_force("sse9") == -1, "unknown ISA accepted");
    vae_kernel_pool_destroy(one);
    vae_kernel_pool_destroy(two);
    CHECK_DONE();
}
