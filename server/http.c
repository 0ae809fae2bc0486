/* libmicrohttpd glue: per-request state, body reading with a hard cap, routing, authentication, CORS,
 * the one JSON error shape, and the access log and metrics on completion.
 *
 * Request life cycle (libmicrohttpd calls on_request several times per request):
 *   1st call, headers only: allocate state, route, check method/auth/readiness/size/type; an error
 *     is answered right away (libmicrohttpd then discards any body and closes the connection).
 *   upload calls: append to the body up to --max-body; past it, count and drop.
 *   last call: run the route's handler and queue its reply.
 *   on_completed: metrics, access log, free the state, on every path (aborts and timeouts too). */
#include "http.h"

#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "json_write.h"
#include "log.h"

uint64_t vae_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned parse_method(const char *m) {
    if (!strcmp(m, "GET")) return VAE_GET;
    if (!strcmp(m, "POST")) return VAE_POST;
    if (!strcmp(m, "HEAD")) return VAE_HEAD;
    if (!strcmp(m, "OPTIONS")) return VAE_OPTIONS;
    return VAE_OTHER_METHOD;
}

/* "GET, HEAD, OPTIONS" for a route's methods. */
static void allow_list(unsigned methods, char *buf, size_t size) {
    snprintf(buf, size, "%s%s%sOPTIONS", methods & VAE_GET ? "GET, HEAD, " : "",
             methods & VAE_POST ? "POST, " : "", "");
}

/* Matches path against a route pattern; a "{param}" segment matches one non-empty segment and is
 * copied into param. */
static int route_matches(const char *pattern, const char *path, char *param, size_t param_size) {
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            const char *seg_end = strchr(path, '/');
            size_t len = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!close || len == 0 || len >= param_size) return 0;
            memcpy(param, path, len);
            param[len] = '\0';
            pattern = close + 1;
            path += len;
            continue;
        }
        if (*pattern != *path) return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

const char *vae_query(vae_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

int vae_query_present(vae_request *req, const char *name) {
    const char *value = NULL;
    size_t value_len = 0;
    return MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                         &value_len) == MHD_YES;
}

const char *vae_header(vae_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

typedef struct {
    const char *const *allowed;
    unsigned seen;
    const char *unknown, *repeated;
} query_scan;

static enum MHD_Result scan_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
    (void)kind;
    (void)value;
    query_scan *scan = cls;
    for (unsigned i = 0; scan->allowed[i]; i++) {
        if (strcmp(key, scan->allowed[i]) == 0) {
            if (scan->seen & (1u << i)) scan->repeated = scan->allowed[i];
            scan->seen |= 1u << i;
            return MHD_YES;
        }
    }
    if (!scan->unknown) scan->unknown = key;
    return MHD_YES;
}

int vae_query_check(vae_request *req, const char *const *allowed) {
    query_scan scan = {.allowed = allowed};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_query, &scan);
    if (scan.unknown) {
        char list[256] = "";
        size_t used = 0;
        for (unsigned i = 0; allowed[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, i ? ", %s" : "%s", allowed[i]);
        vae_reply_error(req, 422, "invalid_parameter",
                        "unknown query parameter '%.64s'%s%s", scan.unknown,
                        allowed[0] ? "; this endpoint accepts: " : "; this endpoint takes none",
                        list);
        return -1;
    }
    if (scan.repeated) {
        vae_reply_error(req, 422, "invalid_parameter", "query parameter '%s' is given more than once",
                        scan.repeated);
        return -1;
    }
    return 0;
}

void vae_reply(vae_request *req, int status, const char *content_type) {
    req->status = status;
    req->reply_type = content_type;
    req->reply_static = NULL;
    req->replied = 1;
}

void vae_reply_static(vae_request *req, int status, const char *content_type, const void *data,
                      size_t len) {
    req->status = status;
    req->reply_type = content_type;
    req->reply_static = data;
    req->reply_static_len = len;
    req->replied = 1;
}

void vae_reply_header(vae_request *req, const char *name, const char *fmt, ...) {
    if (req->n_headers == VAE_MAX_EXTRA_HEADERS) return;
    int i = req->n_headers++;
    req->header_names[i] = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->header_values[i], sizeof req->header_values[i], fmt, ap);
    va_end(ap);
}

/* Whether the request is on an Open Inference Protocol path: its route says so, or, unrouted, its
 * path is under /v2. */
static int protocol_errors(const vae_request *req) {
    if (req->route) return (req->route->flags & VAE_ROUTE_OIP) != 0;
    return !strncmp(req->path, "/v2", 3) && (req->path[3] == '/' || req->path[3] == '\0');
}

