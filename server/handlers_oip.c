/* Open Inference Protocol (KServe V2 / Triton HTTP) endpoints: server metadata, health, model
 * metadata and readiness, and inference. Each loaded VAE NAME appears as two models, NAME-encoder
 * (x -> mu, logvar) and NAME-decoder (z -> x), version "1". Every error these routes answer has the
 * protocol's shape, {"error": "message"}, and 400 for a request the model cannot use. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compute.h"
#include "handlers.h"
#include "inputs.h"
#include "json_write.h"

#define OIP_PLATFORM "vae-server"
#define OIP_VERSION "1"

/* One tensor of a model's signature: its width is 784 (images) or the model's latent size d. */
typedef struct {
    const char *name;
    int latent; /* width is d rather than 784 */
} oip_tensor;

/* The two faces of a VAE. */
typedef struct {
    const char *suffix; /* "-encoder" */
    oip_tensor input;
    oip_tensor outputs[2];
    int n_outputs;
    float lo, hi; /* accepted input values */
    const char *values; /* what the input values are, for errors */
} oip_kind;

static const oip_kind OIP_KINDS[] = {
    {"-encoder", {"x", 0}, {{"mu", 1}, {"logvar", 1}}, 2, 0.0f, 1.0f, "pixel values"},
    {"-decoder", {"z", 1}, {{"x", 0}}, 1, -FLT_MAX, FLT_MAX, "latent values"},
};

/* A model of the protocol: the served VAE behind it and which face. */
typedef struct {
    const vae_served_model *sm;
    const oip_kind *kind;
} oip_model;

static const char *const NO_QUERY[] = {NULL};

static int tensor_width(const oip_tensor *t, const vae_served_model *sm) {
    return t->latent ? sm->model->config.latent_dim : VAE_INPUT_DIM;
}

/* --- errors --- */

/* Replies {"error": message} with status: vae_reply_error writes the protocol's shape on these
 * routes (VAE_ROUTE_OIP), for the shared helpers' errors too. */
#define oip_error(req, status, ...) vae_reply_error((req), (status), "invalid_request", __VA_ARGS__)

/* --- models --- */

/* "mnist-encoder" -> the mnist VAE's encoder. Replies 404 and returns -1 when there is no such
 * model. */
static int find_model(vae_request *req, oip_model *om) {
    const vae_registry *reg = &req->server->registry;
    const char *name = req->path_param;
    size_t len = strlen(name);
    for (size_t k = 0; k < sizeof OIP_KINDS / sizeof OIP_KINDS[0]; k++) {
        const oip_kind *kind = &OIP_KINDS[k];
        size_t suffix = strlen(kind->suffix);
        char base[sizeof reg->models[0].name];
        if (len <= suffix || len - suffix >= sizeof base || strcmp(name + len - suffix, kind->suffix))
            continue;
        memcpy(base, name, len - suffix);
        base[len - suffix] = '\0';
        om->sm = vae_registry_find(reg, base);
        om->kind = kind;
        if (om->sm) return 0;
    }
    char list[384] = "";
    size_t used = 0;
    for (int i = 0; i < reg->count && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s-encoder, %s-decoder",
                                 i ? ", " : "", reg->models[i].name, reg->models[i].name);
    oip_error(req, 404, "no model '%.64s'; this server has: %s", name, list);
    return -1;
}

/* {"name":"mu","datatype":"FP32","shape":[rows,cols]: the part metadata and outputs share. */
static vae_status tensor_head(vae_buf *out, const char *name, long long rows, int cols) {
    char text[96];
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[%lld,%d]", name, rows,
             cols);
    return vae_json_raw(out, text);
}

/* Replies status with the JSON in scratch->out (plus a newline), or 503 when st says it ran out of
 * memory writing it. */
static void reply_json(vae_request *req, int status, vae_status st) {
    if (st == VAE_OK) st = vae_json_raw(&req->scratch->out, "\n");
    if (st != VAE_OK) {
        oip_error(req, 503, "out of memory writing the reply");
        return;
    }
    vae_reply(req, status, "application/json");
}

