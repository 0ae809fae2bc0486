/* Model endpoints: encode, reconstruct, decode, sample, interpolate. Each parses its inputs
 * (inputs.c) into its call struct, asks the pipeline for its model calls, and writes a PNG or JSON
 * reply. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "prepared.h"
#include "server.h"
#include "vae/image.h"
#include "vae/latent.h"
#include "vae/png.h"

/* Endpoint limits. */
#define SAMPLE_MAX_N 256
#define SAMPLE_DEFAULT_N 16
#define INTERPOLATE_MAX_STEPS 64
#define INTERPOLATE_DEFAULT_STEPS 10

/* Columns of the square-ish grid used for several images: ceil(sqrt(n)). */
static int grid_columns(int n) {
    int cols = (int)ceil(sqrt((double)n));
    while (cols * cols < n) cols++;
    while (cols > 1 && (cols - 1) * (cols - 1) >= n) cols--;
    return cols < 1 ? 1 : cols;
}

/* n decoded images (n, 784) as one PNG reply: a single 28x28 image, or a grid of `cols` columns. */
static vae_err_kind reply_png(vae_request *req, const float *images, int n, int cols, vae_err *err) {
    vae_scratch *s = req->scratch;
    int rows = (n + cols - 1) / cols;
    vae_image_grid(images, n, VAE_IMAGE_SIDE, cols, s->pixels);
    vae_error e = {0};
    s->out.len = 0;
    vae_status st = vae_png_encode(s->pixels, cols * VAE_IMAGE_SIDE, rows * VAE_IMAGE_SIDE, 1, -1, &s->out, &e);
    if (st == VAE_ERR_NOMEM) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory encoding the PNG");
    if (st != VAE_OK) return vae_fail(err, VAE_E_INTERNAL, "PNG encoding failed: %s", e.message);
    vae_reply_buffer(req, 200, "image/png");
    return VAE_E_NONE;
}

/* n inputs beside their n reconstructions as one PNG reply: pairs (input, reconstruction) in a grid of
 * ceil(sqrt(n)) pairs a row. */
static vae_err_kind reply_png_pairs(vae_request *req, const float *in, const float *out, int n, vae_err *err) {
    vae_scratch *s = req->scratch;
    const int cols = grid_columns(n), rows = (n + cols - 1) / cols, side = VAE_IMAGE_SIDE;
    const size_t width = (size_t)2 * cols * side;
    memset(s->pixels, 0, width * (size_t)rows * side);
    for (int k = 0; k < n; k++) {
        uint8_t *cell = s->pixels + (size_t)(k / cols) * side * width + (size_t)(k % cols) * 2 * side;
        for (int y = 0; y < side; y++) {
            const size_t at = (size_t)k * VAE_INPUT_DIM + (size_t)y * side;
            vae_pixels_to_u8(cell + (size_t)y * width, in + at, (size_t)side);
            vae_pixels_to_u8(cell + (size_t)y * width + side, out + at, (size_t)side);
        }
    }
    vae_error e = {0};
    s->out.len = 0;
    vae_status st = vae_png_encode(s->pixels, (int)width, rows * side, 1, -1, &s->out, &e);
    if (st == VAE_ERR_NOMEM) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory encoding the PNG");
    if (st != VAE_OK) return vae_fail(err, VAE_E_INTERNAL, "PNG encoding failed: %s", e.message);
    vae_reply_buffer(req, 200, "image/png");
    return VAE_E_NONE;
}

/* Writes "key": rows (a list of lists when batched, else the first row alone), after a comma unless
 * it is the first member. */
static void json_rows(vae_json_writer *w, const char *key, const float *v, int n, int cols, int batched,
                      int first) {
    vae_jw_raw(w, first ? "{\"" : ",\"");
    vae_jw_raw(w, key);
    vae_jw_raw(w, "\":");
    if (batched) vae_jw_float_rows(w, v, (size_t)n, (size_t)cols);
    else vae_jw_floats(w, v, (size_t)cols);
}

/* Fills out[0..n) with eps * scale from a generator seeded by seed. */
static void seeded_normals(uint64_t seed, float *out, size_t n, float scale) {
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_rng_normal_fill(&rng, out, n, scale);
}

/* A seed for a request that gave none: random, below 2^53 so JSON clients read it back exactly. */
static uint64_t fresh_seed(vae_request *req) { return vae_rng_u64(&req->scratch->rng) >> 11; }

/* --- /encode and /reconstruct ------------------------------------------------------------------- */

