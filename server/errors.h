/* The server's errors as values: one enum of kinds, one table that maps each kind to its HTTP status,
 * its `type` string and its Open Inference Protocol status, and the value every parser, handler and
 * model call returns instead of replying. The pipeline writes an error once, in the route's dialect
 * (pipeline.c); nothing else picks a status. */
#ifndef VAE_SERVER_ERRORS_H
#define VAE_SERVER_ERRORS_H

/* Kept in the order of the table in errors.c (tests/http/test_docs.py reads that table to check the
 * README's error table and openapi.yaml against it). */
typedef enum {
    VAE_E_NONE = 0,
    VAE_E_INVALID_JSON,       /* 400: the body is not JSON (RFC 8259, strictly), or not UTF-8 */
    VAE_E_INVALID_BASE64,     /* 400: a base64 image string does not decode */
    VAE_E_INVALID_PNG,        /* 400: PNG bytes that do not decode exactly */
    VAE_E_INVALID_FRAMING,    /* 400: a body whose length is ambiguous (smuggling material) */
    VAE_E_INVALID_ENCODING,   /* 400: a gzip or deflate body that does not inflate exactly */
    VAE_E_INVALID_BINARY,     /* 400: Open Inference Protocol binary framing that does not add up */
    VAE_E_UNAUTHORIZED,       /* 401: --api-key set, key missing or wrong */
    VAE_E_FORBIDDEN,          /* 403: an operation this server is configured to refuse */
    VAE_E_NOT_FOUND,          /* 404: no such path */
    VAE_E_MODEL_NOT_FOUND,    /* 404: no such model */
    VAE_E_METHOD_NOT_ALLOWED, /* 405 */
    VAE_E_PAYLOAD_TOO_LARGE,  /* 413: body over --max-body */
    VAE_E_UNSUPPORTED_MEDIA,  /* 415: a Content-Type the route does not take */
    VAE_E_INVALID_REQUEST,    /* 422: well-formed but wrong: missing, unknown or repeated fields, types */
    VAE_E_INVALID_VALUE,      /* 422: a value out of its range or of the wrong size */
    VAE_E_INVALID_PARAMETER,  /* 422: a query parameter that is unknown, repeated or out of range */
    VAE_E_IMAGE_TOO_LARGE,    /* 422: a PNG larger than --max-pixels */
    VAE_E_TOO_MANY_ITEMS,     /* 422: more images or vectors than --max-batch */
    VAE_E_NO_INK,             /* 422: an image the normalisation finds no ink in */
    VAE_E_MODEL_LOAD_FAILED,  /* 422: a weights file that cannot be served (the old model keeps serving) */
    VAE_E_INTERNAL,           /* 500: a bug */
    VAE_E_NOT_IMPLEMENTED,    /* 501: a Transfer-Encoding other than chunked */
    VAE_E_NOT_READY,          /* 503: the models are still loading */
    VAE_E_DRAINING,           /* 503: shutting down */
    VAE_E_OVERLOADED,         /* 503: the batch queue is full */
    VAE_E_OUT_OF_MEMORY,      /* 503: an allocation failed */
    VAE_E_COUNT
} vae_err_kind;

/* One row of the table. */
typedef struct {
    int status;          /* HTTP status of the native routes */
    const char *type;    /* the native reply's "type" */
    int oip_status;      /* HTTP status on Open Inference Protocol routes ({"error": "message"}) */
    int retry_after;     /* seconds for a Retry-After header, 0 for none */
} vae_err_info;

/* The row of kind (VAE_E_INTERNAL's for a kind out of range). Never NULL. */
const vae_err_info *vae_err_info_of(vae_err_kind kind);

/* An error on its way to the client: its kind and the message that says what to fix. */
typedef struct {
    vae_err_kind kind;
    char message[512];
} vae_err;

/* Records kind and a printf-style message in err and returns kind, so that a parser writes
 * `return vae_fail(err, VAE_E_INVALID_VALUE, "...", ...);`. The message is truncated to fit. */
vae_err_kind vae_fail(vae_err *err, vae_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
