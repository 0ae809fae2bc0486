/* Walking through the latent space: GET /manifold (the decoder over a grid of a plane, Kingma and
 * Welling's learned-manifold figure), GET|POST /traverse (each chosen coordinate swept in turn from
 * a base point) and POST /complete (an image's hidden pixels filled in by a chain of encoder and
 * decoder calls, the known ones kept exactly). The model statistics these need (principal plane,
 * class centroids, diagnostics) come from the weights file; a file without them answers a 422 that
 * names what is missing and how to add it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "prepared.h"
#include "server.h"
#include "vae/complete.h"
#include "vae/image.h"
#include "vae/latent.h"
#include "vae/png.h"
#include "vae/score.h"

#define MANIFOLD_MIN_N 2
#define MANIFOLD_MAX_N 32
#define MANIFOLD_DEFAULT_N 20
#define TRAVERSE_MAX_STEPS 32
#define TRAVERSE_DEFAULT_STEPS 11
#define TRAVERSE_DEFAULT_COUNT 8
#define TRAVERSE_DEFAULT_RANGE 3.0
#define COMPLETE_MAX_STEPS 1000
#define COMPLETE_DEFAULT_STEPS 50
#define COMPLETE_CHAIN_FRAMES 10 /* the chain strip shows this many steps, evenly spaced */

/* A model statistic the endpoint needs, as a 422 that says what is missing and how to add it. */
static vae_err_kind require(const vae_served_model *sm, unsigned parts, vae_err *err) {
    vae_error e = {0};
    if (vae_model_require(sm->model, parts, &e) == VAE_OK) return VAE_E_NONE;
    return vae_fail(err, VAE_E_INVALID_VALUE, "model '%s': %s", sm->name, e.message);
}

/* A comma-separated list of at most max numbers ("1.5,-2,0") into out; *n the count. `what` names
 * the parameter in errors. */
static vae_err_kind parse_numbers(const char *text, const char *what, double *out, int max, int *n,
                                  vae_err *err) {
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || fabs(v) > 3.4e38 || (*end && *end != ','))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be comma-separated finite numbers, not '%.64s'",
                            what, text);
        if (*n == max) return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s has more than %d numbers", what, max);
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
        if (*end && !*p) return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s ends with a comma", what);
    }
    if (*n == 0) return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s is empty", what);
    return VAE_E_NONE;
}

/* Latent dimensions "3,7" into dims (distinct, 0..d-1). */
static vae_err_kind parse_dims(const char *text, int d, int *dims, int max, int *n, vae_err *err) {
    double v[VAE_MAX_LATENT];
    if (parse_numbers(text, "dims", v, max < VAE_MAX_LATENT ? max : VAE_MAX_LATENT, n, err)) return err->kind;
    for (int i = 0; i < *n; i++) {
        if (v[i] != floor(v[i]) || v[i] < 0 || v[i] >= d)
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "dims: %g is not a latent dimension (0 to %d)", v[i], d - 1);
        dims[i] = (int)v[i];
        for (int j = 0; j < i; j++)
            if (dims[j] == dims[i])
                return vae_fail(err, VAE_E_INVALID_PARAMETER, "dims: dimension %d is given twice", dims[i]);
    }
    return VAE_E_NONE;
}

/* A base point from a query value: "origin", a class label 0-9 (its centroid), or d comma-separated
 * numbers. */
static vae_err_kind parse_base(const vae_served_model *sm, const char *text, float *base, vae_err *err) {
    const int d = sm->model->config.latent_dim;
    if (!strcmp(text, "origin")) {
        memset(base, 0, sizeof(float) * (size_t)d);
        return VAE_E_NONE;
    }
    if (text[0] >= '0' && text[0] <= '9' && text[1] == '\0') {
        if (require(sm, VAE_PART_CENTROIDS, err)) return err->kind;
        memcpy(base, sm->model->centroids + (size_t)(text[0] - '0') * d, sizeof(float) * (size_t)d);
        return VAE_E_NONE;
    }
    double v[VAE_MAX_LATENT];
    int n;
    if (parse_numbers(text, "base", v, VAE_MAX_LATENT, &n, err)) return err->kind;
    if (n != d)
        return vae_fail(err, VAE_E_INVALID_PARAMETER,
                        "base must be origin, a class label 0-9 or %d comma-separated numbers, not %d numbers", d, n);
    for (int i = 0; i < d; i++) base[i] = (float)v[i];
    return VAE_E_NONE;
}

