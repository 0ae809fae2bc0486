/* The VAE's building blocks as forward/backward pairs, in the order outputs, inputs, parameters,
 * sizes. Backward functions ADD into parameter gradients (dweight, dbias), so a training step zeroes
 * the gradient block once and then runs every backward; they OVERWRITE activation gradients (dinp),
 * because in this network every activation has exactly one consumer.
 * All tensors are row-major float32; shapes are given as (rows, cols). */
#ifndef VAE_LAYERS_H
#define VAE_LAYERS_H

#include <stddef.h>

typedef enum {
    VAE_ACT_RELU = 0,
    VAE_ACT_LEAKY_RELU, /* slope 0.2 below zero, as in the source material */
    VAE_ACT_TANH,
} vae_activation;

#define VAE_LEAKY_SLOPE 0.2f

/* "relu", "leaky_relu", "tanh". */
const char *vae_activation_name(vae_activation act);
/* Parses a name as printed by vae_activation_name; returns 0 on success, -1 if unknown. */
int vae_activation_parse(const char *name, vae_activation *out);

/* out is (B,OC), inp is (B,C), weight is (OC,C) (nn.Linear layout), bias is (OC). */
void vae_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int B, int C, int OC);

/* dout is (B,OC). dinp (B,C) is overwritten and may be NULL when the input needs no gradient
 * (the first layer); dweight (OC,C) and dbias (OC) are accumulated into. */
void vae_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int B, int C, int OC);

/* out = act(inp), elementwise over n values; out may equal inp. */
void vae_activation_forward(float *out, const float *inp, size_t n, vae_activation act);

/* dinp = dout * act'(inp), elementwise; out is act(inp) as computed by the forward pass
 * (tanh's derivative is cheaper from it). dinp may equal dout. */
void vae_activation_backward(float *dinp, const float *dout, const float *inp, const float *out,
                             size_t n, vae_activation act);

/* out = 1 / (1 + exp(-inp)), elementwise, stable for any finite input. */
void vae_sigmoid_forward(float *out, const float *inp, size_t n);

/* Binary cross-entropy between sigmoid(logits) and target in [0,1], summed over n values and
 * computed from the logits without forming log(sigmoid):
 *   bce(l, t) = max(l, 0) - l*t + log1p(exp(-|l|)).  Returns the sum (in nats). */
double vae_bce_logits_forward(const float *logits, const float *target, size_t n);

/* dlogits = scale * (sigmoid(logits) - target), overwritten. Test oracle: the training step uses
 * vae_bce_logits_forward_backward; tests/unit/test_layers.c checks the fused form against this. */
void vae_bce_logits_backward(float *dlogits, const float *logits, const float *target, size_t n,
                             float scale);

/* Both of the above in one pass (one exp per value): returns the summed loss and overwrites dlogits.
 * The training step's form. */
double vae_bce_logits_forward_backward(float *dlogits, const float *logits, const float *target,
                                       size_t n, float scale);

/* KL(N(mu, exp(logvar)) || N(0, I)) = 0.5 * sum(exp(logvar) - logvar - 1 + mu^2) over n values. */
double vae_kl_forward(const float *mu, const float *logvar, size_t n);

/* dmu += scale * mu; dlogvar += scale * 0.5 * (exp(logvar) - 1). Accumulates, because mu and
 * logvar also receive gradient through the reparameterisation. */
void vae_kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n,
                     float scale);

/* z = mu + eps * exp(0.5 * logvar), elementwise. */
void vae_reparam_forward(float *z, const float *mu, const float *logvar, const float *eps,
                         size_t n);

/* Given dz, overwrites dmu = dz and dlogvar = dz * eps * 0.5 * exp(0.5 * logvar). dmu may equal dz. */
void vae_reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *logvar,
                          const float *eps, size_t n);

#endif