/* Checks that the URL has no query string, replying 400 otherwise. */
static int no_query(vae_request *req) {
    return vae_query_check(req, NO_QUERY) == 0 ? 0 : -1;
}

/* Ready in the protocol's terms: every model loaded and not draining. The protocol's "false" is a
 * 4xx status: 400, as Triton answers. */
static int server_ready(vae_request *req) {
    return atomic_load(&req->server->ready) && !atomic_load(&req->server->draining);
}

void vae_handle_oip_server(vae_request *req) {
    if (no_query(req) != 0) return;
    /* no extension: binary tensor data, shared memory, statistics... are not implemented */
    static const char body[] =
        "{\"name\":\"vae-server\",\"version\":\"" VAE_SERVER_VERSION "\",\"extensions\":[]}\n";
    vae_reply_static(req, 200, "application/json", body, sizeof body - 1);
}

void vae_handle_oip_live(vae_request *req) {
    static const char body[] = "{\"live\":true}\n";
    vae_reply_static(req, 200, "application/json", body, sizeof body - 1);
}

void vae_handle_oip_ready(vae_request *req) {
    static const char ready[] = "{\"ready\":true}\n", not_ready[] = "{\"ready\":false}\n";
    if (server_ready(req)) vae_reply_static(req, 200, "application/json", ready, sizeof ready - 1);
    else vae_reply_static(req, 400, "application/json", not_ready, sizeof not_ready - 1);
}

void vae_handle_oip_model_ready(vae_request *req) {
    oip_model om;
    int ready = server_ready(req);
    if (no_query(req) != 0) return;
    /* the registry is read only once loaded: before that, every name is "not ready" */
    if (ready && find_model(req, &om) != 0) return;
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    vae_status st = vae_json_raw(out, "{\"name\":");
    if (st == VAE_OK) st = vae_json_string(out, req->path_param);
    if (st == VAE_OK) st = vae_json_raw(out, ready ? ",\"ready\":true}" : ",\"ready\":false}");
    reply_json(req, ready ? 200 : 400, st);
}

void vae_handle_oip_model(vae_request *req) {
    oip_model om;
    if (no_query(req) != 0 || find_model(req, &om) != 0) return;
    const oip_kind *kind = om.kind;
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    vae_status st = vae_json_raw(out, "{\"name\":");
    if (st == VAE_OK) st = vae_json_string(out, req->path_param);
    if (st == VAE_OK)
        st = vae_json_raw(out, ",\"versions\":[\"" OIP_VERSION "\"],\"platform\":\"" OIP_PLATFORM
                               "\",\"inputs\":[");
    if (st == VAE_OK) st = tensor_head(out, kind->input.name, -1, tensor_width(&kind->input, om.sm));
    if (st == VAE_OK) st = vae_json_raw(out, "}],\"outputs\":[");
    for (int i = 0; st == VAE_OK && i < kind->n_outputs; i++) {
        if (i) st = vae_json_raw(out, ",");
        if (st == VAE_OK)
            st = tensor_head(out, kind->outputs[i].name, -1, tensor_width(&kind->outputs[i], om.sm));
        if (st == VAE_OK) st = vae_json_raw(out, "}");
    }
    if (st == VAE_OK) st = vae_json_raw(out, "]}");
    reply_json(req, 200, st);
}

/* --- inference --- */

/* Checks that item (when present) is a $parameters object: string, number or boolean values. The
 * binary and shared-memory extensions are refused by name, since their data would be missing. */
static int check_parameters(vae_request *req, const cJSON *item, const char *where) {
    if (!item) return 0;
    if (!cJSON_IsObject(item)) {
        oip_error(req, 400, "%s: parameters must be an object", where);
        return -1;
    }
    for (const cJSON *p = item->child; p; p = p->next) {
        if (!cJSON_IsString(p) && !cJSON_IsNumber(p) && !cJSON_IsBool(p)) {
            oip_error(req, 400, "%s: parameter '%.64s' must be a string, a number or a boolean", where,
                      p->string);
            return -1;
        }
        if (!strcmp(p->string, "binary_data_size") || !strncmp(p->string, "shared_memory_", 14)) {
            oip_error(req, 400,
                      "%s: parameter '%.64s' needs an extension this server does not implement; send "
                      "the values as JSON in \"data\"",
                      where, p->string);
            return -1;
        }
    }
    return 0;
}

