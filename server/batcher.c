/* The batcher: a bounded pool of jobs, one FIFO queue, and threads that each take every queued job
 * for the model and operation at the queue's head (up to max_rows rows), run them as one batch, and
 * call each job's completion callback. */
#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct vae_batcher {
    vae_batcher_config cfg;
    vae_metrics *metrics;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t idle; /* signalled when outstanding drops to 0 */
    vae_batch_job *head, *tail; /* the queue */
    int queued_rows;
    int stopping;
    int closed;       /* no new submissions */
    int outstanding;  /* submitted, callback not yet returned */

    vae_batch_job *jobs;        /* cfg.queue of them */
    vae_batch_job **free_jobs;  /* stack of free jobs, under lock */
    int n_free;

    pthread_t *threads;
    struct batch_thread *thread_data; /* cfg.threads of them */
    int n_threads;                    /* started */
};

/* Each thread's batch buffers. */
typedef struct batch_thread {
    vae_batcher *b;
    vae_workspace *ws;
    float *in, *out, *out2;
} batch_thread;

static void job_buffers_free(vae_batch_job *job) {
    free(job->in_buf);
    free(job->out_buf);
    job->in_buf = job->out_buf = NULL;
}

static struct timespec deadline_after_us(int us);
static void retire(vae_batcher *b, int n);

vae_batch_job *vae_batcher_acquire(vae_batcher *b, vae_status *why) {
    pthread_mutex_lock(&b->lock);
    vae_batch_job *job = b->n_free ? b->free_jobs[--b->n_free] : NULL;
    pthread_mutex_unlock(&b->lock);
    *why = job ? VAE_OK : VAE_ERR_LIMIT;
    if (job && !job->in_buf) {
        /* a job's buffers are allocated on its first use and kept: untouched jobs cost nothing */
        job->in_buf = malloc(sizeof(float) * VAE_BATCH_JOB_ROWS * VAE_INPUT_DIM);
        job->out_buf = malloc(sizeof(float) * VAE_BATCH_JOB_ROWS * VAE_INPUT_DIM);
        if (!job->in_buf || !job->out_buf) {
            job_buffers_free(job);
            vae_batcher_release(b, job);
            *why = VAE_ERR_NOMEM;
            return NULL;
        }
    }
    if (job) job->next = NULL;
    return job;
}

void vae_batch_job_fill(vae_batch_job *job, const vae_model_call *mc, void (*done)(void *ctx),
                        void *ctx) {
    job->call = *mc;
    memcpy(job->in_buf, mc->in, sizeof(float) * (size_t)mc->n * (size_t)vae_model_call_in_width(mc));
    job->call.in = job->in_buf;
    job->call.out = job->out_buf;
    job->call.out2 = mc->op == VAE_OP_ENCODE
                         ? job->out_buf + (size_t)mc->n * (size_t)mc->model->config.latent_dim
                         : NULL;
    job->done = done;
    job->ctx = ctx;
}

void vae_batcher_release(vae_batcher *b, vae_batch_job *job) {
    if (!b || !job) return;
    pthread_mutex_lock(&b->lock);
    b->free_jobs[b->n_free++] = job;
    pthread_mutex_unlock(&b->lock);
}

