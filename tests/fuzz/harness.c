/* Fuzz harness: a two-model server, requests built the way libmicrohttpd hands them to http.c (query
 * split and unescaped, headers, the body), driven through the real pipeline and batcher, and the
 * checks every reply must pass. */
#include "harness.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batcher.h"
#include "errors.h"
#include "http.h"
#include "inputs.h"
#include "pipeline.h"
#include "routes.h"
#include "vae/png.h"

/* --- the request, as libmicrohttpd would hand it over ------------------------------------------- */

#define FAKE_MAX_ARGS 64
#define FAKE_MAX_HEADERS 8

typedef struct {
    vae_request req;
    vae_kv args[FAKE_MAX_ARGS];
    vae_kv headers[FAKE_MAX_HEADERS];
    char length[24];
    int suspended, resumed; /* under resume_lock */
    char storage[];         /* the query string, split and unescaped in place */
} fake_request;

/* What libmicrohttpd does to each key and value: '+' to space, then the server's unescape callback
 * (server/http.c). */
static void unescape(char *s) {
    for (char *p = s; *p; p++)
        if (*p == '+') *p = ' ';
    vae_http_unescape(s);
}

/* Splits "a=1&b&c=" the way libmicrohttpd 0.9.75 does: '&' separates arguments, the first '=' of
 * each separates key and value, an argument without '=' has no value (NULL). */
static void split_query(fake_request *f) {
    char *args = f->storage;
    int n = 0;
    while (*args) {
        char *amp = strchr(args, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(args, '=');
        if (eq) *eq = '\0';
        if (n < FAKE_MAX_ARGS) { /* libmicrohttpd has no such bound; inputs this long are rare */
            unescape(args);
            if (eq) unescape(eq + 1);
            f->args[n++] = (vae_kv){args, eq ? eq + 1 : NULL};
        }
        if (!amp) break;
        args = amp + 1;
    }
    f->req.args = f->args;
    f->req.n_args = n;
}

/* The batcher suspends a request while its job waits and resumes it from its own thread. */
static pthread_mutex_t resume_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resumed_cond = PTHREAD_COND_INITIALIZER;

static void fake_suspend(vae_request *req) {
    fake_request *f = (fake_request *)req;
    pthread_mutex_lock(&resume_lock);
    if (f->suspended) fuzz_fail("a request was suspended twice");
    f->suspended = 1;
    f->resumed = 0;
    pthread_mutex_unlock(&resume_lock);
}

static void fake_resume(vae_request *req) {
    fake_request *f = (fake_request *)req;
    pthread_mutex_lock(&resume_lock);
    if (!f->suspended) fuzz_fail("a request that is not suspended was resumed");
    f->suspended = 0;
    f->resumed = 1;
    pthread_cond_broadcast(&resumed_cond);
    pthread_mutex_unlock(&resume_lock);
}

static const vae_transport FAKE_TRANSPORT = {fake_suspend, fake_resume};

/* Waits (at most 10 s) for the batcher to resume the request, as libmicrohttpd's loop does. */
static void wait_resumed(fake_request *f) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&resume_lock);
    while (!f->resumed)
        if (pthread_cond_timedwait(&resumed_cond, &resume_lock, &deadline) != 0) {
            pthread_mutex_unlock(&resume_lock);
            fuzz_fail("a suspended request was not resumed within 10 s");
        }
    f->resumed = 0;
    pthread_mutex_unlock(&resume_lock);
}

/* --- the server ---------------------------------------------------------------------------------- */

static vae_server server;
static int server_ready;
static vae_batcher *batcher; /* as the server runs by default: --batching on */
static vae_batcher *closed_batcher; /* as during shutdown: vae_batcher_submit says no */
static int max_batch = 256;
static size_t max_body = 4u << 20;

void fuzz_server_set_max_body(size_t n) {
    if (server_ready) fuzz_fail("fuzz_server_set_max_body after fuzz_server_init");
    max_body = n;
}

void fuzz_server_set_max_batch(int n) {
    if (server_ready) fuzz_fail("fuzz_server_set_max_batch after fuzz_server_init");
    max_batch = n;
}

void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\n*** fuzz harness check failed: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static vae_model *tiny_model(int n_hidden, const int *hidden, int latent, vae_activation act,
                             int centroids, unsigned long long seed) {
    vae_config cfg = {.n_hidden = n_hidden, .latent_dim = latent, .activation = act};
    for (int i = 0; i < n_hidden; i++) cfg.hidden[i] = hidden[i];
    vae_error err = {0};
    vae_model *m = vae_model_create(&cfg, &err);
    if (!m) fuzz_fail("cannot create the fuzz model: %s", err.message);
    vae_model_init_params(m, seed);
    if (centroids) {
        m->centroids = malloc(sizeof(float) * VAE_NUM_CLASSES * (size_t)latent);
        if (!m->centroids) fuzz_fail("out of memory");
        for (int i = 0; i < VAE_NUM_CLASSES * latent; i++) m->centroids[i] = (float)(i % 7) * 0.25f - 0.75f;
    }
    return m;
}

