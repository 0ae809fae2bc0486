/* Fuzz target: the JSON body of POST /encode and POST /reconstruct (image/images/pixels, invert,
 * sample, seed), through the real handlers; every reply is checked by the harness. */
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
    fuzz_request fr = {.body_type = VAE_BODY_JSON};
    fuzz_run(vae_handle_encode, data, size, &fr);
    fr.query = "model=fashion&format=json";
    fuzz_run(vae_handle_reconstruct, data, size, &fr);
    return 0;
}
