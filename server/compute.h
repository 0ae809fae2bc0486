/* The one place handlers run the model. Small calls go through the dynamic batcher when it is on;
 * the rest run on the worker thread's scratch. */
#ifndef VAE_SERVER_COMPUTE_H
#define VAE_SERVER_COMPUTE_H

#include "http.h"

/* On this thread: x is (n, 784); mu and logvar are (n, d). */
void vae_compute_encode(vae_request *req, const vae_model *model, const float *x, int n, float *mu,
                        float *logvar);

/* On this thread: z is (n, d); xhat is (n, 784). */
void vae_compute_decode(vae_request *req, const vae_model *model, const float *z, int n, float *xhat);

/* Batched when possible. Returns the decoded images (n, 784) when they are ready: computed on this
 * thread, or (when the handler runs the second time, req->job set) by the batcher. Returns NULL
 * after queueing the call (req->suspended: return, the handler runs again with the result) or after
 * replying 503 (queue full). The inputs are copied; z need not outlive the call. */
const float *vae_compute_decode_batched(vae_request *req, const vae_model *model, const float *z,
                                        int n);

/* The same for the encoder: returns mu (n, d) and sets *logvar. */
const float *vae_compute_encode_batched(vae_request *req, const vae_model *model, const float *x,
                                        int n, const float **logvar);

/* The inputs of the batched call (z or x), as queued: handlers that echo z in their reply (sample)
 * read it here on their second run. */
const float *vae_compute_batched_input(const vae_request *req);

#endif