/* The statistics the trainer stores (class spreads, principal plane, diagnostics, score tables),
 * made up but well-formed, so the endpoints that need them run their full paths. */
static float *made_up(size_t n, float base, float step) {
    float *v = malloc(sizeof(float) * n);
    if (!v) fuzz_fail("out of memory");
    for (size_t i = 0; i < n; i++) v[i] = base + step * (float)i;
    return v;
}

static void add_statistics(vae_model *m) {
    const int d = m->config.latent_dim;
    m->class_std = made_up((size_t)VAE_NUM_CLASSES * d, 0.5f, 0.01f);
    m->plane.mean = made_up((size_t)d, 0.0f, 0.1f);
    m->plane.dirs = calloc(2 * (size_t)d, sizeof(float));
    m->plane.std = made_up(2, 1.0f, 0.5f);
    if (!m->plane.dirs) fuzz_fail("out of memory");
    m->plane.dirs[0] = 1.0f;     /* e1 */
    m->plane.dirs[d + 1] = 1.0f; /* e2: orthonormal rows */
    m->diag.mu_var = made_up((size_t)d, 0.5f, -0.2f);
    m->diag.kl = made_up((size_t)d, 1.0f, 0.5f);
    m->diag.active_units = d;
    m->diag.test_loss = 100;
    m->diag.test_nll = 95;
    m->diag.test_nll_k = 64;
    vae_score_table *tables[3] = {&m->scores.nll, &m->scores.corrected, &m->scores.ood};
    for (int t = 0; t < 3; t++) {
        tables[t]->values = made_up(16, t == 2 ? 0.0f : 500.0f, t == 2 ? 0.5f : 10.0f); /* sorted */
        tables[t]->count = 16;
    }
    m->scores.k = 64;
    m->scores.seed = 1;
}

static void add_model(const char *name, vae_model *m) {
    char path[96];
    snprintf(path, sizeof path, "fuzz/%s.safetensors", name);
    if (vae_registry_adopt(&server.registry, name, path, m, NULL) != VAE_OK) fuzz_fail("cannot add model %s", name);
}

void fuzz_server_init(void) {
    if (server_ready) return;
    server_ready = 1;
    vae_server_options *o = &server.opts;
    o->port = 8080;
    o->bind = "127.0.0.1";
    o->threads = 1;
    o->max_body = max_body;
    o->timeout = 15;
    o->max_connections = 1000;
    o->max_pixels = VAE_PNG_DEFAULT_MAX_PIXELS;
    o->max_batch = max_batch;
    o->max_score_rows = 64; /* reached by small inputs: k = 33 for two images */
    o->log_format = VAE_LOG_OFF;
    o->shutdown_grace = 20;
    const int h1[] = {4}, h2[] = {8, 4};
    vae_registry_init(&server.registry);
    vae_model *mnist = tiny_model(1, h1, 2, VAE_ACT_RELU, 1, 1);
    add_statistics(mnist);
    add_model("mnist", mnist);
    add_model("fashion", tiny_model(2, h2, 3, VAE_ACT_TANH, 0, 2));
    vae_metrics_init(&server.metrics);
    if (vae_scratch_pool_create(&server.scratch, 1, 42) != VAE_OK ||
        vae_scratch_pool_prepare(&server.scratch, o->max_batch, server.registry.max_width,
                                 server.registry.max_latent) != VAE_OK)
        fuzz_fail("out of memory preparing scratch");
    vae_batcher_config bc = {.threads = 1, .max_rows = 64, .wait_us = 0, .queue = 64};
    vae_error err = {0};
    batcher = vae_batcher_create(&bc, server.registry.max_width, server.registry.max_latent,
                                 &server.metrics, &err);
    if (!batcher) fuzz_fail("batcher: %s", err.message);
    closed_batcher = vae_batcher_create(&bc, server.registry.max_width, server.registry.max_latent,
                                        &server.metrics, &err);
    if (!closed_batcher) fuzz_fail("batcher: %s", err.message);
    vae_batcher_close(closed_batcher);
    atomic_store(&server.ready, 1);
}

vae_server *fuzz_server(void) {
    fuzz_server_init();
    return &server;
}

/* --- reply checks --------------------------------------------------------------------------------- */