/* Reads one number of the input tensor: flat index i of a (rows, cols) tensor. */
static int read_value(vae_request *req, const oip_kind *kind, const cJSON *v, int i, int cols,
                      float *out) {
    const char *name = kind->input.name;
    if (!cJSON_IsNumber(v)) {
        oip_error(req, 400, "input '%s': value %d (row %d, column %d) is not a number", name, i, i / cols,
                  i % cols);
        return -1;
    }
    double x = v->valuedouble;
    if (!isfinite(x) || fabs(x) > FLT_MAX) {
        oip_error(req, 400, "input '%s': value %d (row %d, column %d) is not a finite FP32 number", name,
                  i, i / cols, i % cols);
        return -1;
    }
    if (x < kind->lo || x > kind->hi) {
        oip_error(req, 400, "input '%s': value %d (row %d, column %d) is %g; %s must be in %g..%g", name,
                  i, i / cols, i % cols, x, kind->values, kind->lo, kind->hi);
        return -1;
    }
    *out = (float)x;
    return 0;
}

/* Reads "data" of a (rows, cols) tensor into out, row-major: flat ([v, ...], rows * cols numbers)
 * or nested as the shape ([[v, ...], ...], rows arrays of cols numbers). */
static int read_data(vae_request *req, const oip_kind *kind, const cJSON *data, int rows, int cols,
                     float *out) {
    const char *name = kind->input.name;
    if (!cJSON_IsArray(data)) {
        oip_error(req, 400, "input '%s': data must be an array of numbers, flat or nested as the shape",
                  name);
        return -1;
    }
    int count = cJSON_GetArraySize(data);
    if (data->child && cJSON_IsArray(data->child)) { /* nested: one array per row */
        if (count != rows) {
            oip_error(req, 400, "input '%s': data has %d rows but the shape [%d, %d] says %d", name, count,
                      rows, cols, rows);
            return -1;
        }
        int r = 0;
        for (const cJSON *row = data->child; row; row = row->next, r++) {
            int n = cJSON_IsArray(row) ? cJSON_GetArraySize(row) : -1;
            if (n != cols || (row->child && cJSON_IsArray(row->child))) {
                oip_error(req, 400, "input '%s': data[%d] must be an array of %d numbers (shape [%d, %d])",
                          name, r, cols, rows, cols);
                return -1;
            }
            int c = 0;
            for (const cJSON *v = row->child; v; v = v->next, c++)
                if (read_value(req, kind, v, r * cols + c, cols, out + (size_t)r * cols + c) != 0) return -1;
        }
        return 0;
    }
    if ((long long)count != (long long)rows * cols) {
        oip_error(req, 400, "input '%s': data has %d values but the shape [%d, %d] needs %lld", name, count,
                  rows, cols, (long long)rows * cols);
        return -1;
    }
    int i = 0;
    for (const cJSON *v = data->child; v; v = v->next, i++)
        if (read_value(req, kind, v, i, cols, out + i) != 0) return -1;
    return 0;
}

