/* Training kernels (see kernels.h): the three matrix products of a linear layer (forward, input
 * gradient, weight gradient) as register-blocked AVX-512 / AVX2+FMA micro-kernels split over a small
 * thread pool, Adam, and the fused BCE. OpenBLAS is the portable fallback (generic ISA) and the
 * reference the tests compare against. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels_simd.h"

/* ---- the pool ---- */

typedef void (*pool_fn)(void *ctx, int thread, int threads);

struct vae_kernel_pool {
    int threads, max_k;
    float **scratch; /* per thread: one B panel, 32 x max_k floats */
    pthread_t *helpers;
    int started;     /* helpers running */
    pool_fn fn;      /* the current job, written by the caller before it bumps gen */
    void *ctx;
    _Atomic unsigned gen; /* bumped once per job */
    _Atomic int done;     /* helpers that finished the current job */
    _Atomic int sleepers; /* helpers blocked on wake */
    _Atomic int stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

typedef struct {
    vae_kernel_pool *pool;
    int index;
} helper_arg;

static void cpu_relax(void) {
#ifdef VAE_X86
    _mm_pause();
#endif
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waiting, on both sides: spin for a few microseconds (a training step's products come that close
 * together, and a futex wake-up costs tens of microseconds here), then yield the core between looks
 * (the other party may be waiting for this very core: a loaded machine, or a scheduler that packs
 * threads onto fewer CPUs, as some virtual machines' do), then, for a helper idle this long, sleep. */
#define POOL_SPIN_SECONDS 20e-6
#define POOL_YIELD_SECONDS 2e-3

/* Returns 1 once `ready` holds, spinning then yielding; 0 if it did not within POOL_YIELD_SECONDS. */
#define WAIT_UNTIL(ready)                                                                          \
    do {                                                                                           \
        double started_ = 0;                                                                       \
        for (unsigned spins_ = 0; !(ready); spins_++) {                                            \
            if (spins_ < 64) {                                                                     \
                cpu_relax();                                                                       \
                continue;                                                                          \
            }                                                                                      \
            double t_ = seconds_now();                                                             \
            if (started_ == 0) started_ = t_;                                                      \
            else if (t_ - started_ > POOL_YIELD_SECONDS) break;                                    \
            if (t_ - started_ > POOL_SPIN_SECONDS) sched_yield();                                  \
            else cpu_relax();                                                                      \
        }                                                                                          \
    } while (0)

static unsigned wait_for_job(vae_kernel_pool *pool, unsigned seen) {
    unsigned g;
    WAIT_UNTIL((g = atomic_load_explicit(&pool->gen, memory_order_acquire)) != seen);
    if (g != seen) return g;
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->sleepers, 1);
    while ((g = atomic_load(&pool->gen)) == seen) pthread_cond_wait(&pool->wake, &pool->lock);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->lock);
    return g;
}

static void *helper_main(void *arg) {
    helper_arg *h = arg;
    vae_kernel_pool *pool = h->pool;
    const int index = h->index;
    free(h);
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load(&pool->stop)) break;
        pool->fn(pool->ctx, index, pool->threads);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
    }
    return NULL;
}

