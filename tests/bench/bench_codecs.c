/* Micro-benchmark of the reply codecs: ns per float for vae_json_format_float against snprintf, and
 * MB/s of base64 decoding and encoding. Standalone (not run by make test); build and run with
make build/libvae.a && gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Iserver tests/bench/bench_codecs.c server/json_write.c server/base64.c build/libvae.a $(pkg-config --libs libpng zlib) -lm -o build/bench_codecs && build/bench_codecs
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "json_write.h"
#include "vae/rng.h"

enum { N_FLOATS = 1 << 18, REPEATS = 7 };

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile size_t sink; /* keeps the work observable */

typedef size_t (*float_printer)(char *out, float v);

static size_t print_shortest(char *out, float v) { return vae_json_format_float(out, v); }
static size_t print_9g(char *out, float v) { return (size_t)snprintf(out, 32, "%.9g", (double)v); }
static size_t print_g(char *out, float v) { return (size_t)snprintf(out, 32, "%g", (double)v); }

/* Best-of-REPEATS ns per float, and the average length printed. */
static double time_printer(float_printer print, const float *v, size_t n, double *avg_len) {
    char out[64];
    double best = 1e300;
    size_t total = 0;
    for (int r = 0; r < REPEATS; r++) {
        total = 0;
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++) total += print(out, v[i]);
        double t = (now_ns() - t0) / (double)n;
        if (t < best) best = t;
    }
    sink += total;
    *avg_len = (double)total / (double)n;
    return best;
}

static void bench_floats(const char *name, const float *v, size_t n) {
    double len_s, len_9, len_g;
    double s = time_printer(print_shortest, v, n, &len_s);
    double g9 = time_printer(print_9g, v, n, &len_9);
    double g = time_printer(print_g, v, n, &len_g);
    printf("%-28s shortest %6.1f ns (%4.1f chars)   %%.9g %6.1f ns (%4.1f)   %%g %6.1f ns (%4.1f, lossy)\n", name,
           s, len_s, g9, len_9, g, len_g);
}

static void bench_array(const float *v, size_t n) {
    vae_buf buf = {0};
    double best = 1e300;
    for (int r = 0; r < REPEATS; r++) {
        buf.len = 0;
        double t0 = now_ns();
        vae_json_float_rows(&buf, v, n / 784, 784);
        double t = (now_ns() - t0) / (double)(n / 784 * 784);
        if (t < best) best = t;
    }
    printf("%-28s %6.1f ns per float, %zu bytes for %zu floats\n", "vae_json_float_rows", best, buf.len,
           n / 784 * 784);
    vae_buf_free(&buf);
}

static void bench_base64(void) {
    enum { BYTES = 4 << 20 };
    uint8_t *data = malloc(BYTES), *back = malloc(BYTES);
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    for (size_t i = 0; i < BYTES; i++) data[i] = (uint8_t)vae_rng_u64(&rng);
    vae_buf text = {0}, wrapped = {0};
    double best_enc = 1e300;
    for (int r = 0; r < REPEATS; r++) {
        text.len = 0;
        double t0 = now_ns();
        vae_base64_encode(data, BYTES, &text);
        double t = now_ns() - t0;
        if (t < best_enc) best_enc = t;
    }
    for (size_t i = 0; i < text.len; i += 76) { /* the `base64` tool's layout */
        size_t n = text.len - i < 76 ? text.len - i : 76;
        vae_buf_append(&wrapped, text.data + i, n);
        vae_buf_append(&wrapped, "\n", 1);
    }
    const vae_buf *inputs[2] = {&text, &wrapped};
    const char *names[2] = {"base64 decode (one line)", "base64 decode (76-col lines)"};
    for (int k = 0; k < 2; k++) {
        double best = 1e300;
        size_t got = 0;
        for (int r = 0; r < REPEATS; r++) {
            double t0 = now_ns();
            vae_status st = vae_base64_decode((const char *)inputs[k]->data, inputs[k]->len, back, BYTES, &got, NULL);
            double t = now_ns() - t0;
            if (st != VAE_OK || got != BYTES || memcmp(back, data, BYTES) != 0) {
                printf("%s: round trip failed\n", names[k]);
                exit(1);
            }
            if (t < best) best = t;
        }
        printf("%-28s %7.0f MB/s of base64 text\n", names[k], (double)inputs[k]->len / best * 1e3);
    }
    printf("%-28s %7.0f MB/s of input bytes\n", "base64 encode", (double)BYTES / best_enc * 1e3);
    vae_buf_free(&text);
    vae_buf_free(&wrapped);
    free(data);
    free(back);
}

int main(void) {
    float *v = malloc(sizeof(float) * N_FLOATS);
    vae_rng rng;
    vae_rng_seed(&rng, 42);

    /* decoder output: sigmoid of a normal, mostly mid-range, some saturated near 0 and 1 */
    for (size_t i = 0; i < N_FLOATS; i++) {
        double z = vae_rng_normal(&rng) * 4.0;
        v[i] = (float)(1.0 / (1.0 + exp(-z)));
    }
    bench_floats("pixels (sigmoid outputs)", v, N_FLOATS);
    bench_array(v, N_FLOATS);
    for (size_t i = 0; i < N_FLOATS; i++) v[i] = (float)vae_rng_below(&rng, 256) / 255.0f;
    bench_floats("pixels (multiples of 1/255)", v, N_FLOATS);
    for (size_t i = 0; i < N_FLOATS; i++) v[i] = (float)vae_rng_normal(&rng) * 2.0f;
    bench_floats("latents (normal, sd 2)", v, N_FLOATS);
    for (size_t i = 0; i < N_FLOATS; i++) {
        uint32_t b;
        do b = (uint32_t)vae_rng_u64(&rng);
        while (((b >> 23) & 0xff) == 0xff);
        memcpy(&v[i], &b, sizeof b);
    }
    bench_floats("random bit patterns", v, N_FLOATS);
    free(v);

    bench_base64();
    return sink == 0;
}
