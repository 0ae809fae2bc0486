/* Model registry: load every configured weights file, or none. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#include "vae/weights.h"

vae_status vae_registry_load(vae_registry *reg, const vae_server_options *opts, vae_error *err) {
    memset(reg, 0, sizeof *reg);
    for (int i = 0; i < opts->n_models; i++) {
        vae_served_model *sm = &reg->models[i];
        snprintf(sm->name, sizeof sm->name, "%s", opts->models[i].name);
        snprintf(sm->path, sizeof sm->path, "%s", opts->models[i].path);
        vae_status st = vae_weights_load(sm->path, &sm->model, err);
        if (st != VAE_OK) {
            vae_error_prefix(err, "model '%s'", sm->name);
            vae_registry_free(reg);
            return st;
        }
        reg->count = i + 1;
        const vae_config *cfg = &sm->model->config;
        vae_config_hidden_string(cfg, sm->hidden, sizeof sm->hidden);
        vae_config_architecture_string(cfg, sm->architecture, sizeof sm->architecture);
        sm->encoder_macs = vae_config_encoder_macs(cfg);
        sm->decoder_macs = vae_config_decoder_macs(cfg);
        int width = vae_config_max_width(cfg);
        if (width > reg->max_width) reg->max_width = width;
        if (cfg->latent_dim > reg->max_latent) reg->max_latent = cfg->latent_dim;
    }
    return VAE_OK;
}

const vae_served_model *vae_registry_find(const vae_registry *reg, const char *name) {
    if (reg->count == 0) return NULL;
    if (!name) return &reg->models[0];
    for (int i = 0; i < reg->count; i++)
        if (strcmp(reg->models[i].name, name) == 0) return &reg->models[i];
    return NULL;
}

void vae_registry_free(vae_registry *reg) {
    for (int i = 0; i < reg->count; i++) vae_model_destroy(reg->models[i].model);
    memset(reg, 0, sizeof *reg);
}
