/* Model execution for handlers. */
#include "compute.h"

int vae_compute_encode(vae_request *req, const vae_model *model, const float *x, int n, float *mu,
                       float *logvar) {
    vae_encode(model, req->scratch->ws, x, n, mu, logvar);
    return 0;
}

int vae_compute_decode(vae_request *req, const vae_model *model, const float *z, int n, float *xhat) {
    vae_decode(model, req->scratch->ws, z, n, xhat);
    return 0;
}
