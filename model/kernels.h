/* The project's own kernels (libvae-internal), each with AVX-512 and AVX2+FMA versions chosen at run
 * time from what the CPU reports (__builtin_cpu_supports) and a portable fallback (OpenBLAS and libm).
 * kernels.c: the ISA choice and the inference kernels, a linear layer over weights packed once at load
 * time and the sigmoid (OpenBLAS repacks a layer's weights on every sgemm call, which for the 1..64
 * rows of a request costs as much as the arithmetic; packing once removes that).
 * kernels_train.c: the training kernels (the three matrix products of a linear layer on a thread
 * pool, Adam, the fused BCE), so that the server links none of them. */
#ifndef VAE_KERNELS_H
#define VAE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "vae/error.h"
#include "vae/layers.h"

/* ---- instruction sets ---- */

/* Ordered: a CPU that runs one runs every smaller one. */
typedef enum { VAE_ISA_GENERIC = 1, VAE_ISA_AVX2, VAE_ISA_AVX512 } vae_isa;

/* The instruction set every kernel runs: the best the CPU reports, unless a test forced another. */
vae_isa vae_kernel_isa_id(void);
/* "avx512", "avx2" or "generic". */
const char *vae_kernel_isa_name(vae_isa isa);
/* vae_kernel_isa_name(vae_kernel_isa_id()). */
const char *vae_kernel_isa(void);
/* 1 if this CPU reports what `isa` needs (AVX-512F; AVX2, FMA and F16C), else 0. */
int vae_kernel_cpu_has(vae_isa isa);
/* Test-only: makes every kernel run `isa` ("avx512", "avx2" or "generic"; tests compare them).
 * Returns 0, or -1 if the name is unknown or this CPU cannot run it. Not to be called while other
 * threads run kernels (they would mix ISAs within one call). */
int vae_kernel_force(const char *isa);

/* ---- inference (kernels.c) ---- */

#define VAE_PANEL 32 /* outputs per packed panel */

/* One layer's weights re-laid as panels of VAE_PANEL outputs, input-major within a panel:
 * data[(p * in + k) * VAE_PANEL + j] = W[p * VAE_PANEL + j][k], zero past `out`; bias padded too.
 * When every weight is exactly an F16 value (a model stored as F16), `half` holds the same panels in
 * F16: half the bytes to read for the small batches whose time is that read (VAE_HALF_ROWS), widened
 * exactly in registers, so that the results have the same bits as from `data`. */
typedef struct {
    float *data;    /* panels * in * VAE_PANEL floats, 64-byte aligned */
    uint16_t *half; /* the same as F16, 64-byte aligned; NULL when some weight is not an F16 value */
    float *bias;    /* panels * VAE_PANEL floats */
    int in, out, panels;
} vae_packed_linear;

/* Batches of up to this many rows read a layer's F16 panels when it has them; larger ones the float
 * panels. Measured through the shipped decoder (784-1024-512-64, one AVX-512 core): one row is bound
 * by the weight read, 57.9 us from the float panels and 46.6 from the F16 ones; from two rows on the
 * widening costs what the read saves (2 rows 61.4 and 62.0 us, 4 rows 95.0 and 120.4). */
#define VAE_HALF_ROWS 1

/* Packs weight (out, in) and bias (out), and the F16 panels when every weight is an F16 value.
 * VAE_ERR_NOMEM on failure (p is then empty). */
vae_status vae_pack_linear(vae_packed_linear *p, const float *weight, const float *bias, int in,
                           int out);
/* Frees the packed copy; NULL-safe, idempotent. */
void vae_packed_free(vae_packed_linear *p);

/* What the kernel applies after the bias. */
typedef enum { VAE_EPILOGUE_NONE, VAE_EPILOGUE_RELU, VAE_EPILOGUE_LEAKY } vae_epilogue;

/* out (B, w->out) = epilogue(inp (B, w->in) @ W^T + bias). Every output is computed in the same
 * order whatever B is, so a row gives the same bits alone as in any batch. */
