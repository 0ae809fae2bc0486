/* Fuzz harness: the three libmicrohttpd look-ups server/http.c makes on a connection, faked over a
 * parsed query string and a few headers, so the real http.c helpers (vae_query, vae_query_check,
 * vae_reply_error, ...) and the real handlers run without a daemon; plus a two-model server and the
 * checks every reply must pass. */
#include "harness.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batcher.h"
#include "inputs.h"

/* --- the fake connection ------------------------------------------------------------------------ */

#define FAKE_MAX_ARGS 64
#define FAKE_MAX_HEADERS 4

struct MHD_Connection {
    int n_args;
    const char *arg_key[FAKE_MAX_ARGS];
    const char *arg_value[FAKE_MAX_ARGS]; /* NULL for "?flag" */
    int suspended, resumed; /* under resume_lock */
    int n_headers;
    const char *header_key[FAKE_MAX_HEADERS];
    const char *header_value[FAKE_MAX_HEADERS];
    char storage[]; /* the query string, split and unescaped in place */
};

/* What libmicrohttpd does to each key and value: '+' to space, then the server's unescape callback
 * (server/http.c). */
static void unescape(char *s) {
    for (char *p = s; *p; p++)
        if (*p == '+') *p = ' ';
    vae_http_unescape(s);
}

static void add_arg(struct MHD_Connection *c, char *key, char *value) {
    if (c->n_args == FAKE_MAX_ARGS) return; /* libmicrohttpd has no such bound; inputs this long are rare */
    unescape(key);
    if (value) unescape(value);
    c->arg_key[c->n_args] = key;
    c->arg_value[c->n_args] = value;
    c->n_args++;
}

/* Splits "a=1&b&c=" the way libmicrohttpd 0.9.75 does: '&' separates arguments, the first '=' of
 * each separates key and value, an argument without '=' has no value (NULL). */
static struct MHD_Connection *fake_connection(const fuzz_request *fr) {
    const char *query = fr->query ? fr->query : "";
    size_t qlen = strlen(query);
    struct MHD_Connection *c = calloc(1, sizeof *c + qlen + 1);
    if (!c) fuzz_fail("out of memory");
    memcpy(c->storage, query, qlen + 1);
    char *args = c->storage;
    while (*args) {
        char *amp = strchr(args, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(args, '=');
        if (eq) *eq = '\0';
        add_arg(c, args, eq ? eq + 1 : NULL);
        if (!amp) break;
        args = amp + 1;
    }
    if (fr->accept) {
        c->header_key[c->n_headers] = "Accept";
        c->header_value[c->n_headers++] = fr->accept;
    }
    if (fr->extra_header_name) {
        c->header_key[c->n_headers] = fr->extra_header_name;
        c->header_value[c->n_headers++] = fr->extra_header_value ? fr->extra_header_value : "";
    }
    return c;
}

/* libmicrohttpd compares keys case-insensitively, for headers and arguments alike. */
static int find_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key,
                      size_t key_len, const char **value) {
    if (kind & MHD_GET_ARGUMENT_KIND) {
        for (int i = 0; i < c->n_args; i++) {
            if (strlen(c->arg_key[i]) == key_len && strncasecmp(c->arg_key[i], key, key_len) == 0) {
                *value = c->arg_value[i];
                return 1;
            }
        }
    }
    if (kind & MHD_HEADER_KIND) {
        for (int i = 0; i < c->n_headers; i++) {
            if (strlen(c->header_key[i]) == key_len &&
                strncasecmp(c->header_key[i], key, key_len) == 0) {
                *value = c->header_value[i];
                return 1;
            }
        }
    }
    return 0;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key) {
    const char *value = NULL;
    if (!key || !find_value(connection, kind, key, strlen(key), &value)) return NULL;
    return value;
}

enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection,
                                              enum MHD_ValueKind kind, const char *key,
                                              size_t key_size, const char **value_ptr,
                                              size_t *value_size_ptr) {
    const char *value = NULL;
    if (!key || !find_value(connection, kind, key, key_size, &value)) return MHD_NO;
    if (value_ptr) *value_ptr = value;
    if (value_size_ptr) *value_size_ptr = value ? strlen(value) : 0;
    return MHD_YES;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls) {
    int n = 0;
    if (kind & MHD_GET_ARGUMENT_KIND) {
        for (int i = 0; i < connection->n_args; i++, n++)
            if (iterator && iterator(iterator_cls, MHD_GET_ARGUMENT_KIND, connection->arg_key[i],
                                     connection->arg_value[i]) != MHD_YES)
                return n + 1;
    }
    if (kind & MHD_HEADER_KIND) {
        for (int i = 0; i < connection->n_headers; i++, n++)
            if (iterator && iterator(iterator_cls, MHD_HEADER_KIND, connection->header_key[i],
                                     connection->header_value[i]) != MHD_YES)
                return n + 1;
    }
    return n;
}

