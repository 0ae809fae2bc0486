/* The HTTP layer over libmicrohttpd: the server's shared state, the route table's types, the request
 * a handler sees, and the reply helpers every handler uses (one JSON error shape for all failures). */
#ifndef VAE_SERVER_HTTP_H
#define VAE_SERVER_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "batcher.h"
#include "metrics.h"
#include "options.h"
#include "registry.h"
#include "scratch.h"
#include "vae/image.h"
#include "vae/png.h"

struct MHD_Daemon;
struct MHD_Connection;

enum {
    VAE_GET = 1 << 0,
    VAE_HEAD = 1 << 1,
    VAE_POST = 1 << 2,
    VAE_OPTIONS = 1 << 3,
    VAE_OTHER_METHOD = 1 << 4,
};

/* Route flags. */
enum {
    VAE_ROUTE_AUTH = 1 << 0,  /* needs the API key when one is configured */
    VAE_ROUTE_READY = 1 << 1, /* needs the models loaded (503 before) */
    VAE_ROUTE_JSON = 1 << 2,  /* accepts an application/json body */
    VAE_ROUTE_PNG = 1 << 3,   /* accepts an image/png body */
    VAE_ROUTE_OIP = 1 << 4,   /* Open Inference Protocol: errors are {"error": "message"}, 4xx */
};

typedef enum { VAE_BODY_NONE, VAE_BODY_JSON, VAE_BODY_PNG } vae_body_type;

typedef struct vae_request vae_request;
typedef void (*vae_handler)(vae_request *req);

typedef struct {
    const char *path;     /* "/encode", or a pattern with one "{param}" segment */
    unsigned methods;     /* allowed methods (GET implies HEAD) */
    unsigned flags;
    vae_handler handler;
} vae_route;

typedef struct vae_server {
    vae_server_options opts;
    vae_registry registry;
    vae_metrics metrics;
    struct MHD_Daemon *daemon;
    int listen_fd;         /* the daemon's listening socket (main.c opened it; the daemon closes it) */
    int listen_fd_quiesced; /* handed back by MHD_quiesce_daemon: vae_http_stop closes it */
    atomic_int ready;      /* every model loaded */
    atomic_int draining;   /* SIGTERM received */
    vae_scratch_pool scratch;
    vae_batcher *batcher;  /* NULL: every model call runs on its worker thread */
} vae_server;

/* What a model handler keeps between its two runs when its model call is batched: the first run
 * reads the request and queues the call, the second (after the batcher resumes the connection)
 * writes the reply. */
typedef struct {
    const vae_served_model *sm;
    int n, batched, want_json, sample, seed_given;
    uint64_t seed;
} vae_call;

#define VAE_MAX_EXTRA_HEADERS 4

struct vae_request {
    vae_server *server;
    struct MHD_Connection *conn;
    const vae_route *route;
    int route_index;
    unsigned method;
    char method_name[16];
    char path[256];        /* the URL path (truncated), for the log */
    char path_param[128];  /* the "{param}" segment of a pattern route */
    uint64_t started_us;
    vae_scratch *scratch;  /* this worker thread's buffers */

    /* request body, at most opts.max_body bytes (never more is buffered) */
    vae_body_type body_type;
    uint8_t *body;
    size_t body_len, body_cap;
    size_t body_discarded; /* bytes dropped after the cap was reached */

    /* reply: status, content type and bytes (in scratch->out unless static) */
    int status;
    const char *reply_type;
    const uint8_t *reply_static; /* a persistent buffer (e.g. the OpenAPI document) */
    size_t reply_static_len;
    const char *header_names[VAE_MAX_EXTRA_HEADERS];
    char header_values[VAE_MAX_EXTRA_HEADERS][128];
    int n_headers;
    int replied;
    size_t reply_bytes;

    /* batching: the queued model call, and whether the connection waits for it */
    vae_batch_job *job;
    int suspended;
    vae_call call;
};

/* The route table (routes.c) and its size. */
extern const vae_route vae_routes[];
extern const int vae_n_routes;

/* Starts libmicrohttpd on an already listening socket. Returns VAE_OK or an error. */
vae_status vae_http_start(vae_server *server, int listen_fd, vae_error *err);

/* Stops accepting new connections (SIGTERM); requests in flight continue. */
void vae_http_quiesce(vae_server *server);

/* Percent-decodes s in place, as libmicrohttpd does to paths, query keys and values, except that %00
 * is left as it is: a decoded NUL would end the C string and make "/health%00x" route as "/health".
 * Returns the new length. */
size_t vae_http_unescape(char *s);

/* Stops the daemon, closing every connection and the listening socket. */
void vae_http_stop(vae_server *server);

/* --- helpers for handlers --- */

/* Value of a query parameter, or NULL. */
const char *vae_query(vae_request *req, const char *name);

/* Whether a query parameter is present, with or without a value ("?invert"). */
int vae_query_present(vae_request *req, const char *name);

/* Checks that every query parameter is one of `allowed` (NULL-terminated) and none is repeated;
 * otherwise replies 422 and returns -1. */
int vae_query_check(vae_request *req, const char *const *allowed);

/* Value of a request header, or NULL. */
const char *vae_header(vae_request *req, const char *name);

/* Replies with the bytes in req->scratch->out. */
void vae_reply(vae_request *req, int status, const char *content_type);

/* Replies with a persistent buffer that outlives the response (no copy). */
void vae_reply_static(vae_request *req, int status, const char *content_type, const void *data,
                      size_t len);

/* Replies {"error":{"code":status,"type":type,"message":...}}; on Open Inference Protocol paths
 * (/v2...) the protocol's {"error":"message"}, with 422 reported as 400. */
void vae_reply_error(vae_request *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a response header (value copied, truncated to 127 bytes). */
void vae_reply_header(vae_request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Microseconds on the monotonic clock. */
uint64_t vae_now_us(void);

#endif