/* n images (n, 784) as a PNG grid of `cols` columns. */
static vae_err_kind reply_grid(vae_request *req, const float *images, int n, int cols, vae_err *err) {
    vae_scratch *s = req->scratch;
    const int rows = (n + cols - 1) / cols;
    uint8_t *pixels = s->pixels;
    vae_buf grid = {0};
    if ((size_t)rows * cols > (size_t)s->max_batch) { /* larger than the scratch grid: its own buffer */
        if (vae_buf_reserve(&grid, (size_t)rows * cols * VAE_INPUT_DIM) != VAE_OK)
            return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory drawing the grid");
        pixels = grid.data;
    }
    vae_image_grid(images, n, VAE_IMAGE_SIDE, cols, pixels);
    vae_error e = {0};
    s->out.len = 0;
    vae_status st = vae_png_encode(pixels, cols * VAE_IMAGE_SIDE, rows * VAE_IMAGE_SIDE, 1, -1, &s->out, &e);
    vae_buf_free(&grid);
    if (st == VAE_ERR_NOMEM) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory encoding the PNG");
    if (st != VAE_OK) return vae_fail(err, VAE_E_INTERNAL, "PNG encoding failed: %s", e.message);
    vae_reply_buffer(req, 200, "image/png");
    return VAE_E_NONE;
}

/* --- /manifold ------------------------------------------------------------------------------------ */

typedef struct {
    const vae_served_model *sm;
    int n, want_json;
    int plane;          /* the principal plane (else two coordinates) */
    int dims[2];
    float *z;           /* (n*n, d), request memory */
    const float *xhat;
} manifold_call;

static vae_err_kind manifold_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", "n", "dims", "base", "format", NULL};
    manifold_call *c = call;
    long long n;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_query_int(req, "n", MANIFOLD_MIN_N, MANIFOLD_MAX_N, MANIFOLD_DEFAULT_N, &n, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    c->n = (int)n;
    const vae_model *m = c->sm->model;
    const int d = m->config.latent_dim;
    const char *dims = vae_req_query(req, "dims"), *base_text = vae_req_query(req, "base");
    if (vae_req_query_present(req, "dims") && !dims)
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "dims must be two latent dimensions, e.g. dims=0,1");
    if (vae_req_query_present(req, "base") && !base_text)
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "base must be origin, a class label or %d numbers", d);
    float base[VAE_MAX_LATENT] = {0}, dir_a[VAE_MAX_LATENT] = {0}, dir_b[VAE_MAX_LATENT] = {0};
    float scale_a = 1, scale_b = 1;
    if (dims || d == 2) {
        /* two coordinates of the prior, each through the inverse normal CDF as the paper draws it */
        int count = 2, asked[VAE_MAX_LATENT];
        c->dims[0] = 0;
        c->dims[1] = 1;
        if (dims && parse_dims(dims, d, asked, d, &count, err)) return err->kind;
        if (dims && count == 2) c->dims[0] = asked[0], c->dims[1] = asked[1];
        if (count != 2) return vae_fail(err, VAE_E_INVALID_PARAMETER, "dims must be two latent dimensions, e.g. dims=0,1");
        dir_a[c->dims[0]] = 1;
        dir_b[c->dims[1]] = 1;
    } else {
        /* the plane of the test set's two leading principal directions, scaled by their spreads */
        if (require(c->sm, VAE_PART_PLANE, err)) return err->kind;
        c->plane = 1;
        memcpy(base, m->plane.mean, sizeof(float) * (size_t)d);
        memcpy(dir_a, m->plane.dirs, sizeof(float) * (size_t)d);
        memcpy(dir_b, m->plane.dirs + d, sizeof(float) * (size_t)d);
        scale_a = m->plane.std[0];
        scale_b = m->plane.std[1];
    }
    if (base_text && parse_base(c->sm, base_text, base, err)) return err->kind;
    c->z = vae_request_alloc(req, sizeof(float) * (size_t)c->n * c->n * d);
    if (!c->z) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for the grid");
    vae_latent_manifold(c->z, base, dir_a, scale_a, dir_b, scale_b, d, c->n);
    return VAE_E_NONE;
}

