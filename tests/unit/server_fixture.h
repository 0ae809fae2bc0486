/* A server for the server's unit tests (tests/unit/test_server_*.c): tiny models built in memory,
 * scratch for the calling thread, default limits, and requests built the way http.c builds them
 * (method, path, query arguments, headers, body), driven through the real pipeline with a fake
 * transport that records every suspend and resume. One server per test process (scratch is
 * claimed per thread, once). */
#ifndef VAE_TEST_SERVER_FIXTURE_H
#define VAE_TEST_SERVER_FIXTURE_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batcher.h"
#include "errors.h"
#include "inputs.h"
#include "pipeline.h"
#include "request.h"
#include "routes.h"
#include "server.h"
#include "vae/png.h"

static vae_server fx_server;

static inline void fx_die(const char *what) {
    fprintf(stderr, "server_fixture: %s\n", what);
    exit(2);
}

/* A model of the given shape with PyTorch-style random weights; packed for the inference kernels
 * (as vae_model_load does) when prepare is set. */
static inline vae_model *fx_model(int n_hidden, const int *hidden, int latent, vae_activation act, int centroids,
                           unsigned long long seed, int prepare) {
    vae_config cfg = {.n_hidden = n_hidden, .latent_dim = latent, .activation = act};
    for (int i = 0; i < n_hidden; i++) cfg.hidden[i] = hidden[i];
    vae_error err = {0};
    vae_model *m = vae_model_create(&cfg, &err);
    if (!m) fx_die(err.message);
    vae_model_init_params(m, seed);
    if (centroids) {
        m->centroids = malloc(sizeof(float) * VAE_NUM_CLASSES * (size_t)latent);
        if (!m->centroids) fx_die("out of memory");
        for (int i = 0; i < VAE_NUM_CLASSES * latent; i++) m->centroids[i] = (float)(i % 7) * 0.25f - 0.75f;
    }
    if (prepare && vae_model_prepare_inference(m, &err) != VAE_OK) fx_die(err.message);
    return m;
}

static inline void fx_add_model(const char *name, vae_model *m) {
    char path[96];
    snprintf(path, sizeof path, "test/%s.safetensors", name);
    if (vae_registry_adopt(&fx_server.registry, name, path, m, NULL) != VAE_OK) fx_die("cannot add a model");
}

/* The model serving in slot i (a reference the registry keeps; the tests never reload). */
static inline const vae_served_model *fx_model_at(int i) {
    const vae_served_model *sm = vae_registry_acquire(&fx_server.registry, i);
    vae_registry_release(sm);
    return sm;
}

/* The server: "mnist" (784-16-4, relu, centroids) and "fashion" (784-12-8-3, tanh, no centroids),
 * both packed as served; the defaults of vae_server_options_parse; no batcher (fx_batcher_start
 * adds one); ready. */
static inline vae_server *fx_server_init(void) {
    vae_server_options *o = &fx_server.opts;
    o->port = 8080;
    o->bind = "127.0.0.1";
    o->threads = 1;
    o->max_body = 4u << 20;
    o->timeout = 15;
    o->max_connections = 1000;
    o->max_pixels = 4096L * 4096L;
    o->max_batch = 256;
    o->log_format = VAE_LOG_OFF;
    o->shutdown_grace = 20;
    o->batching = 1;
    o->batch_size = 64;
    o->batch_queue = 512;
    o->batch_threads = 1;
    const int h1[] = {16}, h2[] = {12, 8};
    vae_registry_init(&fx_server.registry);
    fx_add_model("mnist", fx_model(1, h1, 4, VAE_ACT_RELU, 1, 1, 1));
    fx_add_model("fashion", fx_model(2, h2, 3, VAE_ACT_TANH, 0, 2, 1));
    vae_metrics_init(&fx_server.metrics);
    if (vae_scratch_pool_create(&fx_server.scratch, 1, 42) != VAE_OK ||
        vae_scratch_pool_prepare(&fx_server.scratch, o->max_batch, fx_server.registry.max_width,
                                 fx_server.registry.max_latent) != VAE_OK)
        fx_die("out of memory preparing scratch");
    atomic_store(&fx_server.ready, 1);
    return &fx_server;
}

