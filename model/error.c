/* vae_error: a status plus a human-readable reason, filled by the callee. */
#include "vae/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

vae_status vae_error_set(vae_error *err, vae_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void vae_error_prefix(vae_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* "prefix: message", cut at the buffer's end (a clipped reason beats none) */
    char joined[sizeof err->message];
    size_t used = strlen(prefix);
    memcpy(joined, prefix, used);
    const char *parts[2] = {": ", err->message};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(parts[i]);
        if (n > sizeof joined - 1 - used) n = sizeof joined - 1 - used;
        memcpy(joined + used, parts[i], n);
        used += n;
    }
    joined[used] = '\0';
    memcpy(err->message, joined, used + 1);
}

const char *vae_status_name(vae_status status) {
    switch (status) {
    case VAE_OK: return "ok";
    case VAE_ERR_ARG: return "invalid_argument";
    case VAE_ERR_NOMEM: return "out_of_memory";
    case VAE_ERR_IO: return "io";
    case VAE_ERR_FORMAT: return "format";
    case VAE_ERR_LIMIT: return "limit";
    case VAE_ERR_UNSUPPORTED: return "unsupported";
    case VAE_ERR_EMPTY: return "empty";
    }
    return "unknown";
}
