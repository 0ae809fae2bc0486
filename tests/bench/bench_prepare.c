/* Micro-benchmark of the image preparation: microseconds to decode and prepare one PNG
 * (vae_png_decode_prepared) with each normalize and invert option, single-threaded, the best of
 * several rounds (robust to a shared machine), for a 28x28 digit, a 112x112 page and a 1024x768 one
 * (dark ink on a light page with a little noise). make bench-prepare builds and runs it.
 *
 *   bench_prepare                      the table
 *   bench_prepare PICTURE OPTION REPS  only that (indices into the table's lists) REPS times, for
 *                                      valgrind --tool=callgrind: instructions do not depend on the
 *                                      machine's load (tests/bench/prepare_instructions.sh) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vae/png.h"

enum { ROUNDS = 7 };

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* A w x h page: a dark "7" (a bar and a stroke) on light paper with noise, as a grey PNG. */
static vae_buf page(int w, int h) {
    uint8_t *px = malloc((size_t)w * h);
    if (!px) abort();
    uint32_t s = 7;
    const int x0 = w / 3, y0 = h / 4, side = (h < w ? h : w) / 2, t = side / 8 + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int ink = (y >= y0 && y < y0 + t && x >= x0 && x < x0 + side) ||
                      (y >= y0 && y < y0 + side && abs((x - x0) - (side - (y - y0) / 2)) < t);
            s = s * 1664525u + 1013904223u;
            int v = (ink ? 30 : 235) + (int)(s >> 28) - 8;
            px[(size_t)y * w + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    vae_buf png = {0};
    if (vae_png_encode(px, w, h, 1, 6, &png, NULL) != VAE_OK) abort();
    free(px);
    return png;
}

int main(int argc, char **argv) {
    const struct { const char *name; int w, h, reps; } pics[] = {
        {"28x28", 28, 28, 2000}, {"112x112", 112, 112, 300}, {"1024x768", 1024, 768, 5}};
    const struct { const char *name; vae_prepare_options o; } opts[] = {
        {"normalize=none invert=yes (the plain decoder)", {VAE_NORMALIZE_NONE, VAE_INVERT_YES}},
        {"normalize=none invert=auto", {VAE_NORMALIZE_NONE, VAE_INVERT_AUTO}},
        {"normalize=mnist invert=yes", {VAE_NORMALIZE_MNIST, VAE_INVERT_YES}},
        {"normalize=mnist invert=auto", {VAE_NORMALIZE_MNIST, VAE_INVERT_AUTO}},
        {"normalize=fill invert=auto", {VAE_NORMALIZE_FILL, VAE_INVERT_AUTO}},
    };
    vae_buf work = {0};
    if (argc == 4) {
        const int p = atoi(argv[1]), k = atoi(argv[2]), reps = atoi(argv[3]);
        if (p < 0 || p > 2 || k < 0 || k >= (int)(sizeof opts / sizeof opts[0])) return 2;
        vae_buf png = page(pics[p].w, pics[p].h);
        for (int i = 0; i < reps; i++) {
            float out[VAE_INPUT_DIM];
            if (vae_png_decode_prepared(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &opts[k].o, &work, out, NULL,
                                        NULL, NULL) != VAE_OK)
                return 1;
        }
        printf("%s, %s\n", pics[p].name, opts[k].name);
        vae_buf_free(&png);
        vae_buf_free(&work);
        return 0;
    }
    printf("| picture | PNG bytes | options | us per image | vs plain |\n| --- | --- | --- | --- | --- |\n");
    for (size_t p = 0; p < sizeof pics / sizeof pics[0]; p++) {
        vae_buf png = page(pics[p].w, pics[p].h);
        double plain = 0;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            double best = INFINITY;
            for (int r = 0; r < ROUNDS; r++) {
                double t0 = now_us();
                for (int i = 0; i < pics[p].reps; i++) {
                    float out[VAE_INPUT_DIM];
                    vae_error err = {0};
                    if (vae_png_decode_prepared(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &opts[k].o, &work, out,
                                                NULL, NULL, &err) != VAE_OK) {
                        fprintf(stderr, "%s %s: %s\n", pics[p].name, opts[k].name, err.message);
                        return 1;
                    }
                }
                double us = (now_us() - t0) / pics[p].reps;
                if (us < best) best = us;
            }
            if (k == 0) plain = best;
            printf("| %s | %zu | %s | %.1f | %.2fx |\n", pics[p].name, png.len, opts[k].name, best, best / plain);
        }
        vae_buf_free(&png);
    }
    vae_buf_free(&work);
    return 0;
}