typedef struct {
    const vae_served_model *sm;
    vae_images im;        /* how many, list or not, and how each was prepared */
    int want_json, with_input;
    int sample, seed_given;
    uint64_t seed;
    const float *x, *mu, *logvar, *xhat; /* the prepared inputs (as queued) and the results */
} image_call;

/* The inputs /encode and /reconstruct share: model and options into c, images into scratch->x;
 * with_input (for /reconstruct) also reads that option. */
static vae_err_kind parse_images(vae_request *req, image_call *c, const char *const *query, const char *const *fields,
                                 int with_input, vae_err *err) {
    long long seed = 0;
    vae_image_options opts;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_query_bool(req, "sample", 0, &c->sample, err) ||
        vae_input_query_int(req, "seed", 0, VAE_SEED_MAX, -1, &seed, err) ||
        (with_input && vae_input_query_bool(req, "with_input", 0, &c->with_input, err)))
        return err->kind;
    if (seed >= 0) {
        c->seed = (uint64_t)seed;
        c->seed_given = 1;
    }
    vae_scratch *s = req->scratch;
    if (req->body_type == VAE_BODY_PNG) {
        if (vae_input_image_options(req, NULL, c->sm, &opts, err)) return err->kind;
        return vae_input_images(req, NULL, &opts, s->x, s->max_batch, &c->im, err);
    }
    cJSON *root = NULL;
    if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
    int json_seed_given = 0;
    uint64_t json_seed = 0;
    if (!vae_input_json_bool(cJSON_GetObjectItemCaseSensitive(root, "sample"), "sample", c->sample, &c->sample,
                             err) &&
        !vae_input_json_seed(cJSON_GetObjectItemCaseSensitive(root, "seed"), &json_seed, &json_seed_given, err) &&
        !(with_input && vae_input_json_bool(cJSON_GetObjectItemCaseSensitive(root, "with_input"), "with_input",
                                            c->with_input, &c->with_input, err)) &&
        !vae_input_image_options(req, root, c->sm, &opts, err)) {
        if (json_seed_given) {
            c->seed = json_seed;
            c->seed_given = 1;
        }
        vae_input_images(req, root, &opts, s->x, s->max_batch, &c->im, err);
    }
    cJSON_Delete(root);
    return err->kind;
}

static vae_err_kind encode_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", VAE_IMAGE_QUERY, "sample", "seed", NULL};
    static const char *const fields[] = {VAE_IMAGE_FIELDS, "sample", "seed", NULL};
    return parse_images(req, call, query, fields, 0, err);
}

static vae_err_kind encode_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                               vae_model_call *next, vae_err *err) {
    (void)err;
    image_call *c = call;
    vae_scratch *s = req->scratch;
    if (stage == 0) {
        *next = vae_call_of(VAE_OP_ENCODE, c->sm, c->im.n, s->x, s->mu, s->logvar);
        return VAE_E_NONE;
    }
    c->mu = done->out;
    c->logvar = done->out2;
    return VAE_E_NONE;
}

static vae_err_kind encode_write(vae_request *req, void *call, vae_err *err) {
    image_call *c = call;
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    vae_json_writer w;
    vae_jw_start(&w, &s->out);
    const int n = c->im.n, batched = c->im.batched;
    json_rows(&w, "mu", c->mu, n, d, batched, 1);
    json_rows(&w, "logvar", c->logvar, n, d, batched, 0);
    if (c->sample) {
        /* z = mu + eps * exp(logvar / 2), the reparameterisation the model was trained with */
        if (!c->seed_given) c->seed = fresh_seed(req);
        size_t count = (size_t)n * d;
        seeded_normals(c->seed, s->z, count, 1.0f);
        vae_reparam_forward(s->z, c->mu, c->logvar, s->z, count);
        json_rows(&w, "z", s->z, n, d, batched, 0);
        vae_jw_printf(&w, ",\"seed\":%llu", (unsigned long long)c->seed);
    }
    vae_reply_prepared(&w, &c->im);
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_encode = {sizeof(image_call), encode_parse, encode_run, encode_write};

static vae_err_kind reconstruct_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", VAE_IMAGE_QUERY, "sample", "seed", "format", "with_input", NULL};
    static const char *const fields[] = {VAE_IMAGE_FIELDS, "sample", "seed", "with_input", NULL};
    image_call *c = call;
    if (parse_images(req, c, query, fields, 1, err)) return err->kind;
    return vae_input_wants_json(req, &c->want_json, err);
}

static vae_err_kind reconstruct_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                                    vae_model_call *next, vae_err *err) {
    (void)err;
    image_call *c = call;
    vae_scratch *s = req->scratch;
    if (stage == 0) {
        *next = vae_call_of(VAE_OP_RECONSTRUCT, c->sm, c->im.n, s->x, s->xhat, NULL);
        return VAE_E_NONE;
    }
    c->x = done->in;
    c->xhat = done->out;
    return VAE_E_NONE;
}

