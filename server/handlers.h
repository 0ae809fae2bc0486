/* Every endpoint's handler; the route table in routes.c maps paths onto them. */
#ifndef VAE_SERVER_HANDLERS_H
#define VAE_SERVER_HANDLERS_H

#include "http.h"

/* model endpoints (handlers_model.c) */
void vae_handle_encode(vae_request *req);
void vae_handle_decode(vae_request *req);
void vae_handle_reconstruct(vae_request *req);
void vae_handle_sample(vae_request *req);
void vae_handle_interpolate(vae_request *req);

/* service endpoints (handlers_info.c) */
void vae_handle_index(vae_request *req);
void vae_handle_health(vae_request *req);
void vae_handle_ready(vae_request *req);
void vae_handle_metrics(vae_request *req);
void vae_handle_models(vae_request *req);
void vae_handle_openapi(vae_request *req);

/* Open Inference Protocol (KServe V2) endpoints under /v2 (handlers_oip.c) */
void vae_handle_oip_server(vae_request *req);
void vae_handle_oip_live(vae_request *req);
void vae_handle_oip_ready(vae_request *req);
void vae_handle_oip_model(vae_request *req);
void vae_handle_oip_model_ready(vae_request *req);
void vae_handle_oip_infer(vae_request *req);

#endif
