/* Inference kernels for small batches (libvae-internal): a linear layer over weights packed once at
 * load time, and the sigmoid, each with AVX-512 and AVX2+FMA versions chosen at run time and a
 * portable fallback (OpenBLAS and libm). OpenBLAS repacks a layer's weights on every sgemm call,
 * which for the 1..64 rows of a request costs as much as the arithmetic; packing once removes that. */
#ifndef VAE_KERNELS_H
#define VAE_KERNELS_H

#include <stddef.h>

#include "vae/error.h"
#include "vae/layers.h"

#define VAE_PANEL 32 /* outputs per packed panel */

/* One layer's weights re-laid as panels of VAE_PANEL outputs, input-major within a panel:
 * data[(p * in + k) * VAE_PANEL + j] = W[p * VAE_PANEL + j][k], zero past `out`; bias padded too. */
typedef struct {
    float *data; /* panels * in * VAE_PANEL floats, 64-byte aligned */
    float *bias; /* panels * VAE_PANEL floats */
    int in, out, panels;
} vae_packed_linear;

/* Packs weight (out, in) and bias (out). VAE_ERR_NOMEM on failure (p is then empty). */
vae_status vae_pack_linear(vae_packed_linear *p, const float *weight, const float *bias, int in,
                           int out);
/* Frees the packed copy; NULL-safe, idempotent. */
void vae_packed_free(vae_packed_linear *p);

/* What the kernel applies after the bias. */
typedef enum { VAE_EPILOGUE_NONE, VAE_EPILOGUE_RELU, VAE_EPILOGUE_LEAKY } vae_epilogue;

/* out (B, w->out) = epilogue(inp (B, w->in) @ W^T + bias). */
void vae_kernel_linear(float *out, const float *inp, const vae_packed_linear *w, int B,
                       vae_epilogue epilogue);

/* out = 1 / (1 + exp(-inp)), elementwise, relative error below 3e-7 (out may equal inp). */
void vae_kernel_sigmoid(float *out, const float *inp, size_t n);

/* Training kernels, vectorised the same way. */

/* One Adam(W) step over n parameters: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p = p * decay - step_size * m / (sqrt(v) / bc2_sqrt + eps). */
void vae_kernel_adam(float *p, float *m, float *v, const float *g, size_t n, float b1, float b2,
                     float step_size, float bc2_sqrt, float eps, float decay);

/* The fused binary cross-entropy of vae_bce_logits_forward_backward: returns the summed loss and
 * writes dlogits = scale * (sigmoid(logits) - target). */
double vae_kernel_bce(float *dlogits, const float *logits, const float *target, size_t n, float scale);

/* Which implementation runs: "avx512", "avx2" or "generic". vae_kernel_force takes one of those
 * (tests compare them) and returns 0, or -1 if this CPU cannot run it. */
const char *vae_kernel_isa(void);
int vae_kernel_force(const char *isa);

#endif
