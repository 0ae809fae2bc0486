/* Request inputs, validated with one precise message per mistake. */
#include "inputs.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "json_arena.h"
#include "json_check.h"
#include "png_advice.h"
#include "server.h"

char *vae_join_names(char *buf, size_t size, const char *const *names, int n) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %s" : "%s", names[i]);
    return buf;
}

/* The NULL-terminated list's length. */
static int count_names(const char *const *names) {
    int n = 0;
    while (names[n]) n++;
    return n;
}

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

vae_err_kind vae_input_json_object(const uint8_t *body, size_t len, const char *const *allowed,
                                   cJSON **root, vae_err *err) {
    if (len == 0) return vae_fail(err, VAE_E_INVALID_JSON, "the body is empty: send a JSON object");
    long bad = vae_utf8_invalid_at(body, len);
    if (bad >= 0) return vae_fail(err, VAE_E_INVALID_JSON, "the body is not valid UTF-8 (byte %ld)", bad);
    const char *why = NULL;
    long at = vae_json_check(body, len, VAE_JSON_MAX_DEPTH, &why);
    if (at >= 0) return vae_fail(err, VAE_E_INVALID_JSON, "the body is not valid JSON: %s at byte %ld", why, at);
    vae_json_arena_reset(); /* this thread's previous request has deleted its tree */
    cJSON *json = cJSON_ParseWithLength((const char *)body, len);
    if (!json) /* the syntax is valid, so cJSON's own limits refused it (or memory ran out) */
        return vae_fail(err, VAE_E_INVALID_JSON, "the body could not be parsed as JSON");
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return vae_fail(err, VAE_E_INVALID_REQUEST, "the body must be a JSON object, e.g. {\"z\": [...]}");
    }
    if (vae_input_check_fields(json, NULL, allowed, err) != VAE_E_NONE) {
        cJSON_Delete(json);
        return err->kind;
    }
    *root = json;
    return VAE_E_NONE;
}

vae_err_kind vae_input_check_fields(const cJSON *obj, const char *where, const char *const *allowed,
                                    vae_err *err) {
    const char *prefix = where ? where : "", *sep = where ? ": " : "";
    for (const cJSON *item = obj->child; item; item = item->next) {
        int known = 0;
        for (int i = 0; allowed[i] && !known; i++) known = strcmp(item->string, allowed[i]) == 0;
        if (!known) {
            char list[256];
            return vae_fail(err, VAE_E_INVALID_REQUEST, "%s%sunknown field '%.64s'; accepted fields: %s",
                            prefix, sep, item->string,
                            vae_join_names(list, sizeof list, allowed, count_names(allowed)));
        }
        for (const cJSON *prev = obj->child; prev != item; prev = prev->next)
            if (strcmp(prev->string, item->string) == 0)
                return vae_fail(err, VAE_E_INVALID_REQUEST, "%s%sfield '%.64s' appears more than once",
                                prefix, sep, item->string);
    }
    return VAE_E_NONE;
}

vae_err_kind vae_input_query_check(const vae_request *req, const char *const *allowed, vae_err *err) {
    const int n_allowed = count_names(allowed);
    for (int i = 0; i < req->n_args; i++) {
        const char *key = req->args[i].key;
        int known = 0;
        for (int k = 0; k < n_allowed && !known; k++) known = !strcmp(key, allowed[k]);
        if (!known) {
            char list[256];
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "unknown query parameter '%.64s'%s%s", key,
                            n_allowed ? "; this endpoint accepts: " : "; this endpoint takes none",
                            vae_join_names(list, sizeof list, allowed, n_allowed));
        }
    }
    /* reported after the unknown ones, as before: an unknown name is the likelier mistake */
    for (int i = 0; i < req->n_args; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(req->args[i].key, req->args[j].key))
                return vae_fail(err, VAE_E_INVALID_PARAMETER, "query parameter '%.64s' is given more than once",
                                req->args[i].key);
    return VAE_E_NONE;
}