static vae_err_kind manifold_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                                 vae_model_call *next, vae_err *err) {
    (void)err;
    manifold_call *c = call;
    if (stage == 0) {
        float *xhat = vae_request_alloc(req, sizeof(float) * (size_t)c->n * c->n * VAE_INPUT_DIM);
        if (!xhat) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for the grid");
        *next = vae_call_of(VAE_OP_DECODE, c->sm, c->n * c->n, c->z, xhat, NULL);
        return VAE_E_NONE;
    }
    c->xhat = done->out;
    return VAE_E_NONE;
}

static vae_err_kind manifold_write(vae_request *req, void *call, vae_err *err) {
    const manifold_call *c = call;
    const int d = c->sm->model->config.latent_dim, cells = c->n * c->n;
    if (!c->want_json) return reply_grid(req, c->xhat, cells, c->n, err);
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_printf(&w, "{\"n\":%d,", c->n);
    if (c->plane) vae_jw_raw(&w, "\"plane\":\"principal\",");
    else vae_jw_printf(&w, "\"dims\":[%d,%d],", c->dims[0], c->dims[1]);
    vae_jw_raw(&w, "\"z\":");
    vae_jw_float_rows(&w, c->z, (size_t)cells, (size_t)d);
    vae_jw_raw(&w, ",\"pixels\":");
    vae_jw_float_rows(&w, c->xhat, (size_t)cells, VAE_INPUT_DIM);
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_manifold = {sizeof(manifold_call), manifold_parse, manifold_run, manifold_write};

/* --- /traverse ------------------------------------------------------------------------------------ */

typedef struct {
    const vae_served_model *sm;
    int want_json, steps, count, from_image;
    vae_images im;     /* the image whose mu is the base, and how it was prepared (from_image) */
    int dims[VAE_MAX_LATENT];
    float range;
    float base[VAE_MAX_LATENT];
    float *x;          /* (1, 784): the image whose mu is the base, request memory */
    float *z;          /* (count*steps, d) */
    const float *xhat;
} traverse_call;

/* The dimensions to sweep: the ones asked for, else the model's most active ones. */
static vae_err_kind traverse_dims(traverse_call *c, const char *dims_text, const cJSON *dims_json, int count_given,
                                  vae_err *err) {
    const int d = c->sm->model->config.latent_dim;
    if (dims_text) return parse_dims(dims_text, d, c->dims, d, &c->count, err);
    if (dims_json) {
        if (!cJSON_IsArray(dims_json) || !dims_json->child)
            return vae_fail(err, VAE_E_INVALID_REQUEST, "dims must be a non-empty list of latent dimensions");
        c->count = 0;
        for (const cJSON *v = dims_json->child; v; v = v->next) {
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
                v->valuedouble >= d)
                return vae_fail(err, VAE_E_INVALID_VALUE, "dims: each must be a latent dimension from 0 to %d", d - 1);
            if (c->count == d) return vae_fail(err, VAE_E_INVALID_VALUE, "dims has more than %d entries", d);
            c->dims[c->count] = (int)v->valuedouble;
            for (int j = 0; j < c->count; j++)
                if (c->dims[j] == c->dims[c->count])
                    return vae_fail(err, VAE_E_INVALID_VALUE, "dims: dimension %d is given twice", c->dims[j]);
            c->count++;
        }
        return VAE_E_NONE;
    }
    if (d <= TRAVERSE_DEFAULT_COUNT && !count_given) {
        for (int i = 0; i < d; i++) c->dims[i] = i;
        c->count = d;
        return VAE_E_NONE;
    }
    vae_error e = {0};
    int order[VAE_MAX_LATENT];
    if (vae_latent_dims_by_activity(c->sm->model, order, &e) != VAE_OK)
        return vae_fail(err, VAE_E_INVALID_VALUE, "model '%s': %s; or name the dimensions (dims=0,1,2)", c->sm->name,
                        e.message);
    if (!count_given) c->count = TRAVERSE_DEFAULT_COUNT;
    if (c->count > d) c->count = d;
    memcpy(c->dims, order, sizeof(int) * (size_t)c->count);
    return VAE_E_NONE;
}

