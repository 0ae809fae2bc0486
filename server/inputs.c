/* Request inputs, validated with one precise message per mistake. */
#include "inputs.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "json_arena.h"
#include "json_check.h"
#include "png_advice.h"

/* Deeper than any request needs (the deepest is 3); cJSON's own limit is 1000. */
#define VAE_JSON_MAX_DEPTH 64

long vae_utf8_invalid_at(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) need = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) need = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) need = 3, cp = c & 0x07;
        else return (long)i;
        if (i + need >= len) return (long)i; /* sequence cut off by the end */
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return (long)i;
        i += need + 1;
    }
    return -1;
}

int vae_input_json_object(vae_request *req, const char *const *allowed, cJSON **root) {
    if (req->body_len == 0) {
        vae_reply_error(req, 400, "invalid_json", "the body is empty: send a JSON object");
        return -1;
    }
    long bad = vae_utf8_invalid_at(req->body, req->body_len);
    if (bad >= 0) {
        vae_reply_error(req, 400, "invalid_json", "the body is not valid UTF-8 (byte %ld)", bad);
        return -1;
    }
    const char *why = NULL;
    long at = vae_json_check(req->body, req->body_len, VAE_JSON_MAX_DEPTH, &why);
    if (at >= 0) {
        vae_reply_error(req, 400, "invalid_json", "the body is not valid JSON: %s at byte %ld", why, at);
        return -1;
    }
    vae_json_arena_reset(); /* this thread's previous request has deleted its tree */
    cJSON *json = cJSON_ParseWithLength((const char *)req->body, req->body_len);
    if (!json) {
        /* the syntax is valid, so cJSON's own limits refused it (or memory ran out) */
        vae_reply_error(req, 400, "invalid_json", "the body could not be parsed as JSON");
        return -1;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        vae_reply_error(req, 422, "invalid_request", "the body must be a JSON object, e.g. {\"z\": [...]}");
        return -1;
    }
    if (vae_input_check_fields(req, json, NULL, allowed) != 0) {
        cJSON_Delete(json);
        return -1;
    }
    *root = json;
    return 0;
}

int vae_input_check_fields(vae_request *req, const cJSON *obj, const char *where,
                           const char *const *allowed) {
    const char *prefix = where ? where : "", *sep = where ? ": " : "";
    for (const cJSON *item = obj->child; item; item = item->next) {
        int known = 0;
        for (int i = 0; allowed[i] && !known; i++) known = strcmp(item->string, allowed[i]) == 0;
        if (!known) {
            char list[256] = "";
            size_t used = 0;
            for (int i = 0; allowed[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, i ? ", %s" : "%s", allowed[i]);
            vae_reply_error(req, 422, "invalid_request", "%s%sunknown field '%.64s'; accepted fields: %s",
                            prefix, sep, item->string, list);
            return -1;
        }
        for (const cJSON *prev = obj->child; prev != item; prev = prev->next) {
            if (strcmp(prev->string, item->string) == 0) {
                vae_reply_error(req, 422, "invalid_request", "%s%sfield '%.64s' appears more than once",
                                prefix, sep, item->string);
                return -1;
            }
        }
    }
    return 0;
}

const vae_served_model *vae_input_model(vae_request *req) {
    const vae_registry *reg = &req->server->registry;
    const char *name = vae_query(req, "model");
    const vae_served_model *m = vae_registry_find(reg, name && *name ? name : NULL);
    if (!m) {
        char list[256] = "";
        size_t used = 0;
        for (int i = 0; i < reg->count && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, i ? ", %s" : "%s",
                                     reg->models[i].name);
        vae_reply_error(req, 404, "model_not_found", "no model '%.64s'; loaded models: %s", name, list);
    }
    return m;
}

int vae_input_query_int(vae_request *req, const char *name, long long lo, long long hi,
                        long long def, long long *out) {
    const char *v = vae_query(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno) {
        vae_reply_error(req, 422, "invalid_parameter", "%s must be an integer from %lld to %lld, not '%.32s'",
                        name, lo, hi, v);
        return -1;
    }
    if (x < lo || x > hi) {
        vae_reply_error(req, 422, "invalid_parameter", "%s must be from %lld to %lld, not %lld", name, lo,
                        hi, x);
        return -1;
    }
    *out = x;
    return 0;
}

int vae_input_query_float(vae_request *req, const char *name, double lo, double hi, double def,
                          double *out) {
    const char *v = vae_query(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        vae_reply_error(req, 422, "invalid_parameter", "%s must be a number from %g to %g, not '%.32s'",
                        name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int vae_input_query_bool(vae_request *req, const char *name, int def, int *out) {
    const char *v = vae_query(req, name);
    if (!v) {
        *out = vae_query_present(req, name) ? 1 : def; /* "?invert" alone means true */
        return 0;
    }
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !*v) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")) *out = 0;
    else {
        vae_reply_error(req, 422, "invalid_parameter", "%s must be 1 or 0 (true or false), not '%.32s'",
                        name, v);
        return -1;
    }
    return 0;
}

int vae_input_json_bool(vae_request *req, const cJSON *item, const char *where, int def, int *out) {
    if (!item) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(item)) {
        vae_reply_error(req, 422, "invalid_request", "%s must be true or false", where);
        return -1;
    }
    *out = cJSON_IsTrue(item);
    return 0;
}

int vae_input_json_seed(vae_request *req, const cJSON *item, uint64_t *out, int *given) {
    *given = 0;
    if (!item) return 0;
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 0 && v <= 9007199254740991.0 && v == floor(v))) {
        vae_reply_error(req, 422, "invalid_request", "seed must be an integer from 0 to 2^53-1");
        return -1;
    }
    *out = (uint64_t)v;
    *given = 1;
    return 0;
}

