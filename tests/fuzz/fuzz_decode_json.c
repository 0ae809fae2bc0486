/* Fuzz target: the JSON body of POST /decode ({"z": one vector or a list of them}), answered as a
 * PNG grid by the default model and as JSON by the second one. */
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
    fuzz_run(vae_handle_decode, data, size, &fr);
    fr.direct = !fr.direct;
    fr.query = "model=fashion&format=json";
    fuzz_run(vae_handle_decode, data, size, &fr);
    return 0;
}
