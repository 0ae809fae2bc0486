/* Running a model call on the calling thread. */
#include "model_call.h"

int vae_model_call_in_width(const vae_model_call *mc) {
    return mc->op == VAE_OP_DECODE || mc->op == VAE_OP_DECODE_LOGITS ? mc->model->config.latent_dim : VAE_INPUT_DIM;
}

size_t vae_model_call_out_floats(const vae_model_call *mc) {
    size_t n = (size_t)mc->n;
    return mc->op == VAE_OP_ENCODE ? 2 * n * (size_t)mc->model->config.latent_dim : n * VAE_INPUT_DIM;
}

void vae_model_call_run(const vae_model_call *mc, vae_workspace *ws) {
    switch (mc->op) {
    case VAE_OP_ENCODE:
        vae_encode(mc->model, ws, mc->in, mc->n, mc->out, mc->out2);
        break;
    case VAE_OP_DECODE:
        vae_decode(mc->model, ws, mc->in, mc->n, mc->out);
        break;
    case VAE_OP_RECONSTRUCT:
        vae_reconstruct(mc->model, ws, mc->in, mc->n, mc->out);
        break;
    case VAE_OP_DECODE_LOGITS:
        vae_decode_logits(mc->model, ws, mc->in, mc->n, mc->out);
        break;
    case VAE_OP_NONE:
        break;
    }
}
