/* Model registry: load every configured weights file at start, reload them live. */
#include "registry.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sha256.h"
#include "vae/weights.h"

/* Largest weights file read (the library's own bounds are far below: 8 layers of 4096 wide). */
#define MAX_FILE_BYTES (2ull << 30)

/* A new snapshot of model for slot (refs 1: the slot's). NULL when memory runs out. */
static vae_served_model *snapshot(const vae_registry_slot *s, int slot, vae_model *model, unsigned version,
                                  const char *sha256) {
    vae_served_model *sm = calloc(1, sizeof *sm);
    if (!sm) return NULL;
    snprintf(sm->name, sizeof sm->name, "%s", s->name);
    snprintf(sm->path, sizeof sm->path, "%s", s->path);
    sm->model = model;
    const vae_config *cfg = &model->config;
    vae_config_hidden_string(cfg, sm->hidden, sizeof sm->hidden);
    vae_config_architecture_string(cfg, sm->architecture, sizeof sm->architecture);
    sm->encoder_macs = vae_config_encoder_macs(cfg);
    sm->decoder_macs = vae_config_decoder_macs(cfg);
    sm->slot = slot;
    sm->version = version;
    snprintf(sm->sha256, sizeof sm->sha256, "%s", sha256 ? sha256 : "");
    atomic_init(&sm->refs, 1);
    return sm;
}

void vae_registry_release(const vae_served_model *csm) {
    vae_served_model *sm = (vae_served_model *)csm; /* refs is the one mutable member */
    if (!sm) return;
    if (atomic_fetch_sub(&sm->refs, 1) == 1) {
        vae_model_destroy(sm->model);
        free(sm);
    }
}

const vae_served_model *vae_registry_acquire(vae_registry *reg, int slot) {
    if (slot < 0 || slot >= reg->count) return NULL;
    vae_registry_slot *s = &reg->slots[slot];
    /* announced first, so a reload that swaps `current` waits until this reference is taken (see
     * publish) before it drops the slot's own reference to the old model */
    atomic_fetch_add(&s->acquiring, 1);
    vae_served_model *sm = atomic_load(&s->current);
    if (sm) atomic_fetch_add(&sm->refs, 1);
    atomic_fetch_sub(&s->acquiring, 1);
    return sm;
}

/* Makes sm (or NULL) the slot's model and drops the slot's reference to the previous one. Under the
 * registry's lock. */
static void publish(vae_registry_slot *s, vae_served_model *sm) {
    vae_served_model *old = atomic_exchange(&s->current, sm);
    /* a request that read `old` before the exchange has announced itself; once none is between its
     * read and its increment, every holder of `old` is counted in old->refs */
    while (atomic_load(&s->acquiring) != 0) sched_yield();
    vae_registry_release(old);
}

int vae_registry_slot_of(const vae_registry *reg, const char *name) {
    if (reg->count == 0) return -1;
    if (!name) return 0;
    for (int i = 0; i < reg->count; i++)
        if (strcmp(reg->slots[i].name, name) == 0) return i;
    return -1;
}

/* Reads a whole file into a malloc'd buffer. */
static vae_status read_file(const char *path, uint8_t **out, size_t *len, vae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return vae_error_set(err, VAE_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st = {0};
    vae_status status = VAE_OK;
    uint8_t *data = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        status = vae_error_set(err, VAE_ERR_IO, "%s: not a regular file%s", path,
                               S_ISDIR(st.st_mode) ? " (it is a directory)" : "");
    } else if ((unsigned long long)st.st_size > MAX_FILE_BYTES) {
        status = vae_error_set(err, VAE_ERR_LIMIT, "%s: %lld bytes is larger than any weights file", path,
                               (long long)st.st_size);
    } else if (!(data = malloc(st.st_size ? (size_t)st.st_size : 1))) {
        status = vae_error_set(err, VAE_ERR_NOMEM, "%s: out of memory reading it", path);
    } else if (fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size || fgetc(f) != EOF) {
        status = vae_error_set(err, VAE_ERR_IO, "%s: changed size while being read; try again", path);
    }
    fclose(f);
    if (status != VAE_OK) {
        free(data);
        return status;
    }
    *out = data;
    *len = (size_t)st.st_size;
    return VAE_OK;
}

/* Reads, hashes and loads a slot's file. *model is NULL when the file's hash equals `same` (the
 * current model's). */
static vae_status load_file(const vae_registry_slot *s, const char *same, vae_model **model, char sha256[65],
                            vae_error *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    *model = NULL;
    vae_status st = read_file(s->path, &bytes, &len, err);
    if (st != VAE_OK) return st;
    vae_sha256_hex(bytes, len, sha256);
    if (!same || strcmp(same, sha256) != 0) st = vae_weights_load_memory(bytes, len, s->path, model, err);
    free(bytes);
    /* the server only runs inference, from the packed copy: the float parameters go (11 MB of mnist) */
    if (st == VAE_OK && *model && (st = vae_model_drop_params(*model, err)) != VAE_OK) {
        vae_model_destroy(*model);
        *model = NULL;
    }
    return st;
}

static void slot_init(vae_registry *reg, int i, const char *name, const char *path) {
    vae_registry_slot *s = &reg->slots[i];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->path, sizeof s->path, "%s", path);
    atomic_init(&s->current, NULL);
    atomic_init(&s->acquiring, 0);
}

