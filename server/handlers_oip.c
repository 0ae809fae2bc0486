/* Open Inference Protocol (KServe V2 / Triton HTTP) endpoints: server metadata, health, model
 * metadata and readiness, and inference. Each loaded VAE NAME appears as two models, NAME-encoder
 * (x -> mu, logvar) and NAME-decoder (z -> x), version "1". These routes carry VAE_ROUTE_OIP, so
 * the pipeline writes their errors in the protocol's shape, {"error": "message"}, with the
 * protocol's status (errors.c: a request the model cannot use is 400). Query parameters are ignored
 * here, as the protocol's servers do (its clients add their own); the native routes refuse unknown
 * ones. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "server.h"

#define OIP_PLATFORM "vae-server"
#define OIP_VERSION "1"
#define OIP_MAX_DIM 1e15 /* larger dimensions are refused before any arithmetic on them */

/* One tensor of a model's signature: its width is 784 (images) or the model's latent size d. */
typedef struct {
    const char *name;
    int latent; /* width is d rather than 784 */
} oip_tensor;

/* The two faces of a VAE. */
typedef struct {
    const char *suffix; /* "-encoder" */
    vae_model_op op;
    oip_tensor input;
    oip_tensor outputs[2];
    int n_outputs;
    float lo, hi;       /* accepted input values */
    const char *values; /* what the input values are, for errors */
} oip_kind;

static const oip_kind OIP_KINDS[] = {
    {"-encoder", VAE_OP_ENCODE, {"x", 0}, {{"mu", 1}, {"logvar", 1}}, 2, 0.0f, 1.0f, "pixel values"},
    {"-decoder", VAE_OP_DECODE, {"z", 1}, {{"x", 0}}, 1, -FLT_MAX, FLT_MAX, "latent values"},
};

/* A model of the protocol: the served VAE behind it and which face. */
typedef struct {
    const vae_served_model *sm;
    const oip_kind *kind;
} oip_model;

static int tensor_width(const oip_tensor *t, const vae_served_model *sm) {
    return t->latent ? sm->model->config.latent_dim : VAE_INPUT_DIM;
}

/* --- models --- */

/* "mnist-encoder" -> the mnist VAE's encoder. */
static vae_err_kind find_model(const vae_request *req, oip_model *om, vae_err *err) {
    const vae_registry *reg = &req->server->registry;
    const char *name = req->path_param;
    size_t len = strlen(name);
    for (size_t k = 0; k < sizeof OIP_KINDS / sizeof OIP_KINDS[0]; k++) {
        const oip_kind *kind = &OIP_KINDS[k];
        size_t suffix = strlen(kind->suffix);
        char base[sizeof reg->models[0].name];
        if (len <= suffix || len - suffix >= sizeof base || strcmp(name + len - suffix, kind->suffix)) continue;
        memcpy(base, name, len - suffix);
        base[len - suffix] = '\0';
        om->sm = vae_registry_find(reg, base);
        om->kind = kind;
        if (om->sm) return VAE_E_NONE;
    }
    char list[384] = "";
    size_t used = 0;
    for (int i = 0; i < reg->count && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s-encoder, %s-decoder", i ? ", " : "",
                                 reg->models[i].name, reg->models[i].name);
    return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "no model '%.64s'; this server has: %s", name, list);
}

/* {"name":"mu","datatype":"FP32","shape":[rows,cols]: the part metadata and outputs share. */
static void tensor_head(vae_json_writer *w, const char *name, long long rows, int cols) {
    vae_jw_printf(w, "{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[%lld,%d]", name, rows, cols);
}

/* Ready in the protocol's terms: every model loaded and not draining. The protocol's "false" is a
 * 4xx status: 400, as Triton answers. */
static int server_ready(const vae_request *req) {
    return atomic_load(&req->server->ready) && !atomic_load(&req->server->draining);
}

