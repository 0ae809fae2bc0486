/* The request pipeline (server/pipeline.c) driven as http.c drives it, with a fake transport: the
 * header checks and their errors (404, 405 with Allow, 401 with WWW-Authenticate, 413 declared and
 * streamed, 415, 501 and the framing 400s, 503 before the models are loaded), OPTIONS, both error
 * dialects, the endpoints' parse/run/write running once each, model calls inline, through the
 * batcher (suspend and resume once per call) and through a closed one, a full queue, a call that
 * finds the batcher idle running at once (run_alone), and the inputs
 * that reach the model unchanged (seeds, valueless booleans). */
#include <math.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "server_fixture.h"

static fx_req f;

/* Sends method url?query (key=value pairs separated by '&' in `query`, "k" alone for a valueless
 * one) with a body of content type ctype (NULL: none, no body when body is NULL). Returns the
 * status; the reply stays in f until the next call. */
static char query_copy[512];
static int send(const char *method, const char *url, const char *query, const char *ctype, const char *body) {
    fx_req_release(&f);
    fx_req_init(&f, method, url);
    if (query) {
        snprintf(query_copy, sizeof query_copy, "%s", query);
        for (char *save = NULL, *kv = strtok_r(query_copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq) *eq = '\0';
            fx_arg(&f, kv, eq ? eq + 1 : NULL);
        }
    }
    if (ctype) fx_header(&f, "Content-Type", ctype);
    return fx_send(&f, body, body ? strlen(body) : 0, 0, body != NULL);
}

/* The same with extra headers (name, value pairs, NULL-terminated) added before sending. */
static int send_with(const char *method, const char *url, const char *ctype, const char *body, const char *h1,
                     const char *v1, const char *h2, const char *v2) {
    fx_req_release(&f);
    fx_req_init(&f, method, url);
    if (ctype) fx_header(&f, "Content-Type", ctype);
    if (h1) fx_header(&f, h1, v1);
    if (h2) fx_header(&f, h2, v2);
    return fx_send(&f, body, body ? strlen(body) : 0, 0, body != NULL);
}

static const char *reply_text(void) {
    static char text[2048];
    size_t n = f.req.reply.len < sizeof text - 1 ? f.req.reply.len : sizeof text - 1;
    memcpy(text, f.req.reply.data ? (const char *)f.req.reply.data : "", n);
    text[n] = '\0';
    return text;
}

#define Z4 "{\"z\":[0.5,-1,0.25,2]}"

static void test_not_found(void) {
    CHECK(send("GET", "/nope", NULL, NULL, NULL) == 404 && fx_is_native_error(&f, 404, "not_found") &&
              fx_message_has(&f, "no such endpoint '/nope'"),
          "404: %s", reply_text());
    CHECK(f.req.route == NULL && f.req.route_index == VAE_METRIC_ROUTES - 1, "unrouted");
    CHECK(send("POST", "/v2/nope", NULL, "application/json", "{}") == 404 && fx_is_oip_error(&f, 404),
          "404 under /v2 is in the protocol's shape: %s", reply_text());
    CHECK(send("GET", "/v2", NULL, NULL, NULL) == 200, "/v2 exists");
    CHECK(send("GET", "/v2x", NULL, NULL, NULL) == 404 && fx_is_native_error(&f, 404, "not_found"),
          "/v2x is not under /v2: %s", reply_text());
    CHECK(send("GET", "/v2/", NULL, NULL, NULL) == 404 && fx_is_oip_error(&f, 404), "/v2/: %s", reply_text());
    CHECK(send("GET", "/encode/", NULL, NULL, NULL) == 404, "trailing slash");
}

static void test_method_not_allowed(void) {
    CHECK(send("POST", "/health", NULL, "application/json", "{}") == 405 &&
              fx_is_native_error(&f, 405, "method_not_allowed") && fx_message_has(&f, "POST is not allowed on /health"),
          "POST /health: %s", reply_text());
    CHECK(fx_reply_header(&f, "Allow") && !strcmp(fx_reply_header(&f, "Allow"), "GET, HEAD, OPTIONS"), "Allow: %s",
          fx_reply_header(&f, "Allow") ? fx_reply_header(&f, "Allow") : "(none)");
    CHECK(send("GET", "/encode", NULL, NULL, NULL) == 405 && fx_reply_header(&f, "Allow") &&
              !strcmp(fx_reply_header(&f, "Allow"), "POST, OPTIONS"),
          "GET /encode: Allow %s", fx_reply_header(&f, "Allow") ? fx_reply_header(&f, "Allow") : "(none)");
    CHECK(send("PUT", "/decode", NULL, "application/json", Z4) == 405 && fx_message_has(&f, "PUT is not allowed"),
          "PUT: %s", reply_text());
    CHECK(send("DELETE", "/sample", NULL, NULL, NULL) == 405, "DELETE");
    CHECK(send("HEAD", "/health", NULL, NULL, NULL) == 200, "HEAD on a GET route");
    CHECK(send("HEAD", "/encode", NULL, NULL, NULL) == 405, "HEAD on a POST route");
    CHECK(send("POST", "/v2/health/live", NULL, "application/json", "{}") == 405 && fx_is_oip_error(&f, 405) &&
              fx_reply_header(&f, "Allow"),
          "405 in the protocol's shape: %s", reply_text());
}