static void pool_post(vae_kernel_pool *pool) {
    atomic_fetch_add(&pool->gen, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Runs fn(ctx, t, T) for t = 0..T-1, t = 0 on the calling thread; returns when all have. */
static void pool_run(vae_kernel_pool *pool, pool_fn fn, void *ctx) {
    if (!pool || pool->threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    pool_post(pool);
    fn(ctx, 0, pool->threads);
    while (atomic_load_explicit(&pool->done, memory_order_acquire) < pool->threads - 1)
        WAIT_UNTIL(atomic_load_explicit(&pool->done, memory_order_acquire) == pool->threads - 1);
}

vae_kernel_pool *vae_kernel_pool_create(int threads, int max_k) {
    if (threads < 1 || max_k < 1) return NULL;
    vae_kernel_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    pool->max_k = max_k;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->scratch = calloc((size_t)threads, sizeof *pool->scratch);
    pool->helpers = calloc((size_t)threads, sizeof *pool->helpers);
    if (!pool->scratch || !pool->helpers) goto fail;
    size_t bytes = ((size_t)VAE_PANEL * (size_t)max_k * sizeof(float) + 63) & ~(size_t)63;
    for (int t = 0; t < threads; t++)
        if (!(pool->scratch[t] = aligned_alloc(64, bytes))) goto fail;
    for (int t = 1; t < threads; t++) {
        helper_arg *h = malloc(sizeof *h);
        if (!h) goto fail;
        h->pool = pool;
        h->index = t;
        if (pthread_create(&pool->helpers[t], NULL, helper_main, h) != 0) {
            free(h);
            goto fail;
        }
        pool->started = t;
    }
    return pool;
fail:
    vae_kernel_pool_destroy(pool);
    return NULL;
}

void vae_kernel_pool_destroy(vae_kernel_pool *pool) {
    if (!pool) return;
    if (pool->started) {
        atomic_store(&pool->stop, 1);
        pool_post(pool);
        for (int t = 1; t <= pool->started; t++) pthread_join(pool->helpers[t], NULL);
    }
    if (pool->scratch)
        for (int t = 0; t < pool->threads; t++) free(pool->scratch[t]);
    free(pool->scratch);
    free(pool->helpers);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool);
}

int vae_kernel_pool_threads(const vae_kernel_pool *pool) { return pool ? pool->threads : 1; }

void vae_kernel_pool_run(vae_kernel_pool *pool, void (*fn)(void *ctx, int part, int parts), void *ctx) {
    pool_run(pool, fn, ctx);
}

/* [lo, hi) of n items for thread t of T, boundaries on multiples of `align` (a ragged end last). */
static void share(size_t n, size_t align, int t, int T, size_t *lo, size_t *hi) {
    size_t units = (n + align - 1) / align;
    *lo = units * (size_t)t / (size_t)T * align;
    *hi = units * (size_t)(t + 1) / (size_t)T * align;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* ---- Adam and the BCE ---- */

static void adam_generic(float *p, float *m, float *v, const float *g, size_t n, float b1, float b2,
                         float step_size, float bc2_sqrt, float eps, float decay) {
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

#ifdef VAE_X86
__attribute__((target("avx512f"))) static void adam_avx512(float *p, float *m, float *v, const float *g,
                                                            size_t n, float b1, float b2, float step_size,
                                                            float bc2_sqrt, float eps, float decay) {
    const __m512 vb1 = _mm512_set1_ps(b1), vb1c = _mm512_set1_ps(1.0f - b1);
    const __m512 vb2 = _mm512_set1_ps(b2), vb2c = _mm512_set1_ps(1.0f - b2);
    const __m512 vstep = _mm512_set1_ps(step_size), vbc2 = _mm512_set1_ps(bc2_sqrt);
    const __m512 veps = _mm512_set1_ps(eps), vdecay = _mm512_set1_ps(decay);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_fmadd_ps(vb1, _mm512_loadu_ps(m + i), _mm512_mul_ps(vb1c, gi));
        __m512 vi = _mm512_fmadd_ps(vb2, _mm512_loadu_ps(v + i), _mm512_mul_ps(vb2c, _mm512_mul_ps(gi, gi)));
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), vbc2), veps);
        __m512 pi = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), vdecay),
                                  _mm512_div_ps(_mm512_mul_ps(vstep, mi), denom));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(p + i, pi);
    }
    adam_generic(p + i, m + i, v + i, g + i, n - i, b1, b2, step_size, bc2_sqrt, eps, decay);
}

__attribute__((target("avx2,fma"))) static void adam_avx2(float *p, float *m, float *v, const float *g,
                                                          size_t n, float b1, float b2, float step_size,
                                                          float bc2_sqrt, float eps, float decay) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb1c = _mm256_set1_ps(1.0f - b1);
    const __m256 vb2 = _mm256_set1_ps(b2), vb2c = _mm256_set1_ps(1.0f - b2);
    const __m256 vstep = _mm256_set1_ps(step_size), vbc2 = _mm256_set1_ps(bc2_sqrt);
    const __m256 veps = _mm256_set1_ps(eps), vdecay = _mm256_set1_ps(decay);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(m + i), _mm256_mul_ps(vb1c, gi));
        __m256 vi = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(v + i), _mm256_mul_ps(vb2c, _mm256_mul_ps(gi, gi)));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc2), veps);
        __m256 pi = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), vdecay),
                                  _mm256_div_ps(_mm256_mul_ps(vstep, mi), denom));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    adam_generic(p + i, m + i, v + i, g + i, n - i, b1, b2, step_size, bc2_sqrt, eps, decay);
}

/* BCE from logits, 16 at a time: e = exp(-|l|) (Cody-Waite as in sigmoid16), loss = max(l,0) - l*t +
 * log1p(e) with log1p(e) = 2 atanh(e / (2 + e)) by its odd series to u^13 (e <= 1, so u <= 1/3:
 * relative error below 5e-9), gradient sigmoid(l) - t with sigmoid(l) = 1/(1+e) or e/(1+e). */
__attribute__((target("avx512f"))) static inline __m512 bce16(__m512 l, __m512 t, __m512 *grad) {
    __m512 a = _mm512_abs_ps(l);
    __m512 v = _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), _mm512_set1_ps(-87.0f));
    __m512 e = vae_exp16(v);
    __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    __mmask16 neg = _mm512_cmp_ps_mask(l, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 s = _mm512_mask_mul_ps(inv, neg, e, inv);
    *grad = _mm512_sub_ps(s, t);
    __m512 u = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.0f), e));
    __m512 u2 = _mm512_mul_ps(u, u);
    __m512 q = _mm512_set1_ps(1.0f / 13.0f);
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 11.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 9.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 7.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 5.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f / 3.0f));
    q = _mm512_fmadd_ps(q, u2, _mm512_set1_ps(1.0f));
    __m512 log1p_e = _mm512_mul_ps(_mm512_add_ps(u, u), q);
    __m512 loss = _mm512_fnmadd_ps(l, t, _mm512_max_ps(l, _mm512_setzero_ps()));
    return _mm512_add_ps(loss, log1p_e);
}

