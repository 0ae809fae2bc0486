/* The error table: every kind's status, type and protocol status, in one place. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

/* The Open Inference Protocol has no 422: a request the model cannot use is a 400 there. */
static const vae_err_info TABLE[VAE_E_COUNT] = {
    [VAE_E_NONE] = {200, "ok", 200, 0},
    [VAE_E_INVALID_JSON] = {400, "invalid_json", 400, 0},
    [VAE_E_INVALID_BASE64] = {400, "invalid_base64", 400, 0},
    [VAE_E_INVALID_PNG] = {400, "invalid_png", 400, 0},
    [VAE_E_INVALID_FRAMING] = {400, "invalid_framing", 400, 0},
    [VAE_E_INVALID_ENCODING] = {400, "invalid_encoding", 400, 0},
    [VAE_E_INVALID_BINARY] = {400, "invalid_binary", 400, 0},
    [VAE_E_UNAUTHORIZED] = {401, "unauthorized", 401, 0},
    [VAE_E_FORBIDDEN] = {403, "forbidden", 403, 0},
    [VAE_E_NOT_FOUND] = {404, "not_found", 404, 0},
    [VAE_E_MODEL_NOT_FOUND] = {404, "model_not_found", 404, 0},
    [VAE_E_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", 405, 0},
    [VAE_E_PAYLOAD_TOO_LARGE] = {413, "payload_too_large", 413, 0},
    [VAE_E_UNSUPPORTED_MEDIA] = {415, "unsupported_media_type", 415, 0},
    [VAE_E_INVALID_REQUEST] = {422, "invalid_request", 400, 0},
    [VAE_E_INVALID_VALUE] = {422, "invalid_value", 400, 0},
    [VAE_E_INVALID_PARAMETER] = {422, "invalid_parameter", 400, 0},
    [VAE_E_IMAGE_TOO_LARGE] = {422, "image_too_large", 400, 0},
    [VAE_E_TOO_MANY_ITEMS] = {422, "too_many_items", 400, 0},
    [VAE_E_NO_INK] = {422, "no_ink", 400, 0},
    [VAE_E_MODEL_LOAD_FAILED] = {422, "model_load_failed", 400, 0},
    [VAE_E_INTERNAL] = {500, "internal", 500, 0},
    [VAE_E_NOT_IMPLEMENTED] = {501, "not_implemented", 501, 0},
    [VAE_E_NOT_READY] = {503, "not_ready", 503, 1},
    [VAE_E_DRAINING] = {503, "draining", 503, 0},
    [VAE_E_OVERLOADED] = {503, "overloaded", 503, 1},
    [VAE_E_OUT_OF_MEMORY] = {503, "out_of_memory", 503, 1},
};

const vae_err_info *vae_err_info_of(vae_err_kind kind) {
    if ((unsigned)kind >= VAE_E_COUNT) kind = VAE_E_INTERNAL;
    return &TABLE[kind];
}

vae_err_kind vae_fail(vae_err *err, vae_err_kind kind, const char *fmt, ...) {
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return kind;
}