/* PNG: the reconstructions (a grid for several), or with_input each prepared input on the left of
 * its reconstruction; JSON: "pixels", "input" with with_input, and "prepared". */
static vae_err_kind reconstruct_write(vae_request *req, void *call, vae_err *err) {
    image_call *c = call;
    const int n = c->im.n;
    if (!c->want_json) {
        vae_err_kind k = c->with_input ? reply_png_pairs(req, c->x, c->xhat, n, err)
                                       : reply_png(req, c->xhat, n, grid_columns(n), err);
        if (k == VAE_E_NONE) vae_reply_prepared_header(req, c->im.info, n);
        return k;
    }
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    json_rows(&w, "pixels", c->xhat, n, VAE_INPUT_DIM, 1, 1);
    if (c->with_input) json_rows(&w, "input", c->x, n, VAE_INPUT_DIM, 1, 0);
    vae_reply_prepared(&w, &c->im);
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_reconstruct = {sizeof(image_call), reconstruct_parse, reconstruct_run,
                                         reconstruct_write};

/* --- /decode and /sample ------------------------------------------------------------------------ */

typedef struct {
    const vae_served_model *sm;
    int n, want_json;
    uint64_t seed;        /* /sample */
    int label;            /* /sample: the class sampled, or -1 for the prior */
    const float *z, *xhat; /* the decoded z (as queued) and the images */
} decode_call;

static vae_err_kind decode_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", "format", NULL};
    static const char *const fields[] = {"z", NULL};
    decode_call *c = call;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    cJSON *root;
    if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
    const int d = c->sm->model->config.latent_dim;
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "z");
    int batched;
    if (!z) vae_fail(err, VAE_E_INVALID_REQUEST, "missing \"z\": give %d latent numbers, or a list of such lists", d);
    else vae_input_latents(z, "z", d, req->scratch->z, req->scratch->max_batch, &c->n, &batched, err);
    cJSON_Delete(root);
    return err->kind;
}

static vae_err_kind decode_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                               vae_model_call *next, vae_err *err) {
    (void)err;
    decode_call *c = call;
    vae_scratch *s = req->scratch;
    if (stage == 0) {
        *next = vae_call_of(VAE_OP_DECODE, c->sm, c->n, s->z, s->xhat, NULL);
        return VAE_E_NONE;
    }
    c->z = done->in;
    c->xhat = done->out;
    return VAE_E_NONE;
}