void vae_reply_error(vae_request *req, int status, const char *type, const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    vae_buf *out = &req->scratch->out;
    out->len = 0;
    int oip = protocol_errors(req);
    char head[96];
    if (oip) {
        snprintf(head, sizeof head, "{\"error\":");
        if (status == 422) status = 400; /* the protocol has no 422: a bad request is 400 */
    } else {
        snprintf(head, sizeof head, "{\"error\":{\"code\":%d,\"type\":\"%s\",\"message\":", status, type);
    }
    if (vae_buf_append(out, head, strlen(head)) != VAE_OK || vae_json_string(out, message) != VAE_OK ||
        vae_buf_append(out, oip ? "}\n" : "}}\n", oip ? 2 : 3) != VAE_OK) {
        static const char oom[] = "{\"error\":{\"code\":503,\"type\":\"overloaded\","
                                  "\"message\":\"out of memory\"}}\n";
        vae_reply_static(req, 503, "application/json", oom, sizeof oom - 1);
        return;
    }
    vae_reply(req, status, "application/json");
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(vae_request *req) {
    const char *key = req->server->opts.api_key;
    const char *auth = vae_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    const char *given = auth + 7;
    while (*given == ' ') given++;
    size_t n = strlen(key), m = strlen(given);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)given[i % (m ? m : 1)];
    return diff == 0;
}

/* Lower-cased media type without parameters ("application/json; charset=utf-8" -> ...json). */
static void media_type(const char *header, char *buf, size_t size) {
    size_t n = 0;
    while (*header == ' ') header++;
    for (; *header && *header != ';' && *header != ' ' && n + 1 < size; header++)
        buf[n++] = (char)(*header >= 'A' && *header <= 'Z' ? *header + 32 : *header);
    buf[n] = '\0';
}

typedef struct {
    int content_lengths;
    const char *transfer_encoding;
} framing;

static enum MHD_Result scan_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind;
    framing *f = cls;
    if (!strcasecmp(key, "Content-Length")) f->content_lengths++;
    else if (!strcasecmp(key, "Transfer-Encoding")) f->transfer_encoding = value ? value : "";
    return MHD_YES;
}

/* A body's length must be unambiguous (RFC 9112, 6.3): one Content-Length, or chunked transfer
 * coding alone. Anything else is refused before reading, as request smuggling relies on servers and
 * proxies disagreeing about where a body ends. Returns -1 after replying. */
static int check_framing(vae_request *req) {
    framing f = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, scan_framing, &f);
    if (f.transfer_encoding && strcasecmp(f.transfer_encoding, "chunked") != 0) {
        vae_reply_error(req, 501, "not_implemented",
                        "Transfer-Encoding '%.32s' is not supported: send the body with Content-Length, "
                        "or chunked",
                        f.transfer_encoding);
        return -1;
    }
    if (f.transfer_encoding && f.content_lengths) {
        vae_reply_error(req, 400, "invalid_request",
                        "the request has both Content-Length and Transfer-Encoding: use one");
        return -1;
    }
    if (f.content_lengths > 1) {
        vae_reply_error(req, 400, "invalid_request", "the request has more than one Content-Length");
        return -1;
    }
    return 0;
}

