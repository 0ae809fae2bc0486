/* Server configuration: one table of options (flag, environment variable, default, type, range and
 * help) from which the defaults are set, the environment and the flags are parsed, and --help is
 * printed, so none of them can disagree. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { OPT_INT, OPT_SIZE, OPT_LONG, OPT_STRING, OPT_LOGFMT, OPT_MODEL, OPT_FLAG, OPT_ONOFF } opt_kind;

/* One option. `def` is the default, parsed and range-checked like a value from the command line
 * (NULL: none); `def_note` is what --help adds after it, or, without `def`, says in words what the
 * default is (a default computed at start-up). The README's configuration table is checked against
 * the --help this table prints (tests/http/test_docs.py). */
typedef struct {
    const char *flag, *arg, *env;
    const char *def, *def_note;
    const char *help;
    opt_kind kind;
    size_t offset;
    long long min, max;
} opt_def;

#define OFF(field) offsetof(vae_server_options, field)
static const opt_def OPTIONS[] = {
    {"--port", "N", "VAE_PORT", "8080", NULL, "TCP port to listen on", OPT_INT, OFF(port), 1, 65535},
    {"--bind", "ADDR", "VAE_BIND", "0.0.0.0", NULL, "numeric address to bind, IPv4 or IPv6 (:: for IPv6)",
     OPT_STRING, OFF(bind), 0, 0},
    {"--model", "NAME=PATH", "VAE_MODELS",
     "mnist=model/weights/mnist.safetensors,fashion=model/weights/fashion.safetensors,"
     "mnist2d=model/weights/mnist2d.safetensors",
     NULL,
     "serve a weights file as NAME; repeatable, the first is the default model (the variable: "
     "NAME=PATH,NAME=PATH); a relative PATH not found from the working directory is looked for "
     "beside the executable (../model/weights, ../share/vae/weights)",
     OPT_MODEL, 0, 0, 0},
    {"--threads", "N", "VAE_THREADS", NULL, "online CPUs",
     "HTTP worker threads, each computing with one BLAS thread", OPT_INT, OFF(threads), 1, 256},
    {"--max-body", "BYTES", "VAE_MAX_BODY", "4194304", "4 MiB", "largest request body", OPT_SIZE,
     OFF(max_body), 64, 1LL << 30},
    {"--timeout", "SECONDS", "VAE_TIMEOUT", "15", NULL, "close connections idle this long", OPT_INT,
     OFF(timeout), 1, 3600},
    {"--max-connections", "N", "VAE_MAX_CONNECTIONS", "1000", NULL, "concurrent connections", OPT_INT,
     OFF(max_connections), 1, 1000000},
    {"--max-pixels", "N", "VAE_MAX_PIXELS", "16777216", "4096x4096",
     "largest PNG width x height, checked from its header", OPT_LONG, OFF(max_pixels), 1, 1LL << 31},
    {"--max-batch", "N", "VAE_MAX_BATCH", "256", NULL, "most images or latent vectors in one request",
     OPT_INT, OFF(max_batch), 1, 4096},
    {"--max-score-rows", "N", "VAE_MAX_SCORE_ROWS", "8192", NULL,
     "most decoded rows (images x k) in one /score request; each costs 3 kB while it runs", OPT_INT,
     OFF(max_score_rows), 1, 1 << 20},
    {"--cors-origin", "ORIGIN", "VAE_CORS_ORIGIN", NULL, NULL,
     "send Access-Control-Allow-Origin: ORIGIN on every reply (e.g. * or https://app.example)",
     OPT_STRING, OFF(cors_origin), 0, 0},
    {"--api-key", "KEY", "VAE_API_KEY", NULL, NULL,
     "require Authorization: Bearer KEY on model endpoints (/health, /ready, /metrics and "
     "/openapi.yaml stay open)",
     OPT_STRING, OFF(api_key), 0, 0},
    {"--log-format", "FMT", "VAE_LOG_FORMAT", "text", NULL,
     "access log on stdout, one line per request: text, json (JSON lines) or off", OPT_LOGFMT,
     OFF(log_format), 0, 0},
    {"--shutdown-grace", "SECONDS", "VAE_SHUTDOWN_GRACE", "20", NULL,
     "on SIGTERM or SIGINT, let requests in flight finish for up to this long, then exit 0", OPT_INT,
     OFF(shutdown_grace), 0, 3600},
    {"--batching", "on|off", "VAE_BATCHING", "on", NULL,
     "run the small model calls of concurrent requests as one batch", OPT_ONOFF, OFF(batching), 0, 1},
    {"--batch-size", "ROWS", "VAE_BATCH_SIZE", "64", NULL, "most rows in one batch", OPT_INT,
     OFF(batch_size), 1, 1024},
    {"--batch-wait-us", "US", "VAE_BATCH_WAIT_US", "0", "batch whatever has queued meanwhile",
     "how long a lone call waits for others to batch with", OPT_INT, OFF(batch_wait_us), 0, 1000000},
    {"--batch-queue", "N", "VAE_BATCH_QUEUE", "512", NULL,
     "calls waiting for the batcher before new ones get 503 overloaded", OPT_INT, OFF(batch_queue), 1,
     65536},
    {"--batch-threads", "N", "VAE_BATCH_THREADS", "1", NULL, "threads running batches", OPT_INT,
     OFF(batch_threads), 1, 64},
    {"--model-control", "on|off", "VAE_MODEL_CONTROL", "on", NULL,
     "let POST /v2/repository/models/NAME/load and /unload re-read or stop a model (they need the API "
     "key when one is set)",
     OPT_ONOFF, OFF(model_control), 0, 1},
    {"--healthcheck", "[URL]", NULL, NULL,
     "http://$VAE_BIND:$VAE_PORT/ready, 127.0.0.1 when bound to a wildcard",
     "probe a server and exit 0 if it answers 200 (for container health checks; no curl needed)",
     OPT_FLAG, OFF(healthcheck), 0, 0},
};
#undef OFF
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

