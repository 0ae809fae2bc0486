/* Client advice for refused PNGs: the decoder says what the bytes are, this says what to send. */
#include "png_advice.h"

#include <stddef.h>

const char *vae_png_advice(vae_png_problem problem) {
    switch (problem) {
    case VAE_PNG_BASE64: return "send the raw bytes";
    case VAE_PNG_MULTIPART: return "send the raw PNG bytes as the body, not a multipart form";
    case VAE_PNG_LINE_ENDINGS: return "was it sent in text mode?";
    default: return NULL;
    }
}
