/* One HTTP request as the server sees it, whatever carries it: the method, path, query arguments,
 * headers and body the client sent (copied in at the start by http.c, or built by the fuzz
 * harness), the route it matched, the pipeline's state, and the reply. Handlers read requests only
 * through the accessors below and never call libmicrohttpd. */
#ifndef VAE_SERVER_REQUEST_H
#define VAE_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "json_write.h"
#include "model_call.h"
#include "scratch.h"
#include "stats.h"

struct vae_server;
struct vae_route;
struct vae_batch_job;
struct vae_served_model;

/* Methods, as bits so a route can allow several. */
enum {
    VAE_GET = 1 << 0,
    VAE_HEAD = 1 << 1,
    VAE_POST = 1 << 2,
    VAE_OPTIONS = 1 << 3,
    VAE_OTHER_METHOD = 1 << 4,
};

/* A query argument or a header. A query argument without '=' ("?invert") has value NULL. */
typedef struct {
    const char *key, *value;
} vae_kv;

/* What the body is, from its Content-Type (or its first bytes when there is none). BINARY: the Open
 * Inference Protocol's binary tensor framing (a JSON header, then raw tensor bytes). */
typedef enum { VAE_BODY_NONE, VAE_BODY_JSON, VAE_BODY_PNG, VAE_BODY_BINARY } vae_body_type;

#define VAE_MAX_REPLY_HEADERS 8

/* The reply: status, content type, body bytes (the thread's scratch->out, or a buffer that outlives
 * the response) and extra headers. */
typedef struct {
    int status;
    const char *content_type;
    const uint8_t *data;
    size_t len;
    int is_static; /* data outlives the response (no copy needed) */
    const char *header_names[VAE_MAX_REPLY_HEADERS];
    char header_values[VAE_MAX_REPLY_HEADERS][128];
    int n_headers;
} vae_reply;

/* Where the pipeline is (pipeline.c). */
typedef enum { VAE_PHASE_BEGIN, VAE_PHASE_BODY, VAE_PHASE_RUN, VAE_PHASE_WAIT, VAE_PHASE_DONE } vae_phase;

typedef struct vae_request vae_request;

/* How the transport suspends a request while its model call waits in the batcher, and resumes it
 * (from the batcher's thread) when the result is in; the pipeline then continues where it was. */
typedef struct {
    void (*suspend)(vae_request *req);
    void (*resume)(vae_request *req);
} vae_transport;

typedef struct vae_alloc vae_alloc;

/* Longest X-Request-Id taken from a client (longer ones are replaced by a generated one). */
#define VAE_REQUEST_ID_MAX 128

struct vae_request {
    struct vae_server *server;
    const vae_transport *transport;
    void *transport_ctx; /* the transport's handle (libmicrohttpd's connection) */
    uint64_t started_us;
    char request_id[VAE_REQUEST_ID_MAX + 1]; /* the client's X-Request-Id when sane, else generated */

    /* what the client sent: strings owned by the transport, valid until the request completes */
    unsigned method;
    char method_name[16];
    const char *url;      /* the path, percent-decoded, without the query */
    char path[256];       /* the same, truncated, for the log */
    const vae_kv *args;
    int n_args;
    const vae_kv *headers;
    int n_headers;

    /* the body, at most opts.max_body bytes (never more is buffered) */
    vae_body_type body_type;
    uint8_t *body;
    size_t body_len, body_cap;
    size_t body_discarded; /* bytes dropped after the cap was reached, or after memory ran out */
    int body_no_memory;    /* the buffer could not grow: the body is answered 503, not 413 */

    /* routing */
    const struct vae_route *route;
    int route_index;
    char path_param[128];  /* the "{model}" segment of a pattern route */
    char path_version[32]; /* the "{version}" segment, or "" */

    /* the pipeline */
    vae_scratch *scratch;  /* the current worker thread's buffers: valid only until it returns */
    vae_phase phase;
    void *call;            /* the endpoint's call struct (parse fills it; lives as long as req) */
    int stage;             /* run stages done */
    vae_model_call mc;     /* the last model call, with its results */
    struct vae_batch_job *job; /* the batcher job holding mc's buffers, or NULL */
    uint64_t input_ns, output_ns;    /* time in parse and in write, for statistics */
    vae_face_usage usage[VAE_FACES]; /* what its model calls did, for statistics */

    vae_reply reply;
    int replied;
    vae_alloc *allocs;     /* freed with the request */
    const struct vae_served_model *held[2]; /* model references released with the request */
    int n_held;
};

/* Fills req for a new request: the server, the transport, the method and the path. The query
 * arguments and headers are set by the caller (req->args, req->headers). */
void vae_request_init(vae_request *req, struct vae_server *server, const vae_transport *transport,
                      void *transport_ctx, const char *method, const char *url);

/* Sets req->request_id: the X-Request-Id header when it is a sane token (1 to VAE_REQUEST_ID_MAX
 * characters from A-Z a-z 0-9 and -_.:/+=@), else a random UUID (version 4) drawn from rng. */
void vae_request_set_id(vae_request *req, vae_rng *rng);

/* Frees what the request owns (body, allocations, its batcher job). req itself is the caller's. */
void vae_request_release(vae_request *req);

/* Keeps a model reference (from vae_registry_acquire) until the request is released. Returns -1
 * (and drops the reference) when the request already holds as many as it can. */
int vae_request_hold(vae_request *req, const struct vae_served_model *sm);

/* n zeroed bytes that live as long as the request; NULL when memory runs out. */
void *vae_request_alloc(vae_request *req, size_t n);

/* Appends body bytes, keeping at most --max-body (more is counted in body_discarded and dropped; a
 * buffer that cannot grow sets body_no_memory and drops the rest the same way). */
void vae_request_append_body(vae_request *req, const void *data, size_t n);

/* Value of a query argument, or NULL (absent, or present without a value). Exact key. */
const char *vae_req_query(const vae_request *req, const char *name);

/* Whether a query argument is present, with or without a value ("?invert"). */
int vae_req_query_present(const vae_request *req, const char *name);

/* Value of a request header (name compared case-insensitively), or NULL. */
const char *vae_req_header(const vae_request *req, const char *name);

/* Number of headers called name (case-insensitive). */
int vae_req_header_count(const vae_request *req, const char *name);

/* The reply is the bytes in req->scratch->out. */
void vae_reply_buffer(vae_request *req, int status, const char *content_type);

/* The reply is a buffer that outlives the response (no copy). */
void vae_reply_static(vae_request *req, int status, const char *content_type, const void *data,
                      size_t len);

/* Finishes a JSON reply written with w into req->scratch->out (vae_jw_start(w, &req->scratch->out)):
 * a newline, the status. Returns VAE_E_NONE, or VAE_E_OUT_OF_MEMORY (err filled) when any append
 * failed. */
vae_err_kind vae_reply_json(vae_request *req, int status, vae_json_writer *w, vae_err *err);

/* Adds a reply header (value copied, truncated to 127 bytes); ignored past VAE_MAX_REPLY_HEADERS. */
void vae_reply_header(vae_request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