/* Every number in a success reply is finite and no array holds null (NaN or an infinity would be
 * written as null, which the API's schema does not allow). */
static void check_numbers(const cJSON *item, const char *what) {
    for (const cJSON *c = item->child; c; c = c->next) {
        if (cJSON_IsNumber(c) && !isfinite(c->valuedouble))
            fuzz_fail("%s: non-finite number in a 200 reply", what);
        if (cJSON_IsNull(c) && cJSON_IsArray(item))
            fuzz_fail("%s: null inside an array of a 200 reply (a NaN or infinity was written)", what);
        if (c->child) check_numbers(c, what);
    }
}

/* Whether (code, type) is a row of the error table. */
static int known_error(int code, const char *type) {
    for (int k = VAE_E_NONE + 1; k < VAE_E_COUNT; k++) {
        const vae_err_info *info = vae_err_info_of((vae_err_kind)k);
        if (info->status == code && !strcmp(info->type, type)) return 1;
    }
    return 0;
}

static void check_json(const vae_request *req, const uint8_t *data, size_t len, int oip, const char *what) {
    const int status = req->reply.status;
    if (vae_utf8_invalid_at(data, len) >= 0) fuzz_fail("%s: reply is not valid UTF-8", what);
    if (len > (16u << 10)) return; /* long replies are many numbers of the same form: not re-parsed */
    cJSON *doc = cJSON_ParseWithLength((const char *)data, len);
    if (!doc) fuzz_fail("%s: reply is not valid JSON: %.200s", what, (const char *)data);
    if (!cJSON_IsObject(doc)) fuzz_fail("%s: reply is not a JSON object", what);
    if (status >= 400 && !(oip && cJSON_GetObjectItemCaseSensitive(doc, "ready"))) {
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(doc, "error");
        if (!error || cJSON_GetArraySize(doc) != 1) fuzz_fail("%s: error reply without one \"error\" key", what);
        if (oip) {
            if (!cJSON_IsString(error) || !error->valuestring[0])
                fuzz_fail("%s: OIP error is not {\"error\": \"message\"}", what);
        } else {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(error, "type");
            const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
            if (!cJSON_IsNumber(code) || code->valuedouble != status || !cJSON_IsString(type) ||
                !cJSON_IsString(message) || !message->valuestring[0] || cJSON_GetArraySize(error) != 3)
                fuzz_fail("%s: error reply is not {\"error\":{\"code\":%d,\"type\",\"message\"}}: %.300s", what,
                          status, (const char *)data);
            if (!known_error(status, type->valuestring))
                fuzz_fail("%s: (%d, %s) is not a row of the error table", what, status, type->valuestring);
        }
    } else {
        check_numbers(doc, what);
    }
    cJSON_Delete(doc);
}

/* The binary extension's reply: a JSON header of Inference-Header-Content-Length bytes (an inference
 * response), then exactly the bytes its binary outputs declare. */
static void check_binary(const vae_request *req, const uint8_t *data, size_t len) {
    const vae_reply *r = &req->reply;
    const char *length = NULL;
    for (int i = 0; i < r->n_headers; i++)
        if (!strcmp(r->header_names[i], "Inference-Header-Content-Length")) length = r->header_values[i];
    if (r->status != 200) fuzz_fail("binary reply with status %d", r->status);
    if (!length) fuzz_fail("binary reply without Inference-Header-Content-Length");
    char *end;
    unsigned long header = strtoul(length, &end, 10);
    if (*end || header == 0 || header > len) fuzz_fail("binary reply header length '%s' of %zu bytes", length, len);
    if (vae_utf8_invalid_at(data, header) >= 0) fuzz_fail("binary reply header is not UTF-8");
    cJSON *doc = cJSON_ParseWithLength((const char *)data, header);
    if (!doc) fuzz_fail("binary reply header is not JSON");
    size_t declared = 0;
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(doc, "outputs");
    if (!cJSON_IsArray(outputs)) fuzz_fail("binary reply without outputs");
    for (const cJSON *o = outputs->child; o; o = o->next) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        const cJSON *size = p ? cJSON_GetObjectItemCaseSensitive(p, "binary_data_size") : NULL;
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
        if (!size) continue;
        if (cJSON_GetObjectItemCaseSensitive(o, "data")) fuzz_fail("a binary output also has data");
        double want = 4;
        for (const cJSON *dim = shape ? shape->child : NULL; dim; dim = dim->next) want *= dim->valuedouble;
        if (size->valuedouble != want) fuzz_fail("binary_data_size %g for shape of %g bytes", size->valuedouble, want);
        declared += (size_t)want;
        for (size_t k = 0; k + 4 <= (size_t)want; k += 4) {
            float v;
            memcpy(&v, data + header + declared - (size_t)want + k, 4);
            if (!isfinite(v)) fuzz_fail("non-finite value in a binary output");
        }
    }
    if (declared != len - header) fuzz_fail("binary outputs declare %zu bytes; %zu follow", declared, len - header);
    cJSON_Delete(doc);
}