vae_err_kind vae_input_served_model(vae_request *req, const char *name, const vae_served_model **out,
                                    vae_err *err) {
    vae_registry *reg = &req->server->registry;
    int slot = vae_registry_slot_of(reg, name);
    if (slot < 0) {
        const char *names[VAE_MAX_MODELS];
        for (int i = 0; i < reg->count; i++) names[i] = reg->slots[i].name;
        char list[256];
        return vae_fail(err, VAE_E_MODEL_NOT_FOUND, "no model '%.64s'; loaded models: %s", name ? name : "",
                        vae_join_names(list, sizeof list, names, reg->count));
    }
    const vae_served_model *m = vae_registry_acquire(reg, slot);
    if (!m)
        return vae_fail(err, VAE_E_MODEL_NOT_FOUND,
                        "model '%s' is unloaded; POST /v2/repository/models/%s/load serves it again",
                        reg->slots[slot].name, reg->slots[slot].name);
    if (vae_request_hold(req, m) != 0)
        return vae_fail(err, VAE_E_INTERNAL, "a request may hold at most two models");
    *out = m;
    return VAE_E_NONE;
}

vae_err_kind vae_input_model(vae_request *req, const vae_served_model **out, vae_err *err) {
    const char *name = vae_req_query(req, "model");
    return vae_input_served_model(req, name && *name ? name : NULL, out, err);
}

vae_err_kind vae_input_query_int(const vae_request *req, const char *name, long long lo, long long hi,
                                 long long def, long long *out, vae_err *err) {
    const char *v = vae_req_query(req, name);
    if (!v) {
        if (vae_req_query_present(req, name))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be an integer from %lld to %lld, not empty",
                            name, lo, hi);
        *out = def;
        return VAE_E_NONE;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno)
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be an integer from %lld to %lld, not '%.32s'",
                        name, lo, hi, v);
    if (x < lo || x > hi)
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be from %lld to %lld, not %lld", name, lo, hi, x);
    *out = x;
    return VAE_E_NONE;
}

vae_err_kind vae_input_query_float(const vae_request *req, const char *name, double lo, double hi,
                                   double def, double *out, vae_err *err) {
    const char *v = vae_req_query(req, name);
    if (!v) {
        if (vae_req_query_present(req, name))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be a number from %g to %g, not empty", name,
                            lo, hi);
        *out = def;
        return VAE_E_NONE;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi)
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be a number from %g to %g, not '%.32s'", name, lo,
                        hi, v);
    *out = x;
    return VAE_E_NONE;
}

vae_err_kind vae_input_query_bool(const vae_request *req, const char *name, int def, int *out,
                                  vae_err *err) {
    const char *v = vae_req_query(req, name);
    if (!v) {
        *out = vae_req_query_present(req, name) ? 1 : def; /* "?invert" alone means true */
        return VAE_E_NONE;
    }
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !*v) *out = 1;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")) *out = 0;
    else
        return vae_fail(err, VAE_E_INVALID_PARAMETER, "%s must be 1 or 0 (true or false), not '%.32s'", name, v);
    return VAE_E_NONE;
}

vae_err_kind vae_input_json_bool(const cJSON *item, const char *where, int def, int *out, vae_err *err) {
    if (!item) {
        *out = def;
        return VAE_E_NONE;
    }
    if (!cJSON_IsBool(item)) return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be true or false", where);
    *out = cJSON_IsTrue(item);
    return VAE_E_NONE;
}

vae_err_kind vae_input_json_seed(const cJSON *item, uint64_t *out, int *given, vae_err *err) {
    *given = 0;
    if (!item) return VAE_E_NONE;
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 0 && v <= (double)VAE_SEED_MAX && v == floor(v)))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "seed must be an integer from 0 to 2^53-1");
    *out = (uint64_t)v;
    *given = 1;
    return VAE_E_NONE;
}

