/* Per-model inference statistics in the shape of the Open Inference Protocol's statistics extension
 * (Triton's GET /v2/models/stats): for each served model and face (encoder, decoder), inference and
 * execution counts, request success and failure, time queued for the batcher, and time reading the
 * input, computing and writing the output, overall and per batch size. Lock-free relaxed counters,
 * accumulated since the server started (across reloads of a model's file). */
#ifndef VAE_SERVER_STATS_H
#define VAE_SERVER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "model_call.h"
#include "options.h"

/* Distinct batch sizes tracked per face; sizes seen after that many are counted in the totals only. */
#define VAE_STATS_BATCH_SIZES 64

typedef enum { VAE_FACE_ENCODER, VAE_FACE_DECODER, VAE_FACES } vae_face;

typedef struct {
    atomic_ullong count, ns;
} vae_duration_stat;

typedef struct {
    atomic_int size; /* 0: free */
    vae_duration_stat compute_input, compute_infer, compute_output;
} vae_batch_stat;

typedef struct {
    atomic_ullong inference_count; /* rows inferred */
    atomic_ullong execution_count; /* model passes (a batch of many requests is one) */
    atomic_ullong last_inference_ms; /* wall clock, ms since the epoch */
    vae_duration_stat success, fail, queue, compute_input, compute_infer, compute_output;
    vae_batch_stat batches[VAE_STATS_BATCH_SIZES];
} vae_face_stats;

typedef struct {
    vae_face_stats faces[VAE_MAX_MODELS][VAE_FACES];
} vae_stats;

/* What one request did to one face, for vae_stats_record_request. */
typedef struct {
    int used;             /* the face was asked for */
    int rows;             /* rows inferred */
    int batch_rows;       /* rows of the pass its last call ran in (its batch's, when batched) */
    uint64_t queue_ns;    /* time its calls waited in the batcher's queue */
    uint64_t infer_ns;    /* time computing its calls (the whole batch's time when batched) */
} vae_face_usage;

/* Which faces an operation runs: bit 1 << VAE_FACE_ENCODER, 1 << VAE_FACE_DECODER. */
unsigned vae_stats_faces_of(vae_model_op op);

/* One model pass of `rows` rows of op on slot's model, taking ns. */
void vae_stats_record_execution(vae_stats *st, int slot, vae_model_op op, int rows, uint64_t ns);

/* One finished request that used slot's model: success or failure over total_ns, and per face the
 * time reading its input (input_ns), computing and queueing (usage), and writing (output_ns). */
void vae_stats_record_request(vae_stats *st, int slot, int success, uint64_t total_ns, uint64_t input_ns,
                              uint64_t output_ns, const vae_face_usage *usage /* VAE_FACES */);

#endif