static vae_err_kind traverse_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query_get[] = {"model", "label", "z", "dims", "count", "range", "steps", "format", NULL};
    static const char *const query_post[] = {"model", VAE_IMAGE_QUERY, "format", NULL};
    static const char *const fields[] = {VAE_IMAGE_FIELDS, "z", "label", "dims", "count", "range", "steps", NULL};
    traverse_call *c = call;
    const int post = req->method == VAE_POST;
    if (vae_input_query_check(req, post ? query_post : query_get, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    const vae_model *m = c->sm->model;
    const int d = m->config.latent_dim;
    long long steps = TRAVERSE_DEFAULT_STEPS, count = 0;
    double range = TRAVERSE_DEFAULT_RANGE;
    int count_given = 0;
    if (!post) {
        const char *label = vae_req_query(req, "label"), *z = vae_req_query(req, "z");
        if (vae_input_query_int(req, "steps", 2, TRAVERSE_MAX_STEPS, TRAVERSE_DEFAULT_STEPS, &steps, err) ||
            vae_input_query_int(req, "count", 1, d, 0, &count, err) ||
            vae_input_query_float(req, "range", 0.0, 100.0, TRAVERSE_DEFAULT_RANGE, &range, err))
            return err->kind;
        count_given = count > 0;
        c->count = (int)count;
        if (label && z) return vae_fail(err, VAE_E_INVALID_PARAMETER, "give label or z, not both");
        if ((vae_req_query_present(req, "label") && !label) || (vae_req_query_present(req, "z") && !z))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "label and z need a value");
        if (label && (!(label[0] >= '0' && label[0] <= '9') || label[1]))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "label must be a class label 0 to 9, not '%.16s'", label);
        if ((label && parse_base(c->sm, label, c->base, err)) || (z && parse_base(c->sm, z, c->base, err)))
            return err->kind;
        if (traverse_dims(c, vae_req_query(req, "dims"), NULL, count_given, err)) return err->kind;
    } else {
        cJSON *root;
        vae_image_options opts;
        if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
        const cJSON *image = cJSON_GetObjectItemCaseSensitive(root, "image");
        const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
        const cJSON *pixels = cJSON_GetObjectItemCaseSensitive(root, "pixels");
        const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "z");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(root, "label");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "steps");
        const cJSON *jc = cJSON_GetObjectItemCaseSensitive(root, "count");
        const cJSON *jr = cJSON_GetObjectItemCaseSensitive(root, "range");
        int batched = 0;
        if (images)
            vae_fail(err, VAE_E_INVALID_REQUEST, "give one image (\"image\"), not a list");
        else if (!!image + !!pixels + !!z + !!label > 1)
            vae_fail(err, VAE_E_INVALID_REQUEST, "give one base point: image, pixels, z or label");
        else if (js && (!cJSON_IsNumber(js) || js->valuedouble != floor(js->valuedouble) || js->valuedouble < 2 ||
                        js->valuedouble > TRAVERSE_MAX_STEPS))
            vae_fail(err, VAE_E_INVALID_VALUE, "steps must be an integer from 2 to %d", TRAVERSE_MAX_STEPS);
        else if (jc && (!cJSON_IsNumber(jc) || jc->valuedouble != floor(jc->valuedouble) || jc->valuedouble < 1 ||
                        jc->valuedouble > d))
            vae_fail(err, VAE_E_INVALID_VALUE, "count must be an integer from 1 to %d", d);
        else if (jr && (!cJSON_IsNumber(jr) || !(jr->valuedouble >= 0) || jr->valuedouble > 100))
            vae_fail(err, VAE_E_INVALID_VALUE, "range must be a number from 0 to 100");
        else if (!vae_input_image_options(req, root, c->sm, &opts, err)) {
            if (js) steps = (long long)js->valuedouble;
            if (jc) c->count = (int)jc->valuedouble, count_given = 1;
            if (jr) range = jr->valuedouble;
            if (label) {
                if (!cJSON_IsNumber(label) || label->valuedouble != floor(label->valuedouble) ||
                    label->valuedouble < 0 || label->valuedouble > VAE_NUM_CLASSES - 1)
                    vae_fail(err, VAE_E_INVALID_VALUE, "label must be a class label 0 to 9");
                else if (!require(c->sm, VAE_PART_CENTROIDS, err))
                    memcpy(c->base, m->centroids + (size_t)label->valuedouble * d, sizeof(float) * (size_t)d);
            } else if (z) {
                int rows;
                vae_input_latents(z, "z", d, c->base, 1, &rows, &batched, err);
                if (!err->kind && batched) vae_fail(err, VAE_E_INVALID_REQUEST, "z must be one latent vector");
            } else if (image || pixels) {
                c->from_image = 1;
                if (!vae_input_images(req, root, &opts, req->scratch->x, 1, &c->im, err) && c->im.batched)
                    vae_fail(err, VAE_E_INVALID_REQUEST, "give one image");
            }
            if (!err->kind) traverse_dims(c, NULL, cJSON_GetObjectItemCaseSensitive(root, "dims"), count_given, err);
        }
        cJSON_Delete(root);
        if (err->kind) return err->kind;
    }
    c->steps = (int)steps;
    c->range = (float)range;
    const size_t rows = (size_t)c->count * c->steps;
    c->z = vae_request_alloc(req, sizeof(float) * rows * d);
    c->x = vae_request_alloc(req, sizeof(float) * VAE_INPUT_DIM);
    if (!c->z || !c->x) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for the traversal");
    if (c->from_image) memcpy(c->x, req->scratch->x, sizeof(float) * VAE_INPUT_DIM);
    return VAE_E_NONE;
}