/* The server's words for a preparation that failed: bad bytes are 400, a refused size 422, no ink 422. */
static vae_err_kind prepare_failed(const vae_error *e, vae_png_problem problem, const char *where, vae_err *err) {
    switch (e->status) {
    case VAE_ERR_LIMIT: return vae_fail(err, VAE_E_IMAGE_TOO_LARGE, "%s: %s", where, e->message);
    case VAE_ERR_NOMEM: return vae_fail(err, VAE_E_OUT_OF_MEMORY, "%s: out of memory decoding the image", where);
    case VAE_ERR_EMPTY:
        return vae_fail(err, VAE_E_NO_INK, "%s: %s (normalize=none takes it as it is)", where, e->message);
    case VAE_ERR_FORMAT: {
        const char *advice = vae_png_advice(problem);
        return vae_fail(err, VAE_E_INVALID_PNG, "%s: %s%s%s", where, e->message, advice ? "; " : "",
                        advice ? advice : "");
    }
    default: return vae_fail(err, VAE_E_INTERNAL, "%s: %s", where, e->message);
    }
}

vae_err_kind vae_input_png(vae_request *req, const uint8_t *png, size_t len, const char *where,
                           const vae_prepare_options *prep, float *out, vae_prepare_info *info, vae_err *err) {
    vae_error e = {0};
    vae_png_problem problem;
    if (vae_png_decode_prepared(png, len, req->server->opts.max_pixels, prep, &req->scratch->prep, out, info,
                                &problem, &e) == VAE_OK)
        return VAE_E_NONE;
    return prepare_failed(&e, problem, where, err);
}

vae_err_kind vae_input_png_base64(vae_request *req, const char *b64, const char *where,
                                  const vae_prepare_options *prep, float *out, vae_prepare_info *info,
                                  vae_err *err) {
    vae_buf *aux = &req->scratch->aux;
    size_t len = strlen(b64), cap = vae_base64_decoded_size(len), got = 0;
    vae_error e = {0};
    aux->len = 0;
    if (vae_buf_reserve(aux, cap + 1) != VAE_OK)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "%s: out of memory decoding base64", where);
    if (vae_base64_decode(b64, len, aux->data, cap + 1, &got, &e) != VAE_OK)
        return vae_fail(err, VAE_E_INVALID_BASE64, "%s is not valid base64: %s", where, e.message);
    return vae_input_png(req, aux->data, got, where, prep, out, info, err);
}

/* --- preparation options ------------------------------------------------------------------------ */

static const char NORMALIZE_CHOICES[] = "none, mnist, fill or auto";

/* name into *n (auto: *is_auto); -1 for an unknown name. */
static int parse_normalize(const char *name, vae_normalize *n, int *is_auto) {
    if (!strcmp(name, "auto")) {
        *is_auto = 1;
        return 0;
    }
    *is_auto = 0;
    return vae_normalize_parse(name, n);
}

vae_err_kind vae_input_image_options(const vae_request *req, const cJSON *root, const vae_served_model *sm,
                                     vae_image_options *out, vae_err *err) {
    vae_normalize normalize = VAE_NORMALIZE_NONE;
    int is_auto = 0;
    vae_invert invert = VAE_IMAGE_DEFAULT_INVERT;
    parse_normalize(VAE_IMAGE_DEFAULT_NORMALIZE, &normalize, &is_auto);
    const char *q = vae_req_query(req, "normalize");
    if (q || vae_req_query_present(req, "normalize")) {
        if (!q || parse_normalize(q, &normalize, &is_auto) != 0)
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "normalize must be %s, not '%.32s'", NORMALIZE_CHOICES,
                            q ? q : "");
    }
    q = vae_req_query(req, "invert");
    if (q && !strcasecmp(q, "auto")) {
        invert = VAE_INVERT_AUTO;
    } else {
        int flag;
        if (vae_input_query_bool(req, "invert", invert == VAE_INVERT_YES, &flag, err))
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "invert must be 1 or 0 (true or false), or auto, not '%.32s'",
                            q);
        if (q || vae_req_query_present(req, "invert")) invert = flag ? VAE_INVERT_YES : VAE_INVERT_NO;
    }
    const cJSON *jn = root ? cJSON_GetObjectItemCaseSensitive(root, "normalize") : NULL;
    if (jn) {
        if (!cJSON_IsString(jn))
            return vae_fail(err, VAE_E_INVALID_REQUEST, "normalize must be a string: %s", NORMALIZE_CHOICES);
        if (parse_normalize(jn->valuestring, &normalize, &is_auto) != 0)
            return vae_fail(err, VAE_E_INVALID_VALUE, "normalize must be %s, not \"%.32s\"", NORMALIZE_CHOICES,
                            jn->valuestring);
    }
    const cJSON *ji = root ? cJSON_GetObjectItemCaseSensitive(root, "invert") : NULL;
    if (ji) {
        if (cJSON_IsBool(ji)) invert = cJSON_IsTrue(ji) ? VAE_INVERT_YES : VAE_INVERT_NO;
        else if (cJSON_IsString(ji) && !strcmp(ji->valuestring, "auto")) invert = VAE_INVERT_AUTO;
        else return vae_fail(err, VAE_E_INVALID_REQUEST, "invert must be true or false, or \"auto\"");
    }
    if (is_auto) normalize = vae_normalize_of_model(sm->model);
    out->prep = (vae_prepare_options){normalize, invert};
    out->normalize_auto = is_auto;
    return VAE_E_NONE;
}

