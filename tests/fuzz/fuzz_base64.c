/* Fuzz target: the base64 decoder for images inside JSON (data URL prefix, whitespace, padding
 * rules, output bound). A successful decode must fit vae_base64_decoded_size and survive an
 * encode/decode round trip. Input: one byte choosing the output capacity, then the text. */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t opt = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    size_t bound = vae_base64_decoded_size(len);
    /* capacity: the documented bound, or less (to hit VAE_ERR_LIMIT) */
    size_t cap = (opt & 0x80) ? bound : (bound > (size_t)(opt & 0x7f) ? bound - (opt & 0x7f) : 0);
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out) fuzz_fail("out of memory");
    size_t got = 0;
    vae_error err = {0};
    vae_status st = vae_base64_decode(in, len, out, cap, &got, &err);
    if (st == VAE_OK) {
        if (got > cap || got > bound) fuzz_fail("decoded %zu bytes, capacity %zu, bound %zu", got, cap, bound);
        vae_buf enc = {0};
        if (vae_base64_encode(out, got, &enc) != VAE_OK) fuzz_fail("encode failed");
        uint8_t *back = malloc(got ? got : 1);
        size_t back_len = 0;
        if (!back || vae_base64_decode((const char *)enc.data, enc.len, back, got, &back_len, &err) != VAE_OK ||
            back_len != got || memcmp(back, out, got) != 0)
            fuzz_fail("base64 round trip failed");
        free(back);
        vae_buf_free(&enc);
    } else if ((st != VAE_ERR_FORMAT && st != VAE_ERR_LIMIT) || !err.message[0]) {
        fuzz_fail("unexpected status %d or no message", (int)st);
    } else if (st == VAE_ERR_LIMIT && cap >= bound) {
        fuzz_fail("VAE_ERR_LIMIT with the documented capacity %zu: %s", cap, err.message);
    }
    free(out);
    return 0;
}