/* Maps a codec failure onto its reply: bad bytes are 400, a refused size is 422. */
static void reply_png_error(vae_request *req, const char *where, vae_png_problem problem,
                            const vae_error *err) {
    const char *advice = vae_png_advice(problem);
    if (err->status == VAE_ERR_LIMIT)
        vae_reply_error(req, 422, "image_too_large", "%s: %s", where, err->message);
    else if (err->status == VAE_ERR_NOMEM)
        vae_reply_error(req, 503, "overloaded", "%s: out of memory decoding the image", where);
    else
        vae_reply_error(req, 400, "invalid_png", "%s: %s%s%s", where, err->message, advice ? "; " : "",
                        advice ? advice : "");
}

int vae_input_png_base64(vae_request *req, const char *where, const char *b64, int invert,
                         float *out) {
    vae_buf *aux = &req->scratch->aux;
    size_t len = strlen(b64), cap = vae_base64_decoded_size(len), got = 0;
    vae_error err = {0};
    aux->len = 0;
    if (vae_buf_reserve(aux, cap + 1) != VAE_OK) {
        vae_reply_error(req, 503, "overloaded", "out of memory");
        return -1;
    }
    if (vae_base64_decode(b64, len, aux->data, cap + 1, &got, &err) != VAE_OK) {
        vae_reply_error(req, 400, "invalid_base64", "%s is not valid base64: %s", where, err.message);
        return -1;
    }
    vae_png_problem problem;
    if (vae_png_decode_input(aux->data, got, req->server->opts.max_pixels, invert, out, &problem, &err) !=
        VAE_OK) {
        reply_png_error(req, where, problem, &err);
        return -1;
    }
    return 0;
}

/* Reads one row of `cols` numbers into out, each finite and in [lo, hi]. */
static int read_number_row(vae_request *req, const cJSON *row, const char *where, int index, int cols,
                           float lo, float hi, const char *what, float *out) {
    char name[96];
    if (index >= 0) snprintf(name, sizeof name, "%s[%d]", where, index);
    else snprintf(name, sizeof name, "%s", where);
    if (!cJSON_IsArray(row)) {
        vae_reply_error(req, 422, "invalid_request", "%s must be an array of %d numbers", name, cols);
        return -1;
    }
    int count = 0;
    for (const cJSON *v = row->child; v; v = v->next, count++) {
        if (count == cols) break;
        if (!cJSON_IsNumber(v)) {
            vae_reply_error(req, 422, "invalid_request", "%s[%d] is not a number", name, count);
            return -1;
        }
        double x = v->valuedouble;
        if (!isfinite(x) || fabs(x) > FLT_MAX) {
            vae_reply_error(req, 422, "invalid_value", "%s[%d] is not a finite float32 number", name, count);
            return -1;
        }
        if (x < lo || x > hi) {
            vae_reply_error(req, 422, "invalid_value", "%s[%d] is %g: %s must be in %g..%g", name, count,
                            x, what, lo, hi);
            return -1;
        }
        out[count] = (float)x;
    }
    int total = cJSON_GetArraySize(row);
    if (total != cols) {
        vae_reply_error(req, 422, "invalid_value", "%s has %d numbers; it needs %d", name, total, cols);
        return -1;
    }
    return 0;
}

