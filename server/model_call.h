/* A model call: what an endpoint's run step asks the pipeline to compute, run inline on the worker
 * thread or in a batch with other requests' calls (batcher.c). */
#ifndef VAE_SERVER_MODEL_CALL_H
#define VAE_SERVER_MODEL_CALL_H

#include "vae/model.h"

typedef enum {
    VAE_OP_NONE,        /* no call: the endpoint is done computing */
    VAE_OP_ENCODE,      /* in: x (n, 784); out: mu (n, d); out2: logvar (n, d) */
    VAE_OP_DECODE,      /* in: z (n, d); out: xhat (n, 784) */
    VAE_OP_RECONSTRUCT, /* in: x (n, 784); out: decode(mu(x)) (n, 784) */
    VAE_OP_DECODE_LOGITS, /* in: z (n, d); out: the decoder's logits, before the sigmoid (n, 784) */
} vae_model_op;

typedef struct {
    vae_model_op op;
    const vae_model *model;
    int slot; /* the model's registry slot, for statistics (-1: none) */
    int n;    /* rows, 1.. */
    /* Before the call: the input, and where an inline call writes its results (the worker thread's
     * scratch). After it: where the input and the results are now, which for a batched call is the
     * job's buffers (they outlive the suspension; the scratch does not). */
    const float *in;
    float *out, *out2;
} vae_model_call;

/* Width of the call's input rows: 784 or the latent size. */
int vae_model_call_in_width(const vae_model_call *mc);

/* Floats of the call's outputs (out then out2) for n rows. */
size_t vae_model_call_out_floats(const vae_model_call *mc);

/* Runs the call on this thread: reads mc->in, writes mc->out (and mc->out2). ws must fit the model
 * and is the caller's (one per thread). Cannot fail. */
void vae_model_call_run(const vae_model_call *mc, vae_workspace *ws);

#endif