/* vae_batcher_config.run_alone of the batchers fx_batcher_start makes: 0 (every small call queues,
 * so the tests of the queue see it), unless a test sets it (the server runs with 1). */
static int fx_run_alone;

/* Starts a batcher on the server (as --batching on does). */
static inline vae_batcher *fx_batcher_start(int threads, int max_rows, int wait_us, int queue) {
    vae_batcher_config bc = {
        .threads = threads, .max_rows = max_rows, .wait_us = wait_us, .queue = queue, .run_alone = fx_run_alone};
    vae_error err = {0};
    vae_batcher *b = vae_batcher_create(&bc, fx_server.registry.max_width, fx_server.registry.max_latent,
                                        &fx_server.metrics, &err);
    if (!b) fx_die(err.message);
    fx_server.opts.batch_queue = queue;
    fx_server.batcher = b;
    return b;
}

static inline void fx_batcher_stop(void) {
    vae_batcher_destroy(fx_server.batcher);
    fx_server.batcher = NULL;
}

static inline void fx_server_free(void) {
    fx_batcher_stop();
    vae_registry_free(&fx_server.registry);
    vae_scratch_pool_destroy(&fx_server.scratch);
}

/* --- requests ------------------------------------------------------------------------------------ */

#define FX_MAX_KV 16

typedef struct {
    vae_request req; /* first: the transport's callbacks get &req */
    vae_kv args[FX_MAX_KV];
    vae_kv headers[FX_MAX_KV];
    char length[24];
    int suspends, resumes; /* under fx_lock */
    int suspended;
} fx_req;

static pthread_mutex_t fx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fx_cond = PTHREAD_COND_INITIALIZER;
static int fx_transport_errors; /* resume without suspend, suspend twice */

static inline void fx_suspend(vae_request *req) {
    fx_req *f = (fx_req *)req;
    pthread_mutex_lock(&fx_lock);
    if (f->suspended) fx_transport_errors++;
    f->suspended = 1;
    f->suspends++;
    pthread_cond_broadcast(&fx_cond); /* for a test waiting until a request is queued */
    pthread_mutex_unlock(&fx_lock);
}

static inline void fx_resume(vae_request *req) {
    fx_req *f = (fx_req *)req;
    pthread_mutex_lock(&fx_lock);
    if (!f->suspended) fx_transport_errors++;
    f->suspended = 0;
    f->resumes++;
    pthread_cond_broadcast(&fx_cond);
    pthread_mutex_unlock(&fx_lock);
}

static const vae_transport FX_TRANSPORT = {fx_suspend, fx_resume};

/* A new request for method and url (the path, already percent-decoded, without the query). */
static inline void fx_req_init(fx_req *f, const char *method, const char *url) {
    memset(f, 0, sizeof *f);
    vae_request_init(&f->req, &fx_server, &FX_TRANSPORT, f, method, url);
    f->req.args = f->args;
    f->req.headers = f->headers;
}

/* A query argument; value NULL for one given without '=' ("?invert"). */
static inline void fx_arg(fx_req *f, const char *key, const char *value) {
    if (f->req.n_args == FX_MAX_KV) fx_die("too many query arguments");
    f->args[f->req.n_args++] = (vae_kv){key, value};
}

static inline void fx_header(fx_req *f, const char *name, const char *value) {
    if (f->req.n_headers == FX_MAX_KV) fx_die("too many headers");
    f->headers[f->req.n_headers++] = (vae_kv){name, value};
}

/* Waits (at most 10 s) until the request is resumed; returns 0, or -1 on the timeout. */
static inline int fx_wait_resumed(fx_req *f) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    int rc = 0;
    pthread_mutex_lock(&fx_lock);
    while (f->suspended && rc == 0) rc = pthread_cond_timedwait(&fx_cond, &fx_lock, &deadline);
    pthread_mutex_unlock(&fx_lock);
    return rc == 0 ? 0 : -1;
}

