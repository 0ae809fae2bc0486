/* Server configuration: every flag, its environment variable, defaults, parsing and --help. */
#ifndef VAE_SERVER_OPTIONS_H
#define VAE_SERVER_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "vae/error.h"

#define VAE_SERVER_VERSION "1.0.0"
#define VAE_MAX_MODELS 8

typedef enum { VAE_LOG_TEXT, VAE_LOG_JSON, VAE_LOG_OFF } vae_log_format;

typedef struct {
    const char *name; /* as given after --model NAME= */
    const char *path;
} vae_model_spec;

typedef struct {
    int port;
    const char *bind;          /* numeric address; "0.0.0.0" or "::" */
    vae_model_spec models[VAE_MAX_MODELS];
    int n_models;
    int default_models;        /* no model was configured: the shipped ones are used */
    int threads;               /* HTTP worker threads (libmicrohttpd's pool) */
    size_t max_body;           /* bytes */
    int timeout;               /* idle connection timeout, seconds */
    int max_connections;
    long max_pixels;           /* largest PNG width*height accepted */
    int max_batch;             /* largest number of images or z per request */
    int max_score_rows;        /* largest images x k of one /score request (decoded rows) */
    const char *cors_origin;   /* NULL: no CORS headers */
    const char *api_key;       /* NULL: no authentication */
    vae_log_format log_format;
    int shutdown_grace;        /* seconds to let in-flight requests finish on SIGTERM */
    int batching;              /* dynamic batching of small model calls (1 on, 0 off) */
    int batch_size;            /* rows per batch */
    int batch_wait_us;         /* how long a lone call waits for others */
    int batch_queue;           /* calls queued before 503 */
    int batch_threads;         /* threads running batches */
    int model_control;         /* the repository API may load and unload models (1 on, 0 off) */
    const char *healthcheck;   /* --healthcheck: probe this server and exit */
} vae_server_options;

/* Fills opts with every option's default (no models: parse adds the shipped ones when none is
 * configured). Returns VAE_OK; an error only if the table's own defaults do not parse (a bug). */
vae_status vae_server_options_defaults(vae_server_options *opts, vae_error *err);

/* Fills opts from defaults, then the environment (VAE_PORT, ...), then argv (flags win).
 * Returns VAE_OK or VAE_ERR_ARG with a one-line reason naming the flag or variable.
 * *exit_now is set for --help and --version (already printed to out). */
vae_status vae_server_options_parse(vae_server_options *opts, int argc, char **argv, FILE *out,
                                    int *exit_now, vae_error *err);

#endif
