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
#include "vae/prepare.h"

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

/* --- images: how they are prepared, and reading them ---------------------------------------------
 *
 * Every endpoint that takes images takes the same preparation options and reads its images through
 * vae_input_images (or vae_input_png*), so a new endpoint gets them by listing the names below and
 * passing a vae_image_options:
 *
 *     static const char *const query[] = {"model", VAE_IMAGE_QUERY, NULL};
 *     static const char *const fields[] = {VAE_IMAGE_FIELDS, "mine", NULL};
 *     vae_image_options o;  vae_images im;
 *     vae_input_image_options(req, root, c->sm, &o, err)          (root NULL for a PNG body)
 *     vae_input_images(req, root, &o, s->x, s->max_batch, &im, err)
 *
 * then keeps `im` in its call struct and writes vae_reply_prepared(...) into its reply (prepared.h). */

/* The query parameters and JSON fields of images, for an endpoint's accepted lists. */
#define VAE_IMAGE_QUERY "normalize", "invert"
#define VAE_IMAGE_FIELDS "image", "images", "pixels", "width", "height", "normalize", "invert"

/* What a request asks for its images when it names neither option. */
#define VAE_IMAGE_DEFAULT_NORMALIZE "none"
#define VAE_IMAGE_DEFAULT_INVERT VAE_INVERT_NO

/* How a request's images are prepared: prep.normalize already resolved (never "auto"). */
typedef struct {
    vae_prepare_options prep;
    int normalize_auto; /* the request asked for "auto" (prep.normalize is the model's record) */
} vae_image_options;

/* Reads ?normalize= (none, mnist, fill, auto) and ?invert= (a boolean, or auto), then the JSON fields
 * of the same names from root when it is not NULL (they win: "normalize" a string, "invert" true,
 * false or "auto"), and resolves "auto" against sm's model (vae_normalize_of_model). Absent options
 * take the defaults above. */
vae_err_kind vae_input_image_options(const vae_request *req, const cJSON *root, const vae_served_model *sm,
                                     vae_image_options *out, vae_err *err);

/* The images a request gave: how many, whether it gave a list (the reply then takes the list form),
 * and what was done to each (n entries in request memory: valid until the request completes,
 * suspensions included). */
typedef struct {
    int n, batched;
    const vae_prepare_info *info;
} vae_images;

/* Decodes PNG bytes into the model input out[784], prepared as prep says, with what was done in
 * *info; `where` names them in errors ("the body", "images[2]"): 400 invalid_png for bytes that do
 * not decode, 422 image_too_large past --max-pixels, 422 no_ink when the normalisation finds none.
 * Uses req's --max-pixels and its thread's scratch. */
vae_err_kind vae_input_png(vae_request *req, const uint8_t *png, size_t len, const char *where,
                           const vae_prepare_options *prep, float *out, vae_prepare_info *info, vae_err *err);

/* The same from a base64 PNG string (a data: URL prefix is accepted), decoded into scratch->aux. */
vae_err_kind vae_input_png_base64(vae_request *req, const char *b64, const char *where,
                                  const vae_prepare_options *prep, float *out, vae_prepare_info *info,
                                  vae_err *err);

/* Images for an endpoint: from a PNG body (root NULL), or a JSON body with exactly one of "image" (a
 * base64 PNG), "images" (a list of them) or "pixels" (grey values in 0..1, 0 = background: 784 of
 * them, 28x28, or "width" x "height" of them when both are given; flat for one image, a list of such
 * lists for several). Each is prepared as opts says into x (max_batch, 784); *out says how many,
 * whether a list was given and what was done to each. */
vae_err_kind vae_input_images(vae_request *req, const cJSON *root, const vae_image_options *opts, float *x,
                              int max_batch, vae_images *out, vae_err *err);

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
