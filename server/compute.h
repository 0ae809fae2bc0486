/* The one place handlers run the model: directly on the worker thread's workspace today, through the
 * dynamic batcher when it is enabled. Returns 0, or -1 after replying 503 (batch queue full). */
#ifndef VAE_SERVER_COMPUTE_H
#define VAE_SERVER_COMPUTE_H

#include "http.h"

/* x is (n, 784); mu and logvar are (n, d). */
int vae_compute_encode(vae_request *req, const vae_model *model, const float *x, int n, float *mu,
                       float *logvar);

/* z is (n, d); xhat is (n, 784). */
int vae_compute_decode(vae_request *req, const vae_model *model, const float *z, int n, float *xhat);

#endif