static void test_auth(void) {
    fx_server.opts.api_key = "s3cret";
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 401 && fx_is_native_error(&f, 401, "unauthorized") &&
              fx_message_has(&f, "needs an API key"),
          "no key: %s", reply_text());
    CHECK(fx_reply_header(&f, "WWW-Authenticate") && !strcmp(fx_reply_header(&f, "WWW-Authenticate"), "Bearer"),
          "WWW-Authenticate");
    static const char *const wrong[] = {"Bearer wrong", "Bearer s3cre", "Bearer s3cretX", "Bearer S3CRET",
                                        "Basic s3cret", "s3cret", "Bearer", "Bearer ", "Bearers3cret"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        CHECK(send_with("POST", "/decode", "application/json", Z4, "Authorization", wrong[i], NULL, NULL) == 401,
              "'%s' accepted", wrong[i]);
        CHECK(fx_message_has(&f, "is wrong"), "'%s': %s", wrong[i], reply_text());
    }
    static const char *const right[] = {"Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer   s3cret"};
    for (size_t i = 0; i < sizeof right / sizeof right[0]; i++)
        CHECK(send_with("POST", "/decode", "application/json", Z4, "Authorization", right[i], NULL, NULL) == 200,
              "'%s' refused: %s", right[i], reply_text());
    CHECK(send("GET", "/health", NULL, NULL, NULL) == 200, "/health needs no key");
    CHECK(send("GET", "/metrics", NULL, NULL, NULL) == 200, "/metrics needs no key");
    CHECK(send("GET", "/v2/health/ready", NULL, NULL, NULL) == 200, "/v2/health/ready needs no key");
    CHECK(send("GET", "/v2/models/mnist-decoder/ready", NULL, NULL, NULL) == 401 && fx_is_oip_error(&f, 401) &&
              fx_reply_header(&f, "WWW-Authenticate"),
          "OIP 401: %s", reply_text());
    CHECK(send("GET", "/v1/models", NULL, NULL, NULL) == 401, "/v1/models needs the key");
    CHECK(send("OPTIONS", "/decode", NULL, NULL, NULL) == 204, "OPTIONS needs no key");
    /* the method is checked before the key */
    CHECK(send("GET", "/decode", NULL, NULL, NULL) == 405, "405 before 401");
    fx_server.opts.api_key = NULL;
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 200, "no key configured");
}

/* A JSON body of exactly n bytes: Z4 padded with spaces. */
static char *padded(size_t n) {
    static char body[4096];
    memset(body, ' ', n);
    memcpy(body, Z4, strlen(Z4));
    body[n] = '\0';
    return body;
}

static void test_payload_too_large(void) {
    fx_server.opts.max_body = 100;
    /* declared: refused at the headers, nothing read */
    CHECK(send("POST", "/decode", NULL, "application/json", padded(101)) == 413 &&
              fx_is_native_error(&f, 413, "payload_too_large") &&
              fx_message_has(&f, "the body is 101 bytes; the limit is 100"),
          "declared 101: %s", reply_text());
    CHECK(f.req.body_len == 0 && f.req.body == NULL, "the declared-too-large body was read");
    CHECK(send("POST", "/decode", NULL, "application/json", padded(100)) == 200, "declared 100: %s", reply_text());
    /* streamed (chunked, no Content-Length): exactly the cap is served, one byte more is 413 */
    for (size_t chunk = 1; chunk <= 101; chunk += 33) {
        fx_req_release(&f);
        fx_req_init(&f, "POST", "/decode");
        fx_header(&f, "Content-Type", "application/json");
        fx_header(&f, "Transfer-Encoding", "chunked");
        CHECK(fx_send(&f, padded(100), 100, chunk, 0) == 200, "streamed 100 in chunks of %zu: %s", chunk, reply_text());
        fx_req_release(&f);
        fx_req_init(&f, "POST", "/decode");
        fx_header(&f, "Content-Type", "application/json");
        CHECK(fx_send(&f, padded(101), 101, chunk, 0) == 413 && fx_is_native_error(&f, 413, "payload_too_large") &&
                  fx_message_has(&f, "exceeds the 100-byte limit"),
              "streamed 101 in chunks of %zu: %s", chunk, reply_text());
    }
    /* a declared length that lies: more bytes than declared still stop at the cap */
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    fx_header(&f, "Content-Type", "application/json");
    fx_header(&f, "Content-Length", "50");
    CHECK(fx_send(&f, padded(150), 150, 10, 0) == 413, "more than declared: %s", reply_text());
    CHECK(send("POST", "/v2/models/mnist-decoder/infer", NULL, "application/json", padded(101)) == 413 &&
              fx_is_oip_error(&f, 413),
          "OIP 413: %s", reply_text());
    /* routes without a body ignore one */
    CHECK(send("GET", "/health", NULL, "text/plain", padded(50)) == 200, "/health with a body");
    CHECK(send("GET", "/health", NULL, "text/plain", padded(101)) == 413, "/health with too large a body");
    fx_server.opts.max_body = 4u << 20;
}

/* A body the buffer could not grow for (realloc failed in vae_request_append_body) is a 503 that says
 * to retry, not a 413 that blames the client's size. */
static void test_body_out_of_memory(void) {
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    fx_header(&f, "Content-Type", "application/json");
    CHECK(vae_pipeline_begin(&f.req) == VAE_STEP_CONTINUE, "begin");
    vae_request_append_body(&f.req, Z4, 10);
    f.req.body_no_memory = 1; /* what a failed realloc leaves */
    f.req.body_discarded += strlen(Z4) - 10;
    CHECK(vae_pipeline_step(&f.req) == VAE_STEP_REPLY && f.req.reply.status == 503 &&
              fx_is_native_error(&f, 503, "out_of_memory") && fx_message_has(&f, "retry later"),
          "body out of memory: %s", reply_text());
}

static void test_media_type(void) {
    CHECK(send("POST", "/decode", NULL, "text/plain", Z4) == 415 && fx_is_native_error(&f, 415, "unsupported_media_type") &&
              fx_message_has(&f, "Content-Type 'text/plain' is not accepted by /decode: send application/json"),
          "text/plain: %s", reply_text());
    CHECK(send("POST", "/decode", NULL, "application/x-www-form-urlencoded", Z4) == 415 && fx_message_has(&f, "curl -d"),
          "form: %s", reply_text());
    CHECK(send("POST", "/decode", NULL, "image/png", Z4) == 415, "PNG on /decode");
    CHECK(send("POST", "/encode", NULL, "text/plain", Z4) == 415 && fx_message_has(&f, "application/json or image/png"),
          "text on /encode: %s", reply_text());
    CHECK(send("POST", "/decode", NULL, "Application/JSON; charset=utf-8", Z4) == 200, "case and parameters: %s",
          reply_text());
    CHECK(send("POST", "/decode", NULL, "  application/json ;x=1", Z4) == 200, "spaces");
    CHECK(send("POST", "/decode", NULL, "application/jsonx", Z4) == 415, "a longer type");
    CHECK(send("POST", "/decode", NULL, NULL, Z4) == 200, "no Content-Type: taken as JSON");
    CHECK(send("POST", "/v2/models/mnist-decoder/infer", NULL, "text/plain", "{}") == 415 && fx_is_oip_error(&f, 415),
          "OIP 415: %s", reply_text());
}

