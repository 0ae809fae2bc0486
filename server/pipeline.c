/* The request pipeline: header checks, then the endpoint's parse, run and write, with its model calls
 * run inline or through the batcher, and the one error writer. */
#include "pipeline.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batcher.h"
#include "clock.h"
#include "encoding.h"
#include "routes.h"
#include "server.h"
#include "vae/png.h"

/* --- errors -------------------------------------------------------------------------------------- */

/* Whether the request is on an Open Inference Protocol path: its route says so, or, unrouted, its
 * path is under /v2. */
static int oip_dialect(const vae_request *req) {
    if (req->route) return (req->route->flags & VAE_ROUTE_OIP) != 0;
    const char *p = req->url ? req->url : "";
    return !strncmp(p, "/v2", 3) && (p[3] == '/' || p[3] == '\0');
}

void vae_pipeline_reply_error(vae_request *req, const vae_err *err) {
    const vae_err_info *info = vae_err_info_of(err->kind);
    const int oip = oip_dialect(req);
    const int status = oip ? info->oip_status : info->status;
    req->reply.n_headers = 0; /* headers meant for a success reply (X-Seed) do not apply */
    vae_json_writer w;
    vae_jw_start(&w, &req->scratch->out);
    if (oip) {
        vae_jw_raw(&w, "{\"error\":");
    } else {
        vae_jw_printf(&w, "{\"error\":{\"code\":%d,\"type\":\"%s\",\"message\":", status, info->type);
    }
    vae_jw_string(&w, err->message[0] ? err->message : info->type);
    vae_jw_raw(&w, oip ? "}\n" : "}}\n");
    if (w.status != VAE_OK) {
        static const char native_oom[] = "{\"error\":{\"code\":503,\"type\":\"out_of_memory\","
                                         "\"message\":\"out of memory\"}}\n";
        static const char oip_oom[] = "{\"error\":\"out of memory\"}\n";
        if (oip) vae_reply_static(req, 503, "application/json", oip_oom, sizeof oip_oom - 1);
        else vae_reply_static(req, 503, "application/json", native_oom, sizeof native_oom - 1);
        vae_reply_header(req, "Retry-After", "1");
        return;
    }
    vae_reply_buffer(req, status, "application/json");
    if (info->retry_after) vae_reply_header(req, "Retry-After", "%d", info->retry_after);
    if (err->kind == VAE_E_UNAUTHORIZED) vae_reply_header(req, "WWW-Authenticate", "Bearer");
    if (err->kind == VAE_E_METHOD_NOT_ALLOWED && req->route) {
        char allow[64];
        vae_route_allow_list(req->route->methods, allow, sizeof allow);
        vae_reply_header(req, "Allow", "%s", allow);
    }
}

/* A request that asked for model calls counts in its model's statistics, as a success or not. */
static void record_stats(vae_request *req, int success) {
    if (req->n_held == 0 || (!req->usage[0].used && !req->usage[1].used)) return;
    uint64_t total_ns = (vae_now_us() - req->started_us) * 1000u;
    vae_stats_record_request(&req->server->stats, req->held[0]->slot, success, total_ns, req->input_ns,
                             req->output_ns, req->usage);
}

/* The reply is built (in scratch->out or static memory), so the last model call's job is no longer
 * needed: it goes back to the batcher's pool now, not when the connection completes, which
 * libmicrohttpd reports only after the reply has been sent. (Released at completion, a client's
 * next request could find every job still taken: with --batch-queue 1 an idle server answered 503
 * overloaded now and then.) */
static vae_step finish(vae_request *req) {
    /* only with a job: see vae_request_release on reading server->batcher */
    if (req->job) vae_batcher_release(req->server->batcher, req->job);
    req->job = NULL;
    req->phase = VAE_PHASE_DONE;
    return VAE_STEP_REPLY;
}

static vae_step fail(vae_request *req, const vae_err *err) {
    vae_pipeline_reply_error(req, err);
    record_stats(req, 0);
    return finish(req);
}

