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
    fuzz_request fr = {.path = "/encode", .content_type = "application/json", .direct = (int)(size & 1)};
    fuzz_run(&fr, data, size);
    fr.query = "model=fashion&sample=1&format=json";
    fuzz_run(&fr, data, size);
    fr.direct = !fr.direct;
    fr.query = "model=fashion&format=json";
    fr.path = "/reconstruct";
    fuzz_run(&fr, data, size);
    return 0;
}