static void test_framing(void) {
    CHECK(send_with("POST", "/decode", "application/json", NULL, "Transfer-Encoding", "gzip", NULL, NULL) == 501 &&
              fx_is_native_error(&f, 501, "not_implemented") && fx_message_has(&f, "'gzip'"),
          "gzip: %s", reply_text());
    CHECK(send_with("POST", "/decode", "application/json", NULL, "Transfer-Encoding", "chunked", "Content-Length", "5") ==
                  400 &&
              fx_is_native_error(&f, 400, "invalid_framing") && fx_message_has(&f, "both Content-Length and"),
          "TE + CL: %s", reply_text());
    CHECK(send_with("POST", "/decode", "application/json", NULL, "Content-Length", "5", "content-length", "5") == 400 &&
              fx_is_native_error(&f, 400, "invalid_framing") && fx_message_has(&f, "more than one Content-Length"),
          "two CL: %s", reply_text());
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    fx_header(&f, "Content-Type", "application/json");
    fx_header(&f, "Transfer-Encoding", "Chunked");
    CHECK(fx_send(&f, Z4, strlen(Z4), 3, 0) == 200, "Chunked (any case): %s", reply_text());
    /* framing is checked before routing: even an unknown path */
    CHECK(send_with("GET", "/nope", NULL, NULL, "Transfer-Encoding", "br", NULL, NULL) == 501, "before routing");
}

static void test_options(void) {
    CHECK(send("OPTIONS", "/encode", NULL, NULL, NULL) == 204 && f.req.reply.len == 0, "OPTIONS /encode");
    CHECK(fx_reply_header(&f, "Allow") && !strcmp(fx_reply_header(&f, "Allow"), "POST, OPTIONS"), "Allow");
    CHECK(!fx_reply_header(&f, "Access-Control-Allow-Methods"), "CORS headers without --cors-origin");
    fx_server.opts.cors_origin = "*";
    CHECK(send("OPTIONS", "/sample", NULL, NULL, NULL) == 204, "OPTIONS /sample");
    CHECK(fx_reply_header(&f, "Access-Control-Allow-Methods") &&
              !strcmp(fx_reply_header(&f, "Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS") &&
              fx_reply_header(&f, "Access-Control-Allow-Headers") &&
              strstr(fx_reply_header(&f, "Access-Control-Allow-Headers"), "Authorization") &&
              fx_reply_header(&f, "Access-Control-Max-Age"),
          "preflight headers");
    fx_server.opts.cors_origin = NULL;
    CHECK(send("OPTIONS", "/nope", NULL, NULL, NULL) == 404, "OPTIONS on an unknown path");
    CHECK(send("OPTIONS", "/v2/models/mnist-decoder/infer", NULL, NULL, NULL) == 204, "OPTIONS on /v2");
}

static void test_readiness(void) {
    atomic_store(&fx_server.ready, 0);
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 503 && fx_is_native_error(&f, 503, "not_ready") &&
              fx_reply_header(&f, "Retry-After") && !strcmp(fx_reply_header(&f, "Retry-After"), "1"),
          "not ready: %s", reply_text());
    CHECK(send("GET", "/health", NULL, NULL, NULL) == 200, "/health while loading");
    CHECK(send("GET", "/ready", NULL, NULL, NULL) == 503 && fx_is_native_error(&f, 503, "not_ready"), "/ready");
    CHECK(send("GET", "/v2/health/ready", NULL, NULL, NULL) == 400 && strstr(reply_text(), "\"ready\":false"),
          "/v2/health/ready: %s", reply_text());
    CHECK(send("GET", "/v2/models/nothing-decoder/ready", NULL, NULL, NULL) == 400 &&
              strstr(reply_text(), "\"ready\":false"),
          "model ready while loading: %s", reply_text());
    CHECK(send("POST", "/v2/models/mnist-decoder/infer", NULL, "application/json", "{}") == 503 &&
              fx_is_oip_error(&f, 503),
          "OIP 503: %s", reply_text());
    atomic_store(&fx_server.ready, 1);
    atomic_store(&fx_server.draining, 1);
    CHECK(send("GET", "/ready", NULL, NULL, NULL) == 503 && fx_is_native_error(&f, 503, "draining") &&
              !fx_reply_header(&f, "Retry-After"),
          "draining: %s", reply_text());
    CHECK(send("GET", "/v2/health/ready", NULL, NULL, NULL) == 400, "OIP ready while draining");
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 200, "requests are still served while draining");
    atomic_store(&fx_server.draining, 0);
    CHECK(send("GET", "/ready", NULL, NULL, NULL) == 200, "ready");
}

