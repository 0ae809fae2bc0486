/* Prometheus metrics: requests by route and status, latency histograms, requests in flight.
 * Lock-free: relaxed atomic counters updated by every worker thread. */
#ifndef VAE_SERVER_METRICS_H
#define VAE_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "vae/buf.h"

#define VAE_METRIC_ROUTES 48   /* route slots (the last one counts unmatched paths) */
#define VAE_METRIC_STATUSES 13
#define VAE_METRIC_BUCKETS 13
#define VAE_METRIC_BATCH_BUCKETS 9 /* batch sizes 1, 2, 4, ... 128, more */
#define VAE_METRIC_QUEUE_BUCKETS 9 /* queue times 10 us ... 10 ms, more */

/* Model slots of the per-model series: slot + 1, and 0 for requests that used no model. */
#define VAE_METRIC_MODELS (VAE_MAX_MODELS + 1)

typedef struct {
    atomic_ullong requests[VAE_METRIC_ROUTES][VAE_METRIC_MODELS][VAE_METRIC_STATUSES];
    atomic_ullong latency[VAE_METRIC_ROUTES][VAE_METRIC_MODELS][VAE_METRIC_BUCKETS]; /* per bucket */
    atomic_ullong latency_sum_us[VAE_METRIC_ROUTES][VAE_METRIC_MODELS];
    atomic_llong in_flight;
    atomic_ullong bytes_sent;
    atomic_ullong batches, batched_items;  /* dynamic batching (when enabled) */
    atomic_ullong batch_rows[VAE_METRIC_BATCH_BUCKETS];  /* batches by rows, per bucket */
    atomic_ullong queue_time[VAE_METRIC_QUEUE_BUCKETS];  /* jobs by time queued, per bucket */
    atomic_ullong queue_time_sum_us;
    atomic_ullong rejected_overload;
    double started; /* monotonic seconds at start */
} vae_metrics;

void vae_metrics_init(vae_metrics *m);

/* Records one finished request. route is the route's index, or VAE_METRIC_ROUTES - 1 for none;
 * model is the registry slot of the model it used, or -1. */
void vae_metrics_observe(vae_metrics *m, int route, int model, int status, uint64_t micros, size_t bytes);

/* Records one batch of `rows` rows run by the batcher. */
void vae_metrics_observe_batch(vae_metrics *m, int rows);

/* Records the time one job waited in the batcher's queue. */
void vae_metrics_observe_queue(vae_metrics *m, uint64_t micros);

/* Appends the Prometheus text exposition (format 0.0.4) to out. route_names[i] labels route i. */
vae_status vae_metrics_render(const vae_metrics *m, const char *const *route_names, int n_routes,
                              vae_registry *reg, int ready, vae_buf *out);

#endif
