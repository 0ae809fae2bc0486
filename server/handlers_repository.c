/* The Open Inference Protocol's statistics extension (GET /v2/models[/{model}[/versions/{v}]]/stats,
 * in Triton's JSON shape) and model repository extension (POST /v2/repository/index, and
 * /v2/repository/models/{model}/load and /unload, which re-read or stop serving a model's weights
 * file). A repository model is named as the protocol names it (mnist-encoder, mnist-decoder) or by
 * the VAE's own name (mnist); loading either face re-reads the one file behind both. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "server.h"

static const char *const FACE_SUFFIX[VAE_FACES] = {"-encoder", "-decoder"};

/* The slot (and face, or -1 for both) a protocol model name refers to, or -1. */
static int slot_of_name(const vae_registry *reg, const char *name, int *face) {
    size_t len = strlen(name);
    *face = -1;
    int slot = vae_registry_slot_of(reg, name);
    if (slot >= 0) return slot;
    for (int f = 0; f < VAE_FACES; f++) {
        size_t suffix = strlen(FACE_SUFFIX[f]);
        char base[sizeof reg->slots[0].name];
        if (len <= suffix || len - suffix >= sizeof base || strcmp(name + len - suffix, FACE_SUFFIX[f])) continue;
        memcpy(base, name, len - suffix);
        base[len - suffix] = '\0';
        slot = vae_registry_slot_of(reg, base);
        if (slot >= 0) {
            *face = f;
            return slot;
        }
    }
    return -1;
}

static vae_err_kind unknown_model(const vae_registry *reg, const char *name, vae_err *err) {
    char list[384] = "";
    size_t used = 0;
    for (int i = 0; i < reg->count && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s-encoder, %s-decoder)", i ? ", " : "",
                                 reg->slots[i].name, reg->slots[i].name, reg->slots[i].name);
    return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "no model '%.64s'; this server has: %s", name, list);
}

/* --- statistics --- */

typedef struct {
    int slot, face; /* one model's face, or slot -1 for all */
} stats_call;

static vae_err_kind stats_parse(vae_request *req, void *call, vae_err *err) {
    stats_call *c = call;
    c->slot = -1;
    if (!req->path_param[0]) return VAE_E_NONE; /* GET /v2/models/stats */
    vae_registry *reg = &req->server->registry;
    c->slot = slot_of_name(reg, req->path_param, &c->face);
    if (c->slot < 0 || c->face < 0) return unknown_model(reg, req->path_param, err);
    const vae_served_model *sm = vae_registry_acquire(reg, c->slot);
    if (!sm) return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "model '%.64s' is unloaded", req->path_param);
    char version[16];
    snprintf(version, sizeof version, "%u", sm->version);
    vae_registry_release(sm);
    if (req->path_version[0] && strcmp(req->path_version, version) != 0)
        return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "model '%.64s' has version %s, not '%.16s'", req->path_param,
                        version, req->path_version);
    return VAE_E_NONE;
}

static void duration(vae_json_writer *w, const char *name, const vae_duration_stat *d, int comma) {
    vae_jw_printf(w, "%s\"%s\":{\"count\":%llu,\"ns\":%llu}", comma ? "," : "", name,
                  (unsigned long long)atomic_load_explicit(&d->count, memory_order_relaxed),
                  (unsigned long long)atomic_load_explicit(&d->ns, memory_order_relaxed));
}