/* A flat array of numbers (one row) or an array of arrays (several rows). */
static int read_rows(vae_request *req, const cJSON *item, const char *where, int cols, float lo,
                     float hi, const char *what, float *out, int max_rows, int *n, int *batched) {
    if (!cJSON_IsArray(item) || !item->child) {
        vae_reply_error(req, 422, "invalid_request",
                        "%s must be an array of %d numbers, or an array of such arrays", where, cols);
        return -1;
    }
    if (!cJSON_IsArray(item->child)) {
        *batched = 0;
        *n = 1;
        return read_number_row(req, item, where, -1, cols, lo, hi, what, out);
    }
    int rows = cJSON_GetArraySize(item);
    if (rows > max_rows) {
        vae_reply_error(req, 422, "too_many_items", "%s has %d rows; at most %d per request (--max-batch)",
                        where, rows, max_rows);
        return -1;
    }
    int r = 0;
    for (const cJSON *row = item->child; row; row = row->next, r++)
        if (read_number_row(req, row, where, r, cols, lo, hi, what, out + (size_t)r * cols) != 0) return -1;
    *batched = 1;
    *n = rows;
    return 0;
}

int vae_input_images(vae_request *req, const cJSON *root, int invert, int *n, int *batched) {
    vae_scratch *s = req->scratch;
    if (req->body_type == VAE_BODY_PNG) {
        vae_error err = {0};
        vae_png_problem problem;
        if (req->body_len == 0) {
            vae_reply_error(req, 400, "invalid_png", "the body is empty: send a PNG image");
            return -1;
        }
        if (vae_png_decode_input(req->body, req->body_len, req->server->opts.max_pixels, invert, s->x,
                                 &problem, &err) != VAE_OK) {
            reply_png_error(req, "the body", problem, &err);
            return -1;
        }
        *n = 1;
        *batched = 0;
        return 0;
    }
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(root, "image");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    const cJSON *pixels = cJSON_GetObjectItemCaseSensitive(root, "pixels");
    if (!!image + !!images + !!pixels != 1) {
        vae_reply_error(req, 422, "invalid_request",
                        "give exactly one of \"image\" (a base64 PNG), \"images\" (a list of them) or "
                        "\"pixels\" (784 numbers in 0..1, or a list of such lists)");
        return -1;
    }
    if (image) {
        if (!cJSON_IsString(image)) {
            vae_reply_error(req, 422, "invalid_request", "image must be a base64-encoded PNG string");
            return -1;
        }
        *n = 1;
        *batched = 0;
        return vae_input_png_base64(req, "image", image->valuestring, invert, s->x);
    }
    if (images) {
        int count = cJSON_IsArray(images) ? cJSON_GetArraySize(images) : -1;
        if (count < 1) {
            vae_reply_error(req, 422, "invalid_request", "images must be a non-empty list of base64 PNG strings");
            return -1;
        }
        if (count > s->max_batch) {
            vae_reply_error(req, 422, "too_many_items", "images has %d entries; at most %d per request "
                            "(--max-batch)", count, s->max_batch);
            return -1;
        }
        int i = 0;
        for (const cJSON *it = images->child; it; it = it->next, i++) {
            char where[32];
            snprintf(where, sizeof where, "images[%d]", i);
            if (!cJSON_IsString(it)) {
                vae_reply_error(req, 422, "invalid_request", "%s must be a base64-encoded PNG string", where);
                return -1;
            }
            if (vae_input_png_base64(req, where, it->valuestring, invert, s->x + (size_t)i * VAE_INPUT_DIM) != 0)
                return -1;
        }
        *n = count;
        *batched = 1;
        return 0;
    }
    if (read_rows(req, pixels, "pixels", VAE_INPUT_DIM, 0.0f, 1.0f, "pixel values", s->x, s->max_batch,
                  n, batched) != 0)
        return -1;
    if (invert)
        for (size_t i = 0; i < (size_t)*n * VAE_INPUT_DIM; i++) s->x[i] = 1.0f - s->x[i];
    return 0;
}

int vae_input_latents(vae_request *req, const cJSON *item, const char *where, int d, float *out,
                      int max_rows, int *n, int *batched) {
    return read_rows(req, item, where, d, -FLT_MAX, FLT_MAX, "latent values", out, max_rows, n, batched);
}

int vae_input_wants_json(vae_request *req, int default_json) {
    const char *format = vae_query(req, "format");
    if (format) {
        if (!strcmp(format, "json")) return 1;
        if (!strcmp(format, "png")) return 0;
        vae_reply_error(req, 422, "invalid_parameter", "format must be png or json, not '%.32s'", format);
        return -1;
    }
    const char *accept = vae_header(req, "Accept");
    if (accept && strstr(accept, "application/json") && !strstr(accept, "image/png")) return 1;
    if (accept && strstr(accept, "image/png")) return 0;
    return default_json;
}
