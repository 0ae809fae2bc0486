/* Service endpoints: index, liveness, readiness, Prometheus metrics, the model list and the OpenAPI
 * document. None runs a model. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "routes.h"
#include "server.h"

/* The OpenAPI document, embedded at build time (embed.S). */
extern const char vae_openapi_yaml[];
extern const char vae_openapi_yaml_end[];

static const char *const NO_QUERY[] = {NULL};

static vae_err_kind no_query(vae_request *req, void *call, vae_err *err) {
    (void)call;
    return vae_input_query_check(req, NO_QUERY, err);
}

static vae_err_kind health_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    (void)err;
    static const char ok[] = "{\"status\":\"ok\"}\n";
    vae_reply_static(req, 200, "application/json", ok, sizeof ok - 1);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_health = {0, NULL, NULL, health_write};

static vae_err_kind ready_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    if (atomic_load(&req->server->draining)) return vae_fail(err, VAE_E_DRAINING, "the server is shutting down");
    if (!atomic_load(&req->server->ready)) return vae_fail(err, VAE_E_NOT_READY, "the models are still loading");
    static const char ok[] = "{\"status\":\"ready\"}\n";
    vae_reply_static(req, 200, "application/json", ok, sizeof ok - 1);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_ready = {0, NULL, NULL, ready_write};

static vae_err_kind metrics_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    const char *names[VAE_METRIC_ROUTES];
    for (int i = 0; i < vae_n_routes; i++) names[i] = vae_routes[i].path;
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    int ready = atomic_load(&req->server->ready);
    if (vae_metrics_render(&req->server->metrics, names, vae_n_routes, ready ? &req->server->registry : NULL,
                           ready, out) != VAE_OK)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory rendering metrics");
    vae_reply_buffer(req, 200, "text/plain; version=0.0.4; charset=utf-8");
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_metrics = {0, NULL, NULL, metrics_write};

static vae_err_kind openapi_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    (void)err;
    vae_reply_static(req, 200, "application/yaml", vae_openapi_yaml,
                     (size_t)(vae_openapi_yaml_end - vae_openapi_yaml));
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_openapi = {0, NULL, NULL, openapi_write};

/* {"name":...,"default":...,"latent_dim":...,...} for one model. */
static void model_json(vae_json_writer *w, const vae_served_model *sm) {
    const vae_model *m = sm->model;
    const vae_config *cfg = &m->config;
    vae_jw_raw(w, "{\"name\":");
    vae_jw_string(w, sm->name);
    vae_jw_printf(w, ",\"version\":%u,\"sha256\":\"%s\"", sm->version, sm->sha256);
    vae_jw_printf(w,
                  ",\"default\":%s,\"latent_dim\":%d,\"input_shape\":[%d,%d],\"parameters\":%zu,"
                  "\"dtype\":\"%s\",\"activation\":\"%s\",\"has_centroids\":%s,\"hidden\":[",
                  sm->slot == 0 ? "true" : "false", cfg->latent_dim, VAE_IMAGE_SIDE, VAE_IMAGE_SIDE, m->n_params,
                  vae_dtype_name(m->param_dtype), vae_activation_name(cfg->activation),
                  m->centroids ? "true" : "false");
    for (int i = 0; i < cfg->n_hidden; i++) {
        if (i) vae_jw_raw(w, ",");
        vae_jw_int(w, cfg->hidden[i]);
    }
    vae_jw_raw(w, "],\"architecture\":");
    vae_jw_string(w, sm->architecture);
    /* what the trainer measured (null or false where the weights file lacks it) */
    const vae_diagnostics *dg = &m->diag;
    vae_jw_raw(w, ",\"diagnostics\":");
    if (dg->mu_var) {
        vae_jw_printf(w, "{\"active_units\":%d,\"active_threshold\":", dg->active_units);
        vae_jw_float(w, VAE_ACTIVE_UNIT_THRESHOLD);
        vae_jw_raw(w, ",\"mu_var\":");
        vae_jw_floats(w, dg->mu_var, (size_t)cfg->latent_dim);
        vae_jw_raw(w, ",\"kl_per_dim\":");
        vae_jw_floats(w, dg->kl, (size_t)cfg->latent_dim);
        vae_jw_raw(w, ",\"test_loss\":");
        if (isfinite(dg->test_loss)) vae_jw_float(w, (float)dg->test_loss);
        else vae_jw_raw(w, "null");
        vae_jw_raw(w, ",\"test_nll\":");
        if (isfinite(dg->test_nll)) vae_jw_float(w, (float)dg->test_nll);
        else vae_jw_raw(w, "null");
        vae_jw_printf(w, ",\"test_nll_k\":%d}", dg->test_nll_k);
    } else {
        vae_jw_raw(w, "null");
    }
    vae_jw_raw(w, ",\"calibration\":");
    if (m->scores.nll.values) vae_jw_printf(w, "{\"k\":%d,\"images\":%d}", m->scores.k, m->scores.nll.count);
    else vae_jw_raw(w, "null");
    vae_jw_printf(w, ",\"class_stats\":%s,\"principal_plane\":%s", m->class_std ? "true" : "false",
                  m->plane.mean ? "true" : "false");
    /* what a request that names neither option gets, and what normalize=auto means for this model */
    vae_jw_printf(w, ",\"preparation\":{\"normalize\":\"%s\",\"invert\":%s,\"auto\":\"%s\"}",
                  VAE_IMAGE_DEFAULT_NORMALIZE, VAE_IMAGE_DEFAULT_INVERT == VAE_INVERT_NO ? "false" : "true",
                  vae_normalize_name(vae_normalize_of_model(m)));
    vae_jw_raw(w, ",\"metadata\":{");
    for (int i = 0; i < m->metadata.count; i++) {
        if (i) vae_jw_raw(w, ",");
        vae_jw_string(w, m->metadata.keys[i]);
        vae_jw_raw(w, ":");
        vae_jw_string(w, m->metadata.values[i]);
    }
    vae_jw_raw(w, "}}");
}

static vae_err_kind models_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    vae_registry *reg = &req->server->registry;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"models\":[");
    int listed = 0;
    for (int i = 0; i < reg->count; i++) {
        const vae_served_model *sm = vae_registry_acquire(reg, i); /* NULL while unloaded: not listed */
        if (!sm) continue;
        if (listed++) vae_jw_raw(&w, ",");
        model_json(&w, sm);
        vae_registry_release(sm);
    }
    vae_jw_raw(&w, "]}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_models = {0, no_query, NULL, models_write};

static vae_err_kind index_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"name\":\"vae-server\",\"version\":\"" VAE_SERVER_VERSION
                   "\",\"documentation\":\"/openapi.yaml\",\"endpoints\":[");
    int listed = 0;
    for (int i = 0; i < vae_n_routes; i++) {
        const vae_route *r = &vae_routes[i];
        if (r->methods & VAE_GET) vae_jw_printf(&w, "%s\"GET %s\"", listed++ ? "," : "", r->path);
        if (r->methods & VAE_POST) vae_jw_printf(&w, "%s\"POST %s\"", listed++ ? "," : "", r->path);
    }
    vae_jw_raw(&w, "]}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_index = {0, NULL, NULL, index_write};
