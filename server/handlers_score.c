/* POST /score: the model as a density. For each image, the negative ELBO (the trained loss) and its
 * parts, the importance-weighted estimate of -log p(x) with k samples (Burda et al.), bits per
 * dimension, the image's complexity (Serra et al.), and where it falls among the model's own test
 * images (the calibration tables the trainer stores): percentile, ood_score and ood_percentile.
 * format=png draws, per image, the input, its reconstruction and a heat map of the per-pixel BCE.
 *
 * Stages: encode the images; draw eps, form the n*k latents and decode them to logits as one call
 * (an image's k samples are one batch); score; for the picture, decode the means too. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "inputs.h"
#include "json_write.h"
#include "prepared.h"
#include "server.h"
#include "vae/png.h"
#include "vae/score.h"

#define SCORE_MAX_K 5000

typedef struct {
    const vae_served_model *sm;
    vae_images im;        /* how many images, list or not, and how each was prepared */
    int n, batched, want_png, k;
    uint64_t seed;
    float *x;             /* (n, 784): the inputs, kept past the first model call */
    float *mu, *logvar;   /* (n, d) */
    float *eps, *z;       /* (n*k, d) */
    float *logits;        /* (n*k, 784) */
    const float *mean_logits; /* (n, 784): the decoder at mu, for the picture */
    vae_score *scores;    /* (n) */
} score_call;

static vae_err_kind score_parse(vae_request *req, void *call, vae_err *err) {
    static const char *const query[] = {"model", VAE_IMAGE_QUERY, "k", "seed", "format", NULL};
    static const char *const fields[] = {VAE_IMAGE_FIELDS, "k", "seed", NULL};
    score_call *c = call;
    vae_scratch *s = req->scratch;
    vae_image_options opts;
    int want_json;
    long long k, seed;
    if (vae_input_query_check(req, query, err) || vae_input_model(req, &c->sm, err) ||
        vae_input_query_int(req, "k", 1, SCORE_MAX_K, VAE_SCORE_DEFAULT_K, &k, err) ||
        vae_input_query_int(req, "seed", 0, VAE_SEED_MAX, -1, &seed, err) ||
        vae_input_wants_json(req, &want_json, err))
        return err->kind;
    /* JSON by default: the numbers are the point; format=png (or Accept: image/png) for the map */
    const char *format = vae_req_query(req, "format"), *accept = vae_req_header(req, "Accept");
    c->want_png = format ? !want_json : (accept && strstr(accept, "image/png") && !strstr(accept, "application/json"));
    if (req->body_type == VAE_BODY_PNG) {
        if (vae_input_image_options(req, NULL, c->sm, &opts, err) ||
            vae_input_images(req, NULL, &opts, s->x, s->max_batch, &c->im, err))
            return err->kind;
    } else {
        cJSON *root;
        if (vae_input_json_object(req->body, req->body_len, fields, &root, err)) return err->kind;
        const cJSON *jk = cJSON_GetObjectItemCaseSensitive(root, "k");
        int seed_given = 0;
        uint64_t json_seed;
        if (jk && (!cJSON_IsNumber(jk) || jk->valuedouble != floor(jk->valuedouble) || jk->valuedouble < 1 ||
                   jk->valuedouble > SCORE_MAX_K))
            vae_fail(err, VAE_E_INVALID_VALUE, "k must be an integer from 1 to %d", SCORE_MAX_K);
        else if (!vae_input_json_seed(cJSON_GetObjectItemCaseSensitive(root, "seed"), &json_seed, &seed_given, err) &&
                 !vae_input_image_options(req, root, c->sm, &opts, err) &&
                 !vae_input_images(req, root, &opts, s->x, s->max_batch, &c->im, err)) {
            if (jk) k = (long long)jk->valuedouble;
            if (seed_given) seed = (long long)json_seed;
        }
        cJSON_Delete(root);
        if (err->kind) return err->kind;
    }
    c->n = c->im.n;
    c->batched = c->im.batched;
    c->k = (int)k;
    const long long rows = (long long)c->n * c->k, limit = req->server->opts.max_score_rows;
    if (rows > limit)
        return vae_fail(err, VAE_E_TOO_MANY_ITEMS,
                        "%d images x k = %d is %lld decoded rows; at most %lld per request (--max-score-rows): "
                        "send fewer images or a smaller k",
                        c->n, c->k, rows, limit);
    c->seed = seed >= 0 ? (uint64_t)seed : vae_rng_u64(&s->rng) >> 11;
    const size_t d = (size_t)c->sm->model->config.latent_dim, n = (size_t)c->n, nk = n * (size_t)c->k;
    c->x = vae_request_alloc(req, sizeof(float) * n * VAE_INPUT_DIM);
    c->mu = vae_request_alloc(req, sizeof(float) * n * d * 2);
    c->eps = vae_request_alloc(req, sizeof(float) * nk * d * 2);
    c->logits = vae_request_alloc(req, sizeof(float) * nk * VAE_INPUT_DIM);
    c->scores = vae_request_alloc(req, sizeof(vae_score) * n);
    if (!c->x || !c->mu || !c->eps || !c->logits || !c->scores)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory for %lld decoded rows", rows);
    c->logvar = c->mu + n * d;
    c->z = c->eps + nk * d;
    memcpy(c->x, s->x, sizeof(float) * n * VAE_INPUT_DIM);
    return VAE_E_NONE;
}

