/* What one /decode row costs in the model alone, against the floor the issue asks about: reading the
 * decoder's packed weights once (the F16 panels, half the bytes, for a model stored as F16: a one-row
 * batch reads those). Single thread, warm caches (the weights stay in the L3 between requests, as
 * under load), best of many runs. Then what bounds /sample?n=64: two threads decoding 64 rows at
 * once, as the server's two workers do under load, their best and their mean rate (the mean is what
 * the server can deliver; the two differ by the VM's phases).
 * Usage: bench_decode MODEL.safetensors   Prints "key value" lines. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vae/model.h"
#include "vae/weights.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Sums n floats with 16 independent vector chains (more than the add latency needs): the read
 * bandwidth of one core over a buffer. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"), noinline)) static float read_all(const float *p, size_t n) {
    __m256 s[16];
    for (int c = 0; c < 16; c++) s[c] = _mm256_setzero_ps();
    for (size_t i = 0; i + 128 <= n; i += 128)
#pragma GCC unroll 16
        for (int c = 0; c < 16; c++) s[c] = _mm256_add_ps(s[c], _mm256_loadu_ps(p + i + 8 * c));
    for (int c = 1; c < 16; c++) s[0] = _mm256_add_ps(s[0], s[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s[0]);
    return lanes[0] + lanes[5];
}
#else
static float read_all(const float *p, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}
#endif

enum { BATCH_ROWS = 64, BATCH_REPS = 300, BATCH_THREADS = 2 };

typedef struct {
    const vae_model *m;
    double best, total; /* seconds: the fastest decode of BATCH_ROWS rows, and all of them */
} batch_job;

static void *decode_batches(void *arg) {
    batch_job *j = arg;
    const int d = j->m->config.latent_dim;
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&j->m->config), BATCH_ROWS);
    float *z = malloc(sizeof(float) * BATCH_ROWS * (size_t)d), *x = malloc(sizeof(float) * BATCH_ROWS * 784);
    if (!ws || !z || !x) {
        fprintf(stderr, "bench_decode: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < BATCH_ROWS * d; i++) z[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    j->best = 1e9;
    j->total = 0;
    for (int rep = 0; rep < BATCH_REPS; rep++) {
        double t0 = now();
        vae_decode(j->m, ws, z, BATCH_ROWS, x);
        double t = now() - t0;
        j->total += t;
        if (t < j->best) j->best = t;
    }
    free(z);
    free(x);
    vae_workspace_destroy(ws);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_decode MODEL.safetensors\n");
        return 2;
    }
    vae_model *m;
    vae_error err;
    if (vae_weights_load(argv[1], &m, &err) != VAE_OK) {
        fprintf(stderr, "bench_decode: %s\n", err.message);
        return 1;
    }
    const vae_config *c = &m->config;
    size_t floats = 0; /* the decoder's weights and biases, as packed (32-output panels) */
    int in = c->latent_dim;
    for (int i = 0; i <= c->n_hidden; i++) {
        int out = i < c->n_hidden ? c->hidden[c->n_hidden - 1 - i] : 784;
        floats += (size_t)((out + 31) / 32) * 32 * (size_t)(in + 1);
        in = out;
    }
    vae_workspace *ws = vae_workspace_create(vae_config_max_width(c), 64);
    float *z = calloc((size_t)c->latent_dim, sizeof(float)), xhat[784];
    float *buf = malloc(floats * sizeof(float));
    for (size_t i = 0; i < floats; i++) buf[i] = 1e-3f * (float)(i % 1000);
    /* a model stored as F16 has every weight an F16 value, so its layers have F16 panels */
    const int half = m->param_dtype == VAE_DTYPE_F16;
    const size_t read_floats = half ? floats / 2 : floats;
    double best_decode = 1e9, best_read = 1e9;
    volatile float sink = 0;
    for (int rep = 0; rep < 2000; rep++) {
        double t0 = now();
        vae_decode(m, ws, z, 1, xhat);
        double t1 = now();
        sink += read_all(buf, read_floats);
        double t2 = now();
        if (t1 - t0 < best_decode) best_decode = t1 - t0;
        if (t2 - t1 < best_read) best_read = t2 - t1;
    }
    printf("panels %s\n", half ? "F16" : "F32");
    printf("decoder_weights_mb %.2f\n", read_floats * 4.0 / 1e6);
    printf("decode_1_row_us %.1f\n", best_decode * 1e6);
    printf("read_weights_us %.1f\n", best_read * 1e6);
    printf("read_gb_per_s %.1f\n", read_floats * 4.0 / best_read / 1e9);
    (void)sink;

    batch_job jobs[BATCH_THREADS];
    pthread_t threads[BATCH_THREADS];
    for (int t = 0; t < BATCH_THREADS; t++) {
        jobs[t] = (batch_job){.m = m};
        if (pthread_create(&threads[t], NULL, decode_batches, &jobs[t]) != 0) {
            fprintf(stderr, "bench_decode: cannot start a thread\n");
            return 1;
        }
    }
    double flops = 2.0 * (double)vae_config_decoder_macs(c) * BATCH_ROWS, best = 1e9, mean_sum = 0;
    for (int t = 0; t < BATCH_THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (jobs[t].best < best) best = jobs[t].best;
        mean_sum += flops / (jobs[t].total / BATCH_REPS);
    }
    printf("decode_64_rows_2_threads_best_gflops_per_thread %.1f\n", flops / best / 1e9);
    printf("decode_64_rows_2_threads_mean_gflops %.1f\n", mean_sum / 1e9);
    free(buf);
    free(z);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
    return 0;
}