static vae_err_kind server_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    (void)err;
    /* no extension: binary tensor data, shared memory, statistics... are not implemented */
    static const char body[] = "{\"name\":\"vae-server\",\"version\":\"" VAE_SERVER_VERSION "\",\"extensions\":[]}\n";
    vae_reply_static(req, 200, "application/json", body, sizeof body - 1);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_oip_server = {0, NULL, NULL, server_write};

static vae_err_kind live_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    (void)err;
    static const char body[] = "{\"live\":true}\n";
    vae_reply_static(req, 200, "application/json", body, sizeof body - 1);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_oip_live = {0, NULL, NULL, live_write};

static vae_err_kind ready_write(vae_request *req, void *call, vae_err *err) {
    (void)call;
    (void)err;
    static const char ready[] = "{\"ready\":true}\n", not_ready[] = "{\"ready\":false}\n";
    if (server_ready(req)) vae_reply_static(req, 200, "application/json", ready, sizeof ready - 1);
    else vae_reply_static(req, 400, "application/json", not_ready, sizeof not_ready - 1);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_oip_ready = {0, NULL, NULL, ready_write};

typedef struct {
    oip_model om;
    int ready;
} model_call;

static vae_err_kind model_ready_parse(vae_request *req, void *call, vae_err *err) {
    model_call *c = call;
    c->ready = server_ready(req);
    /* the registry is read only once loaded: before that, every name is "not ready" */
    return c->ready ? find_model(req, &c->om, err) : VAE_E_NONE;
}

static vae_err_kind model_ready_write(vae_request *req, void *call, vae_err *err) {
    model_call *c = call;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"name\":");
    vae_jw_string(&w, req->path_param);
    vae_jw_raw(&w, c->ready ? ",\"ready\":true}" : ",\"ready\":false}");
    return vae_reply_json(req, c->ready ? 200 : 400, &w, err);
}

const vae_endpoint vae_ep_oip_model_ready = {sizeof(model_call), model_ready_parse, NULL, model_ready_write};

static vae_err_kind model_parse(vae_request *req, void *call, vae_err *err) {
    model_call *c = call;
    return find_model(req, &c->om, err);
}

static vae_err_kind model_write(vae_request *req, void *call, vae_err *err) {
    const oip_model *om = &((model_call *)call)->om;
    const oip_kind *kind = om->kind;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"name\":");
    vae_jw_string(&w, req->path_param);
    vae_jw_raw(&w, ",\"versions\":[\"" OIP_VERSION "\"],\"platform\":\"" OIP_PLATFORM "\",\"inputs\":[");
    tensor_head(&w, kind->input.name, -1, tensor_width(&kind->input, om->sm));
    vae_jw_raw(&w, "}],\"outputs\":[");
    for (int i = 0; i < kind->n_outputs; i++) {
        if (i) vae_jw_raw(&w, ",");
        tensor_head(&w, kind->outputs[i].name, -1, tensor_width(&kind->outputs[i], om->sm));
        vae_jw_raw(&w, "}");
    }
    vae_jw_raw(&w, "]}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_model = {sizeof(model_call), model_parse, NULL, model_write};

/* --- inference --- */

typedef struct {
    oip_model om;
    const char *id;  /* the request's "id" (request memory), or NULL */
    int n;           /* rows */
    int which[2], n_out; /* the outputs asked for, as indexes into kind->outputs, in order */
    const float *results[2];
} infer_call;

/* Checks that item (when present) is a $parameters object: string, number or boolean values. The
 * binary and shared-memory extensions are refused by name, since their data would be missing. */
static vae_err_kind check_parameters(const cJSON *item, const char *where, vae_err *err) {
    if (!item) return VAE_E_NONE;
    if (!cJSON_IsObject(item)) return vae_fail(err, VAE_E_INVALID_REQUEST, "%s: parameters must be an object", where);
    for (const cJSON *p = item->child; p; p = p->next) {
        if (!cJSON_IsString(p) && !cJSON_IsNumber(p) && !cJSON_IsBool(p))
            return vae_fail(err, VAE_E_INVALID_REQUEST,
                            "%s: parameter '%.64s' must be a string, a number or a boolean", where, p->string);
        if (!strcmp(p->string, "binary_data_size") || !strncmp(p->string, "shared_memory_", 14))
            return vae_fail(err, VAE_E_INVALID_REQUEST,
                            "%s: parameter '%.64s' needs an extension this server does not implement; send "
                            "the values as JSON in \"data\"",
                            where, p->string);
    }
    return VAE_E_NONE;
}

/* Reads one number of the input tensor: flat index i of a (rows, cols) tensor. */
static vae_err_kind read_value(const oip_kind *kind, const cJSON *v, int i, int cols, float *out, vae_err *err) {
    const char *name = kind->input.name;
    switch (vae_input_number(v, kind->lo, kind->hi, out)) {
    case VAE_NUMBER_OK:
        return VAE_E_NONE;
    case VAE_NUMBER_NOT_A_NUMBER:
        return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s': value %d (row %d, column %d) is not a number", name,
                        i, i / cols, i % cols);
    case VAE_NUMBER_NOT_FLOAT32:
        return vae_fail(err, VAE_E_INVALID_VALUE,
                        "input '%s': value %d (row %d, column %d) is not a finite FP32 number", name, i, i / cols,
                        i % cols);
    case VAE_NUMBER_OUT_OF_RANGE:
        break;
    }
    return vae_fail(err, VAE_E_INVALID_VALUE, "input '%s': value %d (row %d, column %d) is %g; %s must be in %g..%g",
                    name, i, i / cols, i % cols, v->valuedouble, kind->values, kind->lo, kind->hi);
}

