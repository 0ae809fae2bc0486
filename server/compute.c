/* Model execution for handlers: on the worker thread, or queued to the batcher with the connection
 * suspended until the result is in. */
#include "compute.h"

#include <string.h>

void vae_compute_encode(vae_request *req, const vae_model *model, const float *x, int n, float *mu,
                        float *logvar) {
    vae_encode(model, req->scratch->ws, x, n, mu, logvar);
}

void vae_compute_decode(vae_request *req, const vae_model *model, const float *z, int n, float *xhat) {
    vae_decode(model, req->scratch->ws, z, n, xhat);
}

/* Queues a call: copies its input, suspends the connection, submits. Returns 0 when queued, 1 when
 * the batcher is closed (the caller runs the call itself), or -1 after replying 503 when every job
 * is taken. */
static int enqueue(vae_request *req, const vae_model *model, vae_batch_op op, const float *in, int n,
                   int width) {
    vae_batch_job *job = vae_batcher_acquire(req->server->batcher);
    if (!job) {
        atomic_fetch_add_explicit(&req->server->metrics.rejected_overload, 1, memory_order_relaxed);
        vae_reply_error(req, 503, "overloaded",
                        "too many requests are waiting for the model (--batch-queue %d); retry shortly",
                        req->server->opts.batch_queue);
        vae_reply_header(req, "Retry-After", "1");
        return -1;
    }
    job->model = model;
    job->op = op;
    job->n = n;
    job->conn = req->conn;
    memcpy(job->in, in, sizeof(float) * (size_t)n * (size_t)width);
    if (vae_batcher_submit(req->server->batcher, job) != 0) {
        vae_batcher_release(req->server->batcher, job); /* closed: shutting down */
        return 1;
    }
    req->job = job;
    req->suspended = 1;
    return 0;
}

static int batchable(const vae_request *req, int n) {
    return req->server->batcher && n <= VAE_BATCH_JOB_ROWS &&
           !atomic_load_explicit(&req->server->draining, memory_order_relaxed);
}

const float *vae_compute_decode_batched(vae_request *req, const vae_model *model, const float *z,
                                        int n) {
    if (req->job) return req->job->out; /* the batcher's result, on the handler's second run */
    if (!batchable(req, n) || enqueue(req, model, VAE_OP_DECODE, z, n, model->config.latent_dim) == 1) {
        vae_decode(model, req->scratch->ws, z, n, req->scratch->xhat);
        return req->scratch->xhat;
    }
    return NULL;
}

const float *vae_compute_encode_batched(vae_request *req, const vae_model *model, const float *x,
                                        int n, const float **logvar) {
    if (req->job) {
        *logvar = req->job->out + (size_t)req->job->n * model->config.latent_dim;
        return req->job->out;
    }
    if (!batchable(req, n) || enqueue(req, model, VAE_OP_ENCODE, x, n, VAE_INPUT_DIM) == 1) {
        vae_encode(model, req->scratch->ws, x, n, req->scratch->mu, req->scratch->logvar);
        *logvar = req->scratch->logvar;
        return req->scratch->mu;
    }
    return NULL;
}

const float *vae_compute_batched_input(const vae_request *req) { return req->job ? req->job->in : NULL; }