static vae_err_kind decode_write(vae_request *req, void *call, vae_err *err) {
    decode_call *c = call;
    if (!c->want_json) return reply_png(req, c->xhat, c->n, grid_columns(c->n), err);
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    json_rows(&w, "pixels", c->xhat, c->n, VAE_INPUT_DIM, 1, 1);
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_decode = {sizeof(decode_call), decode_parse, decode_run, decode_write};

/* /sample's parameters into c, its z drawn into scratch->z. */
static vae_err_kind sample_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", "n", "seed", "temperature", "label", "format", NULL};
    decode_call *c = call;
    vae_scratch *s = req->scratch;
    long long n, seed, label;
    double temperature;
    int max_n = s->max_batch < SAMPLE_MAX_N ? s->max_batch : SAMPLE_MAX_N;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_query_int(req, "n", 1, max_n, SAMPLE_DEFAULT_N < max_n ? SAMPLE_DEFAULT_N : max_n, &n, err) ||
        vae_input_query_int(req, "seed", 0, VAE_SEED_MAX, -1, &seed, err) ||
        vae_input_query_float(req, "temperature", 0.0, 100.0, 1.0, &temperature, err) ||
        vae_input_query_int(req, "label", 0, VAE_NUM_CLASSES - 1, -1, &label, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    c->n = (int)n;
    c->seed = seed < 0 ? fresh_seed(req) : (uint64_t)seed;
    c->label = (int)label;
    if (label < 0) {
        seeded_normals(c->seed, s->z, (size_t)c->n * c->sm->model->config.latent_dim, (float)temperature);
        return VAE_E_NONE;
    }
    /* class-conditional: the Gaussian of that class's codes (centroid and spread), no retraining */
    vae_rng rng;
    vae_rng_seed(&rng, c->seed);
    vae_error e = {0};
    if (vae_latent_sample_class(s->z, c->sm->model, c->label, c->n, (float)temperature, &rng, &e) != VAE_OK)
        return vae_fail(err, VAE_E_INVALID_VALUE, "label=%d: model '%s': %s", c->label, c->sm->name, e.message);
    return VAE_E_NONE;
}

static vae_err_kind sample_write(vae_request *req, void *call, vae_err *err) {
    decode_call *c = call;
    vae_err_kind k;
    if (!c->want_json) {
        k = reply_png(req, c->xhat, c->n, grid_columns(c->n), err);
    } else {
        vae_json_writer w;
        vae_jw_start(&w, &req->scratch->out);
        json_rows(&w, "z", c->z, c->n, c->sm->model->config.latent_dim, 1, 1);
        json_rows(&w, "pixels", c->xhat, c->n, VAE_INPUT_DIM, 1, 0);
        vae_jw_printf(&w, ",\"seed\":%llu", (unsigned long long)c->seed);
        if (c->label >= 0) vae_jw_printf(&w, ",\"label\":%d", c->label);
        vae_jw_raw(&w, "}");
        k = vae_reply_json(req, 200, &w, err);
    }
    if (k == VAE_E_NONE) vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
    return k;
}

const vae_endpoint vae_ep_sample = {sizeof(decode_call), sample_parse, decode_run, sample_write};

/* --- /interpolate -------------------------------------------------------------------------------- */

typedef struct {
    const vae_served_model *sm;
    int want_json, steps, slerp;
    int n_images;         /* ends given as PNGs, in scratch->x, encoded first */
    int image_row[2];     /* for each end: its row in scratch->x, or -1 */
    vae_prepare_info prepared[2]; /* for each PNG end: how it was prepared */
    float ends[2][VAE_MAX_LATENT];
    const float *z, *xhat; /* the path and its images */
} interpolate_call;

/* One end of an interpolation: a class label, a base64 PNG (decoded into scratch->x for the
 * encoder), or a latent vector. */
static vae_err_kind parse_end(vae_request *req, interpolate_call *c, const cJSON *item, int end,
                              const vae_prepare_options *prep, vae_err *err) {
    const char *where = end ? "to" : "from";
    const vae_model *m = c->sm->model;
    const int d = m->config.latent_dim;
    c->image_row[end] = -1;
    if (!item)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "missing \"%s\": give a class label 0-9, a base64 PNG or %d latent numbers", where, d);
    if (cJSON_IsNumber(item)) {
        double label = item->valuedouble;
        if (label != floor(label) || label < 0 || label > VAE_NUM_CLASSES - 1)
            return vae_fail(err, VAE_E_INVALID_VALUE, "%s: %g is not a class label (0 to 9)", where, label);
        if (!m->centroids)
            return vae_fail(err, VAE_E_INVALID_VALUE,
                            "%s: model '%s' has no class centroids; give a PNG or a latent vector", where,
                            c->sm->name);
        memcpy(c->ends[end], m->centroids + (size_t)label * d, sizeof(float) * (size_t)d);
        return VAE_E_NONE;
    }
    if (cJSON_IsString(item)) {
        const char *v = item->valuestring;
        if (v[0] >= '0' && v[0] <= '9' && v[1] == '\0')
            return vae_fail(err, VAE_E_INVALID_VALUE, "%s: class labels are numbers: write %s, not \"%s\"", where,
                            v, v);
        int row = c->n_images++;
        c->image_row[end] = row;
        return vae_input_png_base64(req, v, where, prep, req->scratch->x + (size_t)row * VAE_INPUT_DIM,
                                    &c->prepared[end], err);
    }
    if (cJSON_IsArray(item)) {
        if (item->child && cJSON_IsArray(item->child))
            return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be one latent vector, not a list", where);
        int n, batched;
        return vae_input_latents(item, where, d, c->ends[end], 1, &n, &batched, err);
    }
    return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be a class label 0-9, a base64 PNG string or %d latent numbers",
                    where, d);
}