__attribute__((target("avx512f"))) static double bce_avx512(float *dlogits, const float *logits,
                                                            const float *target, size_t n, float scale) {
    double total = 0.0;
    const __m512 vscale = _mm512_set1_ps(scale);
    size_t i = 0;
    /* sums in float lanes over short stretches, then in double: the loss of a batch is ~1e5 */
    while (i < n) {
        __m512 acc = _mm512_setzero_ps();
        size_t stop = n - i > 1024 ? i + 1024 : n;
        for (; i + 16 <= stop; i += 16) {
            __m512 grad;
            acc = _mm512_add_ps(acc, bce16(_mm512_loadu_ps(logits + i), _mm512_loadu_ps(target + i), &grad));
            _mm512_storeu_ps(dlogits + i, _mm512_mul_ps(vscale, grad));
        }
        if (i < stop) {
            __mmask16 mask = (__mmask16)((1u << (stop - i)) - 1);
            __m512 grad;
            __m512 loss = bce16(_mm512_maskz_loadu_ps(mask, logits + i), _mm512_maskz_loadu_ps(mask, target + i),
                                &grad);
            acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(mask, loss));
            _mm512_mask_storeu_ps(dlogits + i, mask, _mm512_mul_ps(vscale, grad));
            i = stop;
        }
        total += (double)_mm512_reduce_add_ps(acc);
    }
    return total;
}

__attribute__((target("avx2,fma"))) static inline __m256 bce8(__m256 l, __m256 t, __m256 *grad) {
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), l);
    __m256 v = _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), _mm256_set1_ps(-87.0f));
    __m256 e = vae_exp8(v);
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    __m256 neg = _mm256_cmp_ps(l, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 s = _mm256_blendv_ps(inv, _mm256_mul_ps(e, inv), neg);
    *grad = _mm256_sub_ps(s, t);
    __m256 u = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e));
    __m256 u2 = _mm256_mul_ps(u, u);
    __m256 q = _mm256_set1_ps(1.0f / 13.0f);
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 11.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 9.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 7.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 5.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f / 3.0f));
    q = _mm256_fmadd_ps(q, u2, _mm256_set1_ps(1.0f));
    __m256 log1p_e = _mm256_mul_ps(_mm256_add_ps(u, u), q);
    __m256 loss = _mm256_fnmadd_ps(l, t, _mm256_max_ps(l, _mm256_setzero_ps()));
    return _mm256_add_ps(loss, log1p_e);
}

__attribute__((target("avx2,fma"))) static double bce_avx2(float *dlogits, const float *logits,
                                                           const float *target, size_t n, float scale) {
    double total = 0.0;
    const __m256 vscale = _mm256_set1_ps(scale);
    size_t i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        size_t stop = n - i > 1024 ? i + 1024 : n;
        for (; i + 8 <= stop; i += 8) {
            __m256 grad;
            acc = _mm256_add_ps(acc, bce8(_mm256_loadu_ps(logits + i), _mm256_loadu_ps(target + i), &grad));
            _mm256_storeu_ps(dlogits + i, _mm256_mul_ps(vscale, grad));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int k = 0; k < 8; k++) total += lanes[k];
    }
    /* the last few (fewer than 8) take the scalar path */
    if (i < n) total += vae_bce_logits_forward_backward(dlogits + i, logits + i, target + i, n - i, scale);
    return total;
}


#endif

/* ---- the matrix products ---- */

/* One product C (M,N) = init + A (M,K) @ B (K,N), in the forms a linear layer's three products take:
 *   A(i,k) = a[i*lda + k], or a[k*lda + i] when a_cols (dout read transposed, for dweight);
 *   B(k,j) = b[k*ldb + j], or, when b_pack, W^T for a weight W (N,K) stored b[j*ldb + k], which each
 *   thread repacks panel by panel into its scratch (the micro-kernel wants B's rows contiguous);
 *   init: zero, the bias row (N), or C itself (the gradients accumulate). */
typedef enum { INIT_ZERO, INIT_BIAS, INIT_C } gemm_init;

/* What happens at the store, fused so that no extra pass over C is needed:
 *   act: also act = ep(C) (relu or leaky relu), the activation a forward layer feeds on;
 *   gate: C = C * ep'(gate) (gate > 0 ? 1 : 0 or the leaky slope), the activation's backward. */
typedef struct {
    float *act;        /* like C, or NULL */
    const float *gate; /* like C, or NULL */
    vae_epilogue ep;
} gemm_store;

typedef struct {
    float *c;
    const float *a, *b, *bias;
    int ldc, lda, ldb, a_cols, b_pack;
    int M, N, K;
    gemm_init init;
    gemm_store st;
} gemm;

/* Half-panels of width hp that `cols` columns cost (a partial panel of at most hp costs one). */
static long col_units(int cols, int hp) { return (cols + hp - 1) / hp; }

/* The rows [m0,m1) and columns [n0,n1) of C that thread t of T computes. Split along N (in steps of
 * half a panel) or along M (in row blocks of mr), whichever leaves the busiest thread less work;
 * N on a tie, so that a packed weight panel is packed by one thread only. Depends on the sizes and
 * T only, so a given thread count always splits the same way. */