/* The batcher suspends a connection while its job waits and resumes it from its own thread. */
static pthread_mutex_t resume_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resumed_cond = PTHREAD_COND_INITIALIZER;

void MHD_suspend_connection(struct MHD_Connection *connection) {
    pthread_mutex_lock(&resume_lock);
    if (connection->suspended) fuzz_fail("a connection was suspended twice");
    connection->suspended = 1;
    connection->resumed = 0;
    pthread_mutex_unlock(&resume_lock);
}

void MHD_resume_connection(struct MHD_Connection *connection) {
    pthread_mutex_lock(&resume_lock);
    if (!connection->suspended) fuzz_fail("a connection that is not suspended was resumed");
    connection->suspended = 0;
    connection->resumed = 1;
    pthread_cond_broadcast(&resumed_cond);
    pthread_mutex_unlock(&resume_lock);
}

/* Waits (at most 10 s) for the batcher to resume the connection. */
static void wait_resumed(struct MHD_Connection *connection) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&resume_lock);
    while (!connection->resumed)
        if (pthread_cond_timedwait(&resumed_cond, &resume_lock, &deadline) != 0) {
            pthread_mutex_unlock(&resume_lock);
            fuzz_fail("a suspended request was not resumed within 10 s");
        }
    connection->resumed = 0;
    pthread_mutex_unlock(&resume_lock);
}

/* --- the server ---------------------------------------------------------------------------------- */

static vae_server server;
static int server_ready;
static vae_batcher *batcher; /* as the server runs by default: --batching on */
static vae_batcher *closed_batcher; /* as during shutdown: vae_batcher_submit says no */
static int max_batch = 256;

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

static void add_model(const char *name, vae_model *m) {
    vae_registry *reg = &server.registry;
    vae_served_model *sm = &reg->models[reg->count++];
    snprintf(sm->name, sizeof sm->name, "%s", name);
    snprintf(sm->path, sizeof sm->path, "fuzz/%s.safetensors", name);
    sm->model = m;
    vae_config_hidden_string(&m->config, sm->hidden, sizeof sm->hidden);
    vae_config_architecture_string(&m->config, sm->architecture, sizeof sm->architecture);
    sm->encoder_macs = vae_config_encoder_macs(&m->config);
    sm->decoder_macs = vae_config_decoder_macs(&m->config);
    int width = vae_config_max_width(&m->config);
    if (width > reg->max_width) reg->max_width = width;
    if (m->config.latent_dim > reg->max_latent) reg->max_latent = m->config.latent_dim;
}