/* Checks an input's shape: [N, cols] with N from 1 to max_rows, into *rows. */
static int read_shape(vae_request *req, const char *input, const cJSON *shape, int cols, int max_rows,
                      int *rows) {
    if (!cJSON_IsArray(shape)) {
        oip_error(req, 400, "input '%s': shape must be a list of non-negative integers, e.g. [1, %d]",
                  input, cols);
        return -1;
    }
    char text[64] = "[";
    size_t used = 1;
    int rank = 0;
    double dims[2] = {0, 0};
    for (const cJSON *dim = shape->child; dim; dim = dim->next, rank++) {
        if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble != floor(dim->valuedouble) ||
            dim->valuedouble > 1e15) {
            oip_error(req, 400, "input '%s': shape must be a list of non-negative integers, e.g. [1, %d]%s",
                      input, cols,
                      cJSON_IsNumber(dim) && dim->valuedouble == -1
                          ? " (-1 marks a variable size in model metadata; a request gives the size)"
                          : "");
            return -1;
        }
        if (rank < 2) dims[rank] = dim->valuedouble;
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%.0f", rank ? ", " : "",
                                     dim->valuedouble);
    }
    if (used < sizeof text) snprintf(text + used, sizeof text - used, "]");
    if (rank != 2 || dims[1] != cols) {
        oip_error(req, 400, "input '%s': shape %s does not fit the model: it takes [N, %d] (N rows of %d)",
                  input, text, cols, cols);
        return -1;
    }
    if (dims[0] < 1 || dims[0] > max_rows) {
        oip_error(req, 400, "input '%s': shape %s has %.0f rows; give 1 to %d (--max-batch)", input, text,
                  dims[0], max_rows);
        return -1;
    }
    *rows = (int)dims[0];
    return 0;
}

/* Reads the one input ("x" or "z") of the request into out; *n is its batch size. */
static int read_input(vae_request *req, const oip_model *om, const cJSON *inputs, float *out, int *n) {
    static const char *const fields[] = {"name", "shape", "datatype", "parameters", "data", NULL};
    const oip_kind *kind = om->kind;
    const char *want = kind->input.name;
    const int cols = tensor_width(&kind->input, om->sm), max_rows = req->scratch->max_batch;
    if (!cJSON_IsArray(inputs) || !inputs->child) {
        oip_error(req, 400, "inputs must be a list holding the input '%s' (FP32, shape [-1, %d])", want, cols);
        return -1;
    }
    if (inputs->child->next) {
        oip_error(req, 400, "inputs has %d entries; model '%s' takes one input, '%s'",
                  cJSON_GetArraySize(inputs), req->path_param, want);
        return -1;
    }
    const cJSON *in = inputs->child;
    if (!cJSON_IsObject(in)) {
        oip_error(req, 400, "inputs[0] must be an object with name, shape, datatype and data");
        return -1;
    }
    if (vae_input_check_fields(req, in, "inputs[0]", fields) != 0) return -1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
    const cJSON *datatype = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    if (!cJSON_IsString(name)) {
        oip_error(req, 400, "inputs[0]: name must be a string ('%s')", want);
        return -1;
    }
    if (strcmp(name->valuestring, want) != 0) {
        oip_error(req, 400, "unknown input '%.64s'; model '%s' takes one input, '%s' (FP32, shape [-1, %d])",
                  name->valuestring, req->path_param, want, cols);
        return -1;
    }
    if (!cJSON_IsString(datatype)) {
        oip_error(req, 400, "input '%s': datatype must be a string (FP32)", want);
        return -1;
    }
    if (strcmp(datatype->valuestring, "FP32") != 0) {
        oip_error(req, 400, "input '%s': datatype %.32s is not supported; use FP32", want,
                  datatype->valuestring);
        return -1;
    }
    if (check_parameters(req, cJSON_GetObjectItemCaseSensitive(in, "parameters"), "inputs[0]") != 0)
        return -1;
    if (read_shape(req, want, shape, cols, max_rows, n) != 0) return -1;
    if (!data) {
        oip_error(req, 400, "input '%s' has no data", want);
        return -1;
    }
    return read_data(req, kind, data, *n, cols, out);
}

/* The outputs the request asks for, as indexes into kind->outputs, in the order asked; all of them
 * when "outputs" is absent or empty. */