/* Reads "data" of a (rows, cols) tensor into out, row-major: flat ([v, ...], rows * cols numbers)
 * or nested as the shape ([[v, ...], ...], rows arrays of cols numbers). */
static vae_err_kind read_data(const oip_kind *kind, const cJSON *data, int rows, int cols, float *out,
                              vae_err *err) {
    const char *name = kind->input.name;
    if (!cJSON_IsArray(data))
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "input '%s': data must be an array of numbers, flat or nested as the shape", name);
    int count = cJSON_GetArraySize(data);
    if (data->child && cJSON_IsArray(data->child)) { /* nested: one array per row */
        if (count != rows)
            return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s': data has %d rows but the shape [%d, %d] says %d",
                            name, count, rows, cols, rows);
        int r = 0;
        for (const cJSON *row = data->child; row; row = row->next, r++) {
            int n = cJSON_IsArray(row) ? cJSON_GetArraySize(row) : -1;
            if (n != cols || (row->child && cJSON_IsArray(row->child)))
                return vae_fail(err, VAE_E_INVALID_REQUEST,
                                "input '%s': data[%d] must be an array of %d numbers (shape [%d, %d])", name, r, cols,
                                rows, cols);
            int c = 0;
            for (const cJSON *v = row->child; v; v = v->next, c++)
                if (read_value(kind, v, r * cols + c, cols, out + (size_t)r * cols + c, err)) return err->kind;
        }
        return VAE_E_NONE;
    }
    if ((long long)count != (long long)rows * cols)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s': data has %d values but the shape [%d, %d] needs %lld",
                        name, count, rows, cols, (long long)rows * cols);
    int i = 0;
    for (const cJSON *v = data->child; v; v = v->next, i++)
        if (read_value(kind, v, i, cols, out + i, err)) return err->kind;
    return VAE_E_NONE;
}

