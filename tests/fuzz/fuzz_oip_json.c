/* Fuzz target: the JSON body of the Open Inference Protocol's POST /v2/models/{model}/infer, for the
 * encoder and the decoder face of a model; errors must keep the protocol's {"error": "..."} shape. */
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
    fuzz_request fr = {.path = "/v2/models/mnist-encoder/infer", .content_type = "application/json", .direct = (int)(size & 1)};
    fuzz_run(&fr, data, size);
    fr.direct = !fr.direct;
    fr.path = "/v2/models/fashion-decoder/infer";
    fuzz_run(&fr, data, size);
    return 0;
}
