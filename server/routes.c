/* The route table: every path the server answers, its methods, and what it requires. */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "metrics.h"

#define MODEL_ROUTE (VAE_ROUTE_AUTH | VAE_ROUTE_READY)
#define OIP VAE_ROUTE_OIP
#define INFER_BODY (VAE_ROUTE_JSON | VAE_ROUTE_BINARY)
#define REPOSITORY (MODEL_ROUTE | VAE_ROUTE_JSON)

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
    {"/score", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON | VAE_ROUTE_PNG, &vae_ep_score},
    {"/manifold", VAE_GET, MODEL_ROUTE, &vae_ep_manifold},
    {"/traverse", VAE_GET | VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, &vae_ep_traverse},
    {"/complete", VAE_POST, MODEL_ROUTE | VAE_ROUTE_JSON, &vae_ep_complete},
    {"/v2", VAE_GET, OIP, &vae_ep_oip_server},
    {"/v2/health/live", VAE_GET, OIP, &vae_ep_oip_live},
    {"/v2/health/ready", VAE_GET, OIP, &vae_ep_oip_ready},
    {"/v2/models/stats", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_stats},
    {"/v2/models/{model}", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_model},
    {"/v2/models/{model}/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, &vae_ep_oip_model_ready},
    {"/v2/models/{model}/infer", VAE_POST, OIP | MODEL_ROUTE | INFER_BODY, &vae_ep_oip_infer},
    {"/v2/models/{model}/stats", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_stats},
    {"/v2/models/{model}/versions/{version}", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_model},
    {"/v2/models/{model}/versions/{version}/ready", VAE_GET, OIP | VAE_ROUTE_AUTH, &vae_ep_oip_model_ready},
    {"/v2/models/{model}/versions/{version}/infer", VAE_POST, OIP | MODEL_ROUTE | INFER_BODY, &vae_ep_oip_infer},
    {"/v2/models/{model}/versions/{version}/stats", VAE_GET, OIP | MODEL_ROUTE, &vae_ep_oip_stats},
    {"/v2/repository/index", VAE_POST, OIP | REPOSITORY, &vae_ep_oip_repository_index},
    {"/v2/repository/models/{model}/load", VAE_POST, OIP | REPOSITORY | VAE_ROUTE_CONTROL, &vae_ep_oip_repository_load},
    {"/v2/repository/models/{model}/unload", VAE_POST, OIP | REPOSITORY | VAE_ROUTE_CONTROL,
     &vae_ep_oip_repository_unload},
};

const int vae_n_routes = sizeof vae_routes / sizeof vae_routes[0];

_Static_assert(sizeof vae_routes / sizeof vae_routes[0] < VAE_METRIC_ROUTES,
               "metrics need a slot per route plus one for unmatched paths");

int vae_route_matches(const char *pattern, const char *path, vae_route_params *params) {
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            const char *seg_end = strchr(path, '/');
            size_t len = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!close || len == 0) return 0;
            size_t name_len = (size_t)(close - pattern - 1);
            char *field;
            size_t size;
            if (name_len == 5 && !strncmp(pattern + 1, "model", 5)) field = params->model, size = sizeof params->model;
            else if (name_len == 7 && !strncmp(pattern + 1, "version", 7))
                field = params->version, size = sizeof params->version;
            else return 0;
            if (len >= size) return 0;
            memcpy(field, path, len);
            field[len] = '\0';
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

const vae_route *vae_route_find(const char *path, vae_route_params *params, int *index) {
    for (int i = 0; i < vae_n_routes; i++) {
        memset(params, 0, sizeof *params);
        if (vae_route_matches(vae_routes[i].path, path, params)) {
            *index = i;
            return &vae_routes[i];
        }
    }
    memset(params, 0, sizeof *params);
    return NULL;
}

void vae_route_allow_list(unsigned methods, char *buf, size_t size) {
    snprintf(buf, size, "%s%sOPTIONS", methods & VAE_GET ? "GET, HEAD, " : "",
             methods & VAE_POST ? "POST, " : "");
}
