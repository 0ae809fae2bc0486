/* The small-batch kernels against OpenBLAS and libm, on every ISA this CPU runs, for every batch size
 * a request produces and for widths that do and do not fill whole panels. */
#include <stdlib.h>
#include <string.h>

#include "../../model/kernels.h"
#include "check.h"
#include "vae/rng.h"

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
    vae_packed_free(&p);
    free(w);
    free(bias);
    free(x);
    free(ref);
    free(out);
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
        vae_kernel_adam(NULL, p2, m2, v2, d1, N, 0.9f, 0.999f, 1e-2f / bc1, bc2, 1e-8f, 0.99f);
    }
    worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(p1[i] - p2[i]));
    CHECK(worst < 1e-5, "%s adam: max parameter difference %g", isa, worst);
    free(l), free(t), free(d1), free(d2), free(p1), free(m1), free(v1), free(p2), free(m2), free(v2);
}

int main(void) {
    vae_rng_seed(&rng, 77);
    const char *isas[] = {"avx512", "avx2", "generic"};
    int ran = 0;
    for (int k = 0; k < 3; k++) {
        if (vae_kernel_force(isas[k]) != 0) {
            printf("test_kernels: this CPU cannot run %s; skipped\n", isas[k]);
            continue;
        }
        ran++;
        CHECK(strcmp(vae_kernel_isa(), isas[k]) == 0, "forced %s, running %s", isas[k], vae_kernel_isa());
        const int batches[] = {1, 2, 3, 5, 6, 7, 12, 16, 17, 64};
        const int shapes[][2] = {{784, 400}, {400, 784}, {32, 256}, {256, 512}, {512, 784}, {400, 20}, {7, 5}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
                for (int ep = 0; ep < 3; ep++)
                    check_linear(isas[k], batches[b], shapes[s][0], shapes[s][1], (vae_epilogue)ep);
        check_sigmoid(isas[k]);
        check_training(isas[k]);
    }
    CHECK(ran >= 1, "no ISA ran");
    CHECK(vae_kernel_force("sse9") == -1, "unknown ISA accepted");
    CHECK_DONE();
}
