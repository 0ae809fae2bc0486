/* Fuzz target: the JSON bodies of the latent-space and scoring endpoints: POST /score (images, k,
 * seed; the fuzz server's --max-score-rows is small so that k reaches it), POST /traverse (a base
 * point from an image, z or label; dims, count, range, steps) and POST /complete (image, keep or
 * mask, steps, seed, method, chain), each once through the batcher and once direct. The fuzz models
 * carry class statistics, a principal plane, diagnostics and score tables on "mnist" and none of
 * them on "fashion", so both the computed replies and the "missing statistics" errors are reached. */
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_set_max_batch(8);
    fuzz_server_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the length's parity picks which call goes through the batcher: replays are deterministic */
    fuzz_request fr = {.path = "/score", .content_type = "application/json", .direct = (int)(size & 1)};
    fuzz_run(&fr, data, size);
    fr.path = "/traverse";
    fr.query = "format=json";
    fuzz_run(&fr, data, size);
    fr.direct = !fr.direct;
    fr.query = "model=fashion";
    fuzz_run(&fr, data, size);
    fr.path = "/complete";
    fr.query = "format=json";
    fuzz_run(&fr, data, size);
    fr.query = NULL;
    fr.direct = !fr.direct;
    fuzz_run(&fr, data, size);
    return 0;
}
