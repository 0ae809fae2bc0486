/* Model endpoints: encode, reconstruct, decode, sample, interpolate. Each reads its inputs (inputs.c),
 * runs the model (compute.c) on the worker thread's scratch, and writes a PNG or JSON reply. */
#include <math.h>
#include <string.h>

#include "compute.h"
#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "vae/latent.h"

/* Columns of the square-ish grid used for several images: ceil(sqrt(n)). */
static int grid_columns(int n) {
    int cols = (int)ceil(sqrt((double)n));
    while (cols * cols < n) cols++;
    while (cols > 1 && (cols - 1) * (cols - 1) >= n) cols--;
    return cols < 1 ? 1 : cols;
}

/* n decoded images (n, 784) as one PNG: a single 28x28 image, or a grid of `cols` columns. */
static void reply_png(vae_request *req, const float *images, int n, int cols) {
    vae_scratch *s = req->scratch;
    int rows = (n + cols - 1) / cols;
    vae_image_grid(images, n, VAE_IMAGE_SIDE, cols, s->pixels);
    vae_error err = {0};
    s->out.len = 0;
    if (vae_png_encode(s->pixels, cols * VAE_IMAGE_SIDE, rows * VAE_IMAGE_SIDE, 1, -1, &s->out, &err) !=
        VAE_OK) {
        vae_reply_error(req, 500, "internal", "PNG encoding failed: %s", err.message);
        return;
    }
    vae_reply(req, 200, "image/png");
}

/* Appends "key": rows (list of lists when batched, else the first row alone). */
static vae_status json_rows(vae_buf *out, const char *key, const float *v, int n, int cols, int batched,
                            int first) {
    vae_status st = vae_json_raw(out, first ? "{\"" : ",\"");
    if (st == VAE_OK) st = vae_json_raw(out, key);
    if (st == VAE_OK) st = vae_json_raw(out, "\":");
    if (st == VAE_OK) st = batched ? vae_json_float_rows(out, v, (size_t)n, (size_t)cols)
                                   : vae_json_float_array(out, v, (size_t)cols);
    return st;
}

static void reply_json_done(vae_request *req, vae_status st) {
    if (st == VAE_OK) st = vae_json_raw(&req->scratch->out, "}\n");
    if (st != VAE_OK) {
        vae_reply_error(req, 503, "overloaded", "out of memory writing the reply");
        return;
    }
    vae_reply(req, 200, "application/json");
}

/* Fills out[0..n) with eps * scale from a generator seeded by seed. */
static void seeded_normals(uint64_t seed, float *out, size_t n, float scale) {
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_rng_normal_fill(&rng, out, n, scale);
}

/* A seed for a request that gave none: random, below 2^53 so JSON clients read it back exactly. */
static uint64_t fresh_seed(vae_request *req) { return vae_rng_u64(&req->scratch->rng) >> 11; }

/* The inputs /encode and /reconstruct share: model and options into req->call, images into
 * scratch->x. */
static int read_image_request(vae_request *req, const char *const *query) {
    static const char *const fields[] = {"image", "images", "pixels", "invert", "sample", "seed", NULL};
    vae_call *c = &req->call;
    if (vae_query_check(req, query) != 0) return -1;
    if (!(c->sm = vae_input_model(req))) return -1;
    int invert;
    long long seed = 0;
    if (vae_input_query_bool(req, "invert", 0, &invert) != 0 ||
        vae_input_query_bool(req, "sample", 0, &c->sample) != 0 ||
        vae_input_query_int(req, "seed", 0, 9007199254740991LL, -1, &seed) != 0)
        return -1;
    if (seed >= 0) {
        c->seed = (uint64_t)seed;
        c->seed_given = 1;
    }
    cJSON *root = NULL;
    if (req->body_type != VAE_BODY_PNG) {
        if (vae_input_json_object(req, fields, &root) != 0) return -1;
        int json_invert, json_sample, json_seed_given;
        uint64_t json_seed;
        if (vae_input_json_bool(req, cJSON_GetObjectItemCaseSensitive(root, "invert"), "invert", invert,
                                &json_invert) != 0 ||
            vae_input_json_bool(req, cJSON_GetObjectItemCaseSensitive(root, "sample"), "sample",
                                c->sample, &json_sample) != 0 ||
            vae_input_json_seed(req, cJSON_GetObjectItemCaseSensitive(root, "seed"), &json_seed,
                                &json_seed_given) != 0) {
            cJSON_Delete(root);
            return -1;
        }
        invert = json_invert;
        c->sample = json_sample;
        if (json_seed_given) {
            c->seed = json_seed;
            c->seed_given = 1;
        }
    }
    int rc = vae_input_images(req, root, invert, &c->n, &c->batched);
    cJSON_Delete(root);
    return rc;
}

