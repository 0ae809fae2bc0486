/* libmicrohttpd glue: it copies each request's method, path, query arguments and headers into a
 * vae_request, feeds the pipeline (pipeline.c) the body as it arrives, suspends and resumes the
 * connection for the batcher, sends the reply, and records metrics and the access log on completion.
 *
 * Request life cycle (libmicrohttpd calls on_request several times per request):
 *   1st call, headers only: vae_pipeline_begin (routing and every header check); an error is
 *     answered right away (libmicrohttpd then discards any body and closes the connection).
 *   upload calls: the body, up to --max-body; past it, counted and dropped.
 *   last call: vae_pipeline_step; when it waits for the batcher the connection is suspended, and the
 *     call after the resume steps the pipeline again.
 *   on_completed: metrics, access log, free the state, on every path (aborts and timeouts too). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"

/* A client that keeps streaming this far past --max-body is cut off rather than read forever. */
#define STREAM_CUTOFF(max_body) (4 * (max_body) + (64u << 20))

static void mhd_suspend(vae_request *req) { MHD_suspend_connection(req->transport_ctx); }
static void mhd_resume(vae_request *req) { MHD_resume_connection(req->transport_ctx); }
static const vae_transport MHD_TRANSPORT = {mhd_suspend, mhd_resume};

typedef struct {
    vae_kv *kv;
    int n, cap;
} kv_collect;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    kv_collect *c = cls;
    if (c->n == c->cap) return MHD_NO;
    c->kv[c->n++] = (vae_kv){key, value};
    return MHD_YES;
}

/* Points req at the connection's values of one kind (libmicrohttpd keeps the strings until the
 * request completes). Returns -1 when memory runs out. */
static int copy_values(vae_request *req, struct MHD_Connection *conn, enum MHD_ValueKind kind,
                       const vae_kv **out, int *n) {
    *out = NULL;
    *n = 0;
    int count = MHD_get_connection_values(conn, kind, NULL, NULL);
    if (count <= 0) return 0;
    vae_kv *kv = vae_request_alloc(req, sizeof *kv * (size_t)count);
    if (!kv) return -1;
    kv_collect c = {kv, 0, count};
    MHD_get_connection_values(conn, kind, collect_value, &c);
    *out = kv;
    *n = c.n;
    return 0;
}