static void split(const gemm *g, int mr, int hp, int t, int T, int *m0, int *m1, int *n0, int *n1) {
    const long rows_units = (g->M + mr - 1) / mr, all_cols = col_units(g->N, hp);
    long worst_n = 0, worst_m = 0;
    for (int u = 0; u < T; u++) {
        size_t lo, hi;
        share((size_t)g->N, (size_t)hp, u, T, &lo, &hi);
        long c = col_units((int)(hi - lo), hp) * rows_units;
        if (c > worst_n) worst_n = c;
        share((size_t)g->M, (size_t)mr, u, T, &lo, &hi);
        c = (long)((hi - lo + (size_t)mr - 1) / (size_t)mr) * all_cols;
        if (c > worst_m) worst_m = c;
    }
    size_t lo, hi;
    if (worst_n <= worst_m) {
        share((size_t)g->N, (size_t)hp, t, T, &lo, &hi);
        *m0 = 0, *m1 = g->M, *n0 = (int)lo, *n1 = (int)hi;
    } else {
        share((size_t)g->M, (size_t)mr, t, T, &lo, &hi);
        *m0 = (int)lo, *m1 = (int)hi, *n0 = 0, *n1 = g->N;
    }
}

/* K rows of `cols` floats from src (stride lds) into dst (stride ldd), zero-padded to ldd. */
static void copy_strip(float *dst, int ldd, const float *src, int lds, int K, int cols) {
    for (int k = 0; k < K; k++) {
        memcpy(dst + (size_t)k * ldd, src + (size_t)k * lds, (size_t)cols * sizeof(float));
        memset(dst + (size_t)k * ldd + cols, 0, (size_t)(ldd - cols) * sizeof(float));
    }
}

#ifdef VAE_X86
/* r[0..15] (16 rows of 16) becomes its transpose: unpack pairs, then 4x4 blocks within each 128-bit
 * lane, then the 4x4 transpose of lanes across the registers. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* now lane l of r[4q + m] holds column 4l + m of rows 4q..4q+3 */
    for (int m = 0; m < 4; m++) {
        __m512 s0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44), s1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
        __m512 s2 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44),
               s3 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
        t[m] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        t[4 + m] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
        t[8 + m] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* dst (K, 32) = the transpose of `cols` (<= 32) rows of W, w[j*ldw + k]; columns past cols are zero,
 * and past 16 not written at all when cols <= 16 (the one-vector tile reads only 16). */
__attribute__((target("avx512f"))) static void pack_wt_avx512(float *dst, const float *w, int ldw, int K,
                                                               int cols) {
    for (int k0 = 0; k0 < K; k0 += 16) {
        const int kn = K - k0 < 16 ? K - k0 : 16;
        const __mmask16 km = (__mmask16)(kn == 16 ? 0xFFFF : (1u << kn) - 1);
        for (int half = 0; half < 2 && half * 16 < cols; half++) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) {
                int row = half * 16 + j;
                r[j] = row < cols ? _mm512_maskz_loadu_ps(km, w + (size_t)row * ldw + k0) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (int kk = 0; kk < kn; kk++) _mm512_store_ps(dst + (size_t)(k0 + kk) * 32 + half * 16, r[kk]);
        }
    }
}

/* One tile of C: R (<= 12) rows by NV (1 or 2) vectors of 16 columns, `cols` of them stored, with
 * R x NV accumulators (24 at most) held in registers through the whole K loop; B's rows are read 16*NV
 * wide. R, NV and A_COLS are constants after inlining. */
/* ep(v): relu is max(v, 0), which is v > 0 ? v : 0 for every v, NaN and -0 included; leaky relu v > 0 ?
 * v : slope * v. With `gate`, the same selection by gate > 0 instead of v > 0 (the derivative). */
__attribute__((target("avx512f"), always_inline)) static inline __m512 select512(__m512 v, __m512 by, vae_epilogue ep) {
    __mmask16 pos = _mm512_cmp_ps_mask(by, _mm512_setzero_ps(), _CMP_GT_OQ);
    return ep == VAE_EPILOGUE_RELU ? _mm512_maskz_mov_ps(pos, v)
                                   : _mm512_mask_mov_ps(_mm512_mul_ps(v, _mm512_set1_ps(VAE_LEAKY_SLOPE)), pos, v);
}

__attribute__((target("avx512f"), always_inline)) static inline void store512(float *c, const gemm_store *st,
                                                                            size_t at, __mmask16 m, __m512 v) {
    if (st->gate) v = select512(v, _mm512_maskz_loadu_ps(m, st->gate + at), st->ep);
    _mm512_mask_storeu_ps(c + at, m, v);
    if (st->act) _mm512_mask_storeu_ps(st->act + at, m, select512(v, v, st->ep));
}

__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512(
    float *c, int ldc, const float *a, int lda, const float *b, int ldb, int K, int cols, gemm_init init,
    const float *bias, const gemm_store *st, const int R, const int NV, const int A_COLS) {
    __m512 acc[12][2];
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xFFFF : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
    if (init == INIT_C) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + (size_t)r * ldc);
            acc[r][1] = NV == 2 ? _mm512_maskz_loadu_ps(m1, c + (size_t)r * ldc + 16) : _mm512_setzero_ps();
        }
    } else {
        __m512 b0 = init == INIT_BIAS ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
        __m512 b1 = init == INIT_BIAS && NV == 2 ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) acc[r][0] = b0, acc[r][1] = b1;
    }
    for (int k = 0; k < K; k++) {
        const float *bk = b + (size_t)k * ldb;
        const __m512 w0 = _mm512_loadu_ps(bk), w1 = NV == 2 ? _mm512_loadu_ps(bk + 16) : w0;
        const float *ak = A_COLS ? a + (size_t)k * lda : a + k;
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(A_COLS ? ak[r] : ak[(size_t)r * lda]);
            acc[r][0] = _mm512_fmadd_ps(w0, x, acc[r][0]);
            if (NV == 2) acc[r][1] = _mm512_fmadd_ps(w1, x, acc[r][1]);
        }
    }
    if (!st->act && !st->gate) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            _mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, acc[r][0]);
            if (NV == 2) _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, acc[r][1]);
        }
        return;
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        store512(c, st, (size_t)r * ldc, m0, acc[r][0]);
        if (NV == 2) store512(c, st, (size_t)r * ldc + 16, m1, acc[r][1]);
    }
}