/* Stages: the image's mu when the base is an image; then every row decoded as one call. */
static vae_err_kind traverse_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                                 vae_model_call *next, vae_err *err) {
    traverse_call *c = call;
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    if (stage == 0 && c->from_image) {
        *next = vae_call_of(VAE_OP_ENCODE, c->sm, 1, c->x, s->mu, s->logvar);
        return VAE_E_NONE;
    }
    if (done->op == VAE_OP_ENCODE || done->op == VAE_OP_NONE) {
        if (done->op == VAE_OP_ENCODE) memcpy(c->base, done->out, sizeof(float) * (size_t)d);
        for (int r = 0; r < c->count; r++)
            vae_latent_traverse(c->z + (size_t)r * c->steps * d, c->base, d, c->dims[r], -c->range, c->range, c->steps);
        float *xhat = vae_request_alloc(req, sizeof(float) * (size_t)c->count * c->steps * VAE_INPUT_DIM);
        if (!xhat) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for the traversal");
        *next = vae_call_of(VAE_OP_DECODE, c->sm, c->count * c->steps, c->z, xhat, NULL);
        return VAE_E_NONE;
    }
    c->xhat = done->out;
    return VAE_E_NONE;
}

static vae_err_kind traverse_write(vae_request *req, void *call, vae_err *err) {
    const traverse_call *c = call;
    const int d = c->sm->model->config.latent_dim, rows = c->count * c->steps;
    if (!c->want_json) {
        if (reply_grid(req, c->xhat, rows, c->steps, err)) return err->kind;
        if (c->from_image) vae_reply_prepared_header(req, c->im.info, 1);
        return VAE_E_NONE;
    }
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    vae_jw_raw(&w, "{\"dims\":[");
    for (int i = 0; i < c->count; i++) vae_jw_printf(&w, "%s%d", i ? "," : "", c->dims[i]);
    vae_jw_printf(&w, "],\"steps\":%d,\"range\":", c->steps);
    vae_jw_float(&w, c->range);
    vae_jw_raw(&w, ",\"base\":");
    vae_jw_floats(&w, c->base, (size_t)d);
    vae_jw_raw(&w, ",\"z\":");
    vae_jw_float_rows(&w, c->z, (size_t)rows, (size_t)d);
    vae_jw_raw(&w, ",\"pixels\":");
    vae_jw_float_rows(&w, c->xhat, (size_t)rows, VAE_INPUT_DIM);
    if (c->from_image) vae_reply_prepared(&w, &c->im);
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_traverse = {sizeof(traverse_call), traverse_parse, traverse_run, traverse_write};

/* --- /complete ------------------------------------------------------------------------------------ */

typedef struct {
    const vae_served_model *sm;
    int want_json, steps, chain_wanted, done_steps;
    vae_images im; /* the one image, and how it was prepared */
    vae_complete_method method;
    uint64_t seed;
    vae_rng rng;
    float known[VAE_INPUT_DIM], x[VAE_INPUT_DIM], logits_cur[VAE_INPUT_DIM];
    uint8_t mask[VAE_INPUT_DIM];
    float z_cur[VAE_MAX_LATENT], mu[VAE_MAX_LATENT], logvar[VAE_MAX_LATENT], z_prop[VAE_MAX_LATENT];
    double lik_cur;
    int accepted;
    float *chain; /* (frames + 1, 784) when asked for: the start, then evenly spaced steps */
    int frames, frames_taken;
} complete_call;

/* The mask of known pixels: "keep" a half by name, or "mask" as a base64 PNG (known where it is
 * bright, above 0.5) or 784 numbers 0 or 1. */
static vae_err_kind parse_mask(vae_request *req, complete_call *c, const cJSON *keep, const cJSON *mask, vae_err *err) {
    if (!!keep + !!mask != 1)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "give the known pixels: \"keep\" (top, bottom, left or right) or \"mask\" (a base64 PNG, "
                        "or 784 numbers 0 or 1; 1 = known)");
    const int side = VAE_IMAGE_SIDE;
    if (keep) {
        static const char *const halves[] = {"top", "bottom", "left", "right"};
        int which = -1;
        for (int i = 0; i < 4; i++)
            if (cJSON_IsString(keep) && !strcmp(keep->valuestring, halves[i])) which = i;
        if (which < 0) return vae_fail(err, VAE_E_INVALID_VALUE, "keep must be \"top\", \"bottom\", \"left\" or \"right\"");
        for (int p = 0; p < VAE_INPUT_DIM; p++) {
            const int r = p / side, col = p % side;
            c->mask[p] = which == 0 ? r < side / 2 : which == 1 ? r >= side / 2 : which == 2 ? col < side / 2 : col >= side / 2;
        }
        return VAE_E_NONE;
    }
    float m[VAE_INPUT_DIM];
    if (cJSON_IsString(mask)) {
        /* a mask is taken as it is: white = known, area-averaged to 28x28, never normalised or inverted */
        const vae_prepare_options plain = {VAE_NORMALIZE_NONE, VAE_INVERT_NO};
        vae_prepare_info info;
        if (vae_input_png_base64(req, mask->valuestring, "mask", &plain, m, &info, err)) return err->kind;
        for (int p = 0; p < VAE_INPUT_DIM; p++) c->mask[p] = m[p] > 0.5f;
        return VAE_E_NONE;
    }
    int n, batched;
    if (vae_input_latents(mask, "mask", VAE_INPUT_DIM, m, 1, &n, &batched, err)) return err->kind;
    if (batched) return vae_fail(err, VAE_E_INVALID_REQUEST, "mask must be one list of 784 numbers");
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        if (m[p] != 0 && m[p] != 1) return vae_fail(err, VAE_E_INVALID_VALUE, "mask[%d] is %g: each must be 0 or 1", p, m[p]);
        c->mask[p] = m[p] == 1;
    }
    return VAE_E_NONE;
}