void vae_handle_encode(vae_request *req) {
    static const char *const query[] = {"model", "invert", "sample", "seed", NULL};
    vae_call *c = &req->call;
    vae_scratch *s = req->scratch;
    if (!req->job && read_image_request(req, query) != 0) return;
    const float *logvar;
    const float *mu = vae_compute_encode_batched(req, c->sm->model, s->x, c->n, &logvar);
    if (!mu) return; /* queued: this handler runs again with the result */
    const int d = c->sm->model->config.latent_dim;
    vae_status st = json_rows(&s->out, "mu", mu, c->n, d, c->batched, 1);
    if (st == VAE_OK) st = json_rows(&s->out, "logvar", logvar, c->n, d, c->batched, 0);
    if (c->sample) {
        /* z = mu + eps * exp(logvar / 2), the reparameterisation the model was trained with */
        if (!c->seed_given) c->seed = fresh_seed(req);
        size_t count = (size_t)c->n * d;
        seeded_normals(c->seed, s->z, count, 1.0f);
        vae_reparam_forward(s->z, mu, logvar, s->z, count);
        if (st == VAE_OK) st = json_rows(&s->out, "z", s->z, c->n, d, c->batched, 0);
        char seed[32];
        snprintf(seed, sizeof seed, ",\"seed\":%llu", (unsigned long long)c->seed);
        if (st == VAE_OK) st = vae_json_raw(&s->out, seed);
    }
    reply_json_done(req, st);
}

void vae_handle_reconstruct(vae_request *req) {
    static const char *const query[] = {"model", "invert", "sample", "seed", "format", NULL};
    if (read_image_request(req, query) != 0) return;
    vae_call *c = &req->call;
    int want_json = vae_input_wants_json(req, 0);
    if (want_json < 0) return;
    vae_scratch *s = req->scratch;
    const vae_model *m = c->sm->model;
    vae_compute_encode(req, m, s->x, c->n, s->mu, s->logvar);
    vae_compute_decode(req, m, s->mu, c->n, s->xhat);
    if (!want_json) {
        reply_png(req, s->xhat, c->n, grid_columns(c->n));
        return;
    }
    reply_json_done(req, json_rows(&s->out, "pixels", s->xhat, c->n, VAE_INPUT_DIM, 1, 1));
}

/* Reads /decode's request into req->call and scratch->z. */
static int read_decode_request(vae_request *req) {
    static const char *const query[] = {"model", "format", NULL};
    static const char *const fields[] = {"z", NULL};
    vae_call *c = &req->call;
    if (vae_query_check(req, query) != 0) return -1;
    if (!(c->sm = vae_input_model(req))) return -1;
    if ((c->want_json = vae_input_wants_json(req, 0)) < 0) return -1;
    cJSON *root;
    if (vae_input_json_object(req, fields, &root) != 0) return -1;
    const int d = c->sm->model->config.latent_dim;
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "z");
    int rc;
    if (!z) {
        vae_reply_error(req, 422, "invalid_request",
                        "missing \"z\": give %d latent numbers, or a list of such lists", d);
        rc = -1;
    } else {
        rc = vae_input_latents(req, z, "z", d, req->scratch->z, req->scratch->max_batch, &c->n,
                               &c->batched);
    }
    cJSON_Delete(root);
    return rc;
}