vae_number_check vae_input_number(const cJSON *v, float lo, float hi, float *out) {
    if (!cJSON_IsNumber(v)) return VAE_NUMBER_NOT_A_NUMBER;
    double x = v->valuedouble;
    if (!isfinite(x) || fabs(x) > FLT_MAX) return VAE_NUMBER_NOT_FLOAT32;
    if (x < lo || x > hi) return VAE_NUMBER_OUT_OF_RANGE;
    *out = (float)x;
    return VAE_NUMBER_OK;
}

/* Reads one row of `cols` numbers into out, each finite and in [lo, hi]. */
static vae_err_kind read_number_row(const cJSON *row, const char *where, int index, int cols, float lo,
                                    float hi, const char *what, float *out, vae_err *err) {
    char name[96];
    if (index >= 0) snprintf(name, sizeof name, "%s[%d]", where, index);
    else snprintf(name, sizeof name, "%s", where);
    if (!cJSON_IsArray(row))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be an array of %d numbers", name, cols);
    int count = 0;
    for (const cJSON *v = row->child; v && count < cols; v = v->next, count++) {
        switch (vae_input_number(v, lo, hi, &out[count])) {
        case VAE_NUMBER_OK:
            break;
        case VAE_NUMBER_NOT_A_NUMBER:
            return vae_fail(err, VAE_E_INVALID_REQUEST, "%s[%d] is not a number", name, count);
        case VAE_NUMBER_NOT_FLOAT32:
            return vae_fail(err, VAE_E_INVALID_VALUE, "%s[%d] is not a finite float32 number", name, count);
        case VAE_NUMBER_OUT_OF_RANGE:
            return vae_fail(err, VAE_E_INVALID_VALUE, "%s[%d] is %g: %s must be in %g..%g", name, count,
                            v->valuedouble, what, lo, hi);
        }
    }
    int total = cJSON_GetArraySize(row);
    if (total != cols) return vae_fail(err, VAE_E_INVALID_VALUE, "%s has %d numbers; it needs %d", name, total, cols);
    return VAE_E_NONE;
}

/* A flat array of numbers (one row) or an array of arrays (several rows). */
static vae_err_kind read_rows(const cJSON *item, const char *where, int cols, float lo, float hi,
                              const char *what, float *out, int max_rows, int *n, int *batched,
                              vae_err *err) {
    if (!cJSON_IsArray(item) || !item->child)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be an array of %d numbers, or an array of such arrays",
                        where, cols);
    if (!cJSON_IsArray(item->child)) {
        *batched = 0;
        *n = 1;
        return read_number_row(item, where, -1, cols, lo, hi, what, out, err);
    }
    int rows = cJSON_GetArraySize(item);
    if (rows > max_rows)
        return vae_fail(err, VAE_E_TOO_MANY_ITEMS, "%s has %d rows; at most %d per request (--max-batch)", where,
                        rows, max_rows);
    int r = 0;
    for (const cJSON *row = item->child; row; row = row->next, r++)
        if (read_number_row(row, where, r, cols, lo, hi, what, out + (size_t)r * cols, err) != VAE_E_NONE)
            return err->kind;
    *batched = 1;
    *n = rows;
    return VAE_E_NONE;
}