static void test_oip_dialect(void) {
    static const char infer[] = "/v2/models/mnist-decoder/infer";
    CHECK(send("POST", infer, NULL, "application/json", "{\"inputs\":[]}") == 400 && fx_is_oip_error(&f, 400),
          "a 422 kind is 400: %s", reply_text());
    CHECK(send("POST", infer, NULL, "application/json", "{") == 400 && fx_is_oip_error(&f, 400), "bad JSON: %s",
          reply_text());
    CHECK(send("POST", "/v2/models/nope-decoder/infer", NULL, "application/json", "{}") == 404 &&
              fx_is_oip_error(&f, 404) && fx_message_has(&f, "mnist-encoder, mnist-decoder"),
          "unknown model: %s", reply_text());
    /* the protocol's routes ignore query parameters: the body's error, not the query's */
    CHECK(send("POST", infer, "x=1", "application/json", "{}") == 400 && fx_is_oip_error(&f, 400) &&
              fx_message_has(&f, "inputs must be a list"),
          "query: %s", reply_text());
    CHECK(send("POST", infer, NULL, "application/json",
               "{\"id\":\"r1\",\"inputs\":[{\"name\":\"z\",\"shape\":[1,4],\"datatype\":\"FP32\","
               "\"data\":[0.5,-1,0.25,2]}]}") == 200,
          "infer: %s", reply_text());
    cJSON *doc = fx_reply_json(&f);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(doc, "outputs");
    const cJSON *x = cJSON_GetArrayItem(outs, 0);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(x, "data");
    CHECK(cJSON_GetArraySize(outs) == 1 && cJSON_GetArraySize(data) == 784 &&
              !strcmp(cJSON_GetObjectItemCaseSensitive(doc, "id")->valuestring, "r1") &&
              !strcmp(cJSON_GetObjectItemCaseSensitive(doc, "model_name")->valuestring, "mnist-decoder"),
          "infer reply: %.200s", reply_text());
    cJSON_Delete(doc);
    /* the same answer as /decode */
    float from_infer[784];
    doc = fx_reply_json(&f);
    data = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "outputs"), 0),
                                            "data");
    int i = 0;
    for (const cJSON *v = data ? data->child : NULL; v && i < 784; v = v->next) from_infer[i++] = (float)v->valuedouble;
    cJSON_Delete(doc);
    CHECK(send("POST", "/decode", "format=json", "application/json", Z4) == 200, "decode");
    doc = fx_reply_json(&f);
    const cJSON *pixels = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "pixels"), 0);
    int same = cJSON_GetArraySize(pixels) == 784 && i == 784;
    i = 0;
    for (const cJSON *v = pixels ? pixels->child : NULL; v && same; v = v->next, i++)
        same = (float)v->valuedouble == from_infer[i];
    cJSON_Delete(doc);
    CHECK(same, "OIP decode and /decode differ");
}

/* --- model calls: inline, batched, closed batcher ------------------------------------------------ */

typedef struct {
    int status, suspends, resumes;
    char body[64 << 10];
    size_t len;
} outcome;

static void run_outcome(outcome *o, const char *method, const char *url, const char *query, const char *ctype,
                        const char *body) {
    o->status = send(method, url, query, ctype, body);
    o->suspends = f.suspends;
    o->resumes = f.resumes;
    o->len = f.req.reply.len < sizeof o->body ? f.req.reply.len : sizeof o->body;
    memcpy(o->body, f.req.reply.data ? (const void *)f.req.reply.data : "", o->len);
}

static int same_reply(const outcome *a, const outcome *b) {
    return a->status == b->status && a->len == b->len && !memcmp(a->body, b->body, a->len);
}

static char *encode_body(int sample, int with_seed, const char *seed) {
    static char body[784 * 8 + 128];
    char *p = body;
    p += sprintf(p, "{\"pixels\":[");
    for (int i = 0; i < 784; i++) p += sprintf(p, "%s%g", i ? "," : "", (i % 9) / 8.0);
    p += sprintf(p, "]%s", sample ? ",\"sample\":true" : "");
    if (with_seed) p += sprintf(p, ",\"seed\":%s", seed);
    sprintf(p, "}");
    return body;
}

static void test_model_calls_batched(void) {
    static const struct {
        const char *method, *url, *query, *ctype;
        int calls; /* model calls it makes (each batched one suspends once) */
    } calls[] = {
        {"POST", "/decode", "format=json", "application/json", 1},
        {"POST", "/decode", "model=fashion&format=json", "application/json", 1},
        {"POST", "/decode", NULL, "application/json", 1},
        {"GET", "/sample", "n=4&seed=3&format=json", NULL, 1},
        {"GET", "/sample", "n=4&seed=3&model=fashion", NULL, 1},
        {"POST", "/encode", NULL, "application/json", 1},
        {"POST", "/reconstruct", "format=json", "application/json", 1},
        {"POST", "/interpolate", "format=json", "application/json", 1},
        {"POST", "/v2/models/fashion-encoder/infer", NULL, "application/json", 1},
    };
    static char bodies[9][16 << 10];
    snprintf(bodies[0], sizeof bodies[0], "%s", Z4);
    snprintf(bodies[1], sizeof bodies[1], "{\"z\":[[0.5,-1,0.25],[1,1,1]]}");
    snprintf(bodies[2], sizeof bodies[2], "%s", Z4);
    snprintf(bodies[5], sizeof bodies[5], "%s", encode_body(1, 1, "5"));
    snprintf(bodies[6], sizeof bodies[6], "%s", encode_body(0, 0, NULL));
    snprintf(bodies[7], sizeof bodies[7], "{\"from\":1,\"to\":[0,0,1,1],\"steps\":3}");
    char *p = bodies[8];
    /* an id of its own: without one the reply carries the request ID, different each time */
    p += sprintf(p, "{\"id\":\"t\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,784],\"datatype\":\"FP32\",\"data\":[");
    for (int i = 0; i < 784; i++) p += sprintf(p, "%s%g", i ? "," : "", (i % 5) / 4.0);
    sprintf(p, "]}]}");

    static outcome inline_o, batched_o, closed_o, draining_o;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const char *body = calls[i].method[0] == 'P' ? bodies[i] : NULL;
        fx_server.batcher = NULL;
        run_outcome(&inline_o, calls[i].method, calls[i].url, calls[i].query, calls[i].ctype, body);
        CHECK(inline_o.status == 200 && inline_o.suspends == 0, "%s inline: %d, %d suspends", calls[i].url,
              inline_o.status, inline_o.suspends);

        vae_batcher *b = fx_batcher_start(1, 64, 0, 8);
        run_outcome(&batched_o, calls[i].method, calls[i].url, calls[i].query, calls[i].ctype, body);
        CHECK(same_reply(&inline_o, &batched_o), "%s %s: batched reply differs from inline", calls[i].url,
              calls[i].query ? calls[i].query : "");
        CHECK(batched_o.suspends == calls[i].calls && batched_o.resumes == calls[i].calls,
              "%s: %d suspends, %d resumes for %d model calls", calls[i].url, batched_o.suspends, batched_o.resumes,
              calls[i].calls);
        atomic_store(&fx_server.draining, 1); /* draining: calls run inline */
        run_outcome(&draining_o, calls[i].method, calls[i].url, calls[i].query, calls[i].ctype, body);
        atomic_store(&fx_server.draining, 0);
        CHECK(same_reply(&inline_o, &draining_o) && draining_o.suspends == 0, "%s while draining: %d suspends",
              calls[i].url, draining_o.suspends);
        /* another call first, so the job's buffers hold someone else's results */
        CHECK(send("POST", "/decode", "format=json", "application/json", "{\"z\":[[9,-9,9,-9],[1,2,3,4]]}") == 200,
              "the other call");
        vae_batcher_close(b); /* shutting down: the pipeline runs the refused call itself */
        run_outcome(&closed_o, calls[i].method, calls[i].url, calls[i].query, calls[i].ctype, body);
        CHECK(same_reply(&inline_o, &closed_o), "%s: reply through a closed batcher differs", calls[i].url);
        CHECK(closed_o.suspends == calls[i].calls && closed_o.resumes == calls[i].calls,
              "%s closed: %d suspends, %d resumes", calls[i].url, closed_o.suspends, closed_o.resumes);
        fx_req_release(&f); /* gives the job back before the batcher goes */
        fx_batcher_stop();
    }
    CHECK(fx_transport_errors == 0, "%d suspend/resume mismatches", fx_transport_errors);

    /* two model calls: /interpolate with a PNG end encodes it, then decodes the path */
    vae_buf png = {0};
    uint8_t grey[784];
    for (int i = 0; i < 784; i++) grey[i] = (uint8_t)(i * 3);
    vae_error e = {0};
    vae_png_encode(grey, 28, 28, 1, -1, &png, &e);
    vae_buf b64 = {0};
    vae_base64_encode(png.data, png.len, &b64);
    char *body = malloc(b64.len + 128);
    sprintf(body, "{\"from\":\"%.*s\",\"to\":[0,0,1,1],\"steps\":4}", (int)b64.len, (const char *)b64.data);
    fx_server.batcher = NULL;
    run_outcome(&inline_o, "POST", "/interpolate", "format=json", "application/json", body);
    fx_batcher_start(1, 64, 0, 8);
    run_outcome(&batched_o, "POST", "/interpolate", "format=json", "application/json", body);
    CHECK(inline_o.status == 200 && same_reply(&inline_o, &batched_o), "interpolate from a PNG: %d", inline_o.status);
    CHECK(batched_o.suspends == 2 && batched_o.resumes == 2, "interpolate: %d suspends for 2 calls", batched_o.suspends);
    fx_req_release(&f);
    fx_batcher_stop();
    free(body);
    vae_buf_free(&png);
    vae_buf_free(&b64);

    /* a call larger than a job runs on the worker thread */
    fx_batcher_start(1, 64, 0, 8);
    char q[64];
    snprintf(q, sizeof q, "n=%d&seed=1", VAE_BATCH_JOB_ROWS + 1);
    CHECK(send("GET", "/sample", q, NULL, NULL) == 200 && f.suspends == 0, "large call: %d suspends", f.suspends);
    snprintf(q, sizeof q, "n=%d&seed=1", VAE_BATCH_JOB_ROWS);
    CHECK(send("GET", "/sample", q, NULL, NULL) == 200 && f.suspends == 1, "job-sized call: %d suspends", f.suspends);
    fx_req_release(&f);
    fx_batcher_stop();
}