#define HELP_INDENT 30 /* the column descriptions start at */
#define HELP_WIDTH 100 /* the column they wrap before */

/* Prints text from column HELP_INDENT, wrapped at spaces (or after a comma, for a long list such as
 * the default models) before HELP_WIDTH, continuation lines indented; col is the column the cursor
 * is at. */
static void help_wrapped(FILE *out, int col, const char *text) {
    fprintf(out, "%*s", col < HELP_INDENT ? HELP_INDENT - col : 0, "");
    col = HELP_INDENT;
    int glued = 0; /* the last piece ended in a comma: the next one follows without a space */
    while (*text) {
        size_t word = strcspn(text, " ,");
        if (text[word] == ',') word++;
        if (col > HELP_INDENT && col + !glued + (int)word > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
            col = HELP_INDENT;
        } else if (col > HELP_INDENT && !glued) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)word, text);
        col += (int)word;
        glued = text[word - 1] == ',' && text[word] != ' ';
        text += word;
        while (*text == ' ') text++;
    }
    fputc('\n', out);
}

/* --help, from the table: each option, its description, then its variable and default. */
static void usage(FILE *out) {
    fprintf(out, "usage: vae-server [options]\n"
                 "Serves variational autoencoders over HTTP: encode, decode, sample, interpolate.\n"
                 "Every option but --healthcheck also has an environment variable; flags win over it.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *d = &OPTIONS[i];
        int col = fprintf(out, "  %s %s", d->flag, d->arg);
        if (col > HELP_INDENT - 2) {
            fputc('\n', out);
            col = 0;
        }
        help_wrapped(out, col, d->help);
        char facts[320];
        int n = 0;
        if (d->env) n += snprintf(facts + n, sizeof facts - (size_t)n, "env %s; ", d->env);
        if (d->def && d->def_note)
            snprintf(facts + n, sizeof facts - (size_t)n, "default %s (%s)", d->def, d->def_note);
        else if (d->def || d->def_note)
            snprintf(facts + n, sizeof facts - (size_t)n, "default %s", d->def ? d->def : d->def_note);
        else snprintf(facts + n, sizeof facts - (size_t)n, "default none");
        help_wrapped(out, 0, facts);
    }
    fprintf(out, "  %-*s%s\n  %-*s%s\n", HELP_INDENT - 2, "--help", "this text (also -h)", HELP_INDENT - 2,
            "--version", "print the version");
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

/* The default of every option that has one (the models' only when none was configured). */
static vae_status set_defaults(vae_server_options *o, int models, vae_error *err) {
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *d = &OPTIONS[i];
        if (!d->def || (d->kind == OPT_MODEL) != models) continue;
        vae_status st = set_value(o, d, d->def, "the default", err);
        if (st != VAE_OK) return st;
    }
    if (!models && o->threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cpus > 0 ? (int)cpus : 1;
    }
    return VAE_OK;
}

vae_status vae_server_options_defaults(vae_server_options *o, vae_error *err) {
    memset(o, 0, sizeof *o);
    return set_defaults(o, 0, err);
}

vae_status vae_server_options_parse(vae_server_options *o, int argc, char **argv, FILE *out,
                                    int *exit_now, vae_error *err) {
    *exit_now = 0;
    vae_status defaults = vae_server_options_defaults(o, err);
    if (defaults != VAE_OK) return defaults;

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
        vae_status st = set_defaults(o, 1, err);
        if (st != VAE_OK) return st;
        o->default_models = 1;
    }
    return VAE_OK;
}