static vae_err_kind interpolate_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", "format", VAE_IMAGE_QUERY, NULL};
    static const char *const fields[] = {"from", "to", "steps", "method", "normalize", "invert", NULL};
    interpolate_call *c = call;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_wants_json(req, &c->want_json, err))
        return err->kind;
    cJSON *root;
    if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    const int max_steps = req->scratch->max_batch < INTERPOLATE_MAX_STEPS ? req->scratch->max_batch
                                                                          : INTERPOLATE_MAX_STEPS;
    vae_image_options opts;
    c->steps = INTERPOLATE_DEFAULT_STEPS;
    if (steps && (!cJSON_IsNumber(steps) || steps->valuedouble != floor(steps->valuedouble) ||
                  steps->valuedouble < 2 || steps->valuedouble > max_steps))
        vae_fail(err, VAE_E_INVALID_VALUE, "steps must be an integer from 2 to %d", max_steps);
    else if (method && (!cJSON_IsString(method) ||
                        (strcmp(method->valuestring, "linear") && strcmp(method->valuestring, "slerp"))))
        vae_fail(err, VAE_E_INVALID_VALUE, "method must be \"linear\" or \"slerp\"");
    else if (!vae_input_image_options(req, root, c->sm, &opts, err) &&
             !parse_end(req, c, cJSON_GetObjectItemCaseSensitive(root, "from"), 0, &opts.prep, err) &&
             !parse_end(req, c, cJSON_GetObjectItemCaseSensitive(root, "to"), 1, &opts.prep, err)) {
        if (steps) c->steps = (int)steps->valuedouble;
        c->slerp = method && !strcmp(method->valuestring, "slerp");
    }
    cJSON_Delete(root);
    return err->kind;
}

/* The path between the ends into scratch->z, and the call that decodes it. */
static vae_err_kind interpolate_path(vae_request *req, interpolate_call *c, vae_model_call *next, vae_err *err) {
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    for (int i = 0; i < c->steps; i++) {
        float t = (float)i / (float)(c->steps - 1);
        float *z = s->z + (size_t)i * d;
        if (c->slerp) vae_latent_slerp(z, c->ends[0], c->ends[1], d, t);
        else vae_latent_lerp(z, c->ends[0], c->ends[1], d, t);
        for (int k = 0; k < d; k++)
            if (!isfinite(z[k])) /* the arc between two huge vectors can leave float32's range */
                return vae_fail(err, VAE_E_INVALID_VALUE,
                                "step %d of the interpolation overflows float32 (z[%d]): the ends are too "
                                "large for %s; use smaller latent vectors",
                                i, k, c->slerp ? "slerp" : "interpolation");
    }
    *next = vae_call_of(VAE_OP_DECODE, c->sm, c->steps, s->z, s->xhat, NULL);
    return VAE_E_NONE;
}

/* Stages: the PNG ends are encoded (when there are any), then the path between the ends is decoded. */
static vae_err_kind interpolate_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                                    vae_model_call *next, vae_err *err) {
    interpolate_call *c = call;
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    if (stage == 0 && c->n_images) {
        *next = vae_call_of(VAE_OP_ENCODE, c->sm, c->n_images, s->x, s->mu, s->logvar);
        return VAE_E_NONE;
    }
    if (done->op == VAE_OP_ENCODE || done->op == VAE_OP_NONE) {
        for (int end = 0; end < 2; end++)
            if (c->image_row[end] >= 0)
                memcpy(c->ends[end], done->out + (size_t)c->image_row[end] * d, sizeof(float) * (size_t)d);
        return interpolate_path(req, c, next, err);
    }
    c->z = done->in;
    c->xhat = done->out;
    return VAE_E_NONE;
}

/* PNG: a strip one image high (with X-Prepared for the ends given as PNGs); JSON: "z", "pixels" and,
 * when an end was a PNG, "prepared": {"from": {...}, "to": {...}} for those ends. */
static vae_err_kind interpolate_write(vae_request *req, void *call, vae_err *err) {
    interpolate_call *c = call;
    if (!c->want_json) {
        vae_err_kind k = reply_png(req, c->xhat, c->steps, c->steps, err); /* one row, both ends */
        vae_prepare_info ends[2];
        int n = 0;
        for (int end = 0; end < 2; end++)
            if (c->image_row[end] >= 0) ends[n++] = c->prepared[end];
        if (k == VAE_E_NONE) vae_reply_prepared_header(req, ends, n);
        return k;
    }
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    json_rows(&w, "z", c->z, c->steps, c->sm->model->config.latent_dim, 1, 1);
    json_rows(&w, "pixels", c->xhat, c->steps, VAE_INPUT_DIM, 1, 0);
    const char *sep = ",\"prepared\":{";
    for (int end = 0; end < 2; end++) {
        if (c->image_row[end] < 0 || !vae_prepared_reported(&c->prepared[end])) continue;
        vae_jw_raw(&w, sep);
        vae_jw_raw(&w, end ? "\"to\":" : "\"from\":");
        vae_prepared_json(&w, &c->prepared[end]);
        sep = ",";
    }
    if (sep[0] == ',' && sep[1] == '\0') vae_jw_raw(&w, "}");
    vae_jw_raw(&w, "}");
    return vae_reply_json(req, 200, &w, err);
}

const vae_endpoint vae_ep_interpolate = {sizeof(interpolate_call), interpolate_parse, interpolate_run,
                                         interpolate_write};
