/* Fuzz target: compressed request bodies (Content-Encoding gzip and deflate) on POST /decode and
 * /encode: damaged, truncated, trailing or oversized streams must be refused exactly (400, or 413
 * past --max-body, which this server sets to 64 kB so that small inputs can inflate past it), and a
 * stream that inflates cleanly is then an ordinary body. Input: one option byte (bit 0 deflate,
 * bit 1 /encode with a PNG content type, bit 2 direct call), then the compressed bytes. */
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_set_max_body(65536);
    fuzz_server_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t opt = data[0];
    fuzz_request fr = {.path = (opt & 2) ? "/encode" : "/decode", .query = (opt & 2) ? NULL : "format=json",
                       .content_type = (opt & 2) ? "image/png" : "application/json",
                       .content_encoding = (opt & 1) ? "deflate" : "gzip", .direct = (opt >> 2) & 1};
    fuzz_run(&fr, data + 1, size - 1);
    return 0;
}
