/* Fuzz harness for the server's request pipeline: a process-wide server with two tiny models, and
 * one call that builds a request (method, path, query, headers, body) and drives the real pipeline
 * (server/pipeline.c: vae_pipeline_begin, vae_request_append_body, vae_pipeline_step) as http.c
 * does, through the real batcher, then checks the reply against the API contract (abort() on any
 * breach, so libFuzzer reports it). No libmicrohttpd is involved. */
#ifndef VAE_FUZZ_HARNESS_H
#define VAE_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "server.h"
#include "vae/png.h"

/* One fuzz request besides its body. */
typedef struct {
    const char *method;       /* NULL: POST when there is a body, else GET */
    const char *path;         /* "/decode", "/v2/models/mnist-decoder/infer" */
    const char *query;        /* raw query string after '?', percent-escaped, or NULL */
    const char *content_type; /* NULL: none (the pipeline sniffs the body) */
    const char *accept;       /* Accept header, or NULL */
    const char *content_encoding; /* Content-Encoding header, or NULL */
    const char *extra_header_name, *extra_header_value; /* one more request header, or NULL */
    int direct;               /* model calls on the calling thread (--batching off), not the batcher */
    int closed;               /* the batcher is closed (shutting down): it refuses the job, the
                               * pipeline runs the call itself */
} fuzz_request;

/* Sets --max-batch for the server fuzz_server_init builds (default 256); call before it. A target
 * whose inputs choose the batch size (query strings) uses a small one, so that its executions are
 * not spent decoding and encoding hundreds of images each. */
void fuzz_server_set_max_batch(int max_batch);

/* Sets --max-body (default 4 MiB); call before fuzz_server_init. */
void fuzz_server_set_max_body(size_t max_body);

/* Builds the server once: models "mnist" (784-4-2, relu, with class centroids) and "fashion"
 * (784-8-4-3, tanh, no centroids), scratch for one thread, default limits (max_batch 256,
 * max_pixels 4096*4096), and a batcher (one thread) as with the default --batching on, plus a
 * closed one. Idempotent. */
void fuzz_server_init(void);

/* The server fuzz_server_init built. */
vae_server *fuzz_server(void);

/* Sends the request with a copy of body[0..len) (an exact-size heap block, so ASan sees any
 * over-read) through the pipeline, waiting for the batcher whenever the pipeline waits, and checks
 * the reply: exactly one reply; never a 500 or an unexpected status; JSON replies are valid UTF-8
 * JSON of the documented shape (errors: {"error":{"code","type","message"}} with code == status and
 * (code, type) a row of the error table, or {"error": "..."} on /v2 routes); PNG replies decode;
 * binary inference replies are a JSON header of Inference-Header-Content-Length bytes whose
 * outputs' binary_data_size add up to the bytes after it.
 * Returns the status. */
int fuzz_run(const fuzz_request *fr, const uint8_t *body, size_t len);

/* abort()s with a message on stderr: the way a harness check reports a bug to libFuzzer. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
