/* The models the server answers from: loaded once at start, then read-only and shared by every
 * thread. */
#ifndef VAE_SERVER_REGISTRY_H
#define VAE_SERVER_REGISTRY_H

#include "options.h"
#include "vae/model.h"

typedef struct {
    char name[64];
    char path[1024];
    vae_model *model;
    char hidden[64];       /* "400" or "512,256" (the metadata's form) */
    char architecture[96]; /* "784-512-256-32" */
    size_t encoder_macs;   /* multiply-adds per image */
    size_t decoder_macs;
} vae_served_model;

typedef struct {
    vae_served_model models[VAE_MAX_MODELS];
    int count;
    int max_width;  /* widest layer over every model, for sizing workspaces */
    int max_latent;
} vae_registry;

/* Loads every model of opts in order; the first becomes the default. On failure nothing stays
 * loaded and err names the file and the problem. */
vae_status vae_registry_load(vae_registry *reg, const vae_server_options *opts, vae_error *err);

/* The model called name, or the default (first) model when name is NULL; NULL if unknown. */
const vae_served_model *vae_registry_find(const vae_registry *reg, const char *name);

/* Frees every model. */
void vae_registry_free(vae_registry *reg);

#endif