/* --- the headers ----------------------------------------------------------------------------------- */

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(const vae_request *req) {
    const char *key = req->server->opts.api_key;
    const char *auth = vae_req_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    const char *given = auth + 7;
    while (*given == ' ') given++;
    size_t n = strlen(key), m = strlen(given);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)given[i % (m ? m : 1)];
    return diff == 0;
}

/* Lower-cased media type without parameters ("application/json; charset=utf-8" -> ...json). */
static void media_type(const char *header, char *buf, size_t size) {
    size_t n = 0;
    while (*header == ' ') header++;
    for (; *header && *header != ';' && *header != ' ' && n + 1 < size; header++)
        buf[n++] = (char)(*header >= 'A' && *header <= 'Z' ? *header + 32 : *header);
    buf[n] = '\0';
}

/* A body's length must be unambiguous (RFC 9112, 6.3): one Content-Length, or chunked transfer
 * coding alone. Anything else is refused before reading, as request smuggling relies on servers and
 * proxies disagreeing about where a body ends. */
static vae_err_kind check_framing(const vae_request *req, vae_err *err) {
    const char *te = vae_req_header(req, "Transfer-Encoding");
    int lengths = vae_req_header_count(req, "Content-Length");
    if (te && strcasecmp(te, "chunked") != 0)
        return vae_fail(err, VAE_E_NOT_IMPLEMENTED,
                        "Transfer-Encoding '%.32s' is not supported: send the body with Content-Length, "
                        "or chunked",
                        te);
    if (te && lengths)
        return vae_fail(err, VAE_E_INVALID_FRAMING,
                        "the request has both Content-Length and Transfer-Encoding: use one");
    if (lengths > 1)
        return vae_fail(err, VAE_E_INVALID_FRAMING, "the request has more than one Content-Length");
    return VAE_E_NONE;
}

/* The 204 of OPTIONS (CORS preflight or plain): never needs the API key. */
static void reply_options(vae_request *req) {
    char allow[64];
    vae_route_allow_list(req->route->methods, allow, sizeof allow);
    req->scratch->out.len = 0;
    vae_reply_buffer(req, 204, "text/plain");
    vae_reply_header(req, "Allow", "%s", allow);
    if (req->server->opts.cors_origin) {
        vae_reply_header(req, "Access-Control-Allow-Methods", "%s", allow);
        vae_reply_header(req, "Access-Control-Allow-Headers", "Content-Type, Authorization, Accept, X-Request-Id, Content-Encoding, "
                         "Inference-Header-Content-Length");
        vae_reply_header(req, "Access-Control-Max-Age", "86400");
    }
}

/* The declared length against --max-body (the buffer is allocated once for it), and the media type
 * against what the route takes. */
static vae_err_kind check_body_headers(vae_request *req, vae_err *err) {
    const vae_route *route = req->route;
    const size_t max_body = req->server->opts.max_body;
    const char *length = vae_req_header(req, "Content-Length");
    if (length) {
        char *end;
        unsigned long long declared = strtoull(length, &end, 10);
        if (declared > max_body)
            return vae_fail(err, VAE_E_PAYLOAD_TOO_LARGE,
                            "the body is %llu bytes; the limit is %zu (--max-body)", declared, max_body);
        if (declared) {
            req->body = malloc((size_t)declared);
            if (req->body) req->body_cap = (size_t)declared;
        }
    }
    const char *ctype = vae_req_header(req, "Content-Type");
    if (!ctype) return VAE_E_NONE; /* decided from the bytes once they are in */
    char mt[64];
    media_type(ctype, mt, sizeof mt);
    if ((route->flags & VAE_ROUTE_JSON) && !strcmp(mt, "application/json")) {
        req->body_type = VAE_BODY_JSON;
        return VAE_E_NONE;
    }
    if ((route->flags & VAE_ROUTE_PNG) && !strcmp(mt, "image/png")) {
        req->body_type = VAE_BODY_PNG;
        return VAE_E_NONE;
    }
    if ((route->flags & VAE_ROUTE_BINARY) &&
        (!strcmp(mt, "application/octet-stream") || !strcmp(mt, "application/vnd.sagemaker-triton.binary+json"))) {
        req->body_type = VAE_BODY_BINARY;
        return VAE_E_NONE;
    }
    const char *want = (route->flags & VAE_ROUTE_PNG)      ? "application/json or image/png"
                       : (route->flags & VAE_ROUTE_BINARY) ? "application/json, or application/octet-stream with "
                                                             "Inference-Header-Content-Length (binary tensors)"
                                                           : "application/json";
    return vae_fail(err, VAE_E_UNSUPPORTED_MEDIA, "Content-Type '%.64s' is not accepted by %s: send %s%s",
                    ctype, route->path, want,
                    !strcmp(mt, "application/x-www-form-urlencoded")
                        ? " (curl -d sends form encoding unless you add -H 'Content-Type: application/json')"
                        : "");
}