/* Routing and every check that needs only the headers. Replies early on failure. */
static void begin_request(vae_request *req, const char *url) {
    vae_server *server = req->server;
    if (check_framing(req) != 0) return;
    const vae_route *route = NULL;
    for (int i = 0; i < vae_n_routes; i++) {
        if (route_matches(vae_routes[i].path, url, req->path_param, sizeof req->path_param)) {
            route = &vae_routes[i];
            req->route_index = i;
            break;
        }
    }
    if (!route) {
        req->route_index = VAE_METRIC_ROUTES - 1;
        vae_reply_error(req, 404, "not_found",
                        "no such endpoint '%.200s'; the API is described at GET /openapi.yaml", url);
        return;
    }
    req->route = route;
    char allow[64];
    allow_list(route->methods, allow, sizeof allow);
    if (req->method == VAE_OPTIONS) {
        /* CORS preflight (and plain OPTIONS): never needs the API key */
        req->scratch->out.len = 0;
        vae_reply(req, 204, "text/plain");
        vae_reply_header(req, "Allow", "%s", allow);
        if (server->opts.cors_origin) {
            vae_reply_header(req, "Access-Control-Allow-Methods", "%s", allow);
            vae_reply_header(req, "Access-Control-Allow-Headers", "Content-Type, Authorization, Accept");
            vae_reply_header(req, "Access-Control-Max-Age", "86400");
        }
        return;
    }
    unsigned allowed = route->methods | (route->methods & VAE_GET ? VAE_HEAD : 0);
    if (!(req->method & allowed)) {
        vae_reply_error(req, 405, "method_not_allowed", "%s is not allowed on %s; use %s",
                        req->method_name, route->path, allow);
        vae_reply_header(req, "Allow", "%s", allow);
        return;
    }
    if ((route->flags & VAE_ROUTE_AUTH) && server->opts.api_key && !authorized(req)) {
        vae_reply_error(req, 401, "unauthorized",
                        vae_header(req, "Authorization")
                            ? "the API key in the Authorization header is wrong"
                            : "this endpoint needs an API key: send 'Authorization: Bearer KEY'");
        vae_reply_header(req, "WWW-Authenticate", "Bearer");
        return;
    }
    if ((route->flags & VAE_ROUTE_READY) && !atomic_load(&server->ready)) {
        vae_reply_error(req, 503, "not_ready", "the models are still loading; retry shortly");
        vae_reply_header(req, "Retry-After", "1");
        return;
    }
    if (!(route->flags & (VAE_ROUTE_JSON | VAE_ROUTE_PNG))) return; /* bodies are ignored */

    const char *length = vae_header(req, "Content-Length");
    if (length) {
        char *end;
        unsigned long long declared = strtoull(length, &end, 10);
        if (declared > server->opts.max_body) {
            vae_reply_error(req, 413, "payload_too_large",
                            "the body is %llu bytes; the limit is %zu (--max-body)", declared,
                            server->opts.max_body);
            return;
        }
        if (declared) {
            req->body = malloc((size_t)declared);
            if (req->body) req->body_cap = (size_t)declared;
        }
    }
    const char *ctype = vae_header(req, "Content-Type");
    if (!ctype) return; /* decided from the bytes once they are in */
    char mt[64];
    media_type(ctype, mt, sizeof mt);
    if ((route->flags & VAE_ROUTE_JSON) && !strcmp(mt, "application/json")) {
        req->body_type = VAE_BODY_JSON;
    } else if ((route->flags & VAE_ROUTE_PNG) && !strcmp(mt, "image/png")) {
        req->body_type = VAE_BODY_PNG;
    } else {
        const char *want = (route->flags & VAE_ROUTE_PNG) ? "application/json or image/png"
                                                          : "application/json";
        vae_reply_error(req, 415, "unsupported_media_type",
                        "Content-Type '%.64s' is not accepted by %s: send %s%s", ctype, route->path,
                        want,
                        !strcmp(mt, "application/x-www-form-urlencoded")
                            ? " (curl -d sends form encoding unless you add "
                              "-H 'Content-Type: application/json')"
                            : "");
    }
}

