/* What an endpoint is: three steps over its own call struct, driven by the pipeline (pipeline.c).
 *
 *   parse  reads the request (query, headers, body) into the call struct; the only step that sees
 *          the body. Runs once, on a worker thread.
 *   run    (optional) computes, asking the pipeline for model calls one at a time: it is called
 *          with stage 0, then once after each model call it asked for, with the next stage and that
 *          call's results; it asks by filling *next, and finishes by leaving next->op VAE_OP_NONE.
 *          The pipeline runs each call inline or queues it to the batcher (the request is then
 *          suspended and the next stage runs when the batcher is done).
 *   write  builds the reply from the call struct and the last results. Runs once, last.
 *
 * Each returns VAE_E_NONE, or an error kind with err filled; the pipeline then writes that error in
 * the route's dialect. No step writes an error reply itself.
 *
 * Lifetimes (the rules that make suspension safe):
 *   - req->scratch is the current worker thread's: valid from the start of a step until the end of
 *     the next model call that is batched; nothing in it survives a suspension.
 *   - the call struct (call_size zeroed bytes) and vae_request_alloc memory live as long as the
 *     request; keep there anything a later stage or write needs.
 *   - a batched call's input is copied into its job; its results (done->in, out, out2) stay valid
 *     until the next model call or the end of the request.
 *   - no cJSON tree outlives parse (the thread's JSON arena is reset by the next request). */
#ifndef VAE_SERVER_ENDPOINT_H
#define VAE_SERVER_ENDPOINT_H

#include <stddef.h>

#include "errors.h"
#include "model_call.h"
#include "registry.h"
#include "request.h"

typedef struct vae_endpoint {
    size_t call_size;
    vae_err_kind (*parse)(vae_request *req, void *call, vae_err *err);
    vae_err_kind (*run)(vae_request *req, void *call, int stage, const vae_model_call *done,
                        vae_model_call *next, vae_err *err);
    vae_err_kind (*write)(vae_request *req, void *call, vae_err *err);
} vae_endpoint;

/* A model call of op on sm's model: n rows from in, results to out (and out2 for an encode). */
static inline vae_model_call vae_call_of(vae_model_op op, const vae_served_model *sm, int n, const float *in,
                                         float *out, float *out2) {
    return (vae_model_call){.op = op, .model = sm->model, .slot = sm->slot, .n = n, .in = in, .out = out,
                            .out2 = out2};
}

#endif
