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
    fuzz_request fr = {.path = "/decode", .content_type = "application/json", .direct = (int)(size & 1)};
    fuzz_run(&fr, data, size);
    fr.direct = !fr.direct;
    fr.query = "model=fashion&format=json";
    fuzz_run(&fr, data, size);
    return 0;
}
