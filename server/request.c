/* The request: its accessors, its body with a hard cap, its reply, and what it owns. */
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batcher.h"
#include "clock.h"
#include "registry.h"
#include "server.h"

struct vae_alloc {
    vae_alloc *next;
    max_align_t data[];
};

/* The first body buffer when the length is not declared (chunked); it doubles from there. */
#define BODY_FIRST_BYTES (16u << 10)

static unsigned parse_method(const char *m) {
    if (!strcmp(m, "GET")) return VAE_GET;
    if (!strcmp(m, "POST")) return VAE_POST;
    if (!strcmp(m, "HEAD")) return VAE_HEAD;
    if (!strcmp(m, "OPTIONS")) return VAE_OPTIONS;
    return VAE_OTHER_METHOD;
}

void vae_request_init(vae_request *req, struct vae_server *server, const vae_transport *transport,
                      void *transport_ctx, const char *method, const char *url) {
    memset(req, 0, sizeof *req);
    req->server = server;
    req->transport = transport;
    req->transport_ctx = transport_ctx;
    req->started_us = vae_now_us();
    req->method = parse_method(method);
    snprintf(req->method_name, sizeof req->method_name, "%s", method);
    req->url = url;
    snprintf(req->path, sizeof req->path, "%s", url);
    req->route_index = VAE_METRIC_ROUTES - 1;
}

static int id_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.:/+=@", c);
}

void vae_request_set_id(vae_request *req, vae_rng *rng) {
    const char *given = vae_req_header(req, "X-Request-Id");
    size_t n = 0;
    if (given) {
        while (n <= VAE_REQUEST_ID_MAX && given[n] && id_char((unsigned char)given[n])) n++;
        if (n > 0 && n <= VAE_REQUEST_ID_MAX && given[n] == '\0') {
            memcpy(req->request_id, given, n + 1);
            return;
        }
    }
    uint64_t a = vae_rng_u64(rng), b = vae_rng_u64(rng);
    /* RFC 9562 version 4: version nibble 4, variant bits 10 */
    a = (a & ~0xF000ull) | 0x4000ull;
    b = (b & ~(3ull << 62)) | (2ull << 62);
    snprintf(req->request_id, sizeof req->request_id, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xFFFFu, (unsigned)a & 0xFFFFu, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xFFFFFFFFFFFFull));
}

void vae_request_release(vae_request *req) {
    /* server->batcher is read only for a request that holds a job: main sets it while the first
     * requests (/health, /ready) are already being served, and a job implies the request saw
     * server->ready, which main sets after the batcher (a data race otherwise, found by TSan) */
    if (req->job) vae_batcher_release(req->server->batcher, req->job);
    req->job = NULL;
    free(req->body);
    req->body = NULL;
    for (vae_alloc *a = req->allocs, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    req->allocs = NULL;
    for (int i = 0; i < req->n_held; i++) vae_registry_release(req->held[i]);
    req->n_held = 0;
}

int vae_request_hold(vae_request *req, const struct vae_served_model *sm) {
    if (req->n_held == (int)(sizeof req->held / sizeof req->held[0])) {
        vae_registry_release(sm);
        return -1;
    }
    req->held[req->n_held++] = sm;
    return 0;
}

void *vae_request_alloc(vae_request *req, size_t n) {
    if (n > SIZE_MAX - sizeof(vae_alloc)) return NULL;
    vae_alloc *a = calloc(1, sizeof *a + n);
    if (!a) return NULL;
    a->next = req->allocs;
    req->allocs = a;
    return a->data;
}

void vae_request_append_body(vae_request *req, const void *data, size_t n) {
    const size_t cap = req->server->opts.max_body;
    if (req->body_discarded || n > cap - req->body_len) {
        req->body_discarded += n; /* past the cap nothing is kept */
        return;
    }
    if (req->body_len + n > req->body_cap) {
        size_t want = req->body_cap ? req->body_cap * 2 : BODY_FIRST_BYTES;
        while (want < req->body_len + n) want *= 2;
        if (want > cap) want = cap;
        uint8_t *grown = realloc(req->body, want);
        if (!grown) {
            req->body_no_memory = 1;
            req->body_discarded += n;
            return;
        }
        req->body = grown;
        req->body_cap = want;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
}

static const vae_kv *find_arg(const vae_request *req, const char *name) {
    for (int i = 0; i < req->n_args; i++)
        if (!strcmp(req->args[i].key, name)) return &req->args[i];
    return NULL;
}

const char *vae_req_query(const vae_request *req, const char *name) {
    const vae_kv *kv = find_arg(req, name);
    return kv ? kv->value : NULL;
}

int vae_req_query_present(const vae_request *req, const char *name) { return find_arg(req, name) != NULL; }

const char *vae_req_header(const vae_request *req, const char *name) {
    for (int i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].key, name)) return req->headers[i].value;
    return NULL;
}

int vae_req_header_count(const vae_request *req, const char *name) {
    int n = 0;
    for (int i = 0; i < req->n_headers; i++) n += !strcasecmp(req->headers[i].key, name);
    return n;
}

void vae_reply_buffer(vae_request *req, int status, const char *content_type) {
    req->reply.status = status;
    req->reply.content_type = content_type;
    req->reply.data = req->scratch->out.data;
    req->reply.len = req->scratch->out.len;
    req->reply.is_static = 0;
    req->replied = 1;
}

void vae_reply_static(vae_request *req, int status, const char *content_type, const void *data,
                      size_t len) {
    req->reply.status = status;
    req->reply.content_type = content_type;
    req->reply.data = data;
    req->reply.len = len;
    req->reply.is_static = 1;
    req->replied = 1;
}

vae_err_kind vae_reply_json(vae_request *req, int status, vae_json_writer *w, vae_err *err) {
    vae_jw_raw(w, "\n");
    if (w->status != VAE_OK) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory writing the reply");
    vae_reply_buffer(req, status, "application/json");
    return VAE_E_NONE;
}

void vae_reply_header(vae_request *req, const char *name, const char *fmt, ...) {
    vae_reply *r = &req->reply;
    if (r->n_headers == VAE_MAX_REPLY_HEADERS) return;
    int i = r->n_headers++;
    r->header_names[i] = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->header_values[i], sizeof r->header_values[i], fmt, ap);
    va_end(ap);
}