#define TILE512_CASE(RR)                                                                             \
    case RR:                                                                                         \
        if (a_cols) {                                                                                \
            if (nv == 2) tile_avx512(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 2, 1);         \
            else tile_avx512(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 1, 1);                 \
        } else {                                                                                     \
            if (nv == 2) tile_avx512(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 2, 0);         \
            else tile_avx512(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 1, 0);                 \
        }                                                                                            \
        break;

__attribute__((target("avx512f"))) static void tile_avx512_any(float *c, int ldc, const float *a, int lda,
                                                                int a_cols, const float *b, int ldb, int K,
                                                                int R, int nv, int cols, gemm_init init,
                                                                const float *bias, const gemm_store *st) {
    switch (R) {
        TILE512_CASE(1)
        TILE512_CASE(2)
        TILE512_CASE(3)
        TILE512_CASE(4)
        TILE512_CASE(5)
        TILE512_CASE(6)
        TILE512_CASE(7)
        TILE512_CASE(8)
        TILE512_CASE(9)
        TILE512_CASE(10)
        TILE512_CASE(11)
        TILE512_CASE(12)
    }
}

/* The rows [m0,m1) x columns [n0,n1) of the product, 32-column panels outside, 12-row tiles inside,
 * so that a panel of B stays in the L1/L2 cache while every row tile of A passes over it. */
__attribute__((target("avx512f"))) static void gemm_avx512(const gemm *g, int m0, int m1, int n0, int n1,
                                                            float *scratch) {
    for (int n = n0; n < n1; n += 32) {
        const int cols = n1 - n < 32 ? n1 - n : 32, nv = cols > 16 ? 2 : 1;
        const float *bp = g->b + n;
        int ldb = g->ldb;
        if (g->b_pack) {
            pack_wt_avx512(scratch, g->b + (size_t)n * g->ldb, g->ldb, g->K, cols);
            bp = scratch, ldb = 32;
        } else if (cols != 16 * nv) {
            copy_strip(scratch, 32, g->b + n, g->ldb, g->K, cols);
            bp = scratch, ldb = 32;
        }
        for (int i = m0; i < m1; i += 12) {
            const int R = m1 - i < 12 ? m1 - i : 12;
            const float *a = g->a_cols ? g->a + i : g->a + (size_t)i * g->lda;
            const size_t at = (size_t)i * g->ldc + n;
            const gemm_store st = {g->st.act ? g->st.act + at : NULL, g->st.gate ? g->st.gate + at : NULL, g->st.ep};
            tile_avx512_any(g->c + at, g->ldc, a, g->lda, g->a_cols, bp, ldb, g->K, R, nv, cols, g->init,
                            g->bias ? g->bias + n : NULL, &st);
        }
    }
}

/* dbias[o0..o1) += the column sums of dout (B, OC), row by row (the order of the scalar loop). */
__attribute__((target("avx512f"))) static void colsum_avx512(float *dbias, const float *dout, int B, int OC,
                                                              int o0, int o1) {
    for (int o = o0; o < o1; o += 16) {
        const __mmask16 m = (__mmask16)(o1 - o >= 16 ? 0xFFFF : (1u << (o1 - o)) - 1);
        __m512 s = _mm512_maskz_loadu_ps(m, dbias + o);
        for (int b = 0; b < B; b++) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, dout + (size_t)b * OC + o));
        _mm512_mask_storeu_ps(dbias + o, m, s);
    }
}

/* The AVX2 versions: panels of 16 columns (two ymm), tiles of up to 6 rows (12 accumulators, two
 * weights and one broadcast in the 16 ymm registers). */
