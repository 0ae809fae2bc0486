/* The training step: forward through encoder, reparameterisation and decoder, summed BCE + beta*KL,
 * backward through every layer into one gradient block, and Adam; the matrix products, the BCE and
 * Adam on the project's kernels (kernels_train.c), split over a pool of threads. */
#include "vae/train.h"

#include "kernels.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct vae_trainer {
    vae_model *model; /* borrowed */
    int max_batch;
    size_t n_params;
    float *grads, *m, *v; /* each n_params, laid out like model->params */
    vae_layers grad_layers;
    vae_kernel_pool *pool; /* the threads every product, the BCE and Adam are split over */
    long step;
    /* activations, each (max_batch, width of that layer) */
    float *enc_pre[VAE_MAX_HIDDEN], *enc_act[VAE_MAX_HIDDEN];
    float *mu, *logvar, *eps, *z;
    float *dec_pre[VAE_MAX_HIDDEN], *dec_act[VAE_MAX_HIDDEN];
    float *logits;
    /* gradients of activations: two ping-pong (max_batch, max_width) and the latent ones */
    float *dbuf_a, *dbuf_b, *dmu, *dlogvar, *dz;
    float *arena; /* the one allocation every activation pointer above points into */
};

/* Rounds a float count up to a 64-byte multiple so every activation starts cache-line aligned. */
static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; }

vae_trainer *vae_trainer_create(vae_model *model, int max_batch, vae_error *err) {
    if (max_batch < 1) {
        vae_error_set(err, VAE_ERR_ARG, "batch size %d: must be at least 1", max_batch);
        return NULL;
    }
    vae_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) goto oom;
    const vae_config *cfg = &model->config;
    const size_t B = (size_t)max_batch, d = (size_t)cfg->latent_dim;
    const int L = cfg->n_hidden;
    tr->model = model;
    tr->max_batch = max_batch;
    tr->n_params = model->n_params;
    tr->grads = alloc_floats(tr->n_params);
    tr->m = alloc_floats(tr->n_params);
    tr->v = alloc_floats(tr->n_params);
    if (!tr->grads || !tr->m || !tr->v) goto oom;
    vae_layers_bind(&tr->grad_layers, cfg, tr->grads);

    size_t total = 0, width = (size_t)vae_config_max_width(cfg);
    /* as many threads as OpenBLAS is set to use, so that vae-train's --threads (which sets that) and
     * a program that never sets it (OpenBLAS then uses every CPU) mean the same for both */
    int max_k = (int)width > VAE_INPUT_DIM ? (int)width : VAE_INPUT_DIM;
    if (max_batch > max_k) max_k = max_batch;
    tr->pool = vae_kernel_pool_create(openblas_get_num_threads(), max_k);
    if (!tr->pool) goto oom;
    for (int i = 0; i < L; i++) total += 4 * pad16(B * (size_t)cfg->hidden[i]);
    total += 7 * pad16(B * d) + pad16(B * VAE_INPUT_DIM) + 2 * pad16(B * width);
    tr->arena = alloc_floats(total);
    if (!tr->arena) goto oom;
    float *p = tr->arena;
#define TAKE(ptr, count) (ptr = p, p += pad16(count))
    for (int i = 0; i < L; i++) {
        size_t h = B * (size_t)cfg->hidden[i];
        TAKE(tr->enc_pre[i], h);
        TAKE(tr->enc_act[i], h);
        /* decoder layer i has width hidden[L-1-i] */
        size_t hd = B * (size_t)cfg->hidden[L - 1 - i];
        TAKE(tr->dec_pre[i], hd);
        TAKE(tr->dec_act[i], hd);
    }
    TAKE(tr->mu, B * d);
    TAKE(tr->logvar, B * d);
    TAKE(tr->eps, B * d);
    TAKE(tr->z, B * d);
    TAKE(tr->dmu, B * d);
    TAKE(tr->dlogvar, B * d);
    TAKE(tr->dz, B * d);
    TAKE(tr->logits, B * VAE_INPUT_DIM);
    TAKE(tr->dbuf_a, B * width);
    TAKE(tr->dbuf_b, B * width);
#undef TAKE
    return tr;
oom:
    vae_trainer_destroy(tr);
    vae_error_set(err, VAE_ERR_NOMEM, "out of memory allocating the trainer");
    return NULL;
}

void vae_trainer_destroy(vae_trainer *tr) {
    if (!tr) return;
    vae_kernel_pool_destroy(tr->pool);
    free(tr->grads);
    free(tr->m);
    free(tr->v);
    free(tr->arena);
    free(tr);
}

const float *vae_trainer_grads(const vae_trainer *tr) { return tr->grads; }

