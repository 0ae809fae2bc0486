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
    fuzz_request fr = {.body_type = VAE_BODY_JSON, .path_param = "mnist-encoder", .oip = 1,
                       .direct = (int)(size & 1)};
    fuzz_run(vae_handle_oip_infer, data, size, &fr);
    fr.direct = !fr.direct;
    fr.path_param = "fashion-decoder";
    fuzz_run(vae_handle_oip_infer, data, size, &fr);
    return 0;
}
