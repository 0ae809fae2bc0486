/* Metric counters and their Prometheus text rendering. */
#include "metrics.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const int STATUS_CODES[VAE_METRIC_STATUSES - 1] = {200, 204, 400, 401, 404, 405,
                                                          413, 415, 422, 500, 501, 503};
static const double BUCKETS[VAE_METRIC_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                       0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

static const double QUEUE_BUCKETS[VAE_METRIC_QUEUE_BUCKETS - 1] = {0.00001, 0.000025, 0.00005, 0.0001,
                                                                   0.00025, 0.0005,   0.001,   0.01};

void vae_metrics_init(vae_metrics *m) {
    memset(m, 0, sizeof *m);
    m->started = vae_now_seconds();
}

static int status_slot(int status) {
    for (int i = 0; i < VAE_METRIC_STATUSES - 1; i++)
        if (STATUS_CODES[i] == status) return i;
    return VAE_METRIC_STATUSES - 1; /* "other" */
}

void vae_metrics_observe(vae_metrics *m, int route, int model, int status, uint64_t micros, size_t bytes) {
    if (route < 0 || route >= VAE_METRIC_ROUTES) route = VAE_METRIC_ROUTES - 1;
    int mi = model >= 0 && model < VAE_MAX_MODELS ? model + 1 : 0;
    atomic_fetch_add_explicit(&m->requests[route][mi][status_slot(status)], 1, memory_order_relaxed);
    int b = 0;
    while (b < VAE_METRIC_BUCKETS - 1 && (double)micros * 1e-6 > BUCKETS[b]) b++;
    atomic_fetch_add_explicit(&m->latency[route][mi][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[route][mi], micros, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_sent, bytes, memory_order_relaxed);
}

void vae_metrics_observe_batch(vae_metrics *m, int rows) {
    int b = 0;
    while (b < VAE_METRIC_BATCH_BUCKETS - 1 && rows > (1 << b)) b++;
    atomic_fetch_add_explicit(&m->batch_rows[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batched_items, (unsigned long long)rows, memory_order_relaxed);
}

void vae_metrics_observe_queue(vae_metrics *m, uint64_t micros) {
    int b = 0;
    while (b < VAE_METRIC_QUEUE_BUCKETS - 1 && (double)micros * 1e-6 > QUEUE_BUCKETS[b]) b++;
    atomic_fetch_add_explicit(&m->queue_time[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->queue_time_sum_us, micros, memory_order_relaxed);
}

/* printf-style append; VAE_ERR_NOMEM when the buffer cannot grow. */
static vae_status appendf(vae_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static vae_status appendf(vae_buf *out, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return VAE_ERR_ARG;
    return vae_buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Resident set size in bytes, from /proc (0 where unavailable). */
static long resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

vae_status vae_metrics_render(const vae_metrics *m, const char *const *route_names, int n_routes,
                              vae_registry *reg, int ready, vae_buf *out) {
    vae_status st = VAE_OK;
#define OUT(...)                                        \
    do {                                                \
        if (st == VAE_OK) st = appendf(out, __VA_ARGS__); \
    } while (0)
    /* model labels: the registry's slot names (fixed at start), "" for requests without a model */
    const char *models[VAE_METRIC_MODELS] = {""};
    for (int i = 0; reg && i < reg->count && i < VAE_MAX_MODELS; i++) models[i + 1] = reg->slots[i].name;
    OUT("# HELP vae_requests_total HTTP requests answered, by route, model (\"\" for none) and status code.\n"
        "# TYPE vae_requests_total counter\n");
    for (int r = 0; r < VAE_METRIC_ROUTES; r++) {
        if (r >= n_routes && r != VAE_METRIC_ROUTES - 1) continue;
        const char *name = r < n_routes ? route_names[r] : "unmatched";
        for (int mi = 0; mi < VAE_METRIC_MODELS; mi++) {
            for (int s = 0; s < VAE_METRIC_STATUSES; s++) {
                unsigned long long v = atomic_load_explicit(&m->requests[r][mi][s], memory_order_relaxed);
                if (!v || !models[mi]) continue;
                if (s < VAE_METRIC_STATUSES - 1)
                    OUT("vae_requests_total{route=\"%s\",model=\"%s\",status=\"%d\"} %llu\n", name, models[mi],
                        STATUS_CODES[s], v);
                else
                    OUT("vae_requests_total{route=\"%s\",model=\"%s\",status=\"other\"} %llu\n", name, models[mi], v);
            }
        }
    }
    OUT("# HELP vae_request_duration_seconds Time from the request's headers to its response, by route and "
        "model.\n"
        "# TYPE vae_request_duration_seconds histogram\n");
    for (int r = 0; r < VAE_METRIC_ROUTES; r++) {
        if (r >= n_routes && r != VAE_METRIC_ROUTES - 1) continue;
        const char *name = r < n_routes ? route_names[r] : "unmatched";
        for (int mi = 0; mi < VAE_METRIC_MODELS; mi++) {
            if (!models[mi]) continue;
            unsigned long long cumulative = 0;
            unsigned long long counts[VAE_METRIC_BUCKETS];
            for (int b = 0; b < VAE_METRIC_BUCKETS; b++) {
                counts[b] = atomic_load_explicit(&m->latency[r][mi][b], memory_order_relaxed);
                cumulative += counts[b];
            }
            if (!cumulative) continue;
            cumulative = 0;
            for (int b = 0; b < VAE_METRIC_BUCKETS; b++) {
                cumulative += counts[b];
                if (b < VAE_METRIC_BUCKETS - 1)
                    OUT("vae_request_duration_seconds_bucket{route=\"%s\",model=\"%s\",le=\"%g\"} %llu\n", name,
                        models[mi], BUCKETS[b], cumulative);
                else
                    OUT("vae_request_duration_seconds_bucket{route=\"%s\",model=\"%s\",le=\"+Inf\"} %llu\n", name,
                        models[mi], cumulative);
            }
            OUT("vae_request_duration_seconds_sum{route=\"%s\",model=\"%s\"} %.6f\n", name, models[mi],
                (double)atomic_load_explicit(&m->latency_sum_us[r][mi], memory_order_relaxed) * 1e-6);
            OUT("vae_request_duration_seconds_count{route=\"%s\",model=\"%s\"} %llu\n", name, models[mi], cumulative);
        }
    }
    OUT("# HELP vae_requests_in_flight Requests received and not yet answered.\n"
        "# TYPE vae_requests_in_flight gauge\n"
        "vae_requests_in_flight %lld\n",
        atomic_load_explicit(&m->in_flight, memory_order_relaxed));
    OUT("# HELP vae_response_bytes_total Response body bytes sent.\n"
        "# TYPE vae_response_bytes_total counter\n"
        "vae_response_bytes_total %llu\n",
        atomic_load_explicit(&m->bytes_sent, memory_order_relaxed));
    OUT("# HELP vae_batches_total Model batches run by the dynamic batcher, and the requests in them.\n"
        "# TYPE vae_batches_total counter\n"
        "vae_batches_total %llu\n"
        "# TYPE vae_batched_requests_total counter\n"
        "vae_batched_requests_total %llu\n",
        atomic_load_explicit(&m->batches, memory_order_relaxed),
        atomic_load_explicit(&m->batched_items, memory_order_relaxed));
    OUT("# HELP vae_batch_rows Rows per batch run by the dynamic batcher.\n"
        "# TYPE vae_batch_rows histogram\n");
    unsigned long long cumulative = 0;
    for (int b = 0; b < VAE_METRIC_BATCH_BUCKETS; b++) {
        cumulative += atomic_load_explicit(&m->batch_rows[b], memory_order_relaxed);
        if (b < VAE_METRIC_BATCH_BUCKETS - 1)
            OUT("vae_batch_rows_bucket{le=\"%d\"} %llu\n", 1 << b, cumulative);
        else
            OUT("vae_batch_rows_bucket{le=\"+Inf\"} %llu\n", cumulative);
    }
    OUT("vae_batch_rows_sum %llu\nvae_batch_rows_count %llu\n",
        atomic_load_explicit(&m->batched_items, memory_order_relaxed), cumulative);
    OUT("# HELP vae_batch_queue_seconds Time a model call waited in the batcher's queue.\n"
        "# TYPE vae_batch_queue_seconds histogram\n");
    cumulative = 0;
    for (int b = 0; b < VAE_METRIC_QUEUE_BUCKETS; b++) {
        cumulative += atomic_load_explicit(&m->queue_time[b], memory_order_relaxed);
        if (b < VAE_METRIC_QUEUE_BUCKETS - 1)
            OUT("vae_batch_queue_seconds_bucket{le=\"%g\"} %llu\n", QUEUE_BUCKETS[b], cumulative);
        else
            OUT("vae_batch_queue_seconds_bucket{le=\"+Inf\"} %llu\n", cumulative);
    }
    OUT("vae_batch_queue_seconds_sum %.6f\nvae_batch_queue_seconds_count %llu\n",
        (double)atomic_load_explicit(&m->queue_time_sum_us, memory_order_relaxed) * 1e-6, cumulative);
    OUT("# HELP vae_overload_rejections_total Requests answered 503 because the queue was full.\n"
        "# TYPE vae_overload_rejections_total counter\n"
        "vae_overload_rejections_total %llu\n",
        atomic_load_explicit(&m->rejected_overload, memory_order_relaxed));
    OUT("# HELP vae_model_info One series per loaded model; the value is always 1.\n"
        "# TYPE vae_model_info gauge\n");
    for (int i = 0; reg && i < reg->count; i++) {
        const vae_served_model *sm = vae_registry_acquire(reg, i);
        if (!sm) continue;
        const vae_config *cfg = &sm->model->config;
        const char *dataset = vae_metadata_get(&sm->model->metadata, "dataset");
        OUT("vae_model_info{model=\"%s\",latent_dim=\"%d\",hidden=\"%s\",activation=\"%s\","
            "dataset=\"%s\",default=\"%s\",version=\"%u\",sha256=\"%s\"} 1\n",
            sm->name, cfg->latent_dim, sm->hidden, vae_activation_name(cfg->activation),
            dataset ? dataset : "", i == 0 ? "true" : "false", sm->version, sm->sha256);
        vae_registry_release(sm);
    }
    if (reg)
        OUT("# HELP vae_model_reloads_total Weights files loaded after start (SIGHUP or the repository API), "
            "and those refused (the old model kept serving).\n"
            "# TYPE vae_model_reloads_total counter\n"
            "vae_model_reloads_total{result=\"loaded\"} %llu\n"
            "vae_model_reloads_total{result=\"failed\"} %llu\n",
            atomic_load(&reg->loads), atomic_load(&reg->load_failures));
    OUT("# HELP vae_ready 1 once every model is loaded.\n# TYPE vae_ready gauge\nvae_ready %d\n", ready);
    OUT("# HELP vae_uptime_seconds Seconds since the server started.\n"
        "# TYPE vae_uptime_seconds gauge\nvae_uptime_seconds %.3f\n",
        vae_now_seconds() - m->started);
    OUT("# HELP vae_resident_memory_bytes Resident set size of the process.\n"
        "# TYPE vae_resident_memory_bytes gauge\nvae_resident_memory_bytes %ld\n",
        resident_bytes());
#undef OUT
    return st;
}