static void face_json(vae_json_writer *w, const vae_served_model *sm, int face, const vae_face_stats *f) {
    static const vae_duration_stat zero;
    vae_jw_printf(w, "{\"name\":\"%s%s\",\"version\":\"%u\",\"last_inference\":%llu,\"inference_count\":%llu,"
                     "\"execution_count\":%llu,\"inference_stats\":{",
                  sm->name, FACE_SUFFIX[face], sm->version,
                  (unsigned long long)atomic_load_explicit(&f->last_inference_ms, memory_order_relaxed),
                  (unsigned long long)atomic_load_explicit(&f->inference_count, memory_order_relaxed),
                  (unsigned long long)atomic_load_explicit(&f->execution_count, memory_order_relaxed));
    duration(w, "success", &f->success, 0);
    duration(w, "fail", &f->fail, 1);
    duration(w, "queue", &f->queue, 1);
    duration(w, "compute_input", &f->compute_input, 1);
    duration(w, "compute_infer", &f->compute_infer, 1);
    duration(w, "compute_output", &f->compute_output, 1);
    duration(w, "cache_hit", &zero, 1); /* no response cache */
    duration(w, "cache_miss", &zero, 1);
    vae_jw_raw(w, "},\"batch_stats\":[");
    int listed = 0;
    for (int i = 0; i < VAE_STATS_BATCH_SIZES; i++) {
        const vae_batch_stat *b = &f->batches[i];
        int size = atomic_load_explicit(&b->size, memory_order_acquire);
        if (!size) continue;
        vae_jw_printf(w, "%s{\"batch_size\":%d,", listed++ ? "," : "", size);
        duration(w, "compute_input", &b->compute_input, 0);
        duration(w, "compute_infer", &b->compute_infer, 1);
        duration(w, "compute_output", &b->compute_output, 1);
        vae_jw_raw(w, "}");
    }
    vae_jw_raw(w, "]}");
}

static vae_err_kind stats_write(vae_request *req, void *call, vae_err *err) {
    const stats_call *c = call;
    vae_registry *reg = &req->server->registry;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"model_stats\":[");
    int listed = 0;
    for (int slot = 0; slot < reg->count; slot++) {
        if (c->slot >= 0 && slot != c->slot) continue;
        const vae_served_model *sm = vae_registry_acquire(reg, slot);
        if (!sm) continue;
        for (int face = 0; face < VAE_FACES; face++) {
            if (c->slot >= 0 && face != c->face) continue;
            if (listed++) vae_jw_raw(&w, ",");
            face_json(&w, sm, face, &req->server->stats.faces[slot][face]);
        }
        vae_registry_release(sm);
    }
    vae_jw_raw(&w, "]}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_stats = {sizeof(stats_call), stats_parse, NULL, stats_write};

/* --- repository --- */

typedef struct {
    int ready_only;    /* index: only models that are ready */
    int slot, face;    /* load/unload: the model */
    int changed;       /* load: a new version was published */
} repository_call;

/* The optional JSON body of the repository requests: an object with only `allowed` keys. */
static vae_err_kind optional_body(const vae_request *req, const char *const *allowed, cJSON **root, vae_err *err) {
    *root = NULL;
    if (req->body_len == 0) return VAE_E_NONE;
    return vae_input_json_object(req->body, req->body_len, allowed, root, err);
}

static vae_err_kind index_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const fields[] = {"ready", NULL};
    repository_call *c = call;
    cJSON *root;
    if (optional_body(req, fields, &root, err)) return err->kind;
    vae_input_json_bool(cJSON_GetObjectItemCaseSensitive(root, "ready"), "ready", 0, &c->ready_only, err);
    cJSON_Delete(root);
    return err->kind;
}

static vae_err_kind index_write(vae_request *req, void *call, vae_err *err) {
    const repository_call *c = call;
    vae_registry *reg = &req->server->registry;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "[");
    int listed = 0;
    for (int slot = 0; slot < reg->count; slot++) {
        char reason[256];
        vae_slot_state state = vae_registry_state(reg, slot, reason, sizeof reason);
        if (c->ready_only && state != VAE_SLOT_READY) continue;
        const vae_served_model *sm = vae_registry_acquire(reg, slot);
        for (int face = 0; face < VAE_FACES; face++) {
            vae_jw_raw(&w, listed++ ? ",{\"name\":\"" : "{\"name\":\"");
            vae_jw_raw(&w, reg->slots[slot].name);
            vae_jw_raw(&w, FACE_SUFFIX[face]);
            if (sm) vae_jw_printf(&w, "\",\"version\":\"%u\",\"state\":\"READY\"", sm->version);
            else vae_jw_raw(&w, "\",\"state\":\"UNAVAILABLE\"");
            if (reason[0]) {
                /* a ready model whose last reload failed says why it is still on the old version */
                vae_jw_raw(&w, ",\"reason\":");
                vae_jw_string(&w, reason);
            }
            vae_jw_raw(&w, "}");
        }
        vae_registry_release(sm);
    }
    vae_jw_raw(&w, "]");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_repository_index = {sizeof(repository_call), index_parse, NULL, index_write};

