/* The request pipeline, one function per phase, independent of the transport (http.c drives it from
 * libmicrohttpd's callbacks; the fuzz harness drives the same functions directly):
 *
 *   vae_pipeline_begin   the headers are in: framing, routing, CORS preflight, method, API key,
 *                        readiness, declared length, media type. May reply at once (an error, or
 *                        the 204 of OPTIONS).
 *   vae_request_append_body (request.h), as the body arrives.
 *   vae_pipeline_step    the body is in (or the batcher has finished a model call): the endpoint's
 *                        parse, run stages and write (endpoint.h). Either a reply is ready, or the
 *                        request waits for the batcher; the transport was asked to suspend it and
 *                        is asked to resume it (from a batcher thread), then calls step again.
 *
 * Every error from any step is written here, once, in the route's dialect (native or Open
 * Inference Protocol), with the status and headers of its kind (errors.h). */
#ifndef VAE_SERVER_PIPELINE_H
#define VAE_SERVER_PIPELINE_H

#include "errors.h"
#include "request.h"

typedef enum {
    VAE_STEP_REPLY,    /* req->reply is ready to send */
    VAE_STEP_CONTINUE, /* (begin) read the body, then call vae_pipeline_step */
    VAE_STEP_WAIT,     /* a model call is in the batcher: call vae_pipeline_step after resume */
} vae_step;

/* Runs every check that needs only the headers. */
vae_step vae_pipeline_begin(vae_request *req);

/* Runs the endpoint from where it stands: parse, run stages, write. */
vae_step vae_pipeline_step(vae_request *req);

/* Writes err as the reply, in the dialect of req's route (or of its path when unrouted). */
void vae_pipeline_reply_error(vae_request *req, const vae_err *err);

#endif