static void absorb_body(vae_request *req, const char *data, size_t n) {
    const size_t cap = req->server->opts.max_body;
    if (req->body_discarded || req->body_len + n > cap) {
        req->body_discarded += n; /* past the cap nothing is kept */
        return;
    }
    if (req->body_len + n > req->body_cap) {
        size_t want = req->body_cap ? req->body_cap * 2 : 16384;
        while (want < req->body_len + n) want *= 2;
        if (want > cap) want = cap;
        uint8_t *grown = realloc(req->body, want);
        if (!grown) {
            req->body_discarded += n;
            return;
        }
        req->body = grown;
        req->body_cap = want;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
}

static void finish_request(vae_request *req) {
    if (req->body_discarded) {
        vae_reply_error(req, 413, "payload_too_large",
                        "the body exceeds the %zu-byte limit (--max-body)", req->server->opts.max_body);
        return;
    }
    if (req->body_type == VAE_BODY_NONE && req->body_len) {
        /* no Content-Type: a PNG signature decides, anything else is taken as JSON */
        int is_png = req->body_len >= VAE_PNG_SIGNATURE_LEN &&
                     !memcmp(req->body, VAE_PNG_SIGNATURE, VAE_PNG_SIGNATURE_LEN);
        req->body_type = is_png && (req->route->flags & VAE_ROUTE_PNG) ? VAE_BODY_PNG : VAE_BODY_JSON;
    }
    req->route->handler(req);
    if (!req->replied && !req->suspended)
        vae_reply_error(req, 500, "internal", "the handler for %s produced no reply", req->route->path);
}

static enum MHD_Result queue_reply(vae_request *req) {
    vae_server *server = req->server;
    const void *data = req->reply_static ? req->reply_static : req->scratch->out.data;
    size_t len = req->reply_static ? req->reply_static_len : req->scratch->out.len;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, req->reply_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->reply_type);
    if (server->opts.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", server->opts.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Seed");
        if (strcmp(server->opts.cors_origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (int i = 0; i < req->n_headers; i++)
        MHD_add_response_header(resp, req->header_names[i], req->header_values[i]);
    /* a body we stopped reading cannot be followed by another request on this connection; while
     * draining, clients should reconnect (elsewhere) */
    if (req->body_discarded || atomic_load_explicit(&server->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    req->reply_bytes = len;
    vae_scratch_trim(req->scratch);
    return ret;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t vae_http_unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 && (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* libmicrohttpd's unescape callback */
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    return vae_http_unescape(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    vae_server *server = cls;
    vae_request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req) return MHD_NO;
        *con_cls = req;
        req->server = server;
        req->conn = conn;
        req->started_us = vae_now_us();
        req->method = parse_method(method);
        snprintf(req->method_name, sizeof req->method_name, "%s", method);
        snprintf(req->path, sizeof req->path, "%s", url);
        req->route_index = VAE_METRIC_ROUTES - 1;
        atomic_fetch_add_explicit(&server->metrics.in_flight, 1, memory_order_relaxed);
        req->scratch = vae_scratch_for_thread(&server->scratch);
        if (!req->scratch) return MHD_NO; /* more threads than scratch slots: cannot happen */
        begin_request(req, url);
        return req->replied ? queue_reply(req) : MHD_YES;
    }
    if (*upload_data_size) {
        absorb_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* a client that keeps streaming far past the cap is cut off rather than read forever */
        return req->body_discarded > 4 * server->opts.max_body + (64u << 20) ? MHD_NO : MHD_YES;
    }
    if (req->replied) return MHD_YES; /* already answered at the headers */
    /* the last call, or the call after the batcher resumed the connection (req->job is then set
     * and the handler finds its result there) */
    finish_request(req);
    if (req->suspended) {
        req->suspended = 0;
        return MHD_YES;
    }
    return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    vae_server *server = cls;
    vae_request *req = *con_cls;
    if (!req) return;
    *con_cls = NULL;
    uint64_t micros = vae_now_us() - req->started_us;
    int status = req->replied && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? req->status : 0;
    if (req->replied) vae_metrics_observe(&server->metrics, req->route_index, req->status, micros,
                                          req->reply_bytes);
    atomic_fetch_sub_explicit(&server->metrics.in_flight, 1, memory_order_relaxed);
    if (server->opts.log_format != VAE_LOG_OFF) {
        static const char *reasons[] = {"completed", "error", "timeout", "daemon shutdown",
                                        "read error", "client abort"};
        char client[INET6_ADDRSTRLEN] = "-";
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info && info->client_addr) {
            const struct sockaddr *sa = info->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, client, sizeof client);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, client, sizeof client);
        }
        vae_log_access(client, req->method_name, req->path, status, req->reply_bytes, micros,
                       (unsigned)toe < sizeof reasons / sizeof reasons[0] ? reasons[toe] : "unknown");
    }
    vae_batcher_release(server->batcher, req->job);
    free(req->body);
    free(req);
}

/* Each connection's header/buffer pool (it also bounds the request headers). libmicrohttpd mallocs
 * pools of 32 KiB or less (its default size) from the worker thread's arena, where the pools of
 * connections that come and go fragment the arena between reply buffers (the soak's RSS kept
 * rising for ~300k requests); larger pools are mmap'ed and given back when the connection closes.
 * One page more than the default keeps the header limit where it was. */
#define CONNECTION_POOL_BYTES (36u << 10)

vae_status vae_http_start(vae_server *server, int listen_fd, vae_error *err) {
    const vae_server_options *o = &server->opts;
    server->listen_fd = listen_fd;
    /* one thread is the daemon's own polling thread; more make a pool of them */
    struct MHD_OptionItem pool[] = {
        {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, o->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    server->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
        NULL, NULL, on_request,
        server, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->timeout, MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_POOL_BYTES,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_keeping_nul, NULL, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
    if (!server->daemon)
        return vae_error_set(err, VAE_ERR_IO, "libmicrohttpd could not start (%d threads)", o->threads);
    return VAE_OK;
}

void vae_http_quiesce(vae_server *server) {
    atomic_store(&server->draining, 1);
    if (!server->daemon) return;
    /* Not MHD_quiesce_daemon(): in libmicrohttpd 0.9.75 it races with the epoll worker threads
     * (both remove the listening socket from the epoll sets; the loser calls MHD_PANIC, which
     * aborted a server on SIGTERM in CI). Instead dup2() puts an eventfd on the socket's descriptor
     * number: that closes the listening socket, so the kernel refuses new connections and resets
     * those waiting in the backlog, and drops it from every epoll set, while the daemon keeps a
     * valid descriptor that never becomes readable and closes it when it stops. */
    int placeholder = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (placeholder >= 0 && dup2(placeholder, server->listen_fd) >= 0) {
        close(placeholder);
        return;
    }
    if (placeholder >= 0) close(placeholder);
    /* out of descriptors: quiesce after all (the race is rare), then refuse new connections */
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        shutdown(fd, SHUT_RDWR);
        server->listen_fd_quiesced = 1; /* the daemon no longer closes it: vae_http_stop does */
    }
}

void vae_http_stop(vae_server *server) {
    if (server->daemon) MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    if (server->listen_fd_quiesced) close(server->listen_fd);
    server->listen_fd_quiesced = 0;
}