int vae_batcher_submit(vae_batcher *b, vae_batch_job *job) {
    job->queued_us = vae_now_us();
    pthread_mutex_lock(&b->lock);
    if (b->closed) {
        pthread_mutex_unlock(&b->lock);
        return -1;
    }
    b->outstanding++;
    job->next = NULL;
    if (b->tail) b->tail->next = job;
    else b->head = job;
    b->tail = job;
    b->queued_rows += job->call.n;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

int vae_batcher_run_alone(vae_batcher *b, vae_model_call *mc, vae_workspace *ws, uint64_t *infer_ns) {
    pthread_mutex_lock(&b->lock);
    int alone = b->cfg.run_alone && !b->closed && !b->stopping && b->cfg.wait_us == 0 && b->outstanding == 0;
    if (alone) b->outstanding++; /* a call arriving meanwhile queues, and may batch with others */
    pthread_mutex_unlock(&b->lock);
    if (!alone) return 0;
    vae_metrics_observe_queue(b->metrics, 0);
    uint64_t started = vae_now_us();
    vae_model_call_run(mc, ws);
    *infer_ns = (vae_now_us() - started) * 1000u;
    if (b->cfg.on_batch) b->cfg.on_batch(b->cfg.on_batch_ctx, mc, *infer_ns);
    vae_metrics_observe_batch(b->metrics, mc->n);
    retire(b, 1);
    return 1;
}

void vae_batcher_close(vae_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->closed = 1;
    pthread_mutex_unlock(&b->lock);
}

int vae_batcher_wait_idle(vae_batcher *b, int timeout_ms) {
    if (!b) return 0;
    struct timespec until = deadline_after_us(timeout_ms * 1000);
    pthread_mutex_lock(&b->lock);
    while (b->outstanding > 0 && pthread_cond_timedwait(&b->idle, &b->lock, &until) != ETIMEDOUT) {
    }
    int left = b->outstanding;
    pthread_mutex_unlock(&b->lock);
    return left;
}

static struct timespec deadline_after_us(int us) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += us / 1000000;
    t.tv_nsec += (long)(us % 1000000) * 1000;
    while (t.tv_nsec >= 1000000000L) {
        t.tv_nsec -= 1000000000L;
        t.tv_sec++;
    }
    return t;
}