static void check_reply(const vae_request *req) {
    const char *what = "reply";
    const vae_reply *r = &req->reply;
    if (!req->replied) fuzz_fail("the pipeline returned without a reply");
    const int oip = req->route && (req->route->flags & VAE_ROUTE_OIP);
    const int st = r->status;
    int expected = oip ? (st == 200 || st == 400 || st == 404)
                       : (st == 200 || st == 400 || st == 404 || st == 413 || st == 415 || st == 422);
    if (!expected)
        fuzz_fail("unexpected status %d (a 500 is a bug; 503 means out of memory): %.300s", st,
                  r->data ? (const char *)r->data : "");
    if (!r->content_type) fuzz_fail("reply without a content type");
    if (!r->data || r->len == 0) fuzz_fail("empty reply body (status %d)", st);
    if (!r->is_static && r->data != req->scratch->out.data) fuzz_fail("a buffered reply not in scratch->out");
    if (!strcmp(r->content_type, "application/json")) {
        check_json(req, r->data, r->len, oip, what);
    } else if (!strcmp(r->content_type, "application/octet-stream")) {
        check_binary(req, r->data, r->len);
    } else if (!strcmp(r->content_type, "image/png")) {
        if (st != 200) fuzz_fail("PNG reply with status %d", st);
        float pixels[VAE_INPUT_DIM];
        vae_error err = {0};
        if (vae_png_decode_input(r->data, r->len, VAE_PNG_DEFAULT_MAX_PIXELS, 0, pixels, NULL, &err) != VAE_OK)
            fuzz_fail("the reply PNG does not decode: %s", err.message);
    } else {
        fuzz_fail("unexpected content type %s", r->content_type);
    }
    if (r->n_headers > VAE_MAX_REPLY_HEADERS) fuzz_fail("too many reply headers");
}

int fuzz_run(const fuzz_request *fr, const uint8_t *body, size_t len) {
    fuzz_server_init();
    const char *query = fr->query ? fr->query : "";
    size_t qlen = strlen(query);
    fake_request *f = calloc(1, sizeof *f + qlen + 1);
    if (!f) fuzz_fail("out of memory");
    memcpy(f->storage, query, qlen + 1);
    vae_request *req = &f->req;
    const char *method = fr->method ? fr->method : (body ? "POST" : "GET");
    server.batcher = fr->direct ? NULL : fr->closed ? closed_batcher : batcher;
    vae_request_init(req, &server, &FAKE_TRANSPORT, f, method, fr->path);
    split_query(f);
    int nh = 0;
    if (body || len) {
        snprintf(f->length, sizeof f->length, "%zu", len);
        f->headers[nh++] = (vae_kv){"Content-Length", f->length};
    }
    if (fr->content_type) f->headers[nh++] = (vae_kv){"Content-Type", fr->content_type};
    if (fr->accept) f->headers[nh++] = (vae_kv){"Accept", fr->accept};
    if (fr->content_encoding) f->headers[nh++] = (vae_kv){"Content-Encoding", fr->content_encoding};
    if (fr->extra_header_name)
        f->headers[nh++] = (vae_kv){fr->extra_header_name, fr->extra_header_value ? fr->extra_header_value : ""};
    req->headers = f->headers;
    req->n_headers = nh;

    /* what http.c does with libmicrohttpd's calls: the headers, the body, then steps until a reply */
    vae_step step = vae_pipeline_begin(req);
    if (step == VAE_STEP_CONTINUE) {
        if (len) vae_request_append_body(req, body, len);
        step = vae_pipeline_step(req);
        for (int waits = 0; step == VAE_STEP_WAIT; waits++) {
            /* /complete waits twice per step (at most 1000 steps): more is a pipeline that loops */
            if (waits > 2100) fuzz_fail("the request waited for the batcher %d times", waits);
            if (req->replied) fuzz_fail("a waiting request had already replied");
            wait_resumed(f);
            step = vae_pipeline_step(req);
        }
    }
    if (step != VAE_STEP_REPLY) fuzz_fail("the pipeline ended in step %d", (int)step);
    check_reply(req);
    int status = req->reply.status;
    vae_scratch_trim(req->scratch);
    vae_request_release(req);
    server.batcher = NULL;
    free(f);
    return status;
}