void vae_handle_decode(vae_request *req) {
    vae_call *c = &req->call;
    if (!req->job && read_decode_request(req) != 0) return;
    const float *xhat = vae_compute_decode_batched(req, c->sm->model, req->scratch->z, c->n);
    if (!xhat) return; /* queued: this handler runs again with the result */
    if (!c->want_json) {
        reply_png(req, xhat, c->n, grid_columns(c->n));
        return;
    }
    reply_json_done(req, json_rows(&req->scratch->out, "pixels", xhat, c->n, VAE_INPUT_DIM, 1, 1));
}

/* Reads /sample's parameters into req->call and draws its z into scratch->z. */
static int read_sample_request(vae_request *req) {
    static const char *const query[] = {"model", "n", "seed", "temperature", "format", NULL};
    vae_call *c = &req->call;
    vae_scratch *s = req->scratch;
    if (vae_query_check(req, query) != 0) return -1;
    if (!(c->sm = vae_input_model(req))) return -1;
    long long n, seed;
    double temperature;
    int max_n = s->max_batch < 256 ? s->max_batch : 256;
    if (vae_input_query_int(req, "n", 1, max_n, 16 < max_n ? 16 : max_n, &n) != 0 ||
        vae_input_query_int(req, "seed", 0, 9007199254740991LL, -1, &seed) != 0 ||
        vae_input_query_float(req, "temperature", 0.0, 100.0, 1.0, &temperature) != 0 ||
        (c->want_json = vae_input_wants_json(req, 0)) < 0)
        return -1;
    c->n = (int)n;
    c->seed = seed < 0 ? fresh_seed(req) : (uint64_t)seed;
    seeded_normals(c->seed, s->z, (size_t)c->n * c->sm->model->config.latent_dim, (float)temperature);
    return 0;
}

void vae_handle_sample(vae_request *req) {
    vae_call *c = &req->call;
    vae_scratch *s = req->scratch;
    if (!req->job && read_sample_request(req) != 0) return;
    const float *xhat = vae_compute_decode_batched(req, c->sm->model, s->z, c->n);
    if (!xhat) return; /* queued: this handler runs again with the result */
    if (!c->want_json) {
        reply_png(req, xhat, c->n, grid_columns(c->n));
        vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
        return;
    }
    const int d = c->sm->model->config.latent_dim;
    const float *z = req->job ? vae_compute_batched_input(req) : s->z;
    vae_status st = json_rows(&s->out, "z", z, c->n, d, 1, 1);
    if (st == VAE_OK) st = json_rows(&s->out, "pixels", xhat, c->n, VAE_INPUT_DIM, 1, 0);
    char tail[40];
    snprintf(tail, sizeof tail, ",\"seed\":%llu", (unsigned long long)c->seed);
    if (st == VAE_OK) st = vae_json_raw(&s->out, tail);
    reply_json_done(req, st);
    vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
}

/* One end of an interpolation: a class label, a base64 PNG, or a latent vector. */
static int read_endpoint(vae_request *req, const cJSON *item, const char *where,
                         const vae_served_model *sm, int invert, float *z) {
    const vae_model *m = sm->model;
    const int d = m->config.latent_dim;
    if (!item) {
        vae_reply_error(req, 422, "invalid_request",
                        "missing \"%s\": give a class label 0-9, a base64 PNG or %d latent numbers",
                        where, d);
        return -1;
    }
    if (cJSON_IsNumber(item)) {
        double label = item->valuedouble;
        if (label != floor(label) || label < 0 || label > 9) {
            vae_reply_error(req, 422, "invalid_value", "%s: %g is not a class label (0 to 9)", where, label);
            return -1;
        }
        if (!m->centroids) {
            vae_reply_error(req, 422, "invalid_value",
                            "%s: model '%s' has no class centroids; give a PNG or a latent vector",
                            where, sm->name);
            return -1;
        }
        memcpy(z, m->centroids + (size_t)label * d, sizeof(float) * (size_t)d);
        return 0;
    }
    if (cJSON_IsString(item)) {
        const char *v = item->valuestring;
        if (v[0] >= '0' && v[0] <= '9' && v[1] == '\0') {
            vae_reply_error(req, 422, "invalid_value",
                            "%s: class labels are numbers: write %s, not \"%s\"", where, v, v);
            return -1;
        }
        float *x = req->scratch->x; /* free at this point: interpolation reads no other image */
        float logvar[VAE_MAX_LATENT];
        if (vae_input_png_base64(req, where, v, invert, x) != 0) return -1;
        vae_compute_encode(req, m, x, 1, z, logvar);
        return 0;
    }
    if (cJSON_IsArray(item)) {
        if (item->child && cJSON_IsArray(item->child)) {
            vae_reply_error(req, 422, "invalid_request", "%s must be one latent vector, not a list", where);
            return -1;
        }
        int n, batched;
        return vae_input_latents(req, item, where, d, z, 1, &n, &batched);
    }
    vae_reply_error(req, 422, "invalid_request",
                    "%s must be a class label 0-9, a base64 PNG string or %d latent numbers", where, d);
    return -1;
}

