/* Dynamic batching (the idea of Triton's dynamic batcher): small encode and decode calls from many
 * requests are queued and run together as one pass of the model, so the layer weights are read once
 * per batch instead of once per request. A request's connection is suspended while its job waits;
 * the batcher resumes it when the result is in, and the handler finishes on its worker thread. */
#ifndef VAE_SERVER_BATCHER_H
#define VAE_SERVER_BATCHER_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"
#include "vae/model.h"

struct MHD_Connection;

/* Larger calls are batches already: measured, the kernels' cost per row stops falling at about 4
 * rows, and a call of 16 runs faster on its own worker thread than queued behind others on the
 * batcher's. */
#define VAE_BATCH_JOB_ROWS 4

typedef enum { VAE_OP_ENCODE, VAE_OP_DECODE } vae_batch_op;

typedef struct vae_batch_job {
    struct vae_batch_job *next;
    const vae_model *model;
    vae_batch_op op;
    int n;                       /* rows, 1..VAE_BATCH_JOB_ROWS */
    float *in;                   /* encode: x (n, 784); decode: z (n, d) */
    float *out;                  /* encode: mu (n, d) then logvar (n, d); decode: xhat (n, 784) */
    struct MHD_Connection *conn; /* resumed when the job is done */
    atomic_int done;
} vae_batch_job;

typedef struct {
    int threads;      /* batcher threads (each runs whole batches) */
    int max_rows;     /* rows per batch */
    int wait_us;      /* how long a first job waits for company; 0: batch whatever is queued */
    int queue;        /* jobs in flight before vae_batcher_acquire says no */
} vae_batcher_config;

typedef struct vae_batcher vae_batcher;

/* Starts the batcher threads with scratch for models up to max_width wide and latents up to
 * max_latent. Returns NULL and fills err on failure. */
vae_batcher *vae_batcher_create(const vae_batcher_config *cfg, int max_width, int max_latent,
                                vae_metrics *metrics, vae_error *err);

/* Runs every queued job, then stops the threads and frees everything. NULL is a no-op. */
void vae_batcher_destroy(vae_batcher *b);

/* A free job, or NULL when the queue is full (the caller answers 503). Thread-safe. */
vae_batch_job *vae_batcher_acquire(vae_batcher *b);

/* Suspends job->conn and queues the filled job. Returns 0, or -1 when the batcher is closed (the
 * connection is then not suspended: the caller runs the call itself and releases the job). */
int vae_batcher_submit(vae_batcher *b, vae_batch_job *job);

/* Refuses further submissions (shutdown); jobs already queued still run. */
void vae_batcher_close(vae_batcher *b);

/* Waits up to timeout_ms for every submitted job to be resumed, so no connection stays suspended;
 * returns the number still outstanding (0 when done). */
int vae_batcher_wait_idle(vae_batcher *b, int timeout_ms);

/* Returns a job to the pool (after its result has been used, or on any other path). NULL-safe. */
void vae_batcher_release(vae_batcher *b, vae_batch_job *job);

#endif