__attribute__((target("avx2,fma"), always_inline)) static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int m = 0; m < 4; m++) {
        t[m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
        t[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* dst (K, 16) = the transpose of `cols` (<= 16) rows of W; as pack_wt_avx512. */
__attribute__((target("avx2,fma"))) static void pack_wt_avx2(float *dst, const float *w, int ldw, int K,
                                                              int cols) {
    for (int k0 = 0; k0 < K; k0 += 8) {
        const int kn = K - k0 < 8 ? K - k0 : 8;
        const __m256i km = _mm256_cmpgt_epi32(_mm256_set1_epi32(kn), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int half = 0; half < 2 && half * 8 < cols; half++) {
            __m256 r[8];
            for (int j = 0; j < 8; j++) {
                int row = half * 8 + j;
                const float *src = w + (size_t)row * ldw + k0;
                r[j] = row >= cols ? _mm256_setzero_ps() : kn == 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, km);
            }
            transpose8(r);
            for (int kk = 0; kk < kn; kk++) _mm256_store_ps(dst + (size_t)(k0 + kk) * 16 + half * 8, r[kk]);
        }
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 select256(__m256 v, __m256 by, vae_epilogue ep) {
    __m256 pos = _mm256_cmp_ps(by, _mm256_setzero_ps(), _CMP_GT_OQ);
    __m256 neg = ep == VAE_EPILOGUE_RELU ? _mm256_setzero_ps() : _mm256_mul_ps(v, _mm256_set1_ps(VAE_LEAKY_SLOPE));
    return _mm256_blendv_ps(neg, v, pos);
}

/* One row of a tile (16 columns in two vectors, `cols` of them kept) through the store epilogue. */
__attribute__((target("avx2,fma"), always_inline)) static inline void store256_row(float *c, const gemm_store *st,
                                                                                 size_t at, int cols, __m256 v0,
                                                                                 __m256 v1) {
    float tmp[16], gt[16] = {0};
    if (st->gate) {
        __m256 g0, g1;
        if (cols == 16) g0 = _mm256_loadu_ps(st->gate + at), g1 = _mm256_loadu_ps(st->gate + at + 8);
        else {
            memcpy(gt, st->gate + at, (size_t)cols * sizeof(float));
            g0 = _mm256_loadu_ps(gt), g1 = _mm256_loadu_ps(gt + 8);
        }
        v0 = select256(v0, g0, st->ep), v1 = select256(v1, g1, st->ep);
    }
    if (cols == 16) {
        _mm256_storeu_ps(c + at, v0);
        _mm256_storeu_ps(c + at + 8, v1);
        if (st->act) {
            _mm256_storeu_ps(st->act + at, select256(v0, v0, st->ep));
            _mm256_storeu_ps(st->act + at + 8, select256(v1, v1, st->ep));
        }
        return;
    }
    _mm256_storeu_ps(tmp, v0);
    _mm256_storeu_ps(tmp + 8, v1);
    memcpy(c + at, tmp, (size_t)cols * sizeof(float));
    if (st->act) {
        _mm256_storeu_ps(tmp, select256(v0, v0, st->ep));
        _mm256_storeu_ps(tmp + 8, select256(v1, v1, st->ep));
        memcpy(st->act + at, tmp, (size_t)cols * sizeof(float));
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2(
    float *c, int ldc, const float *a, int lda, const float *b, int ldb, int K, int cols, gemm_init init,
    const float *bias, const gemm_store *st, const int R, const int NV, const int A_COLS) {
    __m256 acc[6][2];
    const int full = cols == 8 * NV;
    if (init == INIT_C) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const float *cr = c + (size_t)r * ldc;
            if (full) {
                acc[r][0] = _mm256_loadu_ps(cr);
                acc[r][1] = NV == 2 ? _mm256_loadu_ps(cr + 8) : _mm256_setzero_ps();
            } else {
                float tmp[16] = {0};
                memcpy(tmp, cr, (size_t)cols * sizeof(float));
                acc[r][0] = _mm256_loadu_ps(tmp);
                acc[r][1] = _mm256_loadu_ps(tmp + 8);
            }
        }
    } else {
        float tmp[16] = {0};
        if (init == INIT_BIAS) memcpy(tmp, bias, (size_t)cols * sizeof(float));
        const __m256 b0 = _mm256_loadu_ps(tmp), b1 = _mm256_loadu_ps(tmp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) acc[r][0] = b0, acc[r][1] = b1;
    }
    for (int k = 0; k < K; k++) {
        const float *bk = b + (size_t)k * ldb;
        const __m256 w0 = _mm256_loadu_ps(bk), w1 = NV == 2 ? _mm256_loadu_ps(bk + 8) : w0;
        const float *ak = A_COLS ? a + (size_t)k * lda : a + k;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(A_COLS ? ak + r : ak + (size_t)r * lda);
            acc[r][0] = _mm256_fmadd_ps(w0, x, acc[r][0]);
            if (NV == 2) acc[r][1] = _mm256_fmadd_ps(w1, x, acc[r][1]);
        }
    }
    if (st->act || st->gate) {
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) store256_row(c, st, (size_t)r * ldc, cols, acc[r][0], acc[r][1]);
        return;
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        float *cr = c + (size_t)r * ldc;
        if (full) {
            _mm256_storeu_ps(cr, acc[r][0]);
            if (NV == 2) _mm256_storeu_ps(cr + 8, acc[r][1]);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, acc[r][0]);
            _mm256_storeu_ps(tmp + 8, acc[r][1]);
            memcpy(cr, tmp, (size_t)cols * sizeof(float));
        }
    }
}

#define TILE2_CASE(RR)                                                                               \
    case RR:                                                                                         \
        if (a_cols) {                                                                                \
            if (nv == 2) tile_avx2(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 2, 1);           \
            else tile_avx2(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 1, 1);                   \
        } else {                                                                                     \
            if (nv == 2) tile_avx2(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 2, 0);           \
            else tile_avx2(c, ldc, a, lda, b, ldb, K, cols, init, bias, st, RR, 1, 0);                   \
        }                                                                                            \
        break;

__attribute__((target("avx2,fma"))) static void tile_avx2_any(float *c, int ldc, const float *a, int lda,
                                                               int a_cols, const float *b, int ldb, int K,
                                                               int R, int nv, int cols, gemm_init init,
                                                               const float *bias, const gemm_store *st) {
    switch (R) {
        TILE2_CASE(1)
        TILE2_CASE(2)
        TILE2_CASE(3)
        TILE2_CASE(4)
        TILE2_CASE(5)
        TILE2_CASE(6)
    }
}

__attribute__((target("avx2,fma"))) static void gemm_avx2(const gemm *g, int m0, int m1, int n0, int n1,
                                                           float *scratch) {
    for (int n = n0; n < n1; n += 16) {
        const int cols = n1 - n < 16 ? n1 - n : 16, nv = cols > 8 ? 2 : 1;
        const float *bp = g->b + n;
        int ldb = g->ldb;
        if (g->b_pack) {
            pack_wt_avx2(scratch, g->b + (size_t)n * g->ldb, g->ldb, g->K, cols);
            bp = scratch, ldb = 16;
        } else if (cols != 8 * nv) {
            copy_strip(scratch, 16, g->b + n, g->ldb, g->K, cols);
            bp = scratch, ldb = 16;
        }
        for (int i = m0; i < m1; i += 6) {
            const int R = m1 - i < 6 ? m1 - i : 6;
            const float *a = g->a_cols ? g->a + i : g->a + (size_t)i * g->lda;
            const size_t at = (size_t)i * g->ldc + n;
            const gemm_store st = {g->st.act ? g->st.act + at : NULL, g->st.gate ? g->st.gate + at : NULL, g->st.ep};
            tile_avx2_any(g->c + at, g->ldc, a, g->lda, g->a_cols, bp, ldb, g->K, R, nv, cols, g->init,
                          g->bias ? g->bias + n : NULL, &st);
        }
    }
}

__attribute__((target("avx2,fma"))) static void colsum_avx2(float *dbias, const float *dout, int B, int OC,
                                                             int o0, int o1) {
    int o = o0;
    for (; o + 8 <= o1; o += 8) {
        __m256 s = _mm256_loadu_ps(dbias + o);
        for (int b = 0; b < B; b++) s = _mm256_add_ps(s, _mm256_loadu_ps(dout + (size_t)b * OC + o));
        _mm256_storeu_ps(dbias + o, s);
    }
    for (; o < o1; o++)
        for (int b = 0; b < B; b++) dbias[o] += dout[(size_t)b * OC + o];
}
#endif

/* ---- the products of a linear layer ---- */

typedef struct {
    vae_kernel_pool *pool;
    vae_isa isa;
    gemm g[2]; /* run one after the other by each thread, with no barrier: they are independent */
    int n_gemm;
    float *dbias; /* when set: dbias (OC) += column sums of dout (B, OC) */
    const float *dout;
    int B, OC;
} layer_job;

static void layer_job_run(void *ctx, int t, int T) {
    const layer_job *j = ctx;
#ifdef VAE_X86
    const int avx512 = j->isa == VAE_ISA_AVX512;
    for (int k = 0; k < j->n_gemm; k++) {
        int m0, m1, n0, n1;
        if (avx512) {
            split(&j->g[k], 12, 16, t, T, &m0, &m1, &n0, &n1);
            if (m0 < m1 && n0 < n1) gemm_avx512(&j->g[k], m0, m1, n0, n1, j->pool->scratch[t]);
        } else {
            split(&j->g[k], 6, 8, t, T, &m0, &m1, &n0, &n1);
            if (m0 < m1 && n0 < n1) gemm_avx2(&j->g[k], m0, m1, n0, n1, j->pool->scratch[t]);
        }
    }
    if (j->dbias) {
        size_t lo, hi;
        share((size_t)j->OC, 16, t, T, &lo, &hi);
        if (lo < hi) {
            if (avx512) colsum_avx512(j->dbias, j->dout, j->B, j->OC, (int)lo, (int)hi);
            else colsum_avx2(j->dbias, j->dout, j->B, j->OC, (int)lo, (int)hi);
        }
    }
#else
    (void)j, (void)t, (void)T;
#endif
}

/* The generic ISA's version of the store epilogues, after OpenBLAS. */
static void act_pass(float *out, const float *v, const float *by, size_t n, vae_epilogue ep) {
    for (size_t i = 0; i < n; i++)
        out[i] = by[i] > 0.0f ? v[i] : ep == VAE_EPILOGUE_RELU ? 0.0f : VAE_LEAKY_SLOPE * v[i];
}

void vae_kernel_linear_forward(vae_kernel_pool *pool, float *out, float *act, vae_epilogue ep,
                               const float *inp, const float *weight, const float *bias, int B, int C,
                               int OC) {
    // out is (B,OC), act is (B,OC) or NULL, inp is (B,C), weight is (OC,C), bias is (OC)
    const vae_isa isa = vae_kernel_isa_id();
    if (ep == VAE_EPILOGUE_NONE) act = NULL;
    if (isa == VAE_ISA_GENERIC || !pool || C > pool->max_k) {
        vae_linear_forward(out, inp, weight, bias, B, C, OC);
        if (act) act_pass(act, out, out, (size_t)B * OC, ep);
        return;
    }
    layer_job j = {.pool = pool, .isa = isa, .n_gemm = 1};
    j.g[0] = (gemm){.c = out, .ldc = OC, .a = inp, .lda = C, .b = weight, .ldb = C, .b_pack = 1,
                    .bias = bias, .M = B, .N = OC, .K = C, .init = INIT_BIAS, .st = {act, NULL, ep}};
    pool_run(pool, layer_job_run, &j);
}

void vae_kernel_linear_backward(vae_kernel_pool *pool, float *dinp, int accumulate, const float *gate,
                                vae_epilogue ep, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int B, int C, int OC) {
    // dout is (B,OC), inp is (B,C), weight is (OC,C); dinp and gate are (B,C), dweight (OC,C), dbias (OC)
    const vae_isa isa = vae_kernel_isa_id();
    if (ep == VAE_EPILOGUE_NONE) gate = NULL;
    if (isa == VAE_ISA_GENERIC || !pool || OC > pool->max_k || B > pool->max_k) {
        const size_t n = (size_t)B * C;
        if (dinp && accumulate)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, weight, C, 1.0f,
                        dinp, C);
        vae_linear_backward(dinp && accumulate ? NULL : dinp, dweight, dbias, dout, inp, weight, B, C, OC);
        if (dinp && gate) act_pass(dinp, dinp, gate, n, ep);
        return;
    }
    layer_job j = {.pool = pool, .isa = isa, .dbias = dbias, .dout = dout, .B = B, .OC = OC};
    if (dinp)
        j.g[j.n_gemm++] = (gemm){.c = dinp, .ldc = C, .a = dout, .lda = OC, .b = weight, .ldb = C, .M = B, .N = C,
                                 .K = OC, .init = accumulate ? INIT_C : INIT_ZERO, .st = {NULL, gate, ep}};
    j.g[j.n_gemm++] = (gemm){.c = dweight, .ldc = C, .a = dout, .lda = OC, .a_cols = 1, .b = inp, .ldb = C,
                             .M = OC, .N = C, .K = B, .init = INIT_C};
    pool_run(pool, layer_job_run, &j);
}