static void test_queue_full(void) {
    vae_batcher *b = fx_batcher_start(1, 64, 0, 1);
    /* --batch-queue 1 on an idle server serves, again and again */
    for (int i = 0; i < 3; i++)
        CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 200 && f.suspends == 1,
              "--batch-queue 1, call %d: %s", i, reply_text());
    /* the job is back once the reply is built, before the transport sends it and completes the
     * request: a client's next call must not find the queue full */
    vae_status why;
    vae_batch_job *held = vae_batcher_acquire(b, &why);
    CHECK(held != NULL && f.req.job == NULL, "the one job is still held by a request that has its reply");
    if (!held) {
        fx_req_release(&f);
        held = vae_batcher_acquire(b, &why);
    }
    unsigned long long before = atomic_load(&fx_server.metrics.rejected_overload);
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 503 && fx_is_native_error(&f, 503, "overloaded") &&
              fx_message_has(&f, "--batch-queue 1") && fx_reply_header(&f, "Retry-After") &&
              !strcmp(fx_reply_header(&f, "Retry-After"), "1"),
          "full queue: %s", reply_text());
    CHECK(atomic_load(&fx_server.metrics.rejected_overload) == before + 1, "rejections counted");
    CHECK(send("POST", "/v2/models/mnist-decoder/infer", NULL, "application/json",
               "{\"inputs\":[{\"name\":\"z\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[0,0,0,0]}]}") == 503 &&
              fx_is_oip_error(&f, 503),
          "OIP full queue: %s", reply_text());
    vae_batcher_release(b, held);
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 200, "after the release");
    fx_req_release(&f);
    fx_batcher_stop();
}

/* --- what reaches the model ---------------------------------------------------------------------- */

static const char *json_string_of(const char *key) {
    static char out[64];
    cJSON *doc = fx_reply_json(&f);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    /* seeds are below 2^53: exact in a double */
    if (cJSON_IsNumber(v)) snprintf(out, sizeof out, "%.0f", v->valuedouble);
    else snprintf(out, sizeof out, "(none)");
    cJSON_Delete(doc);
    return out;
}

/* A job that holds the batcher busy: its callback returns once the request in `waiter` is suspended
 * (queued behind it), so that request cannot have found the batcher idle. */
typedef struct {
    fx_req *waiter;
} busy_job;

static void busy_done(void *ctx) {
    busy_job *bj = ctx;
    pthread_mutex_lock(&fx_lock);
    while (!bj->waiter->suspended) pthread_cond_wait(&fx_cond, &fx_lock);
    pthread_mutex_unlock(&fx_lock);
}

/* The server's batcher (run_alone): a small call that finds it idle runs at once on the caller's
 * thread, with no suspend, the same reply and counted as a batch of its rows; one that finds it
 * busy queues (and is resumed) as before. */