/* Checks an input's shape: [N, cols] with N from 1 to max_rows, into *rows. */
static vae_err_kind read_shape(const char *input, const cJSON *shape, int cols, int max_rows, int *rows,
                               vae_err *err) {
    if (!cJSON_IsArray(shape))
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "input '%s': shape must be a list of non-negative integers, e.g. [1, %d]", input, cols);
    char text[64] = "[";
    size_t used = 1;
    int rank = 0;
    double dims[2] = {0, 0};
    for (const cJSON *dim = shape->child; dim; dim = dim->next, rank++) {
        if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble != floor(dim->valuedouble) ||
            dim->valuedouble > OIP_MAX_DIM)
            return vae_fail(err, VAE_E_INVALID_REQUEST,
                            "input '%s': shape must be a list of non-negative integers, e.g. [1, %d]%s", input, cols,
                            cJSON_IsNumber(dim) && dim->valuedouble == -1
                                ? " (-1 marks a variable size in model metadata; a request gives the size)"
                                : "");
        if (rank < 2) dims[rank] = dim->valuedouble;
        if (used < sizeof text)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%.0f", rank ? ", " : "", dim->valuedouble);
    }
    if (used < sizeof text) snprintf(text + used, sizeof text - used, "]");
    if (rank != 2 || dims[1] != cols)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "input '%s': shape %s does not fit the model: it takes [N, %d] (N rows of %d)", input, text,
                        cols, cols);
    if (dims[0] < 1 || dims[0] > max_rows)
        return vae_fail(err, VAE_E_TOO_MANY_ITEMS, "input '%s': shape %s has %.0f rows; give 1 to %d (--max-batch)",
                        input, text, dims[0], max_rows);
    *rows = (int)dims[0];
    return VAE_E_NONE;
}

/* Reads the one input ("x" or "z") of the request into out; *n is its batch size. */
static vae_err_kind read_input(const vae_request *req, const oip_model *om, const cJSON *inputs, float *out,
                               int *n, vae_err *err) {
    static const char *const fields[] = {"name", "shape", "datatype", "parameters", "data", NULL};
    const oip_kind *kind = om->kind;
    const char *want = kind->input.name;
    const int cols = tensor_width(&kind->input, om->sm), max_rows = req->scratch->max_batch;
    if (!cJSON_IsArray(inputs) || !inputs->child)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "inputs must be a list holding the input '%s' (FP32, shape [-1, %d])",
                        want, cols);
    if (inputs->child->next)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "inputs has %d entries; model '%s' takes one input, '%s'",
                        cJSON_GetArraySize(inputs), req->path_param, want);
    const cJSON *in = inputs->child;
    if (!cJSON_IsObject(in))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "inputs[0] must be an object with name, shape, datatype and data");
    if (vae_input_check_fields(in, "inputs[0]", fields, err)) return err->kind;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
    const cJSON *datatype = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    if (!cJSON_IsString(name))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "inputs[0]: name must be a string ('%s')", want);
    if (strcmp(name->valuestring, want) != 0)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "unknown input '%.64s'; model '%s' takes one input, '%s' (FP32, shape [-1, %d])",
                        name->valuestring, req->path_param, want, cols);
    if (!cJSON_IsString(datatype))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s': datatype must be a string (FP32)", want);
    if (strcmp(datatype->valuestring, "FP32") != 0)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s': datatype %.32s is not supported; use FP32", want,
                        datatype->valuestring);
    if (check_parameters(cJSON_GetObjectItemCaseSensitive(in, "parameters"), "inputs[0]", err) ||
        read_shape(want, shape, cols, max_rows, n, err))
        return err->kind;
    if (!data) return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s' has no data", want);
    return read_data(kind, data, *n, cols, out, err);
}

/* The outputs the request asks for, as indexes into kind->outputs, in the order asked; all of them
 * when "outputs" is absent or empty. */
