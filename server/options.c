/* One table of server options: flag, environment variable, type, range and help, so --help, the
 * environment and the flags can never disagree. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { OPT_INT, OPT_SIZE, OPT_LONG, OPT_STRING, OPT_LOGFMT, OPT_MODEL, OPT_FLAG, OPT_ONOFF } opt_kind;

typedef struct {
    const char *flag, *env, *arg, *help;
    opt_kind kind;
    size_t offset;
    long long min, max;
} opt_def;

#define OFF(field) offsetof(vae_server_options, field)
static const opt_def OPTIONS[] = {
    {"--port", "VAE_PORT", "N", "TCP port to listen on (default 8080)", OPT_INT, OFF(port), 1, 65535},
    {"--bind", "VAE_BIND", "ADDR", "numeric address to bind, IPv4 or IPv6 (default 0.0.0.0)",
     OPT_STRING, OFF(bind), 0, 0},
    {"--model", "VAE_MODELS", "NAME=PATH",
     "serve a weights file as NAME; repeatable, the first is the default model\n"
     "                              (env: NAME=PATH,NAME=PATH; default mnist and fashion from\n"
     "                              model/weights/)",
     OPT_MODEL, 0, 0, 0},
    {"--threads", "VAE_THREADS", "N", "HTTP worker threads (default: online CPUs)", OPT_INT,
     OFF(threads), 1, 256},
    {"--max-body", "VAE_MAX_BODY", "BYTES", "largest request body (default 4194304 = 4 MiB)", OPT_SIZE,
     OFF(max_body), 64, 1LL << 30},
    {"--timeout", "VAE_TIMEOUT", "SECONDS", "close connections idle this long (default 15)", OPT_INT,
     OFF(timeout), 1, 3600},
    {"--max-connections", "VAE_MAX_CONNECTIONS", "N", "concurrent connections (default 1000)", OPT_INT,
     OFF(max_connections), 1, 1000000},
    {"--max-pixels", "VAE_MAX_PIXELS", "N",
     "largest PNG width*height accepted (default 16777216 = 4096x4096)", OPT_LONG, OFF(max_pixels),
     1, 1LL << 31},
    {"--max-batch", "VAE_MAX_BATCH", "N", "most images or latent vectors per request (default 256)",
     OPT_INT, OFF(max_batch), 1, 4096},
    {"--cors-origin", "VAE_CORS_ORIGIN", "ORIGIN",
     "send Access-Control-Allow-Origin: ORIGIN (e.g. * or https://app.example)", OPT_STRING,
     OFF(cors_origin), 0, 0},
    {"--api-key", "VAE_API_KEY", "KEY",
     "require Authorization: Bearer KEY on model endpoints (health endpoints stay open)", OPT_STRING,
     OFF(api_key), 0, 0},
    {"--log-format", "VAE_LOG_FORMAT", "FMT", "access log: text, json or off (default text)",
     OPT_LOGFMT, OFF(log_format), 0, 0},
    {"--shutdown-grace", "VAE_SHUTDOWN_GRACE", "SECONDS",
     "on SIGTERM, wait this long for requests in flight (default 20)", OPT_INT, OFF(shutdown_grace),
     0, 3600},
    {"--batching", "VAE_BATCHING", "on|off",
     "run small encode/decode calls of concurrent requests as one batch (default on)", OPT_ONOFF,
     OFF(batching), 0, 1},
    {"--batch-size", "VAE_BATCH_SIZE", "ROWS", "most images or latent vectors in one batch (default 64)",
     OPT_INT, OFF(batch_size), 1, 1024},
    {"--batch-wait-us", "VAE_BATCH_WAIT_US", "US",
     "how long a lone call waits for others to batch with (default 0: batch what is queued)", OPT_INT,
     OFF(batch_wait_us), 0, 1000000},
    {"--batch-queue", "VAE_BATCH_QUEUE", "N",
     "calls waiting for the batcher before new ones get 503 (default 512)", OPT_INT,
     OFF(batch_queue), 1, 65536},
    {"--batch-threads", "VAE_BATCH_THREADS", "N", "threads running batches (default 1)", OPT_INT,
     OFF(batch_threads), 1, 64},
    {"--model-control", "VAE_MODEL_CONTROL", "on|off",
     "let POST /v2/repository/models/NAME/load and /unload re-read or stop a model (default on;\n"
     "                              they need the API key when one is set)",
     OPT_ONOFF, OFF(model_control), 0, 1},
    {"--healthcheck", NULL, "[URL]",
     "probe http://127.0.0.1:$VAE_PORT/ready (or URL) and exit 0 if it answers 200\n"
     "                              (for container HEALTHCHECKs; no curl needed)",
     OPT_FLAG, OFF(healthcheck), 0, 0},
};
#undef OFF
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

static void usage(FILE *out) {
    fprintf(out, "usage: vae-server [options]\n"
                 "Serves variational autoencoders over HTTP: encode, decode, sample, interpolate.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s %s", OPTIONS[i].flag, OPTIONS[i].arg);
        fprintf(out, "  %-26s  %s\n", left, OPTIONS[i].help);
        if (OPTIONS[i].env) fprintf(out, "  %-26s  (env %s)\n", "", OPTIONS[i].env);
    }
    fprintf(out, "  %-26s  %s\n  %-26s  %s\n", "--help", "this text", "--version", "print the version");
}

/* Adds one NAME=PATH model spec; the strings must outlive opts (argv or the environment). */
static vae_status add_model(vae_server_options *o, const char *spec, size_t len, const char *source,
                            vae_error *err) {
    static char storage[VAE_MAX_MODELS][2][1024];
    const char *eq = memchr(spec, '=', len);
    if (!eq || eq == spec || (size_t)(eq - spec) + 1 == len)
        return vae_error_set(err, VAE_ERR_ARG, "%s: '%.*s' is not NAME=PATH", source, (int)len, spec);
    if (o->n_models == VAE_MAX_MODELS)
        return vae_error_set(err, VAE_ERR_ARG, "%s: at most %d models", source, VAE_MAX_MODELS);
    size_t name_len = (size_t)(eq - spec), path_len = len - name_len - 1;
    if (name_len >= sizeof storage[0][0] || path_len >= sizeof storage[0][1])
        return vae_error_set(err, VAE_ERR_ARG, "%s: model name or path too long", source);
    for (size_t i = 0; i < name_len; i++) {
        char c = spec[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return vae_error_set(err, VAE_ERR_ARG,
                                 "%s: model name '%.*s' may only use letters, digits, '-', '_', '.'",
                                 source, (int)name_len, spec);
    }
    char *name = storage[o->n_models][0], *path = storage[o->n_models][1];
    memcpy(name, spec, name_len);
    name[name_len] = '\0';
    memcpy(path, eq + 1, path_len);
    path[path_len] = '\0';
    for (int i = 0; i < o->n_models; i++)
        if (strcmp(o->models[i].name, name) == 0)
            return vae_error_set(err, VAE_ERR_ARG, "%s: model name '%s' given twice", source, name);
    o->models[o->n_models].name = name;
    o->models[o->n_models].path = path;
    o->n_models++;
    return VAE_OK;
}

static vae_status set_value(vae_server_options *o, const opt_def *d, const char *val,
                            const char *source, vae_error *err) {
    char *field = (char *)o + d->offset;
    switch (d->kind) {
    case OPT_INT:
    case OPT_SIZE:
    case OPT_LONG: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (end == val || *end || errno)
            return vae_error_set(err, VAE_ERR_ARG, "%s: '%s' is not an integer", source, val);
        if (v < d->min || v > d->max)
            return vae_error_set(err, VAE_ERR_ARG, "%s: %lld is out of range %lld..%lld", source, v,
                                 d->min, d->max);
        if (d->kind == OPT_INT) *(int *)field = (int)v;
        else if (d->kind == OPT_SIZE) *(size_t *)field = (size_t)v;
        else *(long *)field = (long)v;
        return VAE_OK;
    }
    case OPT_STRING:
    case OPT_FLAG:
        *(const char **)field = val;
        return VAE_OK;
    case OPT_ONOFF:
        if (!strcmp(val, "on") || !strcmp(val, "1") || !strcmp(val, "true")) *(int *)field = 1;
        else if (!strcmp(val, "off") || !strcmp(val, "0") || !strcmp(val, "false")) *(int *)field = 0;
        else return vae_error_set(err, VAE_ERR_ARG, "%s: '%s' is not on or off", source, val);
        return VAE_OK;
    case OPT_LOGFMT:
        if (!strcmp(val, "text")) o->log_format = VAE_LOG_TEXT;
        else if (!strcmp(val, "json")) o->log_format = VAE_LOG_JSON;
        else if (!strcmp(val, "off")) o->log_format = VAE_LOG_OFF;
        else return vae_error_set(err, VAE_ERR_ARG, "%s: '%s' is not text, json or off", source, val);
        return VAE_OK;
    case OPT_MODEL: {
        /* the environment form is a comma-separated list */
        const char *p = val;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            vae_status st = add_model(o, p, len, source, err);
            if (st != VAE_OK) return st;
            p += len + (comma ? 1 : 0);
        }
        return VAE_OK;
    }
    }
    return VAE_ERR_ARG;
}