static enum MHD_Result queue_reply(vae_request *req) {
    vae_server *server = req->server;
    const vae_reply *r = &req->reply;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->len, (void *)r->data, r->is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (server->opts.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", server->opts.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "X-Seed, X-Request-Id, Inference-Header-Content-Length");
        if (strcmp(server->opts.cors_origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (int i = 0; i < r->n_headers; i++) MHD_add_response_header(resp, r->header_names[i], r->header_values[i]);
    /* a body we stopped reading cannot be followed by another request on this connection; while
     * draining, clients should reconnect (elsewhere) */
    if (req->body_discarded || atomic_load_explicit(&server->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(req->transport_ctx, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
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
        req = malloc(sizeof *req);
        if (!req) return MHD_NO;
        *con_cls = req;
        vae_request_init(req, server, &MHD_TRANSPORT, conn, method, url);
        atomic_fetch_add_explicit(&server->metrics.in_flight, 1, memory_order_relaxed);
        req->scratch = vae_scratch_for_thread(&server->scratch);
        if (!req->scratch) return MHD_NO; /* more threads than scratch slots: cannot happen */
        if (copy_values(req, conn, MHD_GET_ARGUMENT_KIND, &req->args, &req->n_args) != 0 ||
            copy_values(req, conn, MHD_HEADER_KIND, &req->headers, &req->n_headers) != 0) {
            vae_err err;
            vae_request_set_id(req, &req->scratch->rng);
            vae_fail(&err, VAE_E_OUT_OF_MEMORY, "out of memory reading the request");
            vae_pipeline_reply_error(req, &err);
            req->phase = VAE_PHASE_DONE;
            return queue_reply(req);
        }
        return vae_pipeline_begin(req) == VAE_STEP_REPLY ? queue_reply(req) : MHD_YES;
    }
    if (*upload_data_size) {
        if (req->phase == VAE_PHASE_DONE) req->body_discarded += *upload_data_size; /* answered already */
        else vae_request_append_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return req->body_discarded > STREAM_CUTOFF(server->opts.max_body) ? MHD_NO : MHD_YES;
    }
    if (req->phase == VAE_PHASE_DONE) return MHD_YES; /* answered at the headers */
    /* the last call, or the call after the batcher resumed the connection */
    if (vae_pipeline_step(req) == VAE_STEP_WAIT) return MHD_YES;
    return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    vae_server *server = cls;
    vae_request *req = *con_cls;
    if (!req) return;
    *con_cls = NULL;
    uint64_t micros = vae_now_us() - req->started_us;
    size_t bytes = req->replied ? req->reply.len : 0;
    int status = req->replied && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? req->reply.status : 0;
    if (req->replied)
        vae_metrics_observe(&server->metrics, req->route_index, req->n_held ? req->held[0]->slot : -1,
                            req->reply.status, micros, bytes);
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
        vae_log_access(client, req->method_name, req->path, req->request_id, status, bytes, micros,
                       (unsigned)toe < sizeof reasons / sizeof reasons[0] ? reasons[toe] : "unknown");
    }
    vae_request_release(req);
    free(req);
}

/* Each connection's header/buffer pool (it also bounds the request headers). libmicrohttpd mallocs
 * pools of 32 KiB or less (its default size) from the worker thread's arena, where the pools of
 * connections that come and go fragment the arena between reply buffers (the soak's RSS kept
 * rising for ~300k requests); larger pools are mmap'ed and given back when the connection closes.
 * One page more than the default keeps the header limit where it was. */
#define CONNECTION_POOL_BYTES (36u << 10)

/* The acceptor. Left to accept for themselves, the pool's workers race for the one listening socket
 * and whichever is awake takes a whole burst: measured with wrk's 64 connections, in 3 of 6 runs every
 * connection landed on one worker and the other core idled (16-row /decode at 1,523-1,670 req/s
 * against 2,906-3,318). So one thread accepts them all and MHD_add_connection deals them to the
 * workers by descriptor number, which alternates over a burst. At --max-connections it stops
 * accepting, so that further connections wait in the backlog as they did before. It counts the
 * connections itself (up when it hands one over, down when libmicrohttpd says it closed): the
 * daemon counts a handed-over connection only once its worker takes it up, so its count let one
 * connection of a burst past the limit, to be closed at once. */
static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *acceptor_main(void *arg) {
    vae_server *server = arg;
    for (;;) {
        if (atomic_load(&server->connections) >= server->opts.max_connections) {
            if (atomic_load(&server->draining)) return NULL;
            pause_ms(5); /* full: the next connections wait in the backlog */
            continue;
        }
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(server->listen_fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&server->draining)) return NULL; /* vae_http_quiesce shut the socket down */
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            /* out of descriptors or memory: the connection stays in the backlog; try again shortly */
            if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
                vae_log_event("error", "accept failed: %s", strerror(errno));
            pause_ms(10);
            continue;
        }
        /* libmicrohttpd owns fd from here, and closes it if it cannot take it */
        atomic_fetch_add(&server->connections, 1);
        if (MHD_add_connection(server->daemon, fd, (struct sockaddr *)&addr, len) != MHD_YES)
            atomic_fetch_sub(&server->connections, 1);
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    (void)conn;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) atomic_fetch_sub(&((vae_server *)cls)->connections, 1);
}

vae_status vae_http_start(vae_server *server, int listen_fd, vae_error *err) {
    const vae_server_options *o = &server->opts;
    server->listen_fd = listen_fd;
    server->acceptor_running = 0;
    atomic_store(&server->connections, 0);
    /* one thread is the daemon's own polling thread; more make a pool of them */
    struct MHD_OptionItem pool[] = {
        {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, o->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    server->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_NO_LISTEN_SOCKET,
        0, NULL, NULL, on_request, server, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout,
        /* the acceptor enforces --max-connections; the daemon's own limit, which it splits between
         * the workers, is set where no worker can reach it (a refusal there would not be counted) */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections * (unsigned)o->threads,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, server, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_POOL_BYTES, MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping_nul, NULL, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
    if (!server->daemon) { /* the caller closes listen_fd */
        server->listen_fd = -1;
        return vae_error_set(err, VAE_ERR_IO, "libmicrohttpd could not start (%d threads)", o->threads);
    }
    /* the acceptor blocks in accept(); vae_http_quiesce wakes it with shutdown() */
    int flags = fcntl(listen_fd, F_GETFL);
    if (flags >= 0) fcntl(listen_fd, F_SETFL, flags & ~O_NONBLOCK);
    /* the acceptor takes no signal: SIGTERM and SIGHUP are for main.c's handling, and a handler run on
     * a thread blocked in accept() may wait for the call to return (ThreadSanitizer's runtime does) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&server->acceptor, NULL, acceptor_main, server);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        MHD_stop_daemon(server->daemon);
        server->daemon = NULL;
        server->listen_fd = -1; /* the caller closes it */
        return vae_error_set(err, VAE_ERR_IO, "could not start the accepting thread: %s", strerror(rc));
    }
    server->acceptor_running = 1;
    return VAE_OK;
}

void vae_http_quiesce(vae_server *server) {
    atomic_store(&server->draining, 1);
    if (server->acceptor_running) {
        /* wakes the acceptor's accept() (EINVAL); closing the socket then makes the kernel refuse new
         * connections and reset those waiting in the backlog */
        shutdown(server->listen_fd, SHUT_RDWR);
        pthread_join(server->acceptor, NULL);
        server->acceptor_running = 0;
    }
    if (server->listen_fd >= 0) close(server->listen_fd);
    server->listen_fd = -1;
}

void vae_http_stop(vae_server *server) {
    vae_http_quiesce(server);
    if (server->daemon) MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
}
