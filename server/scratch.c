/* Per-thread scratch pool. */
#include "scratch.h"

#include <stdlib.h>
#include <string.h>

#include "encoding.h"

static _Thread_local vae_scratch *thread_scratch;

static void scratch_free(vae_scratch *s) {
    vae_workspace_destroy(s->ws);
    free(s->x);
    free(s->xhat);
    free(s->mu);
    free(s->logvar);
    free(s->z);
    free(s->pixels);
    vae_buf_free(&s->out);
    vae_buf_free(&s->aux);
    vae_buf_free(&s->prep);
    vae_encoding_free_inflater(s->inflater);
    vae_encoding_free_deflater(s->deflater);
    memset(s, 0, sizeof *s);
}

vae_status vae_scratch_pool_create(vae_scratch_pool *pool, int count, uint64_t seed) {
    memset(pool, 0, sizeof *pool);
    pool->slots = calloc((size_t)count, sizeof *pool->slots);
    if (!pool->slots) return VAE_ERR_NOMEM;
    pool->count = count;
    for (int i = 0; i < count; i++) {
        vae_scratch *s = &pool->slots[i];
        vae_rng_seed(&s->rng, seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL);
        if (vae_buf_reserve(&s->out, 64 << 10) != VAE_OK) {
            vae_scratch_pool_destroy(pool);
            return VAE_ERR_NOMEM;
        }
    }
    return VAE_OK;
}

vae_status vae_scratch_pool_prepare(vae_scratch_pool *pool, int max_batch, int max_width,
                                    int max_latent) {
    const size_t images = (size_t)max_batch * VAE_INPUT_DIM;
    const size_t latents = (size_t)max_batch * (size_t)max_latent;
    /* a grid of n images has ceil(sqrt(n)) columns and may have more cells than n; a grid of pairs
     * (an input beside its reconstruction) twice as many */
    size_t grid_side = 1;
    while (grid_side * grid_side < (size_t)max_batch) grid_side++;
    const size_t grid_bytes = 2 * grid_side * grid_side * VAE_INPUT_DIM;
    for (int i = 0; i < pool->count; i++) {
        vae_scratch *s = &pool->slots[i];
        s->max_batch = max_batch;
        s->ws = vae_workspace_create(max_width, max_batch);
        s->x = malloc(images * sizeof(float));
        s->xhat = malloc(images * sizeof(float));
        s->mu = malloc(latents * sizeof(float));
        s->logvar = malloc(latents * sizeof(float));
        s->z = malloc(latents * sizeof(float));
        s->pixels = malloc(grid_bytes > images ? grid_bytes : images);
        if (!s->ws || !s->x || !s->xhat || !s->mu || !s->logvar || !s->z || !s->pixels)
            return VAE_ERR_NOMEM; /* the pool's destroy frees what was allocated */
    }
    return VAE_OK;
}

void vae_scratch_pool_destroy(vae_scratch_pool *pool) {
    for (int i = 0; pool->slots && i < pool->count; i++) scratch_free(&pool->slots[i]);
    free(pool->slots);
    memset(pool, 0, sizeof *pool);
}

vae_scratch *vae_scratch_for_thread(vae_scratch_pool *pool) {
    if (thread_scratch) return thread_scratch;
    int i = atomic_fetch_add(&pool->next, 1);
    if (i >= pool->count) return NULL;
    thread_scratch = &pool->slots[i];
    return thread_scratch;
}

void vae_scratch_trim(vae_scratch *s) {
    vae_buf *bufs[3] = {&s->out, &s->aux, &s->prep};
    for (int i = 0; i < 3; i++) {
        if (bufs[i]->cap > VAE_SCRATCH_KEEP_BYTES) vae_buf_free(bufs[i]);
        bufs[i]->len = 0;
    }
}