vae_status vae_server_options_parse(vae_server_options *o, int argc, char **argv, FILE *out,
                                    int *exit_now, vae_error *err) {
    memset(o, 0, sizeof *o);
    *exit_now = 0;
    o->port = 8080;
    o->bind = "0.0.0.0";
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus > 0 ? (int)cpus : 1;
    o->max_body = 4u << 20;
    o->timeout = 15;
    o->max_connections = 1000;
    o->max_pixels = 4096L * 4096L;
    o->max_batch = 256;
    o->log_format = VAE_LOG_TEXT;
    o->shutdown_grace = 20;
    o->batching = 1;
    o->batch_size = 64;
    o->batch_wait_us = 0;
    o->batch_queue = 512;
    o->batch_threads = 1;
    o->model_control = 1;

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *val = OPTIONS[i].env ? getenv(OPTIONS[i].env) : NULL;
        if (!val || !*val) continue;
        vae_status st = set_value(o, &OPTIONS[i], val, OPTIONS[i].env, err);
        if (st != VAE_OK) return st;
    }
    int env_models = o->n_models, flag_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(out);
            *exit_now = 1;
            return VAE_OK;
        }
        if (!strcmp(arg, "--version")) {
            fprintf(out, "vae-server %s\n", VAE_SERVER_VERSION);
            *exit_now = 1;
            return VAE_OK;
        }
        /* --flag=value and --flag value are both accepted */
        const char *eq = strchr(arg, '=');
        size_t flag_len = eq && !strncmp(arg, "--", 2) ? (size_t)(eq - arg) : strlen(arg);
        const opt_def *d = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (strlen(OPTIONS[k].flag) == flag_len && !strncmp(arg, OPTIONS[k].flag, flag_len))
                d = &OPTIONS[k];
        if (!d)
            return vae_error_set(err, VAE_ERR_ARG, "unknown option '%s' (see --help)", arg);
        const char *val;
        if (d->kind == OPT_FLAG) {
            /* the URL is optional */
            val = eq ? eq + 1 : (i + 1 < argc && strncmp(argv[i + 1], "--", 2) ? argv[++i] : "");
        } else if (eq && !strncmp(arg, "--", 2) && flag_len < strlen(arg)) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return vae_error_set(err, VAE_ERR_ARG, "%s needs a value (see --help)", d->flag);
            val = argv[++i];
        }
        if (d->kind == OPT_MODEL) {
            /* flags replace the environment's list rather than appending to it */
            if (!flag_models && env_models) o->n_models = 0;
            flag_models++;
            vae_status st = add_model(o, val, strlen(val), d->flag, err);
            if (st != VAE_OK) return st;
            continue;
        }
        vae_status st = set_value(o, d, val, d->flag, err);
        if (st != VAE_OK) return st;
    }
    if (o->n_models == 0) {
        static const char *defaults[] = {"mnist=model/weights/mnist.safetensors",
                                         "fashion=model/weights/fashion.safetensors"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            add_model(o, defaults[i], strlen(defaults[i]), "default", err);
        o->default_models = 1;
    }
    return VAE_OK;
}