void vae_trainer_parallel(vae_trainer *tr, void (*fn)(void *ctx, int part, int parts), void *ctx) {
    vae_kernel_pool_run(tr->pool, fn, ctx);
}

/* The activation as the products' store epilogue; tanh has none (it runs as a pass of its own). */
static vae_epilogue epilogue_of(vae_activation act) {
    return act == VAE_ACT_RELU ? VAE_EPILOGUE_RELU : act == VAE_ACT_LEAKY_RELU ? VAE_EPILOGUE_LEAKY : VAE_EPILOGUE_NONE;
}

/* One hidden layer forward: pre (B, l->out) = inp @ W^T + b, act = activation(pre). */
static void hidden_forward(vae_trainer *tr, const vae_linear *l, float *pre, float *act, const float *inp, int B) {
    const vae_activation a = tr->model->config.activation;
    vae_kernel_linear_forward(tr->pool, pre, act, epilogue_of(a), inp, l->weight, l->bias, B, l->in, l->out);
    if (epilogue_of(a) == VAE_EPILOGUE_NONE) vae_activation_forward(act, pre, (size_t)B * l->out, a);
}

/* Forward pass through the whole network; leaves every activation in place for backward. */
static vae_loss forward(vae_trainer *tr, const float *x, const float *eps, int B) {
    const vae_model *m = tr->model;
    const vae_config *cfg = &m->config;
    const vae_layers *ly = &m->layers;
    const int L = cfg->n_hidden, d = cfg->latent_dim;
    const float *in = x;
    for (int i = 0; i < L; i++) {
        // enc_pre[i] and enc_act[i] are (B, hidden[i]), in is (B, ly->enc[i].in)
        hidden_forward(tr, &ly->enc[i], tr->enc_pre[i], tr->enc_act[i], in, B);
        in = tr->enc_act[i];
    }
    // mu, logvar, eps, z are (B, d)
    vae_kernel_linear_forward(tr->pool, tr->mu, NULL, VAE_EPILOGUE_NONE, in, ly->mu.weight, ly->mu.bias, B,
                              ly->mu.in, d);
    vae_kernel_linear_forward(tr->pool, tr->logvar, NULL, VAE_EPILOGUE_NONE, in, ly->logvar.weight,
                              ly->logvar.bias, B, ly->logvar.in, d);
    if (eps != tr->eps) memcpy(tr->eps, eps, (size_t)B * d * sizeof(float));
    vae_reparam_forward(tr->z, tr->mu, tr->logvar, tr->eps, (size_t)B * d);
    in = tr->z;
    for (int i = 0; i < L; i++) {
        hidden_forward(tr, &ly->dec[i], tr->dec_pre[i], tr->dec_act[i], in, B);
        in = tr->dec_act[i];
    }
    // logits is (B, 784)
    vae_kernel_linear_forward(tr->pool, tr->logits, NULL, VAE_EPILOGUE_NONE, in, ly->out.weight, ly->out.bias, B,
                              ly->out.in, VAE_INPUT_DIM);
    vae_loss loss = {.count = B};
    loss.kl = vae_kl_forward(tr->mu, tr->logvar, (size_t)B * d);
    return loss;
}

vae_loss vae_trainer_forward(vae_trainer *tr, const float *x, const float *eps, int B) {
    vae_loss loss = forward(tr, x, eps, B);
    /* libm and a double sum: the finite-difference checks difference two such losses */
    loss.bce = vae_bce_logits_forward(tr->logits, x, (size_t)B * VAE_INPUT_DIM);
    return loss;
}

/* One layer backward. dinp (B, l->in), when not NULL, gets the gradient of the layer's input and then
 * (gate_pre not NULL) the backward of the activation that made that input from gate_pre, so that it
 * holds the gradient of gate_pre; accumulate adds to dinp (before that backward) instead. */
static void layer_backward(vae_trainer *tr, const vae_linear *l, const vae_linear *grad, float *dinp,
                           int accumulate, const float *gate_pre, const float *gate_act, const float *dout,
                           const float *inp, int B) {
    const vae_activation a = tr->model->config.activation;
    const vae_epilogue ep = gate_pre ? epilogue_of(a) : VAE_EPILOGUE_NONE;
    vae_kernel_linear_backward(tr->pool, dinp, accumulate, gate_pre, ep, grad->weight, grad->bias, dout, inp,
                               l->weight, B, l->in, l->out);
    if (dinp && gate_pre && ep == VAE_EPILOGUE_NONE)
        vae_activation_backward(dinp, dinp, gate_pre, gate_act, (size_t)B * l->in, a);
}