static void test_idle_batcher_runs_alone(void) {
    outcome *plain = malloc(sizeof *plain), *alone = malloc(sizeof *alone), *queued = malloc(sizeof *queued);
    fx_server.batcher = NULL;
    run_outcome(plain, "POST", "/decode", "format=json", "application/json", Z4);
    fx_run_alone = 1;
    vae_batcher *b = fx_batcher_start(1, 64, 0, 8);
    unsigned long long batches = atomic_load(&fx_server.metrics.batches);
    unsigned long long items = atomic_load(&fx_server.metrics.batched_items);
    run_outcome(alone, "POST", "/decode", "format=json", "application/json", Z4);
    CHECK(plain->status == 200 && same_reply(plain, alone), "idle batcher: reply %d differs", alone->status);
    CHECK(alone->suspends == 0 && alone->resumes == 0, "idle batcher: %d suspends", alone->suspends);
    CHECK(atomic_load(&fx_server.metrics.batches) == batches + 1 &&
              atomic_load(&fx_server.metrics.batched_items) == items + 1,
          "a call run alone counts as a batch of one row");
    /* a call that finds another outstanding queues behind it: the request is set up before the
     * busy job goes in (its callback reads the request's state from the batcher thread) */
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    fx_arg(&f, "format", "json");
    fx_header(&f, "Content-Type", "application/json");
    vae_status why;
    vae_batch_job *held = vae_batcher_acquire(b, &why);
    const vae_served_model *sm = vae_registry_acquire(&fx_server.registry, 0);
    float z[VAE_MAX_LATENT] = {0};
    busy_job bj = {&f};
    CHECK(held && sm, "a job to hold the batcher busy");
    if (held && sm) {
        vae_model_call mc = {.op = VAE_OP_DECODE, .model = sm->model, .slot = -1, .n = 1, .in = z};
        vae_batch_job_fill(held, &mc, busy_done, &bj);
        CHECK(vae_batcher_submit(b, held) == 0, "submit");
        int status = fx_send(&f, Z4, strlen(Z4), 0, 1);
        queued->status = status;
        queued->len = f.req.reply.len < sizeof queued->body ? f.req.reply.len : sizeof queued->body;
        memcpy(queued->body, f.req.reply.data ? (const void *)f.req.reply.data : "", queued->len);
        CHECK(same_reply(plain, queued), "busy batcher: reply %d differs", status);
        CHECK(f.suspends == 1 && f.resumes == 1, "busy batcher: %d suspends", f.suspends);
        CHECK(vae_batcher_wait_idle(b, 5000) == 0, "the busy job finished");
        vae_batcher_release(b, held);
    }
    vae_registry_release(sm);
    fx_req_release(&f);
    fx_batcher_stop();
    fx_run_alone = 0;
    free(plain);
    free(alone);
    free(queued);
}

static void test_seeds(void) {
    outcome a, b;
    /* /sample: seed=0 is a seed (not "none"), and the largest seed is accepted and echoed exactly */
    run_outcome(&a, "GET", "/sample", "n=2&seed=0&format=json", NULL, NULL);
    CHECK(a.status == 200 && !strcmp(json_string_of("seed"), "0") && fx_reply_header(&f, "X-Seed") &&
              !strcmp(fx_reply_header(&f, "X-Seed"), "0"),
          "seed=0: %s, X-Seed %s", json_string_of("seed"), fx_reply_header(&f, "X-Seed"));
    run_outcome(&b, "GET", "/sample", "n=2&seed=0&format=json", NULL, NULL);
    CHECK(same_reply(&a, &b), "seed=0 twice differs");
    run_outcome(&b, "GET", "/sample", "n=2&seed=1&format=json", NULL, NULL);
    CHECK(!same_reply(&a, &b), "seed 0 and 1 sample the same");
    CHECK(send("GET", "/sample", "n=1&seed=9007199254740991&format=json", NULL, NULL) == 200 &&
              !strcmp(json_string_of("seed"), "9007199254740991"),
          "seed 2^53-1: %s", reply_text());
    CHECK(send("GET", "/sample", "n=1&seed=9007199254740992", NULL, NULL) == 422 &&
              fx_is_native_error(&f, 422, "invalid_parameter"),
          "seed 2^53");
    CHECK(send("GET", "/sample", "n=1", NULL, NULL) == 200 && fx_reply_header(&f, "X-Seed"), "no seed: X-Seed");
    char first[32];
    snprintf(first, sizeof first, "%s", fx_reply_header(&f, "X-Seed"));
    CHECK(send("GET", "/sample", "n=1", NULL, NULL) == 200 && strcmp(first, fx_reply_header(&f, "X-Seed")),
          "two unseeded samples got the same seed %s", first);
    CHECK(send("GET", "/sample", "n=1&seed", NULL, NULL) == 422 && fx_message_has(&f, "not empty"), "?seed alone");
    CHECK(send("GET", "/sample", "n", NULL, NULL) == 422 && fx_is_native_error(&f, 422, "invalid_parameter"),
          "?n alone is an error, not the default");

    /* /encode with sample: seeds in the query and in the body, 0 included */
    static const char *const seeds[] = {"0", "1", "9007199254740991"};
    for (int k = 0; k < 3; k++) {
        char q[64];
        snprintf(q, sizeof q, "sample=1&seed=%s", seeds[k]);
        run_outcome(&a, "POST", "/encode", q, "application/json", encode_body(0, 0, NULL));
        CHECK(a.status == 200 && !strcmp(json_string_of("seed"), seeds[k]), "query seed %s: %s", seeds[k],
              json_string_of("seed"));
        run_outcome(&b, "POST", "/encode", NULL, "application/json", encode_body(1, 1, seeds[k]));
        CHECK(b.status == 200 && !strcmp(json_string_of("seed"), seeds[k]), "JSON seed %s: %s", seeds[k],
              json_string_of("seed"));
        CHECK(same_reply(&a, &b), "seed %s: query and JSON seeds differ", seeds[k]);
        run_outcome(&b, "POST", "/encode", NULL, "application/json", encode_body(1, 1, seeds[k]));
        CHECK(same_reply(&a, &b), "seed %s: not reproducible", seeds[k]);
    }
    CHECK(send("POST", "/encode", NULL, "application/json", encode_body(1, 1, "9007199254740992")) == 422 &&
              fx_is_native_error(&f, 422, "invalid_request"),
          "JSON seed 2^53: %s", reply_text());
    /* the body's seed wins over the query's */
    run_outcome(&a, "POST", "/encode", "seed=7", "application/json", encode_body(1, 1, "0"));
    CHECK(a.status == 200 && !strcmp(json_string_of("seed"), "0"), "body seed 0 over ?seed=7: %s",
          json_string_of("seed"));
    /* no seed: a fresh one each time */
    send("POST", "/encode", NULL, "application/json", encode_body(1, 0, NULL));
    snprintf(first, sizeof first, "%s", json_string_of("seed"));
    send("POST", "/encode", NULL, "application/json", encode_body(1, 0, NULL));
    CHECK(first[0] && strcmp(first, json_string_of("seed")), "fresh seeds repeat: %s", first);
}

