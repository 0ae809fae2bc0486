/* Fuzz target: the JSON body of POST /interpolate (from/to as class labels, base64 PNGs or latent
 * vectors; steps; method; invert): JSON reply from the model with class centroids, PNG reply from
 * the one without. */
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
    fuzz_request fr = {.path = "/interpolate", .content_type = "application/json", .query = "format=json", .direct = (int)(size & 1)};
    fuzz_run(&fr, data, size);
    fr.direct = !fr.direct;
    fr.query = "model=fashion";
    fuzz_run(&fr, data, size);
    return 0;
}