/* "width" and "height" of pixel arrays: both or neither (28x28). */
static vae_err_kind read_pixel_size(const vae_request *req, const cJSON *root, int *w, int *h, vae_err *err) {
    const cJSON *jw = cJSON_GetObjectItemCaseSensitive(root, "width");
    const cJSON *jh = cJSON_GetObjectItemCaseSensitive(root, "height");
    *w = *h = VAE_IMAGE_SIDE;
    if (!jw && !jh) return VAE_E_NONE;
    if (!jw || !jh)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "give both \"width\" and \"height\" of the pixels, or neither (28x28)");
    const cJSON *sides[2] = {jw, jh};
    int *dims[2] = {w, h};
    for (int i = 0; i < 2; i++) {
        double v = cJSON_IsNumber(sides[i]) ? sides[i]->valuedouble : -1;
        if (!(v >= 1 && v <= VAE_PNG_MAX_SIDE && v == floor(v)))
            return vae_fail(err, VAE_E_INVALID_VALUE, "%s must be an integer from 1 to %d", i ? "height" : "width",
                            VAE_PNG_MAX_SIDE);
        *dims[i] = (int)v;
    }
    long long values = (long long)*w * *h;
    if (values > req->server->opts.max_pixels)
        return vae_fail(err, VAE_E_IMAGE_TOO_LARGE, "pixels of %dx%d = %lld values, more than the limit of %ld (--max-pixels)",
                        *w, *h, values, req->server->opts.max_pixels);
    return VAE_E_NONE;
}

/* "pixels": one image (a flat array of w*h numbers) or a list of them, each prepared into x. */
static vae_err_kind read_pixel_images(vae_request *req, const cJSON *pixels, int w, int h,
                                      const vae_image_options *opts, float *x, int max_batch, vae_images *out,
                                      vae_err *err) {
    const int cols = w * h;
    if (!cJSON_IsArray(pixels) || !pixels->child)
        return vae_fail(err, VAE_E_INVALID_REQUEST, "pixels must be an array of %d numbers, or an array of such arrays",
                        cols);
    const int batched = cJSON_IsArray(pixels->child), rows = batched ? cJSON_GetArraySize(pixels) : 1;
    if (rows > max_batch)
        return vae_fail(err, VAE_E_TOO_MANY_ITEMS, "pixels has %d rows; at most %d per request (--max-batch)", rows,
                        max_batch);
    vae_prepare_info *info = vae_request_alloc(req, sizeof *info * (size_t)rows);
    vae_buf *aux = &req->scratch->aux;
    aux->len = 0;
    if (!info || vae_buf_reserve(aux, sizeof(float) * (size_t)cols) != VAE_OK)
        return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading pixels");
    float *grey = (float *)aux->data;
    int r = 0;
    for (const cJSON *row = batched ? pixels->child : pixels; row && r < rows; row = row->next, r++) {
        if (read_number_row(row, "pixels", batched ? r : -1, cols, 0.0f, 1.0f, "pixel values", grey, err))
            return err->kind;
        char where[32];
        if (batched) snprintf(where, sizeof where, "pixels[%d]", r);
        else snprintf(where, sizeof where, "pixels");
        vae_error e = {0};
        if (vae_prepare_image(grey, w, h, &opts->prep, &req->scratch->prep, x + (size_t)r * VAE_INPUT_DIM, &info[r],
                              &e) != VAE_OK)
            return prepare_failed(&e, VAE_PNG_NONE, where, err);
    }
    *out = (vae_images){.n = rows, .batched = batched, .info = info};
    return VAE_E_NONE;
}

