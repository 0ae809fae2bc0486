/* The route table: every path the server answers, its methods, and what it requires. */
#include "handlers.h"

#define MODEL_ROUTE (VAE_ROUTE_AUTH | VAE_ROUTE_READY)
#define OIP VAE_ROUTE_OIP

const vae_route vae_routes[] = {
    {"/", VAE_GET, 0, vae_handle_index},
    {"/health", VAE_GET, 0, vae_handle_health},
    {"/ready", VAE_GET, 0, vae_handle_ready},
    {"/metrics", VAE_GET, 0, vae_handle_metrics},
    {"/openapi.yaml", VAE_GET, 0, vae_handle_openapi},
    {"/v1/models", VAE_GET, MODEL_ROUTE, vae_handle_models},
    {"/encode", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON | VAE_ROUTE_PNG, vae_handle_encode},
    {"/reconstruct", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON | VAE_ROUTE_PNG, vae_handle_reconstruct},
    {"/decode", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, vae_handle_decode},
    {"/sample", VAE_GET, MODEL_ROUTE, vae_handle_sample},
    {"/interpolate", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, vae_handle_interpolate},
    {"/v2", VAE_GET, OIP, vae_handle_oip_server},
    {"/v2/health/live", VAE_GET, OIP, vae_handle_oip_live},
    {"/v2/health/ready", VAE_GET, OIP, vae_handle_oip_ready},
    {"/v2/models/{model}", VAE_GET, OIP | MODEL_ROUTE, vae_handle_oip_model},
    {"/v2/models/{model}/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, vae_handle_oip_model_ready},
    {"/v2/models/{model}/infer", VAE_POST, OIP | MODEL_ROUTE | VAE_ROUTE_JSON, vae_handle_oip_infer},
    {"/v2/models/{model}/versions/1", VAE_GET, OIP | MODEL_ROUTE, vae_handle_oip_model},
    {"/v2/models/{model}/versions/1/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, vae_handle_oip_model_ready},
    {"/v2/models/{model}/versions/1/infer", VAE_POST, OIP | MODEL_ROUTE | VAE_ROUTE_JSON, vae_handle_oip_infer},
};

const int vae_n_routes = sizeof vae_routes / sizeof vae_routes[0];

_Static_assert(sizeof vae_routes / sizeof vae_routes[0] < VAE_METRIC_ROUTES,
               "metrics need a slot per route plus one for unmatched paths");