void vae_handle_interpolate(vae_request *req) {
    static const char *const query[] = {"model", "format", NULL};
    static const char *const fields[] = {"from", "to", "steps", "method", "invert", NULL};
    if (vae_query_check(req, query) != 0) return;
    const vae_served_model *sm = vae_input_model(req);
    if (!sm) return;
    int want_json = vae_input_wants_json(req, 0);
    if (want_json < 0) return;
    cJSON *root;
    if (vae_input_json_object(req, fields, &root) != 0) return;
    vae_scratch *s = req->scratch;
    const int d = sm->model->config.latent_dim;
    float from[VAE_MAX_LATENT], to[VAE_MAX_LATENT];
    int steps = 10, use_slerp = 0, invert = 0, rc = -1;
    const cJSON *steps_item = cJSON_GetObjectItemCaseSensitive(root, "steps");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    int max_steps = s->max_batch < 64 ? s->max_batch : 64;
    if (steps_item && (!cJSON_IsNumber(steps_item) || steps_item->valuedouble != floor(steps_item->valuedouble) ||
                       steps_item->valuedouble < 2 || steps_item->valuedouble > max_steps)) {
        vae_reply_error(req, 422, "invalid_value", "steps must be an integer from 2 to %d", max_steps);
    } else if (method && (!cJSON_IsString(method) || (strcmp(method->valuestring, "linear") &&
                                                       strcmp(method->valuestring, "slerp")))) {
        vae_reply_error(req, 422, "invalid_value", "method must be \"linear\" or \"slerp\"");
    } else if (vae_input_json_bool(req, cJSON_GetObjectItemCaseSensitive(root, "invert"), "invert", 0,
                                   &invert) == 0 &&
               read_endpoint(req, cJSON_GetObjectItemCaseSensitive(root, "from"), "from", sm, invert, from) == 0 &&
               read_endpoint(req, cJSON_GetObjectItemCaseSensitive(root, "to"), "to", sm, invert, to) == 0) {
        if (steps_item) steps = (int)steps_item->valuedouble;
        use_slerp = method && !strcmp(method->valuestring, "slerp");
        rc = 0;
    }
    cJSON_Delete(root);
    if (rc != 0) return;
    for (int i = 0; i < steps; i++) {
        float t = (float)i / (float)(steps - 1);
        float *z = s->z + (size_t)i * d;
        if (use_slerp) vae_latent_slerp(z, from, to, d, t);
        else vae_latent_lerp(z, from, to, d, t);
        for (int k = 0; k < d; k++) {
            /* the arc between two huge vectors can leave float32's range */
            if (!isfinite(z[k])) {
                vae_reply_error(req, 422, "invalid_value",
                                "step %d of the interpolation overflows float32 (z[%d]): the ends are "
                                "too large for %s; use smaller latent vectors",
                                i, k, use_slerp ? "slerp" : "interpolation");
                return;
            }
        }
    }
    vae_compute_decode(req, sm->model, s->z, steps, s->xhat);
    if (!want_json) {
        reply_png(req, s->xhat, steps, steps); /* one row, both ends included */
        return;
    }
    vae_status st = json_rows(&s->out, "z", s->z, steps, d, 1, 1);
    if (st == VAE_OK) st = json_rows(&s->out, "pixels", s->xhat, steps, VAE_INPUT_DIM, 1, 0);
    reply_json_done(req, st);
}
