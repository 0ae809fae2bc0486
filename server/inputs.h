/* Reading what a request asks for: its JSON body (checked UTF-8 and RFC 8259, no duplicate or unknown
 * keys), images from PNG or pixel arrays, latent vectors, query parameters and the model to use.
 * Every function returns VAE_E_NONE, or the error kind with err filled with a message that says
 * what to fix; on failure its outputs may hold partial values. None replies. */
#ifndef VAE_SERVER_INPUTS_H
#define VAE_SERVER_INPUTS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "errors.h"
#include "registry.h"
#include "request.h"

/* The largest seed: seeds are returned in JSON, whose numbers are exact integers only to 2^53-1. */
#define VAE_SEED_MAX 9007199254740991LL

/* Nesting deeper than any request needs (the deepest is 3); cJSON's own limit is 1000. */
#define VAE_JSON_MAX_DEPTH 64

/* Index of the first byte that is not valid UTF-8, or -1 when all of s[0..len) is valid. */
long vae_utf8_invalid_at(const uint8_t *s, size_t len);

/* Parses body[0..len) as a JSON object whose keys are all in `allowed` (NULL-terminated), none
 * repeated. On success *root is the caller's to cJSON_Delete, within the same request step (the
 * thread's JSON arena is reset by the next parse). */
vae_err_kind vae_input_json_object(const uint8_t *body, size_t len, const char *const *allowed,
                                   cJSON **root, vae_err *err);

/* Checks that obj has only keys from `allowed` (NULL-terminated), none repeated; `where` (may be
 * NULL) prefixes the message, e.g. "inputs[0]". */
vae_err_kind vae_input_check_fields(const cJSON *obj, const char *where, const char *const *allowed,
                                    vae_err *err);

/* Checks that every query argument is one of `allowed` (NULL-terminated) and none is repeated. */
vae_err_kind vae_input_query_check(const vae_request *req, const char *const *allowed, vae_err *err);

/* A reference to the model called name (the default one when NULL), held by the request until it
 * completes: VAE_E_MODEL_NOT_FOUND when there is no such model or it is unloaded. */
vae_err_kind vae_input_served_model(vae_request *req, const char *name, const vae_served_model **out,
                                    vae_err *err);

/* The same for the model named by ?model=, or the default one. */
vae_err_kind vae_input_model(vae_request *req, const vae_served_model **out, vae_err *err);

/* Integer query parameter in [lo, hi], def when absent. */
vae_err_kind vae_input_query_int(const vae_request *req, const char *name, long long lo, long long hi,
                                 long long def, long long *out, vae_err *err);

/* Finite number query parameter in [lo, hi], def when absent. */
vae_err_kind vae_input_query_float(const vae_request *req, const char *name, double lo, double hi,
                                   double def, double *out, vae_err *err);

/* Boolean query parameter: 1/0, true/false, yes/no (any case), or present without a value (true);
 * def when absent. */
vae_err_kind vae_input_query_bool(const vae_request *req, const char *name, int def, int *out,
                                  vae_err *err);

/* A JSON boolean field (absent: def). `where` names it in errors. */
vae_err_kind vae_input_json_bool(const cJSON *item, const char *where, int def, int *out, vae_err *err);

/* An integer seed 0..VAE_SEED_MAX from a JSON field; *given says whether it was there. */
vae_err_kind vae_input_json_seed(const cJSON *item, uint64_t *out, int *given, vae_err *err);

/* Decodes PNG bytes into the model input out[784]; `where` names them in errors ("the body",
 * "images[2]"). */
vae_err_kind vae_input_png(const uint8_t *png, size_t len, const char *where, long max_pixels,
                           int invert, float *out, vae_err *err);

/* Decodes a base64 PNG string into out[784], using aux (the thread's scratch) for the bytes. */
vae_err_kind vae_input_png_base64(const char *b64, const char *where, vae_buf *aux, long max_pixels,
                                  int invert, float *out, vae_err *err);

/* Images for encode/reconstruct: from a PNG body, or a JSON body with one of "image", "images",
 * "pixels" (flat or nested). Writes up to max_batch images into x (max_batch, 784), sets *n and
 * *batched (whether the reply takes the list form). root is NULL for a PNG body. */
vae_err_kind vae_input_images(const vae_request *req, const cJSON *root, int invert, float *x,
                              int max_batch, int *n, int *batched, vae_err *err);

/* Latent vectors of size d from a JSON array (flat: one vector; nested: several) into out (room for
 * max_rows). `where` names the field in errors. */
vae_err_kind vae_input_latents(const cJSON *item, const char *where, int d, float *out, int max_rows,
                               int *n, int *batched, vae_err *err);

/* Why a JSON value is not a usable number: VAE_NUMBER_OK, or what is wrong with it. */
typedef enum { VAE_NUMBER_OK, VAE_NUMBER_NOT_A_NUMBER, VAE_NUMBER_NOT_FLOAT32, VAE_NUMBER_OUT_OF_RANGE } vae_number_check;

/* Reads v as a finite float32 in [lo, hi] into *out (untouched unless VAE_NUMBER_OK). */
vae_number_check vae_input_number(const cJSON *v, float lo, float hi, float *out);

/* Whether the reply should be JSON: ?format=json|png wins, else an Accept header that asks for JSON
 * and not PNG; PNG by default. */
vae_err_kind vae_input_wants_json(const vae_request *req, int *json, vae_err *err);

/* "a, b, c": the names joined by ", " into buf (truncated to fit). Returns buf. */
char *vae_join_names(char *buf, size_t size, const char *const *names, int n);

#endif
