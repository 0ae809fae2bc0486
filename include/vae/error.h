/* Status codes and the error value every fallible vae_ function fills. */
#ifndef VAE_ERROR_H
#define VAE_ERROR_H

/* What kind of failure. Callers act on the kind (the server answers a PNG's VAE_ERR_LIMIT with 422,
 * VAE_ERR_NOMEM with 503, other decoding failures with 400); the message says what went wrong. */
typedef enum {
    VAE_OK = 0,
    VAE_ERR_ARG,         /* caller passed a value out of range or of the wrong shape */
    VAE_ERR_NOMEM,       /* an allocation failed */
    VAE_ERR_IO,          /* a file could not be opened, read or written */
    VAE_ERR_FORMAT,      /* bytes that do not parse: corrupt file, bad PNG, bad idx */
    VAE_ERR_LIMIT,       /* input larger than a configured bound */
    VAE_ERR_UNSUPPORTED, /* well-formed but a variant this project does not handle */
    VAE_ERR_EMPTY,       /* well-formed but nothing to work on: an image without ink (the server: 422) */
} vae_status;

/* The reason for a failure, written by the callee, read by the caller.
 * A caller that does not care passes NULL. */
typedef struct {
    vae_status status;
    char message[256];
} vae_error;

/* Records status and a printf-style message in err (when err is not NULL) and returns status,
 * so that callers write `return vae_error_set(err, VAE_ERR_IO, "...", ...);`. */
vae_status vae_error_set(vae_error *err, vae_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (used to add a file name to a parser's reason). */
void vae_error_prefix(vae_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short stable name of a status ("io", "format", ...). Never NULL. Only the tests' failure messages
 * use it today. */
const char *vae_status_name(vae_status status);

#endif