static void test_valueless_booleans(void) {
    outcome plain, bare, one, zero;
    /* ?sample alone means sample=1: z and seed in the reply */
    run_outcome(&bare, "POST", "/encode", "sample&seed=4", "application/json", encode_body(0, 0, NULL));
    run_outcome(&one, "POST", "/encode", "sample=1&seed=4", "application/json", encode_body(0, 0, NULL));
    run_outcome(&zero, "POST", "/encode", "sample=0&seed=4", "application/json", encode_body(0, 0, NULL));
    CHECK(bare.status == 200 && strstr(bare.body, "\"z\":") && same_reply(&bare, &one), "?sample alone is not true");
    CHECK(zero.status == 200 && !strstr(zero.body, "\"z\":"), "?sample=0 sampled");
    /* ?invert alone means invert=1 */
    run_outcome(&plain, "POST", "/encode", NULL, "application/json", encode_body(0, 0, NULL));
    run_outcome(&bare, "POST", "/encode", "invert", "application/json", encode_body(0, 0, NULL));
    run_outcome(&one, "POST", "/encode", "invert=1", "application/json", encode_body(0, 0, NULL));
    CHECK(bare.status == 200 && same_reply(&bare, &one) && !same_reply(&bare, &plain), "?invert alone is not true");
    run_outcome(&bare, "POST", "/reconstruct", "invert&format=json", "application/json", encode_body(0, 0, NULL));
    run_outcome(&one, "POST", "/reconstruct", "invert=true&format=json", "application/json", encode_body(0, 0, NULL));
    run_outcome(&plain, "POST", "/reconstruct", "format=json", "application/json", encode_body(0, 0, NULL));
    CHECK(bare.status == 200 && same_reply(&bare, &one) && !same_reply(&bare, &plain),
          "/reconstruct: ?invert alone is not true");
    CHECK(send("POST", "/decode", "format", "application/json", Z4) == 422 && fx_message_has(&f, "format must be"),
          "?format alone: %s", reply_text());
}

static void test_body_sniffing(void) {
    vae_buf png = {0};
    uint8_t grey[784] = {0};
    vae_error e = {0};
    vae_png_encode(grey, 28, 28, 1, -1, &png, &e);
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/encode");
    CHECK(fx_send(&f, png.data, png.len, 0, 1) == 200 && f.req.body_type == VAE_BODY_PNG, "a PNG without Content-Type");
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    CHECK(fx_send(&f, png.data, png.len, 0, 1) == 400 && fx_is_native_error(&f, 400, "invalid_json"),
          "PNG bytes on /decode are not JSON: %s", reply_text());
    /* a route that takes only JSON never sees a body typed PNG (request.h's contract for parse) */
    CHECK(f.req.body_type == VAE_BODY_JSON, "a PNG signature typed the body of /decode as PNG");
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/v2/models/mnist-decoder/infer");
    CHECK(fx_send(&f, png.data, png.len, 0, 1) == 400 && fx_is_oip_error(&f, 400) && f.req.body_type == VAE_BODY_JSON,
          "PNG bytes on infer: %s", reply_text());
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/encode");
    fx_header(&f, "Content-Type", "image/png");
    CHECK(fx_send(&f, "", 0, 0, 0) == 400 && fx_is_native_error(&f, 400, "invalid_png"), "empty PNG body: %s",
          reply_text());
    CHECK(send("POST", "/encode", NULL, NULL, "") == 400 && fx_is_native_error(&f, 400, "invalid_json"),
          "empty body without a type: %s", reply_text());
    vae_buf_free(&png);
}

/* --- the pipeline's own contract, with an endpoint of the test's ---------------------------------- */

typedef struct {
    int parses, writes, stages[8], n_stages, fail_at, write_nothing;
} probe_call;

static probe_call *probe; /* the last request's call struct */

static vae_err_kind probe_parse(vae_request *req, void *call, vae_err *err) {
    (void)req;
    (void)err;
    probe = call;
    probe->parses++;
    probe->fail_at = -1;
    if (vae_req_query_present(req, "fail1")) probe->fail_at = 1;
    probe->write_nothing = vae_req_query_present(req, "nothing");
    return VAE_E_NONE;
}

static vae_err_kind probe_run(vae_request *req, void *call, int stage, const vae_model_call *done,
                              vae_model_call *next, vae_err *err) {
    probe_call *c = call;
    c->stages[c->n_stages++] = stage;
    if (stage == c->fail_at) return vae_fail(err, VAE_E_INVALID_VALUE, "stage %d refused", stage);
    if (stage > 0 && (done->op != VAE_OP_DECODE || done->n != stage))
        return vae_fail(err, VAE_E_INTERNAL, "stage %d got the wrong results", stage);
    if (stage < 3) {
        /* three decodes of 1, 2 and 3 rows */
        static float zeros[16];
        vae_scratch *s = req->scratch;
        *next = (vae_model_call){.op = VAE_OP_DECODE, .model = fx_model_at(0)->model, .slot = -1, .n = stage + 1, .in = zeros, .out = s->xhat, .out2 = NULL};
    }
    return VAE_E_NONE;
}

static vae_err_kind probe_write(vae_request *req, void *call, vae_err *err) {
    probe_call *c = call;
    c->writes++;
    if (c->write_nothing) return VAE_E_NONE;
    vae_reply_header(req, "X-Probe", "1");
    static const char ok[] = "{}";
    (void)err;
    vae_reply_static(req, 200, "application/json", ok, 2);
    return VAE_E_NONE;
}

static const vae_endpoint probe_ep = {sizeof(probe_call), probe_parse, probe_run, probe_write};
static const vae_route probe_route = {"/probe", VAE_POST, VAE_ROUTE_JSON, &probe_ep};