static vae_err_kind score_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                              vae_model_call *next, vae_err *err) {
    (void)err;
    score_call *c = call;
    vae_scratch *s = req->scratch;
    const int d = c->sm->model->config.latent_dim;
    switch (stage) {
    case 0:
        *next = vae_call_of(VAE_OP_ENCODE, c->sm, c->n, c->x, s->mu, s->logvar);
        return VAE_E_NONE;
    case 1:
        memcpy(c->mu, done->out, sizeof(float) * (size_t)c->n * d);
        memcpy(c->logvar, done->out2, sizeof(float) * (size_t)c->n * d);
        vae_score_draw_eps(c->eps, c->n, c->k, d, c->seed);
        vae_score_latents(c->z, c->mu, c->logvar, c->eps, c->n, c->k, d);
        *next = vae_call_of(VAE_OP_DECODE_LOGITS, c->sm, c->n * c->k, c->z, c->logits, NULL);
        return VAE_E_NONE;
    case 2:
        vae_score_compute(c->x, c->mu, c->logvar, c->eps, done->out, c->n, c->k, d, c->scores);
        if (c->want_png) *next = vae_call_of(VAE_OP_DECODE_LOGITS, c->sm, c->n, c->mu, s->xhat, NULL);
        return VAE_E_NONE;
    default:
        c->mean_logits = done->out;
        return VAE_E_NONE;
    }
}

/* A float that JSON can carry, or null. */
static void number_or_null(vae_json_writer *w, float v) {
    if (isfinite(v)) vae_jw_float(w, v);
    else vae_jw_raw(w, "null");
}

/* One image's figures as a JSON object, left open (the caller may add fields, then closes it). */
static void score_json(vae_json_writer *w, const vae_model *m, const vae_score *sc, const float *x) {
    const float complexity = vae_image_complexity_bits(x);
    const int calibrated = m->scores.nll.values != NULL;
    float ood = NAN, ood_pct = NAN;
    if (calibrated) vae_score_ood(m, sc, complexity, &ood, &ood_pct);
    vae_jw_raw(w, "{\"loss\":");
    vae_jw_float(w, sc->loss);
    vae_jw_raw(w, ",\"bce\":");
    vae_jw_float(w, sc->bce);
    vae_jw_raw(w, ",\"kl\":");
    vae_jw_float(w, sc->kl);
    vae_jw_raw(w, ",\"nll\":");
    vae_jw_float(w, sc->nll);
    vae_jw_raw(w, ",\"bits_per_dim\":");
    vae_jw_float(w, sc->bits_per_dim);
    vae_jw_raw(w, ",\"complexity\":");
    vae_jw_float(w, complexity);
    vae_jw_raw(w, ",\"percentile\":");
    number_or_null(w, calibrated ? vae_score_percentile(&m->scores.nll, sc->nll) : NAN);
    vae_jw_raw(w, ",\"ood_score\":");
    number_or_null(w, ood);
    vae_jw_raw(w, ",\"ood_percentile\":");
    number_or_null(w, ood_pct);
}

