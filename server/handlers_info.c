/* Service endpoints: index, liveness, readiness, Prometheus metrics, the model list and the OpenAPI
 * document. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "json_write.h"

/* The OpenAPI document, embedded at build time (embed.S). */
extern const char vae_openapi_yaml[];
extern const char vae_openapi_yaml_end[];

static const char *const NO_QUERY[] = {NULL};

void vae_handle_health(vae_request *req) {
    static const char ok[] = "{\"status\":\"ok\"}\n";
    vae_reply_static(req, 200, "application/json", ok, sizeof ok - 1);
}

void vae_handle_ready(vae_request *req) {
    if (atomic_load(&req->server->draining)) {
        vae_reply_error(req, 503, "draining", "the server is shutting down");
        return;
    }
    if (!atomic_load(&req->server->ready)) {
        vae_reply_error(req, 503, "not_ready", "the models are still loading");
        vae_reply_header(req, "Retry-After", "1");
        return;
    }
    static const char ok[] = "{\"status\":\"ready\"}\n";
    vae_reply_static(req, 200, "application/json", ok, sizeof ok - 1);
}

void vae_handle_metrics(vae_request *req) {
    const char *names[VAE_METRIC_ROUTES];
    for (int i = 0; i < vae_n_routes; i++) names[i] = vae_routes[i].path;
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    int ready = atomic_load(&req->server->ready);
    if (vae_metrics_render(&req->server->metrics, names, vae_n_routes,
                           ready ? &req->server->registry : NULL, ready, out) != VAE_OK) {
        vae_reply_error(req, 503, "overloaded", "out of memory rendering metrics");
        return;
    }
    vae_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8");
}

void vae_handle_openapi(vae_request *req) {
    vae_reply_static(req, 200, "application/yaml", vae_openapi_yaml,
                     (size_t)(vae_openapi_yaml_end - vae_openapi_yaml));
}

/* {"name":...,"default":...,"latent_dim":...,...} for one model. */
static vae_status model_json(vae_buf *out, const vae_served_model *sm, int is_default) {
    const vae_model *m = sm->model;
    const vae_config *cfg = &m->config;
    char head[256];
    vae_status st = vae_json_raw(out, "{\"name\":");
    if (st == VAE_OK) st = vae_json_string(out, sm->name);
    snprintf(head, sizeof head,
             ",\"default\":%s,\"latent_dim\":%d,\"input_shape\":[28,28],\"parameters\":%zu,"
             "\"activation\":\"%s\",\"has_centroids\":%s,\"hidden\":[",
             is_default ? "true" : "false", cfg->latent_dim, m->n_params,
             vae_activation_name(cfg->activation), m->centroids ? "true" : "false");
    if (st == VAE_OK) st = vae_json_raw(out, head);
    for (int i = 0; st == VAE_OK && i < cfg->n_hidden; i++) {
        if (i) st = vae_json_raw(out, ",");
        if (st == VAE_OK) st = vae_json_int(out, cfg->hidden[i]);
    }
    if (st == VAE_OK) st = vae_json_raw(out, "],\"architecture\":");
    if (st == VAE_OK) st = vae_json_string(out, sm->architecture);
    if (st == VAE_OK) st = vae_json_raw(out, ",\"metadata\":{");
    for (int i = 0; st == VAE_OK && i < m->metadata.count; i++) {
        if (i) st = vae_json_raw(out, ",");
        if (st == VAE_OK) st = vae_json_string(out, m->metadata.keys[i]);
        if (st == VAE_OK) st = vae_json_raw(out, ":");
        if (st == VAE_OK) st = vae_json_string(out, m->metadata.values[i]);
    }
    if (st == VAE_OK) st = vae_json_raw(out, "}}");
    return st;
}

void vae_handle_models(vae_request *req) {
    if (vae_query_check(req, NO_QUERY) != 0) return;
    const vae_registry *reg = &req->server->registry;
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    vae_status st = vae_json_raw(out, "{\"models\":[");
    for (int i = 0; st == VAE_OK && i < reg->count; i++) {
        if (i) st = vae_json_raw(out, ",");
        if (st == VAE_OK) st = model_json(out, &reg->models[i], i == 0);
    }
    if (st == VAE_OK) st = vae_json_raw(out, "]}\n");
    if (st != VAE_OK) {
        vae_reply_error(req, 503, "overloaded", "out of memory writing the reply");
        return;
    }
    vae_reply(req, 200, "application/json");
}

void vae_handle_index(vae_request *req) {
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    vae_status st = vae_json_raw(out, "{\"name\":\"vae-server\",\"version\":\"" VAE_SERVER_VERSION
                                      "\",\"documentation\":\"/openapi.yaml\",\"endpoints\":[");
    for (int i = 0; st == VAE_OK && i < vae_n_routes; i++) {
        const vae_route *r = &vae_routes[i];
        char entry[128];
        snprintf(entry, sizeof entry, "%s\"%s %s\"", i ? "," : "",
                 r->methods & VAE_POST ? "POST" : "GET", r->path);
        st = vae_json_raw(out, entry);
    }
    if (st == VAE_OK) st = vae_json_raw(out, "]}\n");
    if (st != VAE_OK) {
        vae_reply_error(req, 503, "overloaded", "out of memory writing the reply");
        return;
    }
    vae_reply(req, 200, "application/json");
}
