/* Fuzz target: the safetensors loader (vae_weights_load_memory: header length, JSON header, dtypes,
 * shapes against each other and the metadata, offsets, NaN/Inf). A model that loads must survive a
 * serialise/load round trip unchanged and run one encode and decode. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "vae/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vae_model *m = NULL;
    vae_error err = {0};
    if (vae_weights_load_memory(data, size, "fuzz.safetensors", &m, &err) != VAE_OK) {
        if (m) fuzz_fail("failed load left a model behind");
        if (strncmp(err.message, "fuzz.safetensors", 16) != 0)
            fuzz_fail("error message does not name the file: %s", err.message);
        return 0;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (vae_weights_serialize(m, &bytes, &len, &err) != VAE_OK) fuzz_fail("serialize: %s", err.message);
    vae_model *again = NULL;
    if (vae_weights_load_memory(bytes, len, "round-trip", &again, &err) != VAE_OK)
        fuzz_fail("a loaded model does not reload after serialising: %s", err.message);
    if (again->n_params != m->n_params ||
        memcmp(again->params, m->params, m->n_params * sizeof(float)) != 0 ||
        !again->centroids != !m->centroids || again->metadata.count != m->metadata.count)
        fuzz_fail("round trip changed the model");
    free(bytes);
    vae_model_destroy(again);

    vae_workspace *ws = vae_workspace_create(vae_config_max_width(&m->config), 2);
    if (!ws) fuzz_fail("out of memory");
    float x[2 * VAE_INPUT_DIM], mu[2 * VAE_MAX_LATENT], logvar[2 * VAE_MAX_LATENT];
    for (int i = 0; i < 2 * VAE_INPUT_DIM; i++) x[i] = (float)(i % 5) * 0.25f;
    vae_encode(m, ws, x, 2, mu, logvar);
    vae_decode(m, ws, mu, 2, x);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
    return 0;
}
