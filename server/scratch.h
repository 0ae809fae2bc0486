/* Per-thread scratch: everything a request needs to compute and encode its reply, allocated once per
 * worker thread at start-up, so the request path does not allocate. */
#ifndef VAE_SERVER_SCRATCH_H
#define VAE_SERVER_SCRATCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "vae/buf.h"
#include "vae/model.h"
#include "vae/rng.h"

typedef struct {
    vae_workspace *ws;  /* activations for up to max_batch images */
    int max_batch;
    float *x;           /* (max_batch, 784) model inputs */
    float *xhat;        /* (max_batch, 784) decoded images */
    float *mu, *logvar, *z; /* (max_batch, max_latent) */
    uint8_t *pixels;    /* PNG grids: 2 ceil(sqrt(max_batch))^2 cells of 784 bytes (pairs of images) */
    vae_buf out;        /* the reply body; keeps its capacity between requests */
    vae_buf aux;        /* second buffer (e.g. a decoded base64 PNG) */
    vae_buf prep;       /* the image preparation's work memory (vae/prepare.h) */
    vae_rng rng;
    void *inflater, *deflater; /* zlib streams for content codings (encoding.c), made on first use */
} vae_scratch;

typedef struct {
    vae_scratch *slots;
    int count;
    atomic_int next;
} vae_scratch_pool;

/* Allocates `count` scratch sets with their reply buffers (enough for the service endpoints, which
 * answer before any model is loaded). Returns VAE_ERR_NOMEM on failure (nothing stays allocated). */
vae_status vae_scratch_pool_create(vae_scratch_pool *pool, int count, uint64_t seed);

/* Adds the model-sized buffers once the models are loaded: batches of up to max_batch images, layers
 * up to max_width wide, latents up to max_latent. Call before the server reports ready. */
vae_status vae_scratch_pool_prepare(vae_scratch_pool *pool, int max_batch, int max_width,
                                    int max_latent);
void vae_scratch_pool_destroy(vae_scratch_pool *pool);

/* The calling thread's scratch: claimed from the pool on the thread's first call, the same one on
 * every later call. NULL when more threads than slots ask (a configuration bug). */
vae_scratch *vae_scratch_for_thread(vae_scratch_pool *pool);

/* Buffers that grew past this after a request are shrunk back, so one huge reply does not pin
 * memory for the life of the thread. */
#define VAE_SCRATCH_KEEP_BYTES (4u << 20)
void vae_scratch_trim(vae_scratch *s);

#endif
