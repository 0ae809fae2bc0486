/* Training: the forward and backward pass over a batch, the loss, and the Adam optimiser, with every
 * buffer (gradients, moments, activations) allocated once so a training step never allocates. */
#ifndef VAE_TRAIN_H
#define VAE_TRAIN_H

#include "vae/model.h"
#include "vae/rng.h"

typedef struct {
    float lr;           /* learning rate (1e-3 in the canonical example) */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled (AdamW) decay per step, times lr; 0 = plain Adam */
} vae_adam_config;

/* The loss of a batch, as sums over its images (divide by the count for nats per image). */
typedef struct {
    double bce; /* binary cross-entropy summed over pixels and images */
    double kl;  /* KL divergence summed over latent units and images */
    int count;  /* images */
} vae_loss;

typedef struct vae_trainer vae_trainer;

/* Creates the gradient block, both Adam moment blocks (each laid out like model->params) and the
 * activations for batches of up to max_batch images. The model is borrowed and updated in place by
 * vae_trainer_step. Returns NULL and fills err on failure. */
vae_trainer *vae_trainer_create(vae_model *model, int max_batch, vae_error *err);
/* NULL is a no-op. The model is not freed. */
void vae_trainer_destroy(vae_trainer *tr);

/* Forward and backward pass on B images x (B, 784) with target x itself and noise eps (B, d):
 * fills the gradient block with d(sum of per-image losses)/d(params) where the per-image loss is
 * bce + beta * kl. Returns the batch's loss sums. B must be 1..max_batch. */
vae_loss vae_trainer_forward_backward(vae_trainer *tr, const float *x, const float *eps, int B,
                                      float beta);

/* Forward pass only: the loss of B images with noise eps, no gradients. */
vae_loss vae_trainer_forward(vae_trainer *tr, const float *x, const float *eps, int B);

/* One Adam step on the model's parameters from the current gradient block. */
void vae_trainer_adam_step(vae_trainer *tr, const vae_adam_config *cfg);

/* Runs fn(ctx, part, parts) for part = 0..parts-1 on the threads the trainer's products use (part 0
 * on the caller), returning when all are done: for the training loop's own per-batch work (loading
 * images), which would otherwise run on one thread while the others wait. */
void vae_trainer_parallel(vae_trainer *tr, void (*fn)(void *ctx, int part, int parts), void *ctx);

/* Gradient block, laid out like model->params (read by the gradient checks). */
const float *vae_trainer_grads(const vae_trainer *tr);

/* Loss over n images (n, 784) with one z sample per image, eps drawn from rng: the canonical test
 * loss when rng is seeded the same way. */
vae_loss vae_trainer_evaluate(vae_trainer *tr, const float *x, int n, vae_rng *rng);

#endif