static vae_err_kind complete_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", VAE_IMAGE_QUERY, "format", NULL};
    static const char *const fields[] = {VAE_IMAGE_FIELDS, "keep", "mask", "steps", "seed", "method", "chain", NULL};
    complete_call *c = call;
    vae_image_options opts;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    cJSON *root;
    if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    int seed_given = 0;
    c->steps = COMPLETE_DEFAULT_STEPS;
    c->method = VAE_COMPLETE_MWG;
    if (steps && (!cJSON_IsNumber(steps) || steps->valuedouble != floor(steps->valuedouble) || steps->valuedouble < 1 ||
                  steps->valuedouble > COMPLETE_MAX_STEPS))
        vae_fail(err, VAE_E_INVALID_VALUE, "steps must be an integer from 1 to %d", COMPLETE_MAX_STEPS);
    else if (method && (!cJSON_IsString(method) || vae_complete_method_parse(method->valuestring, &c->method) != 0))
        vae_fail(err, VAE_E_INVALID_VALUE, "method must be \"mwg\" (Metropolis-within-Gibbs) or \"pseudo_gibbs\"");
    else if (!vae_input_json_bool(cJSON_GetObjectItemCaseSensitive(root, "chain"), "chain", 0, &c->chain_wanted, err) &&
             !vae_input_image_options(req, root, c->sm, &opts, err) &&
             !vae_input_json_seed(cJSON_GetObjectItemCaseSensitive(root, "seed"), &c->seed, &seed_given, err) &&
             !parse_mask(req, c, cJSON_GetObjectItemCaseSensitive(root, "keep"),
                         cJSON_GetObjectItemCaseSensitive(root, "mask"), err)) {
        if (cJSON_GetObjectItemCaseSensitive(root, "images"))
            vae_fail(err, VAE_E_INVALID_REQUEST, "give one image");
        else if (!vae_input_images(req, root, &opts, req->scratch->x, 1, &c->im, err) && c->im.batched)
            vae_fail(err, VAE_E_INVALID_REQUEST, "give one image, not a list");
    }
    if (steps && !err->kind) c->steps = (int)steps->valuedouble;
    cJSON_Delete(root);
    if (err->kind) return err->kind;
    if (!seed_given) c->seed = vae_rng_u64(&req->scratch->rng) >> 11;
    vae_rng_seed(&c->rng, c->seed);
    memcpy(c->known, req->scratch->x, sizeof c->known);
    vae_complete_clamp(c->x, c->known, c->mask, NULL); /* hidden pixels start at the background */
    if (c->chain_wanted) {
        c->frames = c->steps < COMPLETE_CHAIN_FRAMES ? c->steps : COMPLETE_CHAIN_FRAMES;
        c->chain = vae_request_alloc(req, sizeof(float) * (size_t)(c->frames + 1) * VAE_INPUT_DIM);
        if (!c->chain) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for the chain");
        memcpy(c->chain, c->x, sizeof c->x); /* frame 0: what the chain starts from */
    }
    return VAE_E_NONE;
}