static void widen(vae_registry *reg, const vae_config *cfg) {
    int width = vae_config_max_width(cfg);
    if (width > reg->max_width) reg->max_width = width;
    if (cfg->latent_dim > reg->max_latent) reg->max_latent = cfg->latent_dim;
}

vae_status vae_registry_adopt(vae_registry *reg, const char *name, const char *path, vae_model *model,
                              const char *sha256) {
    if (reg->count == VAE_MAX_MODELS) return VAE_ERR_LIMIT;
    int i = reg->count;
    slot_init(reg, i, name, path);
    vae_served_model *sm = snapshot(&reg->slots[i], i, model, 1, sha256);
    if (!sm) return VAE_ERR_NOMEM;
    reg->slots[i].last_version = 1;
    snprintf(reg->slots[i].last_sha256, sizeof reg->slots[i].last_sha256, "%s", sha256 ? sha256 : "");
    atomic_store(&reg->slots[i].current, sm);
    reg->count++;
    widen(reg, &model->config);
    return VAE_OK;
}

void vae_registry_init(vae_registry *reg) {
    memset(reg, 0, sizeof *reg);
    pthread_mutex_init(&reg->lock, NULL);
}

vae_status vae_registry_load(vae_registry *reg, const vae_server_options *opts, vae_error *err) {
    vae_registry_init(reg);
    for (int i = 0; i < opts->n_models; i++) {
        slot_init(reg, i, opts->models[i].name, opts->models[i].path);
        vae_model *model;
        char sha256[65];
        vae_status st = load_file(&reg->slots[i], NULL, &model, sha256, err);
        if (st == VAE_OK) st = vae_registry_adopt(reg, opts->models[i].name, opts->models[i].path, model, sha256);
        if (st != VAE_OK) {
            if (st == VAE_ERR_NOMEM && !err->message[0]) vae_error_set(err, st, "out of memory");
            vae_error_prefix(err, "model '%s'", opts->models[i].name);
            vae_registry_free(reg);
            return st;
        }
    }
    return VAE_OK;
}

vae_status vae_registry_reload(vae_registry *reg, int slot, int *changed, vae_error *err) {
    if (changed) *changed = 0;
    if (slot < 0 || slot >= reg->count) return vae_error_set(err, VAE_ERR_ARG, "no such model");
    vae_registry_slot *s = &reg->slots[slot];
    pthread_mutex_lock(&reg->lock);
    const vae_served_model *cur = atomic_load(&s->current);
    vae_model *model;
    char sha256[65];
    vae_status st = load_file(s, cur ? cur->sha256 : NULL, &model, sha256, err);
    if (st == VAE_OK && model) {
        /* the workspaces were sized at start for the widest model; a wider one would overrun them */
        const vae_config *cfg = &model->config;
        if (vae_config_max_width(cfg) > reg->max_width || cfg->latent_dim > reg->max_latent) {
            st = vae_error_set(err, VAE_ERR_LIMIT,
                               "%s is wider than the server was started for (layers up to %d, latent up to %d); "
                               "restart the server to serve it",
                               s->path, reg->max_width, reg->max_latent);
            vae_model_destroy(model);
            model = NULL;
        }
    }
    if (st == VAE_OK && model) {
        /* the file that served last (loaded again after an unload) keeps its version */
        unsigned version = strcmp(sha256, s->last_sha256) == 0 ? s->last_version : s->last_version + 1;
        vae_served_model *sm = snapshot(s, slot, model, version, sha256);
        if (!sm) {
            vae_model_destroy(model);
            st = vae_error_set(err, VAE_ERR_NOMEM, "%s: out of memory", s->path);
        } else {
            s->last_version = version;
            memcpy(s->last_sha256, sha256, sizeof s->last_sha256);
            publish(s, sm);
            if (changed) *changed = 1;
        }
    }
    if (st == VAE_OK) {
        s->reason[0] = '\0';
        atomic_fetch_add(&reg->loads, 1);
    } else {
        vae_error_prefix(err, "model '%s'", s->name);
        snprintf(s->reason, sizeof s->reason, "%s", err->message);
        atomic_fetch_add(&reg->load_failures, 1);
    }
    pthread_mutex_unlock(&reg->lock);
    return st;
}

void vae_registry_unload(vae_registry *reg, int slot) {
    if (slot < 0 || slot >= reg->count) return;
    vae_registry_slot *s = &reg->slots[slot];
    pthread_mutex_lock(&reg->lock);
    publish(s, NULL);
    snprintf(s->reason, sizeof s->reason, "unloaded");
    pthread_mutex_unlock(&reg->lock);
}

vae_slot_state vae_registry_state(vae_registry *reg, int slot, char *reason, size_t size) {
    vae_registry_slot *s = &reg->slots[slot];
    pthread_mutex_lock(&reg->lock);
    vae_slot_state state = atomic_load(&s->current) ? VAE_SLOT_READY : VAE_SLOT_UNAVAILABLE;
    snprintf(reason, size, "%s", s->reason);
    pthread_mutex_unlock(&reg->lock);
    return state;
}

void vae_registry_free(vae_registry *reg) {
    for (int i = 0; i < reg->count; i++) vae_registry_release(atomic_exchange(&reg->slots[i].current, NULL));
    pthread_mutex_destroy(&reg->lock);
    memset(reg, 0, sizeof *reg);
}