void fuzz_server_init(void) {
    if (server_ready) return;
    server_ready = 1;
    vae_server_options *o = &server.opts;
    o->port = 8080;
    o->bind = "127.0.0.1";
    o->threads = 1;
    o->max_body = 4u << 20;
    o->timeout = 15;
    o->max_connections = 1000;
    o->max_pixels = VAE_PNG_DEFAULT_MAX_PIXELS;
    o->max_batch = max_batch;
    o->log_format = VAE_LOG_OFF;
    o->shutdown_grace = 20;
    const int h1[] = {4}, h2[] = {8, 4};
    add_model("mnist", tiny_model(1, h1, 2, VAE_ACT_RELU, 1, 1));
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

static void check_json(const vae_request *req, const uint8_t *data, size_t len, const fuzz_request *fr,
                       const char *what) {
    if (vae_utf8_invalid_at(data, len) >= 0) fuzz_fail("%s: reply is not valid UTF-8", what);
    if (len > (16u << 10)) return; /* long replies are many numbers of the same form: not re-parsed */
    cJSON *doc = cJSON_ParseWithLength((const char *)data, len);
    if (!doc) fuzz_fail("%s: reply is not valid JSON: %.200s", what, (const char *)data);
    if (!cJSON_IsObject(doc)) fuzz_fail("%s: reply is not a JSON object", what);
    if (req->status >= 400) {
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(doc, "error");
        if (!error || cJSON_GetArraySize(doc) != 1) fuzz_fail("%s: error reply without one \"error\" key", what);
        if (fr->oip) {
            if (!cJSON_IsString(error) || !error->valuestring[0])
                fuzz_fail("%s: OIP error is not {\"error\": \"message\"}", what);
        } else {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(error, "type");
            const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
            if (!cJSON_IsNumber(code) || code->valuedouble != req->status || !cJSON_IsString(type) ||
                !cJSON_IsString(message) || !message->valuestring[0] || cJSON_GetArraySize(error) != 3)
                fuzz_fail("%s: error reply is not {\"error\":{\"code\":%d,\"type\",\"message\"}}: %.300s",
                          what, req->status, (const char *)data);
        }
    } else {
        check_numbers(doc, what);
    }
    cJSON_Delete(doc);
}

static void check_reply(const vae_request *req, const fuzz_request *fr) {
    const char *what = "reply";
    if (!req->replied) fuzz_fail("the handler returned without replying");
    int st = req->status;
    int expected = fr->oip ? (st == 200 || st == 400 || st == 404)
                           : (st == 200 || st == 400 || st == 404 || st == 413 || st == 415 || st == 422);
    if (!expected) {
        const uint8_t *d = req->reply_static ? req->reply_static : req->scratch->out.data;
        fuzz_fail("unexpected status %d (a 500 is a bug; 503 means out of memory): %.300s", st,
                  d ? (const char *)d : "");
    }
    if (!req->reply_type) fuzz_fail("reply without a content type");
    const uint8_t *data = req->reply_static ? req->reply_static : req->scratch->out.data;
    size_t len = req->reply_static ? req->reply_static_len : req->scratch->out.len;
    if (!data || len == 0) fuzz_fail("empty reply body (status %d)", st);
    if (!strcmp(req->reply_type, "application/json")) {
        check_json(req, data, len, fr, what);
    } else if (!strcmp(req->reply_type, "image/png")) {
        if (st != 200) fuzz_fail("PNG reply with status %d", st);
        float pixels[VAE_INPUT_DIM];
        vae_error err = {0};
        if (vae_png_decode_input(data, len, VAE_PNG_DEFAULT_MAX_PIXELS, 0, pixels, NULL, &err) != VAE_OK)
            fuzz_fail("the reply PNG does not decode: %s", err.message);
    } else {
        fuzz_fail("unexpected content type %s", req->reply_type);
    }
    if (req->n_headers > VAE_MAX_EXTRA_HEADERS) fuzz_fail("too many reply headers");
}

int fuzz_run(vae_handler handler, const uint8_t *body, size_t len, const fuzz_request *fr) {
    fuzz_server_init();
    struct MHD_Connection *conn = fake_connection(fr);
    vae_request *req = calloc(1, sizeof *req);
    if (!req) fuzz_fail("out of memory");
    req->server = &server;
    req->conn = conn;
    req->method = VAE_POST;
    snprintf(req->method_name, sizeof req->method_name, "POST");
    /* the route whose handler this is (its flags decide, e.g., the OIP error shape) */
    req->route_index = VAE_METRIC_ROUTES - 1;
    for (int i = 0; i < vae_n_routes; i++) {
        if (vae_routes[i].handler == handler) {
            req->route = &vae_routes[i];
            req->route_index = i;
            break;
        }
    }
    if (!req->route) fuzz_fail("no route has this handler");
    snprintf(req->path, sizeof req->path, "%s", req->route->path);
    if (fr->path_param) snprintf(req->path_param, sizeof req->path_param, "%s", fr->path_param);
    req->scratch = vae_scratch_for_thread(&server.scratch);
    if (!req->scratch) fuzz_fail("no scratch");
    req->body_type = fr->body_type;
    if (len) {
        req->body = malloc(len); /* exactly len bytes, like http.c with a Content-Length */
        if (!req->body) fuzz_fail("out of memory");
        memcpy(req->body, body, len);
    }
    req->body_len = req->body_cap = len;
    /* what http.c does: run the handler; while it suspended the connection for the batcher, wait
     * for the resume and run it again; then release the job as on_completed does */
    server.batcher = fr->direct ? NULL : fr->closed ? closed_batcher : batcher;
    handler(req);
    for (int runs = 1; req->suspended; runs++) {
        if (runs > 4) fuzz_fail("the handler suspended its request %d times", runs);
        if (req->replied) fuzz_fail("a suspended request had already replied");
        wait_resumed(conn);
        req->suspended = 0;
        handler(req);
    }
    if (fr->closed && req->job) fuzz_fail("a closed batcher took a job");
    check_reply(req, fr);
    vae_batcher_release(server.batcher, req->job);
    server.batcher = NULL;
    int status = req->status;
    vae_scratch_trim(req->scratch);
    free(req->body);
    free(req);
    free(conn);
    return status;
}
