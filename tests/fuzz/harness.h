/* Fuzz harness for the server's request handlers without libmicrohttpd: a fake connection (query
 * arguments and headers parsed by harness.c, which replaces the request helpers of server/http.c),
 * a process-wide server with two tiny models, and one call that runs a handler on a body and checks
 * the reply against the API contract (abort() on any breach, so libFuzzer reports it). */
#ifndef VAE_FUZZ_HARNESS_H
#define VAE_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

/* What one fake request carries besides its body. */
typedef struct {
    const char *query;      /* raw query string after '?', percent-escaped, or NULL */
    const char *accept;     /* Accept header, or NULL */
    const char *path_param; /* "{model}" segment for /v2 routes, or NULL */
    const char *extra_header_name, *extra_header_value; /* one more request header, or NULL */
    vae_body_type body_type;
    int oip;                /* the reply uses the Open Inference Protocol's error shape */
    int direct;             /* model calls on the calling thread (--batching off), not the batcher */
    int closed;             /* the batcher is closed (shutting down): it refuses the job, the handler
                             * runs the call itself */
} fuzz_request;

/* Sets --max-batch for the server fuzz_server_init builds (default 256); call before it. A target
 * whose inputs choose the batch size (query strings) uses a small one, so that its executions are
 * not spent decoding and encoding hundreds of images each. */
void fuzz_server_set_max_batch(int max_batch);

/* Builds the server once: models "mnist" (784-4-2, relu, with class centroids) and "fashion"
 * (784-8-4-3, tanh, no centroids), scratch for one thread, default limits (max_batch 256,
 * max_pixels 4096*4096), and a batcher (one thread) as with the default --batching on, plus a
 * closed one. Idempotent. */
void fuzz_server_init(void);

/* The server fuzz_server_init built. */
vae_server *fuzz_server(void);

/* Runs handler on a copy of body[0..len) (an exact-size heap block, so ASan sees any over-read),
 * again after each resume when it queued its model call to the batcher (as http.c does), and checks
 * the reply: exactly one reply; never a 500 or an unexpected status; JSON replies are
 * valid UTF-8 JSON of the documented shape (errors: {"error":{"code","type","message"}} with
 * code == status, or {"error": "..."} for OIP); PNG replies decode. Returns the status. */
int fuzz_run(vae_handler handler, const uint8_t *body, size_t len, const fuzz_request *fr);

/* abort()s with a message on stderr: the way a harness check reports a bug to libFuzzer. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
