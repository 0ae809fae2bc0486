/* Fuzz target: PNG decoding and preprocessing (vae_png_decode_input: any colour type, depth,
 * interlacing; size limit from the header; area resize to 28x28), directly and as the body of
 * POST /encode. Input: one option byte (invert, max_pixels, route through the handler), then the
 * PNG bytes. */
#include <math.h>

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
    if (size < 1) return 0;
    static const long limits[8] = {VAE_PNG_DEFAULT_MAX_PIXELS, 1, 783, 784, 785, 65536, 1L << 31, 100};
    const uint8_t opt = data[0];
    const int invert = opt & 1;
    const long max_pixels = limits[(opt >> 1) & 7];
    data++;
    size--;
    float out[VAE_INPUT_DIM];
    vae_error err = {0};
    vae_png_problem problem = VAE_PNG_INVALID;
    vae_status st = vae_png_decode_input(data, size, max_pixels, invert, out, &problem, &err);
    /* a refusal names its problem (too large exactly for the limit), anything else names none */
    const int refused = st == VAE_ERR_FORMAT || st == VAE_ERR_LIMIT;
    if (refused == (problem == VAE_PNG_NONE) || (st == VAE_ERR_LIMIT) != (problem == VAE_PNG_TOO_LARGE))
        fuzz_fail("status %d with problem kind %d", (int)st, (int)problem);
    if (st == VAE_OK) {
        for (int i = 0; i < VAE_INPUT_DIM; i++)
            if (!(out[i] >= 0.0f && out[i] <= 1.0f)) fuzz_fail("pixel %d is %g, outside 0..1", i, out[i]);
    } else if (st != VAE_ERR_FORMAT && st != VAE_ERR_LIMIT) {
        fuzz_fail("unexpected status %d: %s", (int)st, err.message);
    } else if (!err.message[0]) {
        fuzz_fail("an error without a message");
    }
    if (opt & 0x10) {
        fuzz_request fr = {.path = "/encode", .content_type = "image/png", .query = (opt & 0x20) ? "invert=1" : NULL,
                           .direct = (opt >> 6) & 1};
        fuzz_run(&fr, data, size);
    }
    return 0;
}
