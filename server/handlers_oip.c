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
    int unloaded; /* the name is a model of this server, unloaded */
} oip_model;

static int tensor_width(const oip_tensor *t, const vae_served_model *sm) {
    return t->latent ? sm->model->config.latent_dim : VAE_INPUT_DIM;
}

/* --- models --- */

/* "mnist-encoder" -> the mnist VAE's encoder, held by the request. */
static vae_err_kind find_model(vae_request *req, oip_model *om, vae_err *err) {
    const vae_registry *reg = &req->server->registry;
    const char *name = req->path_param;
    size_t len = strlen(name);
    for (size_t k = 0; k < sizeof OIP_KINDS / sizeof OIP_KINDS[0]; k++) {
        const oip_kind *kind = &OIP_KINDS[k];
        size_t suffix = strlen(kind->suffix);
        char base[sizeof reg->slots[0].name];
        if (len <= suffix || len - suffix >= sizeof base || strcmp(name + len - suffix, kind->suffix)) continue;
        memcpy(base, name, len - suffix);
        base[len - suffix] = '\0';
        if (vae_registry_slot_of(reg, base) < 0) continue;
        om->kind = kind;
        if (vae_input_served_model(req, base, &om->sm, err)) {
            om->unloaded = 1; /* the slot exists: only its model can be missing */
            return err->kind;
        }
        char version[16];
        snprintf(version, sizeof version, "%u", om->sm->version);
        if (req->path_version[0] && strcmp(req->path_version, version) != 0)
            return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "model '%.64s' has version %s, not '%.16s'", name, version,
                            req->path_version);
        return VAE_E_NONE;
    }
    char list[384] = "";
    size_t used = 0;
    for (int i = 0; i < reg->count && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s-encoder, %s-decoder", i ? ", " : "",
                                 reg->slots[i].name, reg->slots[i].name);
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
    /* the shared-memory extensions are not implemented (they need a server on the same host) */
    static const char body[] = "{\"name\":\"vae-server\",\"version\":\"" VAE_SERVER_VERSION
                               "\",\"extensions\":[\"binary_tensor_data\",\"statistics\",\"model_repository\"]}\n";
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
    /* the registry is read only once loaded: before that, every name is "not ready"; so is a model
     * of this server that is unloaded */
    if (!c->ready || find_model(req, &c->om, err) == VAE_E_NONE) return VAE_E_NONE;
    if (!c->om.unloaded) return err->kind;
    c->ready = 0;
    return err->kind = VAE_E_NONE;
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
    vae_jw_printf(&w, ",\"versions\":[\"%u\"],\"platform\":\"" OIP_PLATFORM "\",\"inputs\":[", om->sm->version);
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
    const char *id;          /* the request's "id" (request memory), or the request ID */
    int n;                   /* rows */
    int which[2], n_out;     /* the outputs asked for, as indexes into kind->outputs, in order */
    int binary[2];           /* for each of which[]: returned as binary data */
    const float *results[2];
} infer_call;

/* The binary part of a request: the bytes after the JSON header, and how many the inputs take. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t used;
} binary_part;

/* Where a parameter may appear. */
typedef enum { PARAMS_REQUEST, PARAMS_INPUT, PARAMS_OUTPUT } params_level;

/* Checks that item (when present) is a $parameters object of string, number or boolean values, with
 * the binary extension's parameters where they belong and of the right type; the shared-memory
 * extension is refused, since its data would be missing. */
static vae_err_kind check_parameters(const cJSON *item, const char *where, params_level level, vae_err *err) {
    if (!item) return VAE_E_NONE;
    if (!cJSON_IsObject(item)) return vae_fail(err, VAE_E_INVALID_REQUEST, "%s: parameters must be an object", where);
    static const char *const homes[] = {"the request's parameters", "an input's parameters", "an output's parameters"};
    static const struct {
        const char *name;
        params_level level;
        int boolean; /* else a non-negative integer */
    } known[] = {{"binary_data_output", PARAMS_REQUEST, 1}, {"binary_data_size", PARAMS_INPUT, 0}, {"binary_data", PARAMS_OUTPUT, 1}};
    for (const cJSON *p = item->child; p; p = p->next) {
        if (!cJSON_IsString(p) && !cJSON_IsNumber(p) && !cJSON_IsBool(p))
            return vae_fail(err, VAE_E_INVALID_REQUEST,
                            "%s: parameter '%.64s' must be a string, a number or a boolean", where, p->string);
        if (!strncmp(p->string, "shared_memory_", 14))
            return vae_fail(err, VAE_E_INVALID_REQUEST,
                            "%s: parameter '%.64s' needs the shared-memory extension, which this server does not "
                            "implement; send the values as JSON in \"data\" or as binary data",
                            where, p->string);
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            if (strcmp(p->string, known[k].name) != 0) continue;
            if (known[k].level != level)
                return vae_fail(err, VAE_E_INVALID_REQUEST, "%s: parameter '%s' belongs in %s", where, p->string,
                                homes[known[k].level]);
            if (known[k].boolean && !cJSON_IsBool(p))
                return vae_fail(err, VAE_E_INVALID_REQUEST, "%s: parameter '%s' must be true or false", where, p->string);
            if (!known[k].boolean &&
                (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble != floor(p->valuedouble) ||
                 p->valuedouble > OIP_MAX_DIM))
                return vae_fail(err, VAE_E_INVALID_BINARY, "%s: parameter '%s' must be a non-negative integer (bytes)",
                                where, p->string);
        }
    }
    return VAE_E_NONE;
}