vae_step vae_pipeline_begin(vae_request *req) {
    vae_server *server = req->server;
    vae_err err = {0};
    req->scratch = vae_scratch_for_thread(&server->scratch);
    vae_request_set_id(req, &req->scratch->rng);
    if (check_framing(req, &err) != VAE_E_NONE) return fail(req, &err);
    vae_route_params params;
    req->route = vae_route_find(req->url, &params, &req->route_index);
    memcpy(req->path_param, params.model, sizeof req->path_param);
    memcpy(req->path_version, params.version, sizeof req->path_version);
    if (!req->route) {
        req->route_index = VAE_METRIC_ROUTES - 1;
        vae_fail(&err, VAE_E_NOT_FOUND, "no such endpoint '%.200s'; the API is described at GET /openapi.yaml",
                 req->url);
        return fail(req, &err);
    }
    const vae_route *route = req->route;
    if (req->method == VAE_OPTIONS) {
        reply_options(req);
        req->phase = VAE_PHASE_DONE;
        return VAE_STEP_REPLY;
    }
    unsigned allowed = route->methods | (route->methods & VAE_GET ? VAE_HEAD : 0);
    if (!(req->method & allowed)) {
        char allow[64];
        vae_route_allow_list(route->methods, allow, sizeof allow);
        vae_fail(&err, VAE_E_METHOD_NOT_ALLOWED, "%s is not allowed on %s; use %s", req->method_name,
                 route->path, allow);
        return fail(req, &err);
    }
    if ((route->flags & VAE_ROUTE_AUTH) && server->opts.api_key && !authorized(req)) {
        vae_fail(&err, VAE_E_UNAUTHORIZED, "%s",
                 vae_req_header(req, "Authorization")
                     ? "the API key in the Authorization header is wrong"
                     : "this endpoint needs an API key: send 'Authorization: Bearer KEY'");
        return fail(req, &err);
    }
    if ((route->flags & VAE_ROUTE_CONTROL) && !server->opts.model_control) {
        vae_fail(&err, VAE_E_FORBIDDEN, "model control is off (--model-control off): the models cannot be loaded "
                                        "or unloaded over HTTP; send SIGHUP to re-read the weights files");
        return fail(req, &err);
    }
    if ((route->flags & VAE_ROUTE_READY) && !atomic_load(&server->ready)) {
        vae_fail(&err, VAE_E_NOT_READY, "the models are still loading; retry shortly");
        return fail(req, &err);
    }
    /* routes without a body type ignore any body */
    if ((route->flags & (VAE_ROUTE_JSON | VAE_ROUTE_PNG | VAE_ROUTE_BINARY)) && check_body_headers(req, &err) != VAE_E_NONE)
        return fail(req, &err);
    req->phase = VAE_PHASE_BODY;
    return VAE_STEP_CONTINUE;
}

/* --- the endpoint ---------------------------------------------------------------------------------- */

/* The body is complete: refuse it if it was cut off, and decide its type from its bytes when no
 * Content-Type said. */