static vae_err_kind read_outputs(const vae_request *req, const oip_model *om, const cJSON *outputs, int *which,
                                 int *n, vae_err *err) {
    static const char *const fields[] = {"name", "parameters", NULL};
    const oip_kind *kind = om->kind;
    *n = 0;
    if (outputs && !cJSON_IsArray(outputs))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "outputs must be a list of {\"name\": ...} objects");
    if (!outputs || !outputs->child) {
        for (int i = 0; i < kind->n_outputs; i++) which[(*n)++] = i;
        return VAE_E_NONE;
    }
    int i = 0;
    for (const cJSON *o = outputs->child; o; o = o->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "outputs[%d]", i);
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name))
            return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be an object with a string name", where);
        if (vae_input_check_fields(o, where, fields, err) ||
            check_parameters(cJSON_GetObjectItemCaseSensitive(o, "parameters"), where, err))
            return err->kind;
        int found = -1;
        for (int k = 0; k < kind->n_outputs; k++)
            if (!strcmp(name->valuestring, kind->outputs[k].name)) found = k;
        if (found < 0)
            return vae_fail(err, VAE_E_INVALID_REQUEST, "unknown output '%.64s'; model '%s' has %s", name->valuestring,
                            req->path_param,
                            kind->n_outputs == 2 ? "outputs 'mu' and 'logvar'" : "one output, 'x'");
        for (int k = 0; k < *n; k++)
            if (which[k] == found)
                return vae_fail(err, VAE_E_INVALID_REQUEST, "output '%s' is requested twice", name->valuestring);
        if (*n == 2) /* two distinct names of at most two outputs cannot get here */
            return vae_fail(err, VAE_E_INVALID_REQUEST, "outputs lists more outputs than model '%s' has",
                            req->path_param);
        which[(*n)++] = found;
    }
    return VAE_E_NONE;
}

/* A copy of s in the request's memory (it outlives the JSON tree), or NULL. */
static const char *keep_string(vae_request *req, const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = vae_request_alloc(req, n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

static vae_err_kind infer_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const fields[] = {"id", "parameters", "inputs", "outputs", NULL};
    infer_call *c = call;
    vae_scratch *s = req->scratch;
    if (find_model(req, &c->om, err)) return err->kind;
    if (vae_req_header(req, "Inference-Header-Content-Length"))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "binary tensor data is not supported: send the request as JSON only");
    cJSON *root;
    if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    float *in = c->om.kind->op == VAE_OP_ENCODE ? s->x : s->z;
    if (id && !cJSON_IsString(id)) vae_fail(err, VAE_E_INVALID_REQUEST, "id must be a string");
    else if (id && !(c->id = keep_string(req, id->valuestring)))
        vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading the request");
    else if (!check_parameters(cJSON_GetObjectItemCaseSensitive(root, "parameters"), "request", err) &&
             !read_input(req, &c->om, cJSON_GetObjectItemCaseSensitive(root, "inputs"), in, &c->n, err))
        read_outputs(req, &c->om, cJSON_GetObjectItemCaseSensitive(root, "outputs"), c->which, &c->n_out, err);
    cJSON_Delete(root);
    return err->kind;
}

static vae_err_kind infer_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                              vae_model_call *next, vae_err *err) {
    (void)err;
    infer_call *c = call;
    vae_scratch *s = req->scratch;
    if (stage == 0) {
        if (c->om.kind->op == VAE_OP_ENCODE)
            *next = (vae_model_call){VAE_OP_ENCODE, c->om.sm->model, c->n, s->x, s->mu, s->logvar};
        else
            *next = (vae_model_call){VAE_OP_DECODE, c->om.sm->model, c->n, s->z, s->xhat, NULL};
        return VAE_E_NONE;
    }
    c->results[0] = done->out;
    c->results[1] = done->out2;
    return VAE_E_NONE;
}

static vae_err_kind infer_write(vae_request *req, void *call, vae_err *err) {
    infer_call *c = call;
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"model_name\":");
    vae_jw_string(&w, req->path_param);
    vae_jw_raw(&w, ",\"model_version\":\"" OIP_VERSION "\"");
    if (c->id) {
        vae_jw_raw(&w, ",\"id\":");
        vae_jw_string(&w, c->id);
    }
    vae_jw_raw(&w, ",\"outputs\":[");
    for (int i = 0; i < c->n_out; i++) {
        const oip_tensor *t = &c->om.kind->outputs[c->which[i]];
        int cols = tensor_width(t, c->om.sm);
        if (i) vae_jw_raw(&w, ",");
        tensor_head(&w, t->name, c->n, cols);
        vae_jw_raw(&w, ",\"data\":");
        vae_jw_floats(&w, c->results[c->which[i]], (size_t)c->n * cols);
        vae_jw_raw(&w, "}");
    }
    vae_jw_raw(&w, "]}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_oip_infer = {sizeof(infer_call), infer_parse, infer_run, infer_write};