/* What http.c does: begin at the headers, the body in `chunk`-byte pieces (all at once for 0),
 * then step until a reply, waiting for each resume. Returns the reply's status, or -1 when the
 * pipeline misbehaved (no reply, a wait that never ends). declare_length adds Content-Length. */
static inline int fx_send(fx_req *f, const void *body, size_t len, size_t chunk, int declare_length) {
    if (declare_length) {
        snprintf(f->length, sizeof f->length, "%zu", len);
        fx_header(f, "Content-Length", f->length);
    }
    vae_step step = vae_pipeline_begin(&f->req);
    if (step == VAE_STEP_CONTINUE) {
        const unsigned char *p = body;
        for (size_t at = 0; at < len;) {
            size_t n = chunk && chunk < len - at ? chunk : len - at;
            vae_request_append_body(&f->req, p + at, n);
            at += n;
        }
        step = vae_pipeline_step(&f->req);
        for (int waits = 0; step == VAE_STEP_WAIT; waits++) {
            if (waits > 8 || fx_wait_resumed(f) != 0) return -1;
            step = vae_pipeline_step(&f->req);
        }
    }
    if (step != VAE_STEP_REPLY || !f->req.replied) return -1;
    return f->req.reply.status;
}

/* A JSON body (Content-Type application/json, Content-Length declared). */
static inline int fx_send_json(fx_req *f, const char *json) {
    fx_header(f, "Content-Type", "application/json");
    return fx_send(f, json, strlen(json), 0, 1);
}

/* The reply header called name, or NULL. */
static inline const char *fx_reply_header(const fx_req *f, const char *name) {
    for (int i = 0; i < f->req.reply.n_headers; i++)
        if (!strcasecmp(f->req.reply.header_names[i], name)) return f->req.reply.header_values[i];
    return NULL;
}

/* The reply body parsed as JSON (the caller deletes it), or NULL. */
static inline cJSON *fx_reply_json(const fx_req *f) {
    if (!f->req.reply.data) return NULL;
    return cJSON_ParseWithLength((const char *)f->req.reply.data, f->req.reply.len);
}

/* Whether the reply is the native error {"error":{"code":status,"type":type,"message":"..."}}. */
static inline int fx_is_native_error(const fx_req *f, int status, const char *type) {
    cJSON *doc = fx_reply_json(f);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    int ok = doc && cJSON_GetArraySize(doc) == 1 && cJSON_IsObject(e) && cJSON_GetArraySize(e) == 3 &&
             cJSON_IsNumber(code) && code->valuedouble == status && cJSON_IsString(t) &&
             !strcmp(t->valuestring, type) && cJSON_IsString(m) && m->valuestring[0] &&
             f->req.reply.status == status && !strcmp(f->req.reply.content_type, "application/json");
    cJSON_Delete(doc);
    return ok;
}

/* Whether the reply is the Open Inference Protocol's error {"error":"..."} with this status. */
static inline int fx_is_oip_error(const fx_req *f, int status) {
    cJSON *doc = fx_reply_json(f);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    int ok = doc && cJSON_GetArraySize(doc) == 1 && cJSON_IsString(e) && e->valuestring[0] &&
             f->req.reply.status == status && !strcmp(f->req.reply.content_type, "application/json");
    cJSON_Delete(doc);
    return ok;
}

/* Whether the error reply's message (either dialect) contains text. */
static inline int fx_message_has(const fx_req *f, const char *text) {
    cJSON *doc = fx_reply_json(f);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    int ok = cJSON_IsString(m) && strstr(m->valuestring, text) != NULL;
    cJSON_Delete(doc);
    return ok;
}

static inline void fx_req_release(fx_req *f) {
    vae_scratch_trim(f->req.scratch ? f->req.scratch : vae_scratch_for_thread(&fx_server.scratch));
    vae_request_release(&f->req);
}

#endif