vae_loss vae_trainer_forward_backward(vae_trainer *tr, const float *x, const float *eps, int B,
                                      float beta) {
    vae_loss loss = forward(tr, x, eps, B);
    const vae_model *m = tr->model;
    const vae_config *cfg = &m->config;
    const vae_layers *ly = &m->layers;
    const vae_layers *gl = &tr->grad_layers;
    const int L = cfg->n_hidden, d = cfg->latent_dim;

    memset(tr->grads, 0, tr->n_params * sizeof(float));
    /* the gradient of the batch SUM, as the canonical PyTorch example backpropagates */
    float *dlogits = tr->logits; /* logits are not needed after this: reuse them in place */
    loss.bce = vae_kernel_bce(tr->pool, dlogits, tr->logits, x, (size_t)B * VAE_INPUT_DIM, 1.0f);

    /* every dact below is the gradient of a pre-activation: each product applies the backward of the
     * activation beneath it as it stores */
    float *dact = tr->dbuf_a, *dspare = tr->dbuf_b;
    layer_backward(tr, &ly->out, &gl->out, dact, 0, tr->dec_pre[L - 1], tr->dec_act[L - 1], dlogits,
                   tr->dec_act[L - 1], B);
    for (int i = L - 1; i >= 0; i--) {
        float *dinp = i == 0 ? tr->dz : dspare;
        layer_backward(tr, &ly->dec[i], &gl->dec[i], dinp, 0, i == 0 ? NULL : tr->dec_pre[i - 1],
                       i == 0 ? NULL : tr->dec_act[i - 1], dact, i == 0 ? tr->z : tr->dec_act[i - 1], B);
        float *t = dact;
        dact = dspare;
        dspare = t;
    }
    vae_reparam_backward(tr->dmu, tr->dlogvar, tr->dz, tr->logvar, tr->eps, (size_t)B * d);
    vae_kl_backward(tr->dmu, tr->dlogvar, tr->mu, tr->logvar, (size_t)B * d, beta);

    /* both heads read the last hidden layer: its gradient is the sum of theirs, the second added
     * into the first, then the activation's backward */
    const float *h_last = tr->enc_act[L - 1];
    layer_backward(tr, &ly->mu, &gl->mu, dact, 0, NULL, NULL, tr->dmu, h_last, B);
    layer_backward(tr, &ly->logvar, &gl->logvar, dact, 1, tr->enc_pre[L - 1], h_last, tr->dlogvar, h_last, B);

    for (int i = L - 1; i >= 0; i--) {
        /* the first layer's input is the data: no gradient needed there */
        float *dinp = i == 0 ? NULL : dspare;
        layer_backward(tr, &ly->enc[i], &gl->enc[i], dinp, 0, i == 0 ? NULL : tr->enc_pre[i - 1],
                       i == 0 ? NULL : tr->enc_act[i - 1], dact, i == 0 ? x : tr->enc_act[i - 1], B);
        float *t = dact;
        dact = dspare;
        dspare = t;
    }
    return loss;
}

void vae_trainer_adam_step(vae_trainer *tr, const vae_adam_config *cfg) {
    tr->step++;
    const float b1 = cfg->beta1, b2 = cfg->beta2;
    /* PyTorch's formulation: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps) */
    const float bc1 = 1.0f - powf(b1, (float)tr->step);
    const float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)tr->step));
    const float step_size = cfg->lr / bc1;
    const float decay = 1.0f - cfg->lr * cfg->weight_decay;
    vae_kernel_adam(tr->pool, tr->model->params, tr->m, tr->v, tr->grads, tr->n_params, b1, b2, step_size,
                    bc2_sqrt, cfg->eps, decay);
}

vae_loss vae_trainer_evaluate(vae_trainer *tr, const float *x, int n, vae_rng *rng) {
    const int d = tr->model->config.latent_dim;
    vae_loss total = {0};
    for (int start = 0; start < n; start += tr->max_batch) {
        int B = n - start < tr->max_batch ? n - start : tr->max_batch;
        vae_rng_normal_fill(rng, tr->eps, (size_t)B * d, 1.0f);
        const float *xb = x + (size_t)start * VAE_INPUT_DIM;
        vae_loss l = forward(tr, xb, tr->eps, B);
        /* the training step's vector BCE (its gradient, written over the logits, is not used): the
         * scalar libm one took most of the evaluation's time */
        l.bce = vae_kernel_bce(tr->pool, tr->logits, tr->logits, xb, (size_t)B * VAE_INPUT_DIM, 1.0f);
        total.bce += l.bce;
        total.kl += l.kl;
        total.count += B;
    }
    return total;
}
