/* Dynamic batching (the idea of Triton's dynamic batcher): small model calls from many requests are
 * queued and run together as one pass of the model, so the layer weights are read once per batch
 * instead of once per call. The batcher knows nothing of HTTP: it takes jobs and calls each job's
 * completion callback, from its own thread, when the job's results are in. */
#ifndef VAE_SERVER_BATCHER_H
#define VAE_SERVER_BATCHER_H

#include "metrics.h"
#include "model_call.h"

/* Larger calls are batches already: measured, the kernels' cost per row stops falling at about 4
 * rows, and a call of 16 runs faster on its own worker thread than queued behind others on the
 * batcher's. */
#define VAE_BATCH_JOB_ROWS 4

/* A job's buffers hold VAE_BATCH_JOB_ROWS rows of 784 floats each way; an encode's output (mu then
 * logvar, 2 d floats a row) must fit in them too. */
_Static_assert(2 * VAE_MAX_LATENT <= VAE_INPUT_DIM, "a job's output buffer holds mu and logvar");

typedef struct vae_batch_job {
    struct vae_batch_job *next;
    /* the call, with in, out and out2 pointing into the job's own buffers */
    vae_model_call call;
    uint64_t queued_us;
    /* set when the results are in: time queued, time the batch took, rows in the batch */
    uint64_t queue_ns, infer_ns;
    int batch_rows;
    void (*done)(void *ctx); /* called once, on a batcher thread, when call's results are in */
    void *ctx;
    float *in_buf, *out_buf; /* VAE_BATCH_JOB_ROWS * VAE_INPUT_DIM floats each */
} vae_batch_job;

typedef struct {
    int threads;      /* batcher threads (each runs whole batches) */
    int max_rows;     /* rows per batch */
    int wait_us;      /* how long a first job waits for company; 0: batch whatever is queued */
    int queue;        /* jobs in flight before vae_batcher_acquire says no */
    int run_alone;    /* 1: vae_batcher_run_alone runs a call that finds the batcher idle; 0: never */
    /* called after each batch (on its thread) with the batch as one call and its time; may be NULL */
    void (*on_batch)(void *ctx, const vae_model_call *batch, uint64_t ns);
    void *on_batch_ctx;
} vae_batcher_config;

typedef struct vae_batcher vae_batcher;

/* Starts the batcher threads with scratch for models up to max_width wide and latents up to
 * max_latent. Returns NULL and fills err on failure. */
vae_batcher *vae_batcher_create(const vae_batcher_config *cfg, int max_width, int max_latent,
                                vae_metrics *metrics, vae_error *err);

/* Runs every queued job, then stops the threads and frees everything. NULL is a no-op. */
void vae_batcher_destroy(vae_batcher *b);

/* A free job, or NULL with *why VAE_ERR_LIMIT when every job is taken (the queue is full), or
 * VAE_ERR_NOMEM when its buffers cannot be allocated. Thread-safe. */
vae_batch_job *vae_batcher_acquire(vae_batcher *b, vae_status *why);

/* Copies mc (of at most VAE_BATCH_JOB_ROWS rows) and its input into the job, pointing the job's
 * call at the job's buffers, and sets the completion callback. */
void vae_batch_job_fill(vae_batch_job *job, const vae_model_call *mc, void (*done)(void *ctx),
                        void *ctx);

/* Queues the filled job. Returns 0: done(ctx) will be called once from a batcher thread (possibly
 * before this returns); or -1 when the batcher is closed (nothing is called: the caller runs the call
 * itself and releases the job). */
int vae_batcher_submit(vae_batcher *b, vae_batch_job *job);

/* Runs mc at once on the calling thread (in ws), as a batch of its own, when run_alone is set,
 * nothing is queued or running and no window is set (wait_us 0): such a call would run alone anyway,
 * after a batcher thread woke and the connection was resumed (a third of a one-row /decode's time
 * at one connection, measured). Returns 1 when it ran (*infer_ns set; counted in the metrics and
 * on_batch like any batch), 0 when the caller should queue it. A call arriving while it runs is
 * queued, so it still batches with the calls after it. */
int vae_batcher_run_alone(vae_batcher *b, vae_model_call *mc, vae_workspace *ws, uint64_t *infer_ns);

/* Refuses further submissions (shutdown); jobs already queued still run. NULL is a no-op. */
void vae_batcher_close(vae_batcher *b);

/* Waits up to timeout_ms for every submitted job's callback to have returned; returns the number
 * still outstanding (0 when done). NULL returns 0. */
int vae_batcher_wait_idle(vae_batcher *b, int timeout_ms);

/* Returns a job to the pool (after its results have been used, or on any other path). NULL-safe
 * for both arguments. */
void vae_batcher_release(vae_batcher *b, vae_batch_job *job);

#endif
