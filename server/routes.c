/* The route table: every path the server answers, its methods, and what it requires. */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "metrics.h"

#define MODEL_ROUTE (VAE_ROUTE_AUTH | VAE_ROUTE_READY)
#define OIP VAE_ROUTE_OIP
#define INFER_BODY (VAE_ROUTE_JSON | VAE_ROUTE_BINARY)

const vae_route vae_routes[] = {
    {"/", VAE_GET, 0, &vae_ep_index},
    {"/health", VAE_GET, 0, &vae_ep_health},
    {"/ready", VAE_GET, 0, &vae_ep_ready},
    {"/metrics", VAE_GET, 0, &vae_ep_metrics},
    {"/openapi.yaml", VAE_GET, 0, &vae_ep_openapi},
    {"/v1/models", VAE_GET, MODEL_ROUTE, &vae_ep_models},
    {"/encode", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON | VAE_ROUTE_PNG, &vae_ep_encode},
    {"/reconstruct", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON | VAE_ROUTE_PNG, &vae_ep_reconstruct},
    {"/decode", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, &vae_ep_decode},
    {"/sample", VAE_GET, MODEL_ROUTE, &vae_ep_sample},
    {"/interpolate", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, &vae_ep_interpolate},
    {"/v2", VAE_GET, OIP, &vae_ep_oip_server},
    {"/v2/health/live", VAE_GET, OIP, &vae_ep_oip_live},
    {"/v2/health/ready", VAE_GET, OIP, &vae_ep_oip_ready},
    {"/v2/models/{model}", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_model},
    {"/v2/models/{model}/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, &vae_ep_oip_model_ready},
    {"/v2/models/{model}/infer", VAE_POST, OIP | MODEL_ROUTE | INFER_BODY, &vae_ep_oip_infer},
    {"/v2/models/{model}/versions/1", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_model},
    {"/v2/models/{model}/versions/1/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, &vae_ep_oip_model_ready},
    {"/v2/models/{model}/versions/1/infer", VAE_POST, OIP | MODEL_ROUTE | INFER_BODY, &vae_ep_oip_infer},
};

const int vae_n_routes = sizeof vae_routes / sizeof vae_routes[0];

_Static_assert(sizeof vae_routes / sizeof vae_routes[0] < VAE_METRIC_ROUTES,
               "metrics need a slot per route plus one for unmatched paths");

int vae_route_matches(const char *pattern, const char *path, char *param, size_t param_size) {
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            const char *seg_end = strchr(path, '/');
            size_t len = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!close || len == 0 || len >= param_size) return 0;
            memcpy(param, path, len);
            param[len] = '\0';
            pattern = close + 1;
            path += len;
            continue;
        }
        if (*pattern != *path) return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

const vae_route *vae_route_find(const char *path, char *param, size_t param_size, int *index) {
    for (int i = 0; i < vae_n_routes; i++) {
        if (vae_route_matches(vae_routes[i].path, path, param, param_size)) {
            *index = i;
            return &vae_routes[i];
        }
    }
    return NULL;
}

void vae_route_allow_list(unsigned methods, char *buf, size_t size) {
    snprintf(buf, size, "%s%sOPTIONS", methods & VAE_GET ? "GET, HEAD, " : "",
             methods & VAE_POST ? "POST, " : "");
}
