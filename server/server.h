/* The server's shared state: configuration, models, metrics, per-thread scratch and the batcher,
 * read by every worker thread; readiness and draining flags set by main. */
#ifndef VAE_SERVER_SERVER_H
#define VAE_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "batcher.h"
#include "metrics.h"
#include "options.h"
#include "registry.h"
#include "scratch.h"
#include "stats.h"

struct MHD_Daemon;

typedef struct vae_server {
    vae_server_options opts;
    vae_registry registry;
    vae_metrics metrics;
    vae_stats stats;       /* the statistics extension's counters */
    vae_scratch_pool scratch;
    vae_batcher *batcher;  /* NULL: every model call runs on its worker thread */
    atomic_int ready;      /* every model loaded */
    atomic_int draining;   /* SIGTERM received */

    /* the transport (http.c) */
    struct MHD_Daemon *daemon;
    int listen_fd;          /* the listening socket (main.c opened it; vae_http_quiesce closes it) */
    pthread_t acceptor;     /* accepts on listen_fd and hands each connection to the daemon */
    int acceptor_running;   /* started and not yet joined */
    atomic_int connections; /* handed to the daemon and not yet closed (--max-connections) */
} vae_server;

#endif
