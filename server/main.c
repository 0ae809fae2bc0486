/* vae-server: listen, load the models, serve until SIGTERM/SIGINT (re-reading the weights files on
 * SIGHUP), then drain and exit 0. */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "json_arena.h"
#include "log.h"

/* Binds and listens ourselves (rather than letting libmicrohttpd do it) so a failure says why:
 * "address already in use", "cannot assign requested address", ... */
static int open_listener(const char *address, int port, vae_error *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(address, service, &hints, &res);
    if (rc != 0) {
        vae_error_set(err, VAE_ERR_ARG, "--bind %s: not a numeric IPv4 or IPv6 address (%s)", address,
                      gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        vae_error_set(err, VAE_ERR_IO, "cannot listen on %s port %d: %s", address, port, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* --healthcheck: GET the URL (http://HOST:PORT/PATH, default the local /ready) and exit 0 on 200. */
static int healthcheck(const vae_server_options *o) {
    char host[256] = "127.0.0.1", path[512] = "/ready";
    int port = o->port;
    /* a server bound to one address answers only there; a wildcard one also on loopback */
    if (strcmp(o->bind, "0.0.0.0") != 0 && strcmp(o->bind, "::") != 0)
        snprintf(host, sizeof host, "%s", o->bind);
    const char *url = o->healthcheck;
    if (url && *url) {
        if (strncmp(url, "http://", 7) != 0) {
            fprintf(stderr, "vae-server --healthcheck: only http:// URLs are supported\n");
            return 2;
        }
        const char *p = url + 7, *slash = strchr(p, '/'), *colon = strchr(p, ':');
        size_t hlen = colon && (!slash || colon < slash) ? (size_t)(colon - p)
                                                        : (slash ? (size_t)(slash - p) : strlen(p));
        if (hlen == 0 || hlen >= sizeof host) return 2;
        memcpy(host, p, hlen);
        host[hlen] = '\0';
        if (colon && (!slash || colon < slash)) port = atoi(colon + 1);
        if (slash) snprintf(path, sizeof path, "%s", slash);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0) return 1;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    struct timeval tv = {.tv_sec = 3};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    int ok = 0;
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
        char req[700], resp[64] = {0};
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                         path, host);
        if (write(fd, req, (size_t)n) == n && read(fd, resp, sizeof resp - 1) > 12)
            ok = strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0;
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return ok ? 0 : 1;
}

/* The shipped models are found relative to the working directory, else beside the executable
 * (build/ in a checkout, or PREFIX/bin with PREFIX/share/vae/weights). */
static void locate_default_models(vae_server_options *o) {
    static char resolved[VAE_MAX_MODELS][PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    for (int i = 0; i < o->n_models; i++) {
        if (access(o->models[i].path, R_OK) == 0) continue;
        const char *file = strrchr(o->models[i].path, '/');
        file = file ? file + 1 : o->models[i].path;
        const char *dirs[] = {"/../model/weights/", "/../share/vae/weights/"};
        for (size_t k = 0; k < 2; k++) {
            /* a path that does not fit is simply not a candidate */
            if (strlen(exe) + strlen(dirs[k]) + strlen(file) >= sizeof resolved[i]) continue;
            strcpy(resolved[i], exe);
            strcat(resolved[i], dirs[k]);
            strcat(resolved[i], file);
            if (access(resolved[i], R_OK) == 0) {
                /* logged and reported resolved: ../share/vae/weights rather than bin/../share */
                char *real = realpath(resolved[i], NULL);
                if (real && strlen(real) < sizeof resolved[i]) strcpy(resolved[i], real);
                free(real);
                o->models[i].path = resolved[i];
                break;
            }
        }
    }
}

/* SIGTERM/SIGINT/SIGHUP are turned into a byte on a pipe that main reads. A handler (not a signal mask and
 * sigwait) because libraries start threads before main runs (OpenBLAS's constructor does), and a
 * signal delivered to one of those would otherwise take its default action and kill the process. */
static int signal_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
    unsigned char byte = (unsigned char)sig;
    int saved = errno;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

static int install_stop_signals(void) {
    if (pipe2(signal_pipe, O_CLOEXEC) != 0) return -1;
    fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Waits up to timeout_ms (-1: forever) for a signal; returns it, or 0 on timeout. */
static int wait_stop_signal(int timeout_ms) {
    struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
    for (;;) {
        int rc = poll(&p, 1, timeout_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return 0;
        unsigned char byte;
        if (read(signal_pipe[0], &byte, 1) == 1) return byte;
    }
}

/* The batcher's report of each batch, into the statistics. */
static void count_batch(void *ctx, const vae_model_call *batch, uint64_t ns) {
    vae_stats_record_execution(ctx, batch->slot, batch->op, batch->n, ns);
}

/* SIGHUP: every loaded model's file is read again; changed files are swapped in, broken ones leave
 * the old model serving (vae_registry_reload says why, and the log). */
static void reload_models(vae_registry *reg) {
    for (int i = 0; i < reg->count; i++) {
        const vae_served_model *before = vae_registry_acquire(reg, i);
        if (!before) continue; /* unloaded through the repository API: stays so */
        unsigned version = before->version;
        vae_registry_release(before);
        vae_error err = {0};
        int changed = 0;
        if (vae_registry_reload(reg, i, &changed, &err) != VAE_OK) {
            vae_log_event("warn", "SIGHUP: %s; version %u keeps serving", err.message, version);
            continue;
        }
        const vae_served_model *sm = vae_registry_acquire(reg, i);
        if (changed)
            vae_log_event("info", "SIGHUP: model '%s' version %u: %s (sha256 %.16s)", sm->name, sm->version,
                          sm->architecture, sm->sha256);
        else
            vae_log_event("info", "SIGHUP: model '%s' unchanged (version %u)", sm->name, sm->version);
        vae_registry_release(sm);
    }
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) * 1e-9;
}

int main(int argc, char **argv) {
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
#ifdef __GLIBC__
    /* glibc raises its mmap threshold after the first large free, so large replies (JSON pixels
     * of a sample) then come from the worker threads' arenas and fragment them: RSS crept up by
     * ~60 kB per 150k requests in the soak. A fixed threshold keeps them on mmap and RSS flat. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    static vae_server server;
    vae_error err = {0};
    int exit_now = 0;
    if (vae_server_options_parse(&server.opts, argc, argv, stdout, &exit_now, &err) != VAE_OK) {
        fprintf(stderr, "vae-server: %s\n", err.message);
        return 2;
    }
    if (exit_now) return 0;
    if (server.opts.healthcheck) return healthcheck(&server.opts);
    vae_log_init(server.opts.log_format);
    vae_json_arena_install();
    if (server.opts.default_models) locate_default_models(&server.opts);

    /* one BLAS thread per request: parallelism comes from the HTTP worker threads */
    openblas_set_num_threads(1);
    if (install_stop_signals() != 0) {
        vae_log_event("error", "cannot install signal handlers: %s", strerror(errno));
        return 1;
    }

    vae_metrics_init(&server.metrics);
    if (vae_scratch_pool_create(&server.scratch, server.opts.threads + 1, (uint64_t)time(NULL)) != VAE_OK) {
        vae_log_event("error", "out of memory allocating per-thread buffers");
        return 1;
    }
    int fd = open_listener(server.opts.bind, server.opts.port, &err);
    if (fd < 0 || vae_http_start(&server, fd, &err) != VAE_OK) {
        vae_log_event("error", "%s", err.message);
        if (fd >= 0) close(fd);
        vae_scratch_pool_destroy(&server.scratch);
        return 1;
    }
    vae_log_event("info", "listening on %s port %d with %d threads", server.opts.bind, server.opts.port,
                  server.opts.threads);

    if (vae_registry_load(&server.registry, &server.opts, &err) != VAE_OK ||
        vae_scratch_pool_prepare(&server.scratch, server.opts.max_batch, server.registry.max_width,
                                 server.registry.max_latent) != VAE_OK) {
        vae_log_event("error", "%s", err.message[0] ? err.message : "out of memory");
        goto fail;
    }
    if (server.opts.batching) {
        vae_batcher_config bc = {.threads = server.opts.batch_threads, .max_rows = server.opts.batch_size,
                                 .wait_us = server.opts.batch_wait_us, .queue = server.opts.batch_queue,
                                 .run_alone = 1, .on_batch = count_batch, .on_batch_ctx = &server.stats};
        server.batcher = vae_batcher_create(&bc, server.registry.max_width, server.registry.max_latent,
                                            &server.metrics, &err);
        if (!server.batcher) {
            vae_log_event("error", "%s", err.message);
            goto fail;
        }
    }
    atomic_store(&server.ready, 1);
    for (int i = 0; i < server.registry.count; i++) {
        const vae_served_model *sm = vae_registry_acquire(&server.registry, i);
        vae_log_event("info", "model '%s'%s: %s %s from %s (sha256 %.16s)", sm->name, i == 0 ? " (default)" : "",
                      sm->architecture, vae_activation_name(sm->model->config.activation), sm->path, sm->sha256);
        vae_registry_release(sm);
    }
    if (server.batcher)
        vae_log_event("info", "batching small calls: up to %d rows, %d us wait, %d queued, %d thread(s)",
                      server.opts.batch_size, server.opts.batch_wait_us, server.opts.batch_queue,
                      server.opts.batch_threads);
    vae_log_event("info", "ready in %.1f ms", seconds_since(&started) * 1e3);

    int sig;
    while ((sig = wait_stop_signal(-1)) == SIGHUP) reload_models(&server.registry);
    vae_log_event("info", "%s: no new connections; finishing %lld request(s) in flight",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT",
                  (long long)atomic_load(&server.metrics.in_flight));
    vae_http_quiesce(&server);
    struct timespec drain_start;
    clock_gettime(CLOCK_MONOTONIC, &drain_start);
    /* a second signal cuts the drain short */
    while (atomic_load(&server.metrics.in_flight) > 0 &&
           seconds_since(&drain_start) < server.opts.shutdown_grace) {
        int again = wait_stop_signal(5);
        if (again && again != SIGHUP) {
            vae_log_event("info", "second signal: stopping now");
            break;
        }
    }
    long long left = atomic_load(&server.metrics.in_flight);
    /* libmicrohttpd must not stop with a connection suspended: refuse new batched calls (they run
     * inline from here on), let the queued ones finish and resume their connections */
    vae_batcher_close(server.batcher);
    if (vae_batcher_wait_idle(server.batcher, 5000) > 0)
        vae_log_event("warn", "batcher still busy after 5 s");
    vae_http_stop(&server);
    vae_batcher_destroy(server.batcher);
    server.batcher = NULL;
    vae_registry_free(&server.registry);
    vae_scratch_pool_destroy(&server.scratch);
    if (left > 0) vae_log_event("warn", "%lld request(s) cut off after %d s", left, server.opts.shutdown_grace);
    vae_log_event("info", "stopped");
    return 0;

fail: /* after the daemon started, before serving */
    vae_http_stop(&server); /* closes the listening socket */
    vae_registry_free(&server.registry);
    vae_scratch_pool_destroy(&server.scratch);
    return 1;
}