/* Sends to /decode's route checks, then swaps in the probe endpoint before the body. */
static int send_probe(const char *query) {
    fx_req_release(&f);
    fx_req_init(&f, "POST", "/decode");
    if (query) fx_arg(&f, query, NULL);
    fx_header(&f, "Content-Type", "application/json");
    if (vae_pipeline_begin(&f.req) != VAE_STEP_CONTINUE) return -1;
    f.req.route = &probe_route;
    vae_request_append_body(&f.req, "{}", 2);
    vae_step step = vae_pipeline_step(&f.req);
    for (int waits = 0; step == VAE_STEP_WAIT && waits < 8; waits++) {
        if (fx_wait_resumed(&f) != 0) return -1;
        step = vae_pipeline_step(&f.req);
    }
    return step == VAE_STEP_REPLY && f.req.replied ? f.req.reply.status : -1;
}

static void test_pipeline_contract(void) {
    for (int batched = 0; batched <= 1; batched++) {
        if (batched) fx_batcher_start(1, 64, 0, 4);
        CHECK(send_probe(NULL) == 200, "probe (batched %d): %s", batched, reply_text());
        CHECK(probe->parses == 1 && probe->writes == 1, "batched %d: %d parses, %d writes", batched, probe->parses,
              probe->writes);
        CHECK(probe->n_stages == 4 && probe->stages[0] == 0 && probe->stages[1] == 1 && probe->stages[2] == 2 &&
                  probe->stages[3] == 3,
              "batched %d: stages %d (%d %d %d %d)", batched, probe->n_stages, probe->stages[0], probe->stages[1],
              probe->stages[2], probe->stages[3]);
        CHECK(f.suspends == (batched ? 3 : 0) && f.resumes == f.suspends, "batched %d: %d suspends", batched,
              f.suspends);
        CHECK(fx_reply_header(&f, "X-Probe"), "the write's header");
        /* a stage's error is the reply, and nothing runs after it */
        CHECK(send_probe("fail1") == 422 && fx_is_native_error(&f, 422, "invalid_value") &&
                  fx_message_has(&f, "stage 1 refused"),
              "stage error: %s", reply_text());
        CHECK(probe->n_stages == 2 && probe->writes == 0 && f.req.phase == VAE_PHASE_DONE, "after a stage error");
        /* a write that forgets to reply is a 500, not a hang or an empty reply */
        CHECK(send_probe("nothing") == 500 && fx_is_native_error(&f, 500, "internal") &&
                  fx_message_has(&f, "produced no reply"),
              "no reply: %s", reply_text());
        fx_req_release(&f);
        if (batched) fx_batcher_stop();
    }
    /* a step in the wrong phase */
    CHECK(send("POST", "/decode", NULL, "application/json", Z4) == 200, "decode");
    vae_step step = vae_pipeline_step(&f.req);
    CHECK(step == VAE_STEP_REPLY && f.req.reply.status == 500 && fx_message_has(&f, "stepped in phase"),
          "stepping a finished request: %s", reply_text());
    /* an error reply drops the success headers set before it */
    fx_req_release(&f);
    fx_req_init(&f, "GET", "/sample");
    f.req.scratch = vae_scratch_for_thread(&fx_server.scratch);
    vae_reply_header(&f.req, "X-Seed", "1");
    vae_err err;
    vae_fail(&err, VAE_E_INVALID_VALUE, "late");
    vae_pipeline_reply_error(&f.req, &err);
    CHECK(!fx_reply_header(&f, "X-Seed") && fx_is_native_error(&f, 422, "invalid_value"), "X-Seed on an error");
    /* an empty message falls back to the type */
    err.message[0] = '\0';
    vae_pipeline_reply_error(&f.req, &err);
    CHECK(fx_message_has(&f, "invalid_value"), "empty message: %s", reply_text());
}

static void test_metrics_and_index(void) {
    CHECK(send("GET", "/", NULL, NULL, NULL) == 200 && strstr(reply_text(), "\"POST /encode\"") &&
              strstr(reply_text(), "\"GET /sample\""),
          "index: %s", reply_text());
    CHECK(send("GET", "/metrics", NULL, NULL, NULL) == 200 && strstr(reply_text(), "vae_batches_total"),
          "metrics: %.100s", reply_text());
    CHECK(send("GET", "/v1/models", NULL, NULL, NULL) == 200 && strstr(reply_text(), "\"name\":\"fashion\"") &&
              strstr(reply_text(), "\"activation\":\"tanh\""),
          "models: %.300s", reply_text());
    CHECK(send("GET", "/v1/models", "x=1", NULL, NULL) == 422, "/v1/models takes no query");
    CHECK(send("GET", "/openapi.yaml", NULL, NULL, NULL) == 200 && !strcmp(f.req.reply.content_type, "application/yaml") &&
              f.req.reply.len > 1000,
          "openapi");
    CHECK(send("GET", "/health", NULL, NULL, NULL) == 200 && !strcmp(reply_text(), "{\"status\":\"ok\"}\n"), "health");
    CHECK(send("GET", "/v2/health/live", NULL, NULL, NULL) == 200 && strstr(reply_text(), "\"live\":true"), "live");
    CHECK(send("GET", "/v2/models/fashion-decoder", NULL, NULL, NULL) == 200 &&
              strstr(reply_text(), "\"shape\":[-1,3]"),
          "model metadata: %s", reply_text());
    CHECK(send("GET", "/v2/models/mnist-encoder/versions/1/ready", NULL, NULL, NULL) == 200 &&
              strstr(reply_text(), "\"ready\":true"),
          "model ready: %s", reply_text());
}

int main(void) {
    fx_server_init();
    test_not_found();
    test_method_not_allowed();
    test_auth();
    test_payload_too_large();
    test_body_out_of_memory();
    test_media_type();
    test_framing();
    test_options();
    test_readiness();
    test_oip_dialect();
    test_model_calls_batched();
    test_queue_full();
    test_idle_batcher_runs_alone();
    test_seeds();
    test_valueless_booleans();
    test_body_sniffing();
    test_pipeline_contract();
    test_metrics_and_index();
    fx_req_release(&f);
    fx_server_free();
    CHECK_DONE();
}
