/* Every endpoint; the route table (routes.c) maps paths onto them. */
#ifndef VAE_SERVER_HANDLERS_H
#define VAE_SERVER_HANDLERS_H

#include "endpoint.h"

/* model endpoints (handlers_model.c) */
extern const vae_endpoint vae_ep_encode, vae_ep_reconstruct, vae_ep_decode, vae_ep_sample,
    vae_ep_interpolate;

/* the model as a density (handlers_score.c) */
extern const vae_endpoint vae_ep_score;

/* the latent space: manifold, traversals, completion (handlers_latent.c) */
extern const vae_endpoint vae_ep_manifold, vae_ep_traverse, vae_ep_complete;

/* service endpoints (handlers_info.c) */
extern const vae_endpoint vae_ep_index, vae_ep_health, vae_ep_ready, vae_ep_metrics, vae_ep_models,
    vae_ep_openapi;

/* Open Inference Protocol (KServe V2) endpoints under /v2 (handlers_oip.c) */
extern const vae_endpoint vae_ep_oip_server, vae_ep_oip_live, vae_ep_oip_ready, vae_ep_oip_model,
    vae_ep_oip_model_ready, vae_ep_oip_infer;

/* the protocol's statistics and model repository extensions (handlers_repository.c) */
extern const vae_endpoint vae_ep_oip_stats, vae_ep_oip_repository_index, vae_ep_oip_repository_load,
    vae_ep_oip_repository_unload;

#endif
