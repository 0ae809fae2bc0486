/* The compute ceiling for `make bench`: what this CPU can do, measured, not assumed.
 *   - an FMA-throughput probe per instruction set the CPU reports (AVX-512, AVX2+FMA), on THREADS
 *     threads at once: each thread runs independent chains of vector FMAs held in registers, no
 *     memory traffic, so the figure is the FMA units' throughput at the clock the machine gives now;
 *   - OpenBLAS sgemm 1536^3 on THREADS threads, with the kernel OpenBLAS detected (its name printed),
 *     as a cross-check: with the kernel that matches the CPU it should land within ~10% below the probe.
 * Usage: peak_flops THREADS [--repeat N]   Prints "key value" lines; the ceiling is the "peak" line:
 * the best probe, the most this machine's FMA units gave in this run. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PROBE_X86 1
#endif

char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* FLOPs per call of each probe: chains x lanes x 2 (multiply and add) x iterations. */
#define ITERS 200000L
#define CHAINS 12 /* enough independent chains to cover 2 FMA pipes x 4-6 cycles of latency */

#ifdef PROBE_X86
__attribute__((target("avx512f"), noinline)) static float probe_avx512(float seed) {
    __m512 acc[CHAINS], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps(seed + (float)c);
    for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
        __asm__ volatile("" : "+v"(x)); /* keep the loop from being folded */
    }
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float probe_avx2(float seed) {
    __m256 acc[CHAINS], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps(seed + (float)c);
    for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
        __asm__ volatile("" : "+x"(x));
    }
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[7];
}
#endif

typedef struct {
    int lanes; /* 16 or 8 */
    pthread_barrier_t *start;
    double began, ended;
    float sink;
} probe_arg;

static void *probe_thread(void *p) {
    probe_arg *a = p;
    pthread_barrier_wait(a->start);
    a->began = now();
#ifdef PROBE_X86
    a->sink = a->lanes == 16 ? probe_avx512(1.0f) : probe_avx2(1.0f);
#endif
    a->ended = now();
    return NULL;
}

/* GFLOP/s of `threads` threads running the probe at once: over the wall time from the first start to
 * the last end, so that threads the scheduler ran one after the other (on one core) count as what
 * they are, one core. */
static double probe(int lanes, int threads) {
    pthread_t tid[64];
    probe_arg args[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        args[t] = (probe_arg){.lanes = lanes, .start = &start};
        pthread_create(&tid[t], NULL, probe_thread, &args[t]);
    }
    double first = 1e300, last = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (args[t].began < first) first = args[t].began;
        if (args[t].ended > last) last = args[t].ended;
    }
    double seconds = last - first;
    pthread_barrier_destroy(&start);
    return (double)threads * CHAINS * lanes * 2.0 * ITERS / seconds / 1e9;
}

static double sgemm_gflops(int threads) {
    openblas_set_num_threads(threads);
    const int n = 1536;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double flops = 2.0 * n * n * (double)n / (now() - t0);
        if (flops > best) best = flops;
    }
    free(a);
    free(b);
    free(c);
    return best / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, repeat = 5;
    if (argc > 3 && !strcmp(argv[2], "--repeat")) repeat = atoi(argv[3]);
    if (threads < 1 || threads > 64) threads = 1;
    double best512 = 0, best2 = 0, peak = 0, worst = 1e300;
    const char *peak_isa = "none";
#ifdef PROBE_X86
    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f");
    const int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    /* the best of several short runs: a probe run is ~10 ms, and a neighbour's burst should not set
     * the ceiling; both kinds alternate so that both see the same machine */
    for (int r = 0; r < repeat; r++) {
        if (has512) {
            double g = probe(16, threads);
            if (g > best512) best512 = g;
            if (g < worst) worst = g;
        }
        if (has2) {
            double g = probe(8, threads);
            if (g > best2) best2 = g;
            if (g < worst) worst = g;
        }
    }
    if (has512) printf("probe_avx512 %.1f\n", best512);
    if (has2) printf("probe_avx2 %.1f\n", best2);
    if (best512 >= best2 && best512 > 0) peak = best512, peak_isa = "avx512";
    else if (best2 > 0) peak = best2, peak_isa = "avx2";
    /* the slowest probe run: about half the best when the scheduler ran the threads on one core */
    if (peak > 0) printf("probe_worst %.1f\n", worst);
    printf("cpu_isa %s\n", has512 ? "avx512" : has2 ? "avx2" : "generic");
#endif
    double blas = sgemm_gflops(threads);
    printf("openblas_sgemm %.1f\n", blas);
    printf("openblas_core %s\n", openblas_get_corename());
    if (peak == 0) peak = blas, peak_isa = "openblas"; /* no probe for this CPU: the library's figure */
    printf("peak %.1f\n", peak);
    printf("peak_isa %s\n", peak_isa);
    printf("threads %d\n", threads);
    return 0;
}
