/* Fuzz target: the JSON body of POST /encode (image/images/pixels, invert, sample, seed) for both
 * models, and of POST /reconstruct, through the real handlers, one call through the batcher and one
 * direct; every reply is checked by the harness. */
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the length's parity picks which call goes through the batcher: replays are deterministic */
    fuzz_request fr = {.body_type = VAE_BODY_JSON, .direct = (int)(size & 1)};
    fuzz_run(vae_handle_encode, data, size, &fr);
    fr.query = "model=fashion&sample=1&format=json";
    fuzz_run(vae_handle_encode, data, size, &fr);
    fr.direct = !fr.direct;
    fr.query = "model=fashion&format=json";
    fuzz_run(vae_handle_reconstruct, data, size, &fr);
    return 0;
}
