/* Fuzz target: the query strings of GET /manifold (n, dims, base), GET /traverse (label, z, dims,
 * count, range, steps) and GET /sample with label, on the model with the trainer's statistics and on
 * the one without. Input: one selector byte (bits 0-1 endpoint, 2 the second model, 3 direct call),
 * then the raw query string. --max-batch is 8 (the grids are decoded whatever their size). */
#include <string.h>

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
    if (size < 1 || size > 2048) return 0;
    static const char *const paths[] = {"/manifold", "/traverse", "/sample", "/manifold"};
    char query[2100];
    const int second = (data[0] >> 2) & 1;
    int n = snprintf(query, sizeof query, "%s", second ? "model=fashion&" : "");
    memcpy(query + n, data + 1, size - 1);
    query[n + size - 1] = '\0';
    fuzz_request fr = {.path = paths[data[0] & 3], .query = query, .direct = (data[0] >> 3) & 1};
    fuzz_run(&fr, NULL, 0);
    return 0;
}
