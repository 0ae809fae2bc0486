/* The server's shared state: configuration, models, metrics, per-thread scratch and the batcher,
 * read by every worker thread; readiness and draining flags set by main. */
#ifndef VAE_SERVER_SERVER_H
#define VAE_SERVER_SERVER_H

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
    int listen_fd;          /* the daemon's listening socket (main.c opened it; the daemon closes it) */
    int listen_fd_quiesced; /* handed back by MHD_quiesce_daemon: vae_http_stop closes it */
} vae_server;

#endif