vae_err_kind vae_input_images(vae_request *req, const cJSON *root, const vae_image_options *opts, float *x,
                              int max_batch, vae_images *out, vae_err *err) {
    if (req->body_type == VAE_BODY_PNG) {
        if (req->body_len == 0) return vae_fail(err, VAE_E_INVALID_PNG, "the body is empty: send a PNG image");
        vae_prepare_info *info = vae_request_alloc(req, sizeof *info);
        if (!info) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading the image");
        *out = (vae_images){.n = 1, .batched = 0, .info = info};
        return vae_input_png(req, req->body, req->body_len, "the body", &opts->prep, x, info, err);
    }
    if (!root) return vae_fail(err, VAE_E_INTERNAL, "images: a JSON body without its parsed root");
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(root, "image");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    const cJSON *pixels = cJSON_GetObjectItemCaseSensitive(root, "pixels");
    if (!!image + !!images + !!pixels != 1)
        return vae_fail(err, VAE_E_INVALID_REQUEST,
                        "give exactly one of \"image\" (a base64 PNG), \"images\" (a list of them) or "
                        "\"pixels\" (784 numbers in 0..1, or a list of such lists)");
    if (!pixels && (cJSON_GetObjectItemCaseSensitive(root, "width") || cJSON_GetObjectItemCaseSensitive(root, "height")))
        return vae_fail(err, VAE_E_INVALID_REQUEST, "width and height describe \"pixels\"; a PNG carries its own size");
    if (image) {
        if (!cJSON_IsString(image))
            return vae_fail(err, VAE_E_INVALID_REQUEST, "image must be a base64-encoded PNG string");
        vae_prepare_info *info = vae_request_alloc(req, sizeof *info);
        if (!info) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading the image");
        *out = (vae_images){.n = 1, .batched = 0, .info = info};
        return vae_input_png_base64(req, image->valuestring, "image", &opts->prep, x, info, err);
    }
    if (images) {
        int count = cJSON_IsArray(images) ? cJSON_GetArraySize(images) : -1;
        if (count < 1)
            return vae_fail(err, VAE_E_INVALID_REQUEST, "images must be a non-empty list of base64 PNG strings");
        if (count > max_batch)
            return vae_fail(err, VAE_E_TOO_MANY_ITEMS, "images has %d entries; at most %d per request (--max-batch)",
                            count, max_batch);
        vae_prepare_info *info = vae_request_alloc(req, sizeof *info * (size_t)count);
        if (!info) return vae_fail(err, VAE_E_OUT_OF_MEMORY, "out of memory reading the images");
        int i = 0;
        for (const cJSON *it = images->child; it; it = it->next, i++) {
            char where[32];
            snprintf(where, sizeof where, "images[%d]", i);
            if (!cJSON_IsString(it))
                return vae_fail(err, VAE_E_INVALID_REQUEST, "%s must be a base64-encoded PNG string", where);
            if (vae_input_png_base64(req, it->valuestring, where, &opts->prep, x + (size_t)i * VAE_INPUT_DIM, &info[i],
                                     err) != VAE_E_NONE)
                return err->kind;
        }
        *out = (vae_images){.n = count, .batched = 1, .info = info};
        return VAE_E_NONE;
    }
    int w, h;
    if (read_pixel_size(req, root, &w, &h, err)) return err->kind;
    return read_pixel_images(req, pixels, w, h, opts, x, max_batch, out, err);
}

vae_err_kind vae_input_latents(const cJSON *item, const char *where, int d, float *out, int max_rows,
                               int *n, int *batched, vae_err *err) {
    return read_rows(item, where, d, -FLT_MAX, FLT_MAX, "latent values", out, max_rows, n, batched, err);
}

vae_err_kind vae_input_wants_json(const vae_request *req, int *json, vae_err *err) {
    const char *format = vae_req_query(req, "format");
    if (format || vae_req_query_present(req, "format")) {
        if (format && !strcmp(format, "json")) *json = 1;
        else if (format && !strcmp(format, "png")) *json = 0;
        else
            return vae_fail(err, VAE_E_INVALID_PARAMETER, "format must be png or json, not '%.32s'",
                            format ? format : "");
        return VAE_E_NONE;
    }
    const char *accept = vae_req_header(req, "Accept");
    *json = accept && strstr(accept, "application/json") && !strstr(accept, "image/png");
    return VAE_E_NONE;
}