/* Each step: encode the current image, draw a proposal from q(z|x), decode it, and let the chain
 * take it or not (vae_complete_update); the known pixels stay exactly as given. */
static vae_err_kind complete_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                                 vae_model_call *next, vae_err *err) {
    (void)err;
    complete_call *c = call;
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    if (done->op == VAE_OP_ENCODE) {
        memcpy(c->mu, done->out, sizeof(float) * (size_t)d);
        memcpy(c->logvar, done->out2, sizeof(float) * (size_t)d);
        float eps[VAE_MAX_LATENT];
        vae_rng_normal_fill(&c->rng, eps, (size_t)d, 1.0f);
        vae_score_latents(c->z_prop, c->mu, c->logvar, eps, 1, 1, d);
        *next = vae_call_of(VAE_OP_DECODE_LOGITS, c->sm, 1, c->z_prop, s->xhat, NULL);
        return VAE_E_NONE;
    }
    if (done->op == VAE_OP_DECODE_LOGITS) {
        c->accepted += vae_complete_update(c->method, c->x, c->z_cur, c->logits_cur, &c->lik_cur, c->known, c->mask,
                                           c->mu, c->logvar, c->z_prop, done->out, d, c->done_steps == 0, &c->rng);
        c->done_steps++;
        /* frame f (1..frames) is the image after step ceil(f * steps / frames): the last is the result */
        if (c->chain && c->frames_taken < c->frames &&
            (long long)c->done_steps * c->frames >= (long long)(c->frames_taken + 1) * c->steps) {
            c->frames_taken++;
            memcpy(c->chain + (size_t)c->frames_taken * VAE_INPUT_DIM, c->x, sizeof c->x);
        }
    }
    (void)stage;
    if (c->done_steps < c->steps) *next = vae_call_of(VAE_OP_ENCODE, c->sm, 1, c->x, s->mu, s->logvar);
    return VAE_E_NONE;
}

static vae_err_kind complete_write(vae_request *req, void *call, vae_err *err) {
    const complete_call *c = call;
    vae_err_kind k;
    if (!c->want_json) {
        k = c->chain ? reply_grid(req, c->chain, c->frames + 1, c->frames + 1, err) : reply_grid(req, c->x, 1, 1, err);
    } else {
        vae_json_writer w;
        vae_jw_start(&w, &req->scratch->out);
        vae_jw_raw(&w, "{\"pixels\":");
        vae_jw_floats(&w, c->x, VAE_INPUT_DIM);
        vae_jw_printf(&w, ",\"method\":\"%s\",\"steps\":%d,\"accepted\":%d,\"seed\":%llu",
                      vae_complete_method_name(c->method), c->steps, c->accepted, (unsigned long long)c->seed);
        if (c->chain) {
            vae_jw_raw(&w, ",\"chain\":");
            vae_jw_float_rows(&w, c->chain, (size_t)c->frames + 1, VAE_INPUT_DIM);
        }
        vae_reply_prepared(&w, &c->im);
        vae_jw_raw(&w, "}");
        k = vae_reply_json(req, 200, &w, err);
    }
    if (k == VAE_E_NONE) {
        vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
        if (!c->want_json) vae_reply_prepared_header(req, c->im.info, 1);
    }
    return k;
}

const vae_endpoint vae_ep_complete = {sizeof(complete_call), complete_parse, complete_run, complete_write};