/* Checks one value of the input tensor (flat index i of a (rows, cols) tensor) into *out. */
static vae_err_kind check_value(const oip_kind *kind, vae_number_check check, double x, int i, int cols,
                                vae_err *err) {
    const char *name = kind->input.name;
    switch (check) {
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
                    name, i, i / cols, i % cols, x, kind->values, kind->lo, kind->hi);
}

static vae_err_kind read_value(const oip_kind *kind, const cJSON *v, int i, int cols, float *out, vae_err *err) {
    vae_number_check check = vae_input_number(v, kind->lo, kind->hi, out);
    return check_value(kind, check, cJSON_IsNumber(v) ? v->valuedouble : 0, i, cols, err);
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

/* A little-endian IEEE 754 float32, whatever the host's byte order. */
static float load_f32le(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void store_f32le(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

/* Reads a (rows, cols) FP32 tensor of `size` bytes from the binary part, at its next unread byte. */
static vae_err_kind read_binary(const oip_kind *kind, binary_part *bin, double size, int rows, int cols,
                                float *out, vae_err *err) {
    const char *name = kind->input.name;
    const size_t want = (size_t)rows * (size_t)cols * sizeof(float);
    if (size != (double)want)
        return vae_fail(err, VAE_E_INVALID_BINARY,
                        "input '%s': binary_data_size is %.0f bytes but shape [%d, %d] of FP32 is %zu bytes", name,
                        size, rows, cols, want);
    if (want > bin->len - bin->used)
        return vae_fail(err, VAE_E_INVALID_BINARY,
                        "input '%s': binary_data_size is %zu bytes but only %zu bytes follow the JSON header", name,
                        want, bin->len - bin->used);
    const uint8_t *p = bin->data + bin->used;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) {
        float v = load_f32le(p + 4 * i);
        vae_number_check check = !isfinite(v) ? VAE_NUMBER_NOT_FLOAT32
                                 : (v < kind->lo || v > kind->hi) ? VAE_NUMBER_OUT_OF_RANGE
                                                                  : VAE_NUMBER_OK;
        if (check_value(kind, check, v, (int)i, cols, err)) return err->kind;
        out[i] = v;
    }
    bin->used += want;
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

/* Reads the one input ("x" or "z") of the request into out, from its JSON data or from the binary
 * part; *n is its batch size. */
static vae_err_kind read_input(const vae_request *req, const oip_model *om, const cJSON *inputs,
                               binary_part *bin, float *out, int *n, vae_err *err) {
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
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(in, "parameters");
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
    if (check_parameters(params, "inputs[0]", PARAMS_INPUT, err) || read_shape(want, shape, cols, max_rows, n, err))
        return err->kind;
    const cJSON *size = params ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_size") : NULL;
    if (size) {
        if (data)
            return vae_fail(err, VAE_E_INVALID_BINARY,
                            "input '%s' has both binary_data_size and data: send its values one way", want);
        if (!bin->data && !bin->len)
            return vae_fail(err, VAE_E_INVALID_BINARY,
                            "input '%s' has binary_data_size, but the request has no binary part: send "
                            "Inference-Header-Content-Length with the JSON header's length",
                            want);
        return read_binary(kind, bin, size->valuedouble, *n, cols, out, err);
    }
    if (!data) return vae_fail(err, VAE_E_INVALID_REQUEST, "input '%s' has no data", want);
    return read_data(kind, data, *n, cols, out, err);
}

/* The outputs the request asks for, as indexes into kind->outputs, in the order asked, with whether
 * each comes back as binary data; all of them when "outputs" is absent or empty. */
static vae_err_kind read_outputs(const vae_request *req, infer_call *c, const cJSON *outputs, int binary_default,
                                 vae_err *err) {
    static const char *const fields[] = {"name", "parameters", NULL};
    const oip_kind *kind = c->om.kind;
    c->n_out = 0;
    if (outputs && !cJSON_IsArray(outputs))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "outputs must be a list of {\"name\": ...} objects");
    if (!outputs || !outputs->child) {
        for (int i = 0; i < kind->n_outputs; i++) {
            c->which[c->n_out] = i;
            c->binary[c->n_out++] = binary_default;
        }
        return VAE_E_NONE;
    }
    int i = 0;
    for (const cJSON *o = outputs->child; o; o = o->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "outputs[%d]", i);
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name))
            return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be an object with a string name", where);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        if (vae_input_check_fields(o, where, fields, err) || check_parameters(params, where, PARAMS_OUTPUT, err))
            return err->kind;
        int found = -1;
        for (int k = 0; k < kind->n_outputs; k++)
            if (!strcmp(name->valuestring, kind->outputs[k].name)) found = k;
        if (found < 0)
            return vae_fail(err, VAE_E_INVALID_REQUEST, "unknown output '%.64s'; model '%s' has %s", name->valuestring,
                            req->path_param,
                            kind->n_outputs == 2 ? "outputs 'mu' and 'logvar'" : "one output, 'x'");
        for (int k = 0; k < c->n_out; k++)
            if (c->which[k] == found)
                return vae_fail(err, VAE_E_INVALID_REQUEST, "output '%s' is requested twice", name->valuestring);
        if (c->n_out == 2) /* two distinct names of at most two outputs cannot get here */
            return vae_fail(err, VAE_E_INVALID_REQUEST, "outputs lists more outputs than model '%s' has",
                            req->path_param);
        const cJSON *binary = params ? cJSON_GetObjectItemCaseSensitive(params, "binary_data") : NULL;
        c->which[c->n_out] = found;
        c->binary[c->n_out++] = binary ? cJSON_IsTrue(binary) : binary_default;
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

/* A header length: decimal digits only, 0 < value <= body_len. */
static vae_err_kind parse_header_length(const char *text, const char *what, size_t body_len, size_t *out,
                                        vae_err *err) {
    size_t v = 0, digits = 0;
    for (const char *p = text; *p; p++, digits++) {
        if (*p < '0' || *p > '9' || digits >= 12)
            return vae_fail(err, VAE_E_INVALID_BINARY, "%s must be the JSON header's length in bytes, not '%.32s'", what,
                            text);
        v = v * 10 + (size_t)(*p - '0');
    }
    if (!digits || v == 0)
        return vae_fail(err, VAE_E_INVALID_BINARY, "%s must be the JSON header's length in bytes, not '%.32s'", what,
                        text);
    if (v > body_len)
        return vae_fail(err, VAE_E_INVALID_BINARY, "%s is %zu but the body has only %zu bytes", what, v, body_len);
    *out = v;
    return VAE_E_NONE;
}

/* Splits the body into the JSON header and the binary part: by Inference-Header-Content-Length, or
 * the json-header-size parameter of the SageMaker media type; the whole body is JSON when neither
 * is given. */
static vae_err_kind split_body(const vae_request *req, size_t *json_len, binary_part *bin, vae_err *err) {
    const char *header = vae_req_header(req, "Inference-Header-Content-Length");
    const char *ctype = vae_req_header(req, "Content-Type");
    const char *param = ctype ? strcasestr(ctype, "json-header-size=") : NULL;
    size_t from_header = 0, from_type = 0;
    if (vae_req_header_count(req, "Inference-Header-Content-Length") > 1)
        return vae_fail(err, VAE_E_INVALID_BINARY, "the request has more than one Inference-Header-Content-Length");
    if (header && parse_header_length(header, "Inference-Header-Content-Length", req->body_len, &from_header, err))
        return err->kind;
    if (param) {
        char value[24];
        size_t n = 0;
        for (const char *p = param + 17; *p && *p != ';' && *p != ' ' && n + 1 < sizeof value; p++) value[n++] = *p;
        value[n] = '\0';
        if (parse_header_length(value, "json-header-size", req->body_len, &from_type, err)) return err->kind;
        if (header && from_type != from_header)
            return vae_fail(err, VAE_E_INVALID_BINARY,
                            "Inference-Header-Content-Length (%zu) and json-header-size (%zu) disagree", from_header,
                            from_type);
    }
    bin->used = 0;
    if (!header && !param) {
        if (req->body_type == VAE_BODY_BINARY)
            return vae_fail(err, VAE_E_INVALID_BINARY,
                            "a binary body needs Inference-Header-Content-Length: the length of its JSON header");
        *json_len = req->body_len;
        bin->data = NULL;
        bin->len = 0;
        return VAE_E_NONE;
    }
    *json_len = header ? from_header : from_type;
    bin->data = req->body + *json_len;
    bin->len = req->body_len - *json_len;
    return VAE_E_NONE;
}

static vae_err_kind infer_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const fields[] = {"id", "parameters", "inputs", "outputs", NULL};
    infer_call *c = call;
    vae_scratch *s = req->scratch;
    size_t json_len = 0;
    binary_part bin = {0};
    if (find_model(req, &c->om, err) || split_body(req, &json_len, &bin, err)) return err->kind;
    cJSON *root;
    if (vae_input_json_object(req->body, json_len, fields, &root, err)) return err->kind;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    const cJSON *binary_output = params ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_output") : NULL;
    float *in = c->om.kind->op == VAE_OP_ENCODE ? s->x : s->z;
    if (id && !cJSON_IsString(id)) vae_fail(err, VAE_E_INVALID_REQUEST, "id must be a string");
    else if (!(c->id = keep_string(req, id ? id->valuestring : req->request_id)))
        vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading the request");
    else if (!check_parameters(params, "request", PARAMS_REQUEST, err) &&
             !read_input(req, &c->om, cJSON_GetObjectItemCaseSensitive(root, "inputs"), &bin, in, &c->n, err) &&
             !read_outputs(req, c, cJSON_GetObjectItemCaseSensitive(root, "outputs"), cJSON_IsTrue(binary_output), err) &&
             bin.used != bin.len)
        vae_fail(err, VAE_E_INVALID_BINARY,
                 "%zu bytes follow the JSON header but the inputs' binary_data_size add up to %zu", bin.len, bin.used);
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
            *next = vae_call_of(VAE_OP_ENCODE, c->om.sm, c->n, s->x, s->mu, s->logvar);
        else
            *next = vae_call_of(VAE_OP_DECODE, c->om.sm, c->n, s->z, s->xhat, NULL);
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
    vae_jw_printf(&w, ",\"model_version\":\"%u\",\"id\":", c->om.sm->version);
    vae_jw_string(&w, c->id);
    vae_jw_raw(&w, ",\"outputs\":[");
    int any_binary = 0;
    for (int i = 0; i < c->n_out; i++) {
        const oip_tensor *t = &c->om.kind->outputs[c->which[i]];
        int cols = tensor_width(t, c->om.sm);
        if (i) vae_jw_raw(&w, ",");
        tensor_head(&w, t->name, c->n, cols);
        if (c->binary[i]) {
            vae_jw_printf(&w, ",\"parameters\":{\"binary_data_size\":%zu}}", (size_t)c->n * cols * sizeof(float));
            any_binary = 1;
            continue;
        }
        vae_jw_raw(&w, ",\"data\":");
        vae_jw_floats(&w, c->results[c->which[i]], (size_t)c->n * cols);
        vae_jw_raw(&w, "}");
    }
    vae_jw_raw(&w, "]}");
    if (!any_binary) return vae_reply_json(req, 200, &w, err);
    /* the binary extension: the JSON header, then each binary output's bytes in order */
    const size_t header_len = req->scratch->out.len;
    vae_buf *out = &req->scratch->out;
    for (int i = 0; i < c->n_out && w.status == VAE_OK; i++) {
        if (!c->binary[i]) continue;
        size_t count = (size_t)c->n * tensor_width(&c->om.kind->outputs[c->which[i]], c->om.sm);
        if ((w.status = vae_buf_reserve(out, count * sizeof(float))) != VAE_OK) break;
        for (size_t k = 0; k < count; k++) store_f32le(out->data + out->len + 4 * k, c->results[c->which[i]][k]);
        out->len += count * sizeof(float);
    }
    if (w.status != VAE_OK) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory writing the reply");
    vae_reply_buffer(req, 200, "application/octet-stream");
    vae_reply_header(req, "Inference-Header-Content-Length", "%zu", header_len);
    return VAE_E_NONE;
}

const vae_endpoint vae_ep_oip_infer = {sizeof(infer_call), infer_parse, infer_run, infer_write};