/* A colour for t in [0,1] on a dark-to-bright ramp (black, purple, orange, pale yellow): unusual
 * pixels glow. */
static void heat_colour(float t, uint8_t rgb[3]) {
    static const float stops[5][3] = {{0, 0, 0}, {70, 10, 110}, {190, 40, 80}, {250, 140, 20}, {255, 250, 190}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    float f = t * 4;
    int i = (int)f;
    if (i > 3) i = 3;
    float u = f - (float)i;
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)lrintf(stops[i][k] + u * (stops[i + 1][k] - stops[i][k]));
}

/* Per-pixel BCE that the heat map draws at full brightness: a pixel the model predicts the wrong way
 * round with 98% confidence; one it gets right is near 0 (a grey pixel cannot go below its own
 * entropy, 0.69 nats at 0.5). One scale for every image, so pictures can be compared. */
#define HEAT_FULL_NATS 4.0f

/* One row per image: the input, the reconstruction (the decoder's mean at mu), and the per-pixel
 * BCE of the input under it as a heat map, as one RGB PNG. */
static vae_err_kind reply_heat_map(vae_request *req, const score_call *c, vae_err *err) {
    const int side = VAE_IMAGE_SIDE, width = 3 * side, height = c->n * side;
    vae_scratch *s = req->scratch;
    s->aux.len = 0;
    if (vae_buf_reserve(&s->aux, (size_t)width * height * 3) != VAE_OK)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory drawing the heat map");
    uint8_t *rgb = s->aux.data;
    float bce[VAE_INPUT_DIM];
    for (int i = 0; i < c->n; i++) {
        const float *x = c->x + (size_t)i * VAE_INPUT_DIM, *l = c->mean_logits + (size_t)i * VAE_INPUT_DIM;
        vae_score_pixel_bce(x, l, bce);
        for (int p = 0; p < VAE_INPUT_DIM; p++) {
            const int row = i * side + p / side, col = p % side;
            uint8_t *in = rgb + ((size_t)row * width + col) * 3, *rec = in + side * 3, *heat = rec + side * 3;
            const uint8_t grey = vae_pixel_to_u8(x[p]), out = vae_pixel_to_u8(1.0f / (1.0f + expf(-l[p])));
            in[0] = in[1] = in[2] = grey;
            rec[0] = rec[1] = rec[2] = out;
            heat_colour(bce[p] / HEAT_FULL_NATS, heat);
        }
    }
    vae_error e = {0};
    s->out.len = 0;
    vae_status st = vae_png_encode(rgb, width, height, 3, -1, &s->out, &e);
    if (st == VAE_ERR_NOMEM) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory encoding the PNG");
    if (st != VAE_OK) return vae_fail(err, VAE_E_INTERNAL, "PNG encoding failed: %s", e.message);
    vae_reply_buffer(req, 200, "image/png");
    vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
    vae_reply_prepared_header(req, c->im.info, c->n);
    return VAE_E_NONE;
}

static vae_err_kind score_write(vae_request *req, void *call, vae_err *err) {
    const score_call *c = call;
    const vae_model *m = c->sm->model;
    if (c->want_png) return reply_heat_map(req, c, err);
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    if (c->batched) {
        vae_jw_raw(&w, "{\"scores\":[");
        for (int i = 0; i < c->n; i++) {
            if (i) vae_jw_raw(&w, ",");
            score_json(&w, m, &c->scores[i], c->x + (size_t)i * VAE_INPUT_DIM);
            vae_jw_raw(&w, "}");
        }
        vae_jw_raw(&w, "]");
    } else {
        score_json(&w, m, &c->scores[0], c->x); /* one image: its figures at the top level */
    }
    vae_jw_printf(&w, ",\"k\":%d,\"seed\":%llu,\"calibrated\":%s", c->k, (unsigned long long)c->seed,
                  m->scores.nll.values ? "true" : "false");
    vae_reply_prepared(&w, &c->im);
    vae_jw_raw(&w, "}");
    vae_err_kind k = vae_reply_json(req, 200, &w, err);
    if (k == VAE_E_NONE) vae_reply_header(req, "X-Seed", "%llu", (unsigned long long)c->seed);
    return k;
}

const vae_endpoint vae_ep_score = {sizeof(score_call), score_parse, score_run, score_write};