void vae_kernel_linear(float *out, const float *inp, const vae_packed_linear *w, int B,
                       vae_epilogue epilogue);

/* out = 1 / (1 + exp(-inp)), elementwise, relative error below 3e-7 (out may equal inp). */
void vae_kernel_sigmoid(float *out, const float *inp, size_t n);

/* ---- training (kernels_train.c) ---- */

/* Threads that the training kernels split their work over: the caller and threads-1 helpers, which
 * spin briefly between calls and then sleep. Each call is split the same way for the same thread
 * count and sizes, and every output value is computed by one thread in a fixed order, so results do
 * not depend on timing (nor, for the matrix products, on the thread count). One caller at a time. */
typedef struct vae_kernel_pool vae_kernel_pool;

/* threads >= 1 (1: no helper thread); max_k bounds the inner dimension of every product run on it
 * (the widest layer, and the batch for the weight gradients). NULL on failure (out of memory, or a
 * thread that could not start). */
vae_kernel_pool *vae_kernel_pool_create(int threads, int max_k);
/* Joins the helpers and frees; NULL is a no-op. */
void vae_kernel_pool_destroy(vae_kernel_pool *pool);
/* The thread count it was created with (1 for NULL). */
int vae_kernel_pool_threads(const vae_kernel_pool *pool);
/* Runs fn(ctx, part, parts) for part = 0..parts-1 (parts = the thread count), part 0 on the calling
 * thread; returns when every part has. NULL pool: fn(ctx, 0, 1). */
void vae_kernel_pool_run(vae_kernel_pool *pool, void (*fn)(void *ctx, int part, int parts), void *ctx);

/* In the three products below, pool may be NULL (everything on the calling thread); sizes must not
 * exceed the pool's max_k where the contract says so. On the generic ISA they call OpenBLAS, which
 * then runs on its own threads. */

/* out (B,OC) = inp (B,C) @ weight^T + bias; weight is (OC,C), bias (OC). With ep RELU or LEAKY and
 * act not NULL, also act (B,OC) = ep(out), the activation, in the same pass. C <= max_k. Each thread
 * packs the weight panels it computes, once per call. */
void vae_kernel_linear_forward(vae_kernel_pool *pool, float *out, float *act, vae_epilogue ep,
                               const float *inp, const float *weight, const float *bias, int B, int C,
                               int OC);

/* The backward of the above: dinp (B,C) = dout (B,OC) @ weight (OC,C) (+= when accumulate: an input
 * read by two layers), skipped when dinp is NULL; then, with ep RELU or LEAKY and gate (B,C) not
 * NULL, dinp *= ep'(gate) (gate > 0 ? 1 : 0 or the leaky slope), the backward of the activation that
 * produced inp from gate. dweight (OC,C) += dout^T @ inp (B,C); dbias (OC) += the column sums of
 * dout. OC <= max_k and B <= max_k. */
void vae_kernel_linear_backward(vae_kernel_pool *pool, float *dinp, int accumulate, const float *gate,
                                vae_epilogue ep, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int B, int C, int OC);

/* One Adam(W) step over n parameters: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p = p * decay - step_size * m / (sqrt(v) / bc2_sqrt + eps). Elementwise: the same result on any
 * thread count. */
void vae_kernel_adam(vae_kernel_pool *pool, float *p, float *m, float *v, const float *g, size_t n,
                     float b1, float b2, float step_size, float bc2_sqrt, float eps, float decay);

/* The fused binary cross-entropy of vae_bce_logits_forward_backward: returns the summed loss and
 * writes dlogits = scale * (sigmoid(logits) - target) (dlogits may equal logits). The gradient does
 * not depend on the thread count; the sum's last bits do. */
double vae_kernel_bce(vae_kernel_pool *pool, float *dlogits, const float *logits, const float *target,
                      size_t n, float scale);

#endif
