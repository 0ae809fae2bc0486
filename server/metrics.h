/* Prometheus metrics: requests by route and status, latency histograms, requests in flight.
 * Lock-free: relaxed atomic counters updated by every worker thread. */
#ifndef VAE_SERVER_METRICS_H
#define VAE_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "vae/buf.h"

#define VAE_METRIC_ROUTES 32   /* route slots (the last one counts unmatched paths) */
#define VAE_METRIC_STATUSES 13
#define VAE_METRIC_BUCKETS 13

typedef struct {
    atomic_ullong requests[VAE_METRIC_ROUTES][VAE_METRIC_STATUSES];
    atomic_ullong latency[VAE_METRIC_ROUTES][VAE_METRIC_BUCKETS]; /* per bucket, not cumulative */
    atomic_ullong latency_sum_us[VAE_METRIC_ROUTES];
    atomic_llong in_flight;
    atomic_ullong bytes_sent;
    atomic_ullong batches, batched_items;  /* dynamic batching (when enabled) */
    atomic_ullong rejected_overload;
    double started; /* monotonic seconds at start */
} vae_metrics;

void vae_metrics_init(vae_metrics *m);

/* Records one finished request. route is the route's index, or VAE_METRIC_ROUTES - 1 for none. */
void vae_metrics_observe(vae_metrics *m, int route, int status, uint64_t micros, size_t bytes);

/* Appends the Prometheus text exposition (format 0.0.4) to out. route_names[i] labels route i. */
vae_status vae_metrics_render(const vae_metrics *m, const char *const *route_names, int n_routes,
                              const vae_registry *reg, int ready, vae_buf *out);

#endif