static vae_err_kind finish_body(vae_request *req, vae_err *err) {
    const size_t max_body = req->server->opts.max_body;
    if (req->body_no_memory)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory buffering the %zu-byte body; retry later",
                        req->body_len + req->body_discarded);
    if (req->body_discarded)
        return vae_fail(err, VAE_E_PAYLOAD_TOO_LARGE, "the body exceeds the %zu-byte limit (--max-body)", max_body);
    const int takes_body = (req->route->flags & (VAE_ROUTE_JSON | VAE_ROUTE_PNG | VAE_ROUTE_BINARY)) != 0;
    if (takes_body && vae_encoding_decode_body(req, max_body, err) != VAE_E_NONE) return err->kind;
    if (req->body_type == VAE_BODY_NONE && req->body_len) {
        /* no Content-Type: a PNG signature decides, anything else is taken as JSON */
        int is_png = req->body_len >= VAE_PNG_SIGNATURE_LEN &&
                     !memcmp(req->body, VAE_PNG_SIGNATURE, VAE_PNG_SIGNATURE_LEN);
        req->body_type = is_png && (req->route->flags & VAE_ROUTE_PNG) ? VAE_BODY_PNG : VAE_BODY_JSON;
    }
    return VAE_E_NONE;
}

/* Adds a finished call to the request's usage of each face it ran. */
static void count_usage(vae_request *req, const vae_model_call *mc, uint64_t queue_ns, uint64_t infer_ns,
                        int batch_rows) {
    unsigned faces = vae_stats_faces_of(mc->op);
    for (int f = 0; f < VAE_FACES; f++) {
        if (!(faces & (1u << f))) continue;
        vae_face_usage *u = &req->usage[f];
        u->rows += mc->n;
        u->queue_ns += queue_ns;
        u->infer_ns += infer_ns;
        u->batch_rows = batch_rows;
    }
}

/* Marks the faces a call asks for as used (before it runs, so a refused call counts as a failure). */
static void mark_used(vae_request *req, const vae_model_call *mc) {
    unsigned faces = vae_stats_faces_of(mc->op);
    for (int f = 0; f < VAE_FACES; f++)
        if (faces & (1u << f)) req->usage[f].used = 1;
}

/* The batcher's completion callback (on a batcher thread): the results are in the job. */
static void on_job_done(void *ctx) {
    vae_request *req = ctx;
    req->transport->resume(req); /* req may be gone once this returns */
}

/* Runs mc inline on this thread's scratch (a large call, or a small one of the only request in
 * flight that the idle batcher lets run at once), or queues it to the batcher (*queued set, the
 * request suspended). A previous call's job is released once mc's input has been read from it. */
static vae_err_kind execute(vae_request *req, vae_model_call *mc, int *queued, vae_err *err) {
    vae_server *server = req->server;
    vae_batcher *b = server->batcher;
    vae_batch_job *previous = req->job;
    *queued = 0;
    mark_used(req, mc);
    if (b && req->transport && mc->n <= VAE_BATCH_JOB_ROWS &&
        !atomic_load_explicit(&server->draining, memory_order_relaxed)) {
        /* the only request in flight, with the batcher idle: nobody to batch with, so it runs here
         * (under load it queues even when the batcher is momentarily idle: measured, running those
         * alone cost 10% of one-row /decode's throughput at 64 connections) */
        uint64_t infer_ns;
        if (atomic_load_explicit(&server->metrics.in_flight, memory_order_relaxed) <= 1 &&
            vae_batcher_run_alone(b, mc, req->scratch->ws, &infer_ns)) {
            count_usage(req, mc, 0, infer_ns, mc->n);
            vae_batcher_release(b, previous);
            req->job = NULL;
            return VAE_E_NONE;
        }
        vae_status why = VAE_OK;
        vae_batch_job *job = vae_batcher_acquire(b, &why);
        if (!job) {
            if (why == VAE_ERR_NOMEM) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory queueing the model call");
            atomic_fetch_add_explicit(&server->metrics.rejected_overload, 1, memory_order_relaxed);
            return vae_fail(err, VAE_E_OVERLOADED,
                            "too many requests are waiting for the model (--batch-queue %d); retry shortly",
                            server->opts.batch_queue);
        }
        vae_batch_job_fill(job, mc, on_job_done, req);
        vae_batcher_release(b, previous);
        req->job = job;
        *queued = 1;
        /* suspended before it is queued: the callback may run before submit returns */
        req->transport->suspend(req);
        if (vae_batcher_submit(b, job) != 0) {
            /* closed (shutting down): run it here, as the batcher would have, and resume at once */
            uint64_t started = vae_now_us();
            vae_model_call_run(&job->call, req->scratch->ws);
            job->queue_ns = 0;
            job->infer_ns = (vae_now_us() - started) * 1000u;
            job->batch_rows = job->call.n;
            vae_stats_record_execution(&server->stats, job->call.slot, job->call.op, job->call.n, job->infer_ns);
            on_job_done(req);
        }
        return VAE_E_NONE;
    }
    uint64_t started = vae_now_us();
    vae_model_call_run(mc, req->scratch->ws);
    uint64_t infer_ns = (vae_now_us() - started) * 1000u;
    vae_stats_record_execution(&server->stats, mc->slot, mc->op, mc->n, infer_ns);
    count_usage(req, mc, 0, infer_ns, mc->n);
    vae_batcher_release(b, previous);
    req->job = NULL;
    return VAE_E_NONE;
}

