/* The route table: every path the server answers, its methods, what it requires, and its endpoint. */
#ifndef VAE_SERVER_ROUTES_H
#define VAE_SERVER_ROUTES_H

#include <stddef.h>

#include "handlers.h"

/* Route flags. */
enum {
    VAE_ROUTE_AUTH = 1 << 0,  /* needs the API key when one is configured */
    VAE_ROUTE_READY = 1 << 1, /* needs the models loaded (503 before) */
    VAE_ROUTE_JSON = 1 << 2,  /* accepts an application/json body */
    VAE_ROUTE_PNG = 1 << 3,   /* accepts an image/png body */
    VAE_ROUTE_OIP = 1 << 4,   /* Open Inference Protocol: errors in its dialect, {"error": "message"} */
    VAE_ROUTE_BINARY = 1 << 5, /* accepts the protocol's binary tensor framing (application/octet-stream) */
    VAE_ROUTE_CONTROL = 1 << 6, /* changes what is served: refused when --model-control is off */
};

typedef struct vae_route {
    const char *path; /* "/encode", or a pattern with one "{param}" segment */
    unsigned methods; /* allowed methods (GET implies HEAD) */
    unsigned flags;
    const vae_endpoint *endpoint;
} vae_route;

extern const vae_route vae_routes[];
extern const int vae_n_routes;

/* The values of a pattern route's segments: "{model}" and "{version}". */
typedef struct {
    char model[128];
    char version[32];
} vae_route_params;

/* Matches path against a route pattern; a "{model}" or "{version}" segment matches one non-empty
 * segment that fits its field of params, copied there. Returns 1 on a match (params then holds the
 * segments; on no match it may hold partial values). */
int vae_route_matches(const char *pattern, const char *path, vae_route_params *params);

/* The first route matching path (its segments into params), with its index, or NULL. */
const vae_route *vae_route_find(const char *path, vae_route_params *params, int *index);

/* "GET, HEAD, OPTIONS" for a route's methods. */
void vae_route_allow_list(unsigned methods, char *buf, size_t size);

#endif
