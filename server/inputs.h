/* Reading what a request asks for: its JSON body (checked UTF-8, no duplicate or unknown keys),
 * images from PNG or pixel arrays, latent vectors, query parameters and the model to use. Every
 * function that fails has already replied with the matching 4xx error and returns -1. */
#ifndef VAE_SERVER_INPUTS_H
#define VAE_SERVER_INPUTS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "http.h"

/* Index of the first byte that is not valid UTF-8, or -1 when all of s[0..len) is valid. */
long vae_utf8_invalid_at(const uint8_t *s, size_t len);

/* Parses the request body as a JSON object whose keys are all in `allowed` (NULL-terminated),
 * none repeated. *root is the caller's to cJSON_Delete. */
int vae_input_json_object(vae_request *req, const char *const *allowed, cJSON **root);

/* Checks that obj has only keys from `allowed` (NULL-terminated), none repeated; `where` (may be
 * NULL) prefixes the message, e.g. "inputs[0]". */
int vae_input_check_fields(vae_request *req, const cJSON *obj, const char *where,
                           const char *const *allowed);

/* The model named by ?model=, or the default. */
const vae_served_model *vae_input_model(vae_request *req);

/* Integer query parameter in [lo, hi], *out = def when absent. */
int vae_input_query_int(vae_request *req, const char *name, long long lo, long long hi,
                        long long def, long long *out);
/* Finite float query parameter in [lo, hi]. */
int vae_input_query_float(vae_request *req, const char *name, double lo, double hi, double def,
                          double *out);
/* Boolean query parameter: 1/0/true/false/yes/no. */
int vae_input_query_bool(vae_request *req, const char *name, int def, int *out);

/* A JSON boolean field (absent: def). `where` names it in errors. */
int vae_input_json_bool(vae_request *req, const cJSON *item, const char *where, int def, int *out);

/* Non-negative integer seed from a JSON field or query string value. */
int vae_input_json_seed(vae_request *req, const cJSON *item, uint64_t *out, int *given);

/* Decodes a base64 PNG string into the model input out[784]. */
int vae_input_png_base64(vae_request *req, const char *where, const char *b64, int invert,
                         float *out);

/* Images for encode/reconstruct: from a PNG body, or a JSON body with one of "image", "images",
 * "pixels" (flat or nested). Writes up to scratch->max_batch images into scratch->x, sets *n and
 * *batched (whether the reply takes the list form). root may be NULL for a PNG body. */
int vae_input_images(vae_request *req, const cJSON *root, int invert, int *n, int *batched);

/* Latent vectors of size d from a JSON array (flat: one vector; nested: several) into out (room for
 * max_rows). `where` names the field in errors. */
int vae_input_latents(vae_request *req, const cJSON *item, const char *where, int d, float *out,
                      int max_rows, int *n, int *batched);

/* 1 when the reply should be JSON: ?format=json|png wins, else an Accept header that asks for JSON
 * and not PNG. -1 (replied 422) for a bad format value. */
int vae_input_wants_json(vae_request *req, int default_json);

#endif
