/* Fuzz target: query strings (n, seed, temperature, format, model, invert, sample; repeated, unknown,
 * escaped, valueless parameters) on every model endpoint, split the way libmicrohttpd splits them. Input: one selector byte (bits 0-2 endpoint, 3-4 Accept header, 5 direct
 * call, 6 closed batcher), then the raw query string (up to a NUL). --max-batch is 6 here: the limits
 * on n and steps are reached, calls of 5 and 6 rows skip the batcher, and an execution does not
 * decode and print hundreds of images (which made this target 40 times slower). */
#include <string.h>

#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *png_body;
static size_t png_len;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_set_max_batch(6);
    fuzz_server_init();
    /* a valid 28x28 grey PNG for /encode and /reconstruct */
    static uint8_t pixels[28 * 28];
    for (int i = 0; i < 28 * 28; i++) pixels[i] = (uint8_t)((i % 28 > 8 && i % 28 < 20) ? 255 : 0);
    vae_buf out = {0};
    vae_error err = {0};
    if (vae_png_encode(pixels, 28, 28, 1, -1, &out, &err) != VAE_OK) fuzz_fail("png: %s", err.message);
    png_body = out.data;
    png_len = out.len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    static const char *const accepts[] = {NULL, "application/json", "image/png", "*/*"};
    char query[4097];
    memcpy(query, data + 1, size - 1);
    query[size - 1] = '\0';
    fuzz_request fr = {.query = query, .accept = accepts[(data[0] >> 3) & 3], .direct = (data[0] >> 5) & 1,
                       .closed = (data[0] >> 6) & 1};
    static const char decode_body[] = "{\"z\": [0.5, -1]}";
    static const char interp_body[] = "{\"from\": [0.5, -1], \"to\": [1, 2], \"steps\": 3}";
    switch (data[0] & 7) {
    case 0:
    case 5:
        fr.path = "/sample";
        fuzz_run(&fr, NULL, 0);
        break;
    case 1:
        fr.path = "/decode";
        fr.content_type = "application/json";
        fuzz_run(&fr, (const uint8_t *)decode_body, sizeof decode_body - 1);
        break;
    case 2:
        fr.path = "/encode";
        fr.content_type = "image/png";
        fuzz_run(&fr, png_body, png_len);
        break;
    case 3:
        fr.path = "/reconstruct";
        fr.content_type = "image/png";
        fuzz_run(&fr, png_body, png_len);
        break;
    case 4:
        fr.path = "/interpolate";
        fr.content_type = "application/json";
        fuzz_run(&fr, (const uint8_t *)interp_body, sizeof interp_body - 1);
        break;
    default:
        fr.path = "/v2/models/mnist-decoder/infer";
        fr.content_type = "application/json";
        static const char oip_body[] =
            "{\"inputs\":[{\"name\":\"z\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[0,1]}]}";
        fuzz_run(&fr, (const uint8_t *)oip_body, sizeof oip_body - 1);
        break;
    }
    return 0;
}