/* ---- Adam and the BCE, split over the pool ---- */

typedef struct {
    float *p, *m, *v;
    const float *g;
    size_t n;
    float b1, b2, step_size, bc2_sqrt, eps, decay;
    vae_isa isa;
} adam_job;

static void adam_range(const adam_job *j, size_t lo, size_t hi) {
    float *p = j->p + lo, *m = j->m + lo, *v = j->v + lo;
    const float *g = j->g + lo;
    const size_t n = hi - lo;
    switch (j->isa) {
#ifdef VAE_X86
    case VAE_ISA_AVX512: adam_avx512(p, m, v, g, n, j->b1, j->b2, j->step_size, j->bc2_sqrt, j->eps, j->decay); return;
    case VAE_ISA_AVX2: adam_avx2(p, m, v, g, n, j->b1, j->b2, j->step_size, j->bc2_sqrt, j->eps, j->decay); return;
#endif
    default: adam_generic(p, m, v, g, n, j->b1, j->b2, j->step_size, j->bc2_sqrt, j->eps, j->decay); return;
    }
}

static void adam_job_run(void *ctx, int t, int T) {
    size_t lo, hi;
    const adam_job *j = ctx;
    /* multiples of 16: every value takes the same (vector or scalar) path whatever T is */
    share(j->n, 16, t, T, &lo, &hi);
    if (lo < hi) adam_range(j, lo, hi);
}