/* Compresses a large JSON reply with gzip when the client accepts it (into scratch->aux); a
 * compression that fails leaves the reply as it is. */
static void compress_reply(vae_request *req) {
    vae_reply *r = &req->reply;
    if (!r->content_type || strncmp(r->content_type, "application/json", 16) != 0) return;
    vae_reply_header(req, "Vary", "Accept-Encoding");
    if (r->len < VAE_GZIP_MIN_BYTES || !vae_encoding_accepts_gzip(vae_req_header(req, "Accept-Encoding"))) return;
    vae_buf *aux = &req->scratch->aux;
    aux->len = 0;
    if (vae_encoding_gzip(r->data, r->len, aux, &req->scratch->deflater) != VAE_OK) return;
    r->data = aux->data;
    r->len = aux->len;
    r->is_static = 0;
    vae_reply_header(req, "Content-Encoding", "gzip");
}

vae_step vae_pipeline_step(vae_request *req) {
    const vae_endpoint *ep = req->route->endpoint;
    vae_err err = {0};
    req->scratch = vae_scratch_for_thread(&req->server->scratch);
    if (req->phase == VAE_PHASE_BODY) {
        if (finish_body(req, &err) != VAE_E_NONE) return fail(req, &err);
        req->call = vae_request_alloc(req, ep->call_size ? ep->call_size : 1);
        if (!req->call) {
            vae_fail(&err, VAE_E_OUT_OF_MEMORY, "out of memory reading the request");
            return fail(req, &err);
        }
        uint64_t started = vae_now_us();
        if (ep->parse && ep->parse(req, req->call, &err) != VAE_E_NONE) return fail(req, &err);
        req->input_ns = (vae_now_us() - started) * 1000u;
        req->phase = VAE_PHASE_RUN;
    } else if (req->phase == VAE_PHASE_WAIT) {
        req->mc = req->job->call; /* the batcher's results, in the job's buffers */
        count_usage(req, &req->mc, req->job->queue_ns, req->job->infer_ns, req->job->batch_rows);
        req->phase = VAE_PHASE_RUN;
    } else if (req->phase != VAE_PHASE_RUN) {
        vae_fail(&err, VAE_E_INTERNAL, "the pipeline was stepped in phase %d", (int)req->phase);
        return fail(req, &err);
    }
    while (ep->run) {
        vae_model_call next = {.op = VAE_OP_NONE};
        vae_err_kind k = ep->run(req, req->call, req->stage, &req->mc, &next, &err);
        req->stage++;
        if (k != VAE_E_NONE) return fail(req, &err);
        if (next.op == VAE_OP_NONE) break;
        int queued;
        if (execute(req, &next, &queued, &err) != VAE_E_NONE) return fail(req, &err);
        if (queued) {
            req->phase = VAE_PHASE_WAIT;
            return VAE_STEP_WAIT;
        }
        req->mc = next;
    }
    uint64_t started = vae_now_us();
    if (ep->write(req, req->call, &err) != VAE_E_NONE) return fail(req, &err);
    if (!req->replied) {
        vae_fail(&err, VAE_E_INTERNAL, "the endpoint %s produced no reply", req->route->path);
        return fail(req, &err);
    }
    compress_reply(req);
    req->output_ns = (vae_now_us() - started) * 1000u;
    record_stats(req, req->reply.status < 400);
    return finish(req);
}