static vae_err_kind control_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const fields[] = {"parameters", NULL};
    repository_call *c = call;
    vae_registry *reg = &req->server->registry;
    c->slot = slot_of_name(reg, req->path_param, &c->face);
    if (c->slot < 0) return unknown_model(reg, req->path_param, err);
    cJSON *root;
    if (optional_body(req, fields, &root, err)) return err->kind;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (params && !cJSON_IsObject(params))
        vae_fail(err, VAE_E_INVALID_REQUEST, "parameters must be an object");
    else if (params && params->child)
        /* Triton's "config" and "file:..." overrides would serve something other than the file */
        vae_fail(err, VAE_E_INVALID_REQUEST,
                 "parameter '%.64s' is not supported: this server loads the weights file it was started with",
                 params->child->string);
    cJSON_Delete(root);
    return err->kind;
}

/* The load itself: the file read, validated and swapped in on this request's worker thread while
 * every other request keeps being served (by the old model until the swap). */
static vae_err_kind load_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                             vae_model_call *next, vae_err *err) {
    (void)stage;
    (void)done;
    (void)next;
    repository_call *c = call;
    vae_registry *reg = &req->server->registry;
    vae_error e = {0};
    if (vae_registry_reload(reg, c->slot, &c->changed, &e) != VAE_OK) {
        const vae_served_model *sm = vae_registry_acquire(reg, c->slot);
        vae_err_kind kind = e.status == VAE_ERR_NOMEM ? VAE_E_OUT_OF_MEMORY : VAE_E_MODEL_LOAD_FAILED;
        if (sm) vae_fail(err, kind, "%s; version %u keeps serving", e.message, sm->version);
        else vae_fail(err, kind, "%s; the model stays unloaded", e.message);
        vae_registry_release(sm);
        return err->kind;
    }
    return VAE_E_NONE;
}

static vae_err_kind load_write(vae_request *req, void *call, vae_err *err) {
    repository_call *c = call;
    vae_registry *reg = &req->server->registry;
    const vae_served_model *sm = vae_registry_acquire(reg, c->slot);
    if (!sm) return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "model '%s' was unloaded meanwhile", reg->slots[c->slot].name);
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"name\":");
    vae_jw_string(&w, sm->name);
    vae_jw_printf(&w, ",\"version\":\"%u\",\"sha256\":\"%s\",\"state\":\"READY\",\"changed\":%s}", sm->version,
                  sm->sha256, c->changed ? "true" : "false");
    vae_registry_release(sm);
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_repository_load = {sizeof(repository_call), control_parse, load_run, load_write};

static vae_err_kind unload_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                               vae_model_call *next, vae_err *err) {
    (void)stage;
    (void)done;
    (void)next;
    (void)err;
    vae_registry_unload(&req->server->registry, ((repository_call *)call)->slot);
    return VAE_E_NONE;
}

static vae_err_kind unload_write(vae_request *req, void *call, vae_err *err) {
    const repository_call *c = call;
    vae_registry *reg = &req->server->registry;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"name\":");
    vae_jw_string(&w, reg->slots[c->slot].name);
    vae_jw_raw(&w, ",\"state\":\"UNAVAILABLE\"}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_repository_unload = {sizeof(repository_call), control_parse, unload_run,
                                                   unload_write};