void vae_kernel_adam(vae_kernel_pool *pool, float *p, float *m, float *v, const float *g, size_t n,
                     float b1, float b2, float step_size, float bc2_sqrt, float eps, float decay) {
    adam_job j = {p, m, v, g, n, b1, b2, step_size, bc2_sqrt, eps, decay, vae_kernel_isa_id()};
    pool_run(pool, adam_job_run, &j);
}

#define BCE_MAX_SPLIT 64

typedef struct {
    float *dlogits;
    const float *logits, *target;
    size_t n;
    float scale;
    vae_isa isa;
    double partial[BCE_MAX_SPLIT]; /* per thread */
} bce_job;

static double bce_range(vae_isa isa, float *dlogits, const float *logits, const float *target, size_t n,
                        float scale) {
    switch (isa) {
#ifdef VAE_X86
    case VAE_ISA_AVX512: return bce_avx512(dlogits, logits, target, n, scale);
    case VAE_ISA_AVX2: return bce_avx2(dlogits, logits, target, n, scale);
#endif
    default: return vae_bce_logits_forward_backward(dlogits, logits, target, n, scale);
    }
}

static void bce_job_run(void *ctx, int t, int T) {
    bce_job *j = ctx;
    size_t lo, hi;
    /* the kernels sum 1024 values in float lanes, then in double: split on those stretches */
    share(j->n, 1024, t, T, &lo, &hi);
    j->partial[t] = lo < hi ? bce_range(j->isa, j->dlogits + lo, j->logits + lo, j->target + lo, hi - lo, j->scale)
                            : 0.0;
}

double vae_kernel_bce(vae_kernel_pool *pool, float *dlogits, const float *logits, const float *target,
                      size_t n, float scale) {
    bce_job j = {.dlogits = dlogits, .logits = logits, .target = target, .n = n, .scale = scale,
                 .isa = vae_kernel_isa_id()};
    if (vae_kernel_pool_threads(pool) > BCE_MAX_SPLIT) pool = NULL;
    pool_run(pool, bce_job_run, &j);
    double total = 0.0;
    for (int t = 0; t < vae_kernel_pool_threads(pool); t++) total += j.partial[t];
    return total;
}
