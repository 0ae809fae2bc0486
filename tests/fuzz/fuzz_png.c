/* Fuzz target: PNG decoding and preprocessing (vae_png_decode_input: any colour type, depth,
 * interlacing; size limit from the header; area resize to 28x28) and preparation
 * (vae_png_decode_prepared: normalize, invert=auto), directly and as the body of POST /encode.
 * Input: one option byte (bit 0 invert, bits 1-3 max_pixels, bit 4 route through the handler, bit 5
 * its ?invert=1, bit 6 direct call, bit 7 a preparation byte follows: normalize = b % 3, invert =
 * b / 3 % 3, and the handler gets normalize=auto&invert=auto), then the PNG bytes. Without bit 7 the
 * preparation is the plain one, which must equal vae_png_decode_input to the bit. */
#include <math.h>
#include <string.h>

#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_init();
    return 0;
}

/* The prepared decode of the same bytes: it fails exactly as the plain one does, or with
 * VAE_ERR_EMPTY (no ink, no PNG problem) when it normalises; succeeds with pixels in 0..1 and a box
 * inside the image; and the plain preparation is the plain decoder's result to the bit. */
static void check_prepared(const uint8_t *data, size_t size, long max_pixels, const vae_prepare_options *prep,
                           int plain_invert, vae_status plain_st, const float *plain) {
    static vae_buf work; /* reused, as the server's scratch is */
    float out[VAE_INPUT_DIM];
    vae_prepare_info info;
    vae_error err = {0};
    vae_png_problem problem = VAE_PNG_INVALID;
    vae_status st = vae_png_decode_prepared(data, size, max_pixels, prep, &work, out, &info, &problem, &err);
    if (st == VAE_ERR_EMPTY) {
        if (prep->normalize == VAE_NORMALIZE_NONE || plain_st != VAE_OK || problem != VAE_PNG_NONE || !err.message[0])
            fuzz_fail("no ink from a %s preparation (plain status %d, problem %d)", vae_normalize_name(prep->normalize),
                      (int)plain_st, (int)problem);
        return;
    }
    if (st != plain_st) fuzz_fail("the prepared decode says %d, the plain one %d: %s", (int)st, (int)plain_st, err.message);
    if (st != VAE_OK) return;
    for (int i = 0; i < VAE_INPUT_DIM; i++)
        if (!(out[i] >= 0.0f && out[i] <= 1.0f)) fuzz_fail("prepared pixel %d is %g, outside 0..1", i, out[i]);
    if (info.normalize != prep->normalize || (prep->invert != VAE_INVERT_AUTO) != (info.polarity == VAE_POLARITY_ASKED))
        fuzz_fail("the info does not match the options");
    if (prep->normalize != VAE_NORMALIZE_NONE &&
        (info.box[0] < 0 || info.box[1] < 0 || info.box[2] < 1 || info.box[3] < 1 ||
         info.box[0] + info.box[2] > info.width || info.box[1] + info.box[3] > info.height ||
         !(info.threshold >= 0 && info.threshold <= 1)))
        fuzz_fail("box %d %d %d %d outside the %dx%d image, or threshold %g", info.box[0], info.box[1], info.box[2],
                  info.box[3], info.width, info.height, info.threshold);
    if (prep->normalize == VAE_NORMALIZE_NONE && prep->invert == (plain_invert ? VAE_INVERT_YES : VAE_INVERT_NO) &&
        memcmp(out, plain, sizeof out) != 0)
        fuzz_fail("the plain preparation differs from vae_png_decode_input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const long limits[8] = {VAE_PNG_DEFAULT_MAX_PIXELS, 1, 783, 784, 785, 65536, 1L << 31, 100};
    const uint8_t opt = data[0];
    const int invert = opt & 1;
    const long max_pixels = limits[(opt >> 1) & 7];
    data++;
    size--;
    vae_prepare_options prep = {VAE_NORMALIZE_NONE, invert ? VAE_INVERT_YES : VAE_INVERT_NO};
    if (opt & 0x80) {
        if (size < 1) return 0;
        prep = (vae_prepare_options){(vae_normalize)(data[0] % 3), (vae_invert)(data[0] / 3 % 3)};
        data++;
        size--;
    }
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
    check_prepared(data, size, max_pixels, &prep, invert, st, out);
    if (opt & 0x10) {
        fuzz_request fr = {.path = "/encode", .content_type = "image/png",
                           .query = (opt & 0x80) ? "normalize=auto&invert=auto" : (opt & 0x20) ? "invert=1" : NULL,
                           .direct = (opt >> 6) & 1};
        fuzz_run(&fr, data, size);
    }
    return 0;
}
