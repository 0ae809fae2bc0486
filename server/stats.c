/* Statistics counters. */
#include "stats.h"

#include <sys/time.h>

static void add(vae_duration_stat *d, uint64_t ns) {
    atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->ns, ns, memory_order_relaxed);
}

unsigned vae_stats_faces_of(vae_model_op op) {
    switch (op) {
    case VAE_OP_ENCODE:
        return 1u << VAE_FACE_ENCODER;
    case VAE_OP_DECODE:
    case VAE_OP_DECODE_LOGITS:
        return 1u << VAE_FACE_DECODER;
    case VAE_OP_RECONSTRUCT:
        return 1u << VAE_FACE_ENCODER | 1u << VAE_FACE_DECODER;
    case VAE_OP_NONE:
        break;
    }
    return 0;
}

/* The entry for batch size `rows`, claimed on first use; NULL when every entry holds another size. */
static vae_batch_stat *batch_entry(vae_face_stats *f, int rows) {
    for (int i = 0; i < VAE_STATS_BATCH_SIZES; i++) {
        int size = atomic_load_explicit(&f->batches[i].size, memory_order_acquire);
        if (size == rows) return &f->batches[i];
        if (size == 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&f->batches[i].size, &expected, rows) || expected == rows)
                return &f->batches[i];
        }
    }
    return NULL;
}

static uint64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

void vae_stats_record_execution(vae_stats *st, int slot, vae_model_op op, int rows, uint64_t ns) {
    if (!st || slot < 0 || slot >= VAE_MAX_MODELS || rows <= 0) return;
    unsigned faces = vae_stats_faces_of(op);
    for (int face = 0; face < VAE_FACES; face++) {
        if (!(faces & (1u << face))) continue;
        vae_face_stats *f = &st->faces[slot][face];
        atomic_fetch_add_explicit(&f->execution_count, 1, memory_order_relaxed);
        vae_batch_stat *b = batch_entry(f, rows);
        if (b) add(&b->compute_infer, ns);
    }
}

void vae_stats_record_request(vae_stats *st, int slot, int success, uint64_t total_ns, uint64_t input_ns,
                              uint64_t output_ns, const vae_face_usage *usage) {
    if (!st || slot < 0 || slot >= VAE_MAX_MODELS) return;
    uint64_t now = wall_ms();
    for (int face = 0; face < VAE_FACES; face++) {
        const vae_face_usage *u = &usage[face];
        if (!u->used) continue;
        vae_face_stats *f = &st->faces[slot][face];
        if (!success) {
            add(&f->fail, total_ns);
            continue;
        }
        add(&f->success, total_ns);
        add(&f->queue, u->queue_ns);
        add(&f->compute_input, input_ns);
        add(&f->compute_infer, u->infer_ns);
        add(&f->compute_output, output_ns);
        atomic_fetch_add_explicit(&f->inference_count, (unsigned long long)u->rows, memory_order_relaxed);
        atomic_store_explicit(&f->last_inference_ms, now, memory_order_relaxed);
        vae_batch_stat *b = batch_entry(f, u->batch_rows);
        if (b) {
            add(&b->compute_input, input_ns);
            add(&b->compute_output, output_ns);
        }
    }
}
