/* The models the server answers from, with live reload: one slot per configured weights file, each
 * pointing at an immutable snapshot (vae_served_model) that requests hold by reference. A reload
 * reads and validates the file off the request path and swaps the slot's snapshot atomically;
 * requests in flight finish on the snapshot they started with, which is freed when the last of them
 * lets it go. Requests take and drop references with atomics only (no lock on the hot path);
 * reloads are serialised by a mutex no request takes. */
#ifndef VAE_SERVER_REGISTRY_H
#define VAE_SERVER_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>

#include "options.h"
#include "vae/model.h"

/* One loaded weights file. Immutable once published; freed with its last reference. */
typedef struct vae_served_model {
    char name[64];
    char path[1024];
    vae_model *model;
    char hidden[64];       /* "400" or "512,256" (the metadata's form) */
    char architecture[96]; /* "784-512-256-32" */
    size_t encoder_macs;   /* multiply-adds per image */
    size_t decoder_macs;
    int slot;              /* its slot in the registry */
    unsigned version;      /* 1 for the file loaded at start; +1 for each changed file loaded since */
    char sha256[65];       /* of the file's bytes, hex */
    atomic_int refs;       /* one for the slot while current, plus one per holder */
} vae_served_model;

typedef enum { VAE_SLOT_READY, VAE_SLOT_UNAVAILABLE } vae_slot_state;

typedef struct {
    char name[64];
    char path[1024];
    _Atomic(vae_served_model *) current; /* NULL while unloaded */
    atomic_int acquiring;                /* requests between reading `current` and taking a reference */
    /* under the registry's lock */
    unsigned last_version;
    char last_sha256[65];                /* of the last file published */
    char reason[256];                    /* why the last load failed, or that it was unloaded; "" */
} vae_registry_slot;

typedef struct {
    vae_registry_slot slots[VAE_MAX_MODELS];
    int count;
    int max_width;  /* widest layer the workspaces were sized for (a reload may not exceed it) */
    int max_latent;
    pthread_mutex_t lock; /* serialises loads and unloads; never taken by requests */
    atomic_ullong loads, load_failures;   /* reloads after start, and those refused */
} vae_registry;

/* An empty registry. */
void vae_registry_init(vae_registry *reg);

/* Loads every model of opts in order; the first is the default. On failure nothing stays loaded and
 * err names the file and the problem. */
vae_status vae_registry_load(vae_registry *reg, const vae_server_options *opts, vae_error *err);

/* Adds a model that is already in memory as the next slot (its file's hash given, or NULL), taking
 * ownership of it; for start-up and for tests. Returns VAE_ERR_LIMIT when every slot is taken. */
vae_status vae_registry_adopt(vae_registry *reg, const char *name, const char *path, vae_model *model,
                              const char *sha256);

/* The slot called name (the default slot 0 when name is NULL), or -1. */
int vae_registry_slot_of(const vae_registry *reg, const char *name);

/* A reference to slot's current model, or NULL while it is unloaded. Lock-free; pair with
 * vae_registry_release. */
const vae_served_model *vae_registry_acquire(vae_registry *reg, int slot);

/* Drops a reference (NULL is a no-op); the last one frees the model. */
void vae_registry_release(const vae_served_model *sm);

/* Re-reads slot's file: an unchanged file (same SHA-256) keeps the current model; a changed one is
 * loaded, validated and swapped in as the next version. On failure the current model keeps serving,
 * the slot records why, and err says it. *changed (may be NULL) says whether a new version was
 * published. */
vae_status vae_registry_reload(vae_registry *reg, int slot, int *changed, vae_error *err);

/* Stops serving slot's model (requests holding it finish on it); a later reload loads it again. */
void vae_registry_unload(vae_registry *reg, int slot);

/* The slot's state and, into reason, why it is unavailable ("" when ready). */
vae_slot_state vae_registry_state(vae_registry *reg, int slot, char *reason, size_t size);

/* Frees every model; requests must be done. */
void vae_registry_free(vae_registry *reg);

#endif