/* Counts n calls as done (their callbacks returned, or run alone); wakes vae_batcher_wait_idle at 0. */
static void retire(vae_batcher *b, int n) {
    pthread_mutex_lock(&b->lock);
    b->outstanding -= n;
    if (b->outstanding == 0) pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

/* Unlinks up to max_rows rows of jobs matching the head's model and operation, in queue order.
 * Called under the lock with a non-empty queue. Returns the batch as a list. */
static vae_batch_job *take_batch(vae_batcher *b, int *rows) {
    const vae_model *model = b->head->call.model;
    vae_model_op op = b->head->call.op;
    vae_batch_job *batch = NULL, **batch_tail = &batch;
    vae_batch_job *keep = NULL, **keep_tail = &keep, *keep_last = NULL;
    *rows = 0;
    for (vae_batch_job *job = b->head, *next; job; job = next) {
        next = job->next;
        job->next = NULL;
        if (job->call.model == model && job->call.op == op && *rows + job->call.n <= b->cfg.max_rows) {
            *batch_tail = job;
            batch_tail = &job->next;
            *rows += job->call.n;
        } else {
            *keep_tail = job;
            keep_tail = &job->next;
            keep_last = job;
        }
    }
    b->head = keep;
    b->tail = keep_last;
    b->queued_rows -= *rows;
    return batch;
}

/* Gathers the batch's inputs into one call, runs it, scatters the results into each job and calls
 * the jobs' callbacks. */
static void run_batch(batch_thread *t, vae_batch_job *batch, int rows) {
    vae_model_call all = batch->call;
    const int d = all.model->config.latent_dim;
    const size_t in_width = (size_t)vae_model_call_in_width(&all);
    const size_t out_width = all.op == VAE_OP_ENCODE ? (size_t)d : VAE_INPUT_DIM;
    uint64_t now = vae_now_us();
    size_t at = 0;
    for (vae_batch_job *job = batch; job; job = job->next) {
        memcpy(t->in + at * in_width, job->call.in, sizeof(float) * (size_t)job->call.n * in_width);
        at += (size_t)job->call.n;
        job->queue_ns = (now - job->queued_us) * 1000u;
        vae_metrics_observe_queue(t->b->metrics, now - job->queued_us);
    }
    all.n = rows;
    all.in = t->in;
    all.out = t->out;
    all.out2 = t->out2;
    uint64_t started = vae_now_us();
    vae_model_call_run(&all, t->ws);
    uint64_t infer_ns = (vae_now_us() - started) * 1000u;
    if (t->b->cfg.on_batch) t->b->cfg.on_batch(t->b->cfg.on_batch_ctx, &all, infer_ns);
    at = 0;
    for (vae_batch_job *job = batch; job; job = job->next) {
        size_t n = (size_t)job->call.n;
        memcpy(job->call.out, t->out + at * out_width, sizeof(float) * n * out_width);
        if (all.op == VAE_OP_ENCODE)
            memcpy(job->call.out2, t->out2 + at * (size_t)d, sizeof(float) * n * (size_t)d);
        job->infer_ns = infer_ns;
        job->batch_rows = rows;
        at += n;
    }
    vae_metrics_observe_batch(t->b->metrics, rows);
    int finished = 0;
    for (vae_batch_job *job = batch, *next; job; job = next) {
        next = job->next; /* the job may be released as soon as its callback has run */
        job->done(job->ctx);
        finished++;
    }
    retire(t->b, finished);
}

static void *batcher_main(void *arg) {
    batch_thread *t = arg;
    vae_batcher *b = t->b;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->wake, &b->lock);
        if (!b->head) break; /* stopping, and nothing left to run */
        if (b->cfg.wait_us > 0 && b->queued_rows < b->cfg.max_rows && !b->stopping) {
            /* give a lone job a moment of company; a full batch or shutdown ends the wait */
            struct timespec until = deadline_after_us(b->cfg.wait_us);
            while (b->queued_rows < b->cfg.max_rows && !b->stopping &&
                   pthread_cond_timedwait(&b->wake, &b->lock, &until) != ETIMEDOUT) {
            }
            if (!b->head) continue; /* another thread took them */
        }
        int rows;
        vae_batch_job *batch = take_batch(b, &rows);
        pthread_mutex_unlock(&b->lock);
        run_batch(t, batch, rows);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

vae_batcher *vae_batcher_create(const vae_batcher_config *cfg, int max_width, int max_latent,
                                vae_metrics *metrics, vae_error *err) {
    vae_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        vae_error_set(err, VAE_ERR_NOMEM, "out of memory creating the batcher");
        return NULL;
    }
    b->cfg = *cfg;
    b->metrics = metrics;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &attr);
    pthread_cond_init(&b->idle, &attr);
    pthread_condattr_destroy(&attr);
    b->jobs = calloc((size_t)cfg->queue, sizeof *b->jobs);
    b->free_jobs = calloc((size_t)cfg->queue, sizeof *b->free_jobs);
    b->threads = calloc((size_t)cfg->threads, sizeof *b->threads);
    b->thread_data = calloc((size_t)cfg->threads, sizeof *b->thread_data);
    if (!b->jobs || !b->free_jobs || !b->threads || !b->thread_data) goto fail;
    for (int i = 0; i < cfg->queue; i++) b->free_jobs[b->n_free++] = &b->jobs[cfg->queue - 1 - i];
    for (int i = 0; i < cfg->threads; i++) {
        batch_thread *t = &b->thread_data[i];
        size_t rows = (size_t)cfg->max_rows;
        t->b = b;
        t->ws = vae_workspace_create(max_width, cfg->max_rows);
        t->in = malloc(sizeof(float) * rows * VAE_INPUT_DIM);
        t->out = malloc(sizeof(float) * rows * VAE_INPUT_DIM);
        t->out2 = malloc(sizeof(float) * rows * (size_t)max_latent);
        if (!t->ws || !t->in || !t->out || !t->out2 ||
            pthread_create(&b->threads[i], NULL, batcher_main, t) != 0)
            goto fail;
        b->n_threads++;
    }
    return b;
fail:
    vae_batcher_destroy(b);
    vae_error_set(err, VAE_ERR_NOMEM, "cannot start the batcher (%d threads)", cfg->threads);
    return NULL;
}

void vae_batcher_destroy(vae_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->n_threads; i++) pthread_join(b->threads[i], NULL);
    for (int i = 0; b->thread_data && i < b->cfg.threads; i++) {
        batch_thread *t = &b->thread_data[i];
        vae_workspace_destroy(t->ws);
        free(t->in);
        free(t->out);
        free(t->out2);
    }
    for (int i = 0; b->jobs && i < b->cfg.queue; i++) job_buffers_free(&b->jobs[i]);
    free(b->thread_data);
    free(b->jobs);
    free(b->free_jobs);
    free(b->threads);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