static int read_outputs(vae_request *req, const oip_model *om, const cJSON *outputs, int *which, int *n) {
    static const char *const fields[] = {"name", "parameters", NULL};
    const oip_kind *kind = om->kind;
    *n = 0;
    if (outputs && !cJSON_IsArray(outputs)) {
        oip_error(req, 400, "outputs must be a list of {\"name\": ...} objects");
        return -1;
    }
    if (!outputs || !outputs->child) {
        for (int i = 0; i < kind->n_outputs; i++) which[(*n)++] = i;
        return 0;
    }
    int i = 0;
    for (const cJSON *o = outputs->child; o; o = o->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "outputs[%d]", i);
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name)) {
            oip_error(req, 400, "%s must be an object with a string name", where);
            return -1;
        }
        if (vae_input_check_fields(req, o, where, fields) != 0 ||
            check_parameters(req, cJSON_GetObjectItemCaseSensitive(o, "parameters"), where) != 0)
            return -1;
        int found = -1;
        for (int k = 0; k < kind->n_outputs; k++)
            if (!strcmp(name->valuestring, kind->outputs[k].name)) found = k;
        if (found < 0) {
            oip_error(req, 400, "unknown output '%.64s'; model '%s' has %s", name->valuestring,
                      req->path_param, kind->n_outputs == 2 ? "outputs 'mu' and 'logvar'" : "one output, 'x'");
            return -1;
        }
        for (int k = 0; k < *n; k++) {
            if (which[k] == found) {
                oip_error(req, 400, "output '%s' is requested twice", name->valuestring);
                return -1;
            }
        }
        which[(*n)++] = found;
    }
    return 0;
}

/* Parses the request, runs the model and writes the response; any error has been replied to. */
void vae_handle_oip_infer(vae_request *req) {
    static const char *const fields[] = {"id", "parameters", "inputs", "outputs", NULL};
    vae_scratch *s = req->scratch;
    oip_model om;
    if (no_query(req) != 0 || find_model(req, &om) != 0) return;
    if (vae_header(req, "Inference-Header-Content-Length")) {
        oip_error(req, 400, "binary tensor data is not supported: send the request as JSON only");
        return;
    }
    cJSON *root;
    if (vae_input_json_object(req, fields, &root) != 0) return;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const int encoder = om.kind == &OIP_KINDS[0];
    int n = 0, which[2], n_out = 0, rc = -1;
    if (id && !cJSON_IsString(id)) oip_error(req, 400, "id must be a string");
    else if (check_parameters(req, cJSON_GetObjectItemCaseSensitive(root, "parameters"), "request") == 0 &&
             read_input(req, &om, cJSON_GetObjectItemCaseSensitive(root, "inputs"), encoder ? s->x : s->z,
                        &n) == 0 &&
             read_outputs(req, &om, cJSON_GetObjectItemCaseSensitive(root, "outputs"), which, &n_out) == 0)
        rc = 0;
    if (rc != 0) {
        cJSON_Delete(root);
        return;
    }
    const vae_model *m = om.sm->model;
    if (encoder) vae_compute_encode(req, m, s->x, n, s->mu, s->logvar);
    else vae_compute_decode(req, m, s->z, n, s->xhat);
    const float *results[2] = {encoder ? s->mu : s->xhat, s->logvar};
    vae_buf *out = &s->out;
    out->len = 0;
    vae_status st = vae_json_raw(out, "{\"model_name\":");
    if (st == VAE_OK) st = vae_json_string(out, req->path_param);
    if (st == VAE_OK) st = vae_json_raw(out, ",\"model_version\":\"" OIP_VERSION "\"");
    if (id && st == VAE_OK) st = vae_json_raw(out, ",\"id\":");
    if (id && st == VAE_OK) st = vae_json_string(out, id->valuestring);
    if (st == VAE_OK) st = vae_json_raw(out, ",\"outputs\":[");
    for (int i = 0; st == VAE_OK && i < n_out; i++) {
        const oip_tensor *t = &om.kind->outputs[which[i]];
        int cols = tensor_width(t, om.sm);
        if (i) st = vae_json_raw(out, ",");
        if (st == VAE_OK) st = tensor_head(out, t->name, n, cols);
        if (st == VAE_OK) st = vae_json_raw(out, ",\"data\":");
        if (st == VAE_OK) st = vae_json_float_array(out, results[which[i]], (size_t)n * cols);
        if (st == VAE_OK) st = vae_json_raw(out, "}");
    }
    if (st == VAE_OK) st = vae_json_raw(out, "]}");
    cJSON_Delete(root);
    reply_json(req, 200, st);
}

