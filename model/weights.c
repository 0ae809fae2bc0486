/* safetensors reader and writer for vae_model, checking every field of an untrusted file. */
#include "vae/weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void write_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const uint8_t *)&probe == 1;
}

static const size_t dtype_sizes[] = {4, 2, 2}; /* bytes per value, by vae_dtype */

static float float_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of_float(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float vae_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return float_of_bits(sign | 0x7f800000u | mant << 13); /* Inf, NaN */
    return float_of_bits(sign | (exp + 112) << 23 | mant << 13);
}

uint16_t vae_f32_to_f16(float f) {
    uint32_t x = bits_of_float(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return sign | 0x7e00;    /* NaN */
    if (x >= 0x477ff000u) return sign | 0x7c00;   /* 65520 and up (the tie above 65504 included): Inf */
    if (x < 0x38800000u) {                        /* below 2^-14: a subnormal half or zero */
        float scaled = float_of_bits(x) * 0x1p24f; /* exact: a power of two, no overflow */
        return sign | (uint16_t)rintf(scaled);    /* nearest, ties to even; 1024 is 2^-14 itself */
    }
    uint32_t h = ((x >> 23) - 112) << 10 | (x & 0x7fffff) >> 13, rest = x & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* a carry moves into the exponent */
    return sign | (uint16_t)h;
}

float vae_bf16_to_f32(uint16_t h) { return float_of_bits((uint32_t)h << 16); }

uint16_t vae_f32_to_bf16(float f) {
    uint32_t x = bits_of_float(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* Widens n little-endian values of dtype from unaligned bytes into floats. */
static void copy_tensor(float *dst, const uint8_t *src, size_t n, vae_dtype dtype) {
    if (dtype == VAE_DTYPE_F32 && host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (dtype == VAE_DTYPE_F32) {
            const uint8_t *p = src + 4 * i;
            dst[i] = float_of_bits((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 24);
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = dtype == VAE_DTYPE_F16 ? vae_f16_to_f32(h) : vae_bf16_to_f32(h);
        }
    }
}

/* Writes n floats as little-endian values of dtype (each already representable in it). */
static void write_tensor(uint8_t *dst, const float *src, size_t n, vae_dtype dtype) {
    for (size_t i = 0; i < n; i++) {
        if (dtype == VAE_DTYPE_F32) {
            uint32_t u = bits_of_float(src[i]);
            for (int b = 0; b < 4; b++) dst[4 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
        } else {
            uint16_t h = dtype == VAE_DTYPE_F16 ? vae_f32_to_f16(src[i]) : vae_f32_to_bf16(src[i]);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
    }
}

/* A non-negative integer that a double represents exactly; -1 otherwise. */
static int64_t json_uint(const cJSON *item) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > 9007199254740992.0 || v != floor(v)) return -1;
    return (int64_t)v;
}

/* One tensor entry of the header, checked for form but not yet against the model. */
typedef struct {
    const char *name;
    vae_dtype dtype;
    int rank;
    int64_t shape[2];
    uint64_t begin, end;
} header_tensor;

static int compare_begin(const void *a, const void *b) {
    const header_tensor *x = *(const header_tensor *const *)a, *y = *(const header_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Checks one "name": {"dtype","shape","data_offsets"} entry. */
static vae_status parse_tensor_entry(const cJSON *item, uint64_t data_len, header_tensor *t,
                                     vae_error *err) {
    t->name = item->string;
    if (!cJSON_IsObject(item))
        return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' is not a JSON object", t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets))
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "tensor '%s' needs \"dtype\" (string), \"shape\" and \"data_offsets\" "
                             "(arrays)",
                             t->name);
    /* safetensors spells dtypes in capitals: "f16" is not one */
    if (vae_dtype_parse(dtype->valuestring, &t->dtype) != 0 ||
        strcmp(dtype->valuestring, vae_dtype_name(t->dtype)) != 0)
        return vae_error_set(err, VAE_ERR_UNSUPPORTED,
                             "tensor '%s' has dtype %.16s; F32, F16 and BF16 are supported (save "
                             "with tensor.float())",
                             t->name, dtype->valuestring);
    int rank = cJSON_GetArraySize(shape);
    if (rank < 1 || rank > 2)
        return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' has rank %d; expected 1 or 2",
                             t->name, rank);
    t->rank = rank;
    uint64_t elements = 1;
    for (int i = 0; i < rank; i++) {
        int64_t v = json_uint(cJSON_GetArrayItem(shape, i));
        if (v < 0 || v > (1 << 24))
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "tensor '%s' has an invalid dimension in its shape", t->name);
        t->shape[i] = v;
        elements *= (uint64_t)v;
    }
    if (rank == 1) t->shape[1] = 0;
    if (cJSON_GetArraySize(offsets) != 2)
        return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s': data_offsets must be [begin, end]",
                             t->name);
    int64_t begin = json_uint(cJSON_GetArrayItem(offsets, 0));
    int64_t end = json_uint(cJSON_GetArrayItem(offsets, 1));
    if (begin < 0 || end < 0 || begin > end)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "tensor '%s': data_offsets must be two integers with begin <= end",
                             t->name);
    if ((uint64_t)end > data_len)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "tensor '%s': data_offsets [%lld, %lld] run past the end of the data "
                             "(%llu bytes)",
                             t->name, (long long)begin, (long long)end,
                             (unsigned long long)data_len);
    uint64_t bytes = elements * dtype_sizes[t->dtype];
    if ((uint64_t)(end - begin) != bytes)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "tensor '%s': shape needs %llu bytes of %s but data_offsets span %lld",
                             t->name, (unsigned long long)bytes, vae_dtype_name(t->dtype),
                             (long long)(end - begin));
    t->begin = (uint64_t)begin;
    t->end = (uint64_t)end;
    return VAE_OK;
}

static const header_tensor *find_tensor(const header_tensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* The optional tensors beside the parameters (model.h says what each holds), in storage order: the
 * name, where the model keeps it, its shape (cols 0: rank 1; rows 0: a score table of any length
 * 1..VAE_MAX_SCORE_TABLE, whose length goes to *count). */
typedef struct {
    const char *name;
    float **slot;
    int rows, cols;
    int *count;
} extra_tensor;

#define N_EXTRA 10
/* Room in the header for every tensor a VAE can have, and one more so an unknown one can be named. */
#define MAX_HEADER_TENSORS (VAE_MAX_TENSORS + N_EXTRA + 1)

static int extra_tensors(vae_model *m, extra_tensor out[N_EXTRA]) {
    const int d = m->config.latent_dim;
    int n = 0;
#define EXTRA(name, field, rows, cols, count) out[n++] = (extra_tensor){name, &(field), rows, cols, count}
    EXTRA("centroids", m->centroids, VAE_NUM_CLASSES, d, NULL);
    EXTRA("class_std", m->class_std, VAE_NUM_CLASSES, d, NULL);
    EXTRA("plane.mean", m->plane.mean, d, 0, NULL);
    EXTRA("plane.dirs", m->plane.dirs, 2, d, NULL);
    EXTRA("plane.std", m->plane.std, 2, 0, NULL);
    EXTRA("diag.mu_var", m->diag.mu_var, d, 0, NULL);
    EXTRA("diag.kl", m->diag.kl, d, 0, NULL);
    EXTRA("score.nll", m->scores.nll.values, 0, 0, &m->scores.nll.count);
    EXTRA("score.corrected", m->scores.corrected.values, 0, 0, &m->scores.corrected.count);
    EXTRA("score.ood", m->scores.ood.values, 0, 0, &m->scores.ood.count);
#undef EXTRA
    return n;
}

/* Floats in an optional tensor of the model (0 when absent). */
static size_t extra_count(const extra_tensor *e) {
    if (!*e->slot) return 0;
    if (e->count) return (size_t)*e->count;
    return (size_t)e->rows * (e->cols ? (size_t)e->cols : 1);
}

static int is_extra_name(const char *name) {
    static const char *names[N_EXTRA] = {"centroids",   "class_std", "plane.mean",      "plane.dirs",
                                         "plane.std",   "diag.mu_var", "diag.kl",       "score.nll",
                                         "score.corrected", "score.ood"};
    for (int i = 0; i < N_EXTRA; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* Derives the architecture from the tensors present and the metadata, checking they agree. */
static vae_status infer_config(const header_tensor *t, int n, const vae_metadata *md,
                               vae_config *cfg, vae_error *err) {
    memset(cfg, 0, sizeof *cfg);
    char name[32];
    for (int i = 0; i < VAE_MAX_HIDDEN + 1; i++) {
        snprintf(name, sizeof name, "enc.%d.weight", i);
        const header_tensor *w = find_tensor(t, n, name);
        if (!w) break;
        if (i == VAE_MAX_HIDDEN)
            return vae_error_set(err, VAE_ERR_UNSUPPORTED, "more than %d encoder hidden layers",
                                 VAE_MAX_HIDDEN);
        if (w->rank != 2)
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' must have rank 2", name);
        cfg->hidden[i] = (int)w->shape[0];
        cfg->n_hidden = i + 1;
    }
    if (cfg->n_hidden == 0)
        return vae_error_set(err, VAE_ERR_FORMAT, "no tensor 'enc.0.weight': not a VAE weights file");
    const header_tensor *mu = find_tensor(t, n, "enc.mu.weight");
    if (!mu || mu->rank != 2)
        return vae_error_set(err, VAE_ERR_FORMAT, "missing tensor 'enc.mu.weight' (rank 2)");
    cfg->latent_dim = (int)mu->shape[0];

    const char *act = vae_metadata_get(md, "activation");
    if (!act)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "__metadata__ has no \"activation\" (relu, leaky_relu or tanh): it "
                             "cannot be read from the tensors");
    if (vae_activation_parse(act, &cfg->activation) != 0)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "__metadata__ activation \"%.32s\" is not relu, leaky_relu or tanh", act);
    vae_status st = vae_config_validate(cfg, err);
    if (st != VAE_OK) return vae_error_set(err, VAE_ERR_FORMAT, "%s", err ? err->message : "");

    const char *latent = vae_metadata_get(md, "latent_dim");
    if (latent) {
        char want[16];
        snprintf(want, sizeof want, "%d", cfg->latent_dim);
        if (strcmp(latent, want) != 0)
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "__metadata__ latent_dim is \"%.16s\" but enc.mu.weight has %d rows",
                                 latent, cfg->latent_dim);
    }
    const char *hidden = vae_metadata_get(md, "hidden");
    if (hidden) {
        char want[64];
        vae_config_hidden_string(cfg, want, sizeof want);
        if (strcmp(hidden, want) != 0)
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "__metadata__ hidden is \"%.32s\" but the encoder tensors give \"%s\"",
                                 hidden, want);
    }
    const char *shape = vae_metadata_get(md, "input_shape");
    char side[16];
    snprintf(side, sizeof side, "%dx%d", VAE_IMAGE_SIDE, VAE_IMAGE_SIDE);
    if (shape && strcmp(shape, side) != 0)
        return vae_error_set(err, VAE_ERR_UNSUPPORTED,
                             "__metadata__ input_shape is \"%.16s\"; only %s is supported", shape, side);
    return VAE_OK;
}

static vae_status load_metadata(const cJSON *obj, vae_metadata *md, vae_error *err) {
    if (!cJSON_IsObject(obj))
        return vae_error_set(err, VAE_ERR_FORMAT, "__metadata__ must be an object of strings");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, obj) {
        if (!cJSON_IsString(kv))
            return vae_error_set(err, VAE_ERR_FORMAT, "__metadata__ value of \"%.32s\" is not a string",
                                 kv->string);
        if (vae_metadata_get(md, kv->string))
            return vae_error_set(err, VAE_ERR_FORMAT, "__metadata__ key \"%.32s\" appears twice",
                                 kv->string);
        vae_status st = vae_metadata_set(md, kv->string, kv->valuestring);
        if (st == VAE_ERR_LIMIT)
            return vae_error_set(err, VAE_ERR_LIMIT, "__metadata__ has more than %d entries",
                                 VAE_MAX_METADATA);
        if (st != VAE_OK) return vae_error_set(err, st, "out of memory reading __metadata__");
    }
    return VAE_OK;
}

/* Phase 1: the 8-byte header length and the JSON header it covers (nothing but whitespace or NUL
 * padding after the JSON). On success *root is the caller's to cJSON_Delete and data/data_len are
 * the bytes after the header. */
static vae_status parse_header(const uint8_t *bytes, size_t len, cJSON **root, const uint8_t **data,
                               uint64_t *data_len, vae_error *err) {
    if (len < 8)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "file is %zu bytes: too short for a safetensors header", len);
    uint64_t header_len = read_le64(bytes);
    if (header_len > len - 8)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "header length %llu is larger than the rest of the file (%zu bytes): "
                             "truncated or not a safetensors file",
                             (unsigned long long)header_len, len - 8);
    if (header_len > VAE_WEIGHTS_MAX_HEADER)
        return vae_error_set(err, VAE_ERR_LIMIT, "header length %llu exceeds the %u-byte limit",
                             (unsigned long long)header_len, VAE_WEIGHTS_MAX_HEADER);
    const char *json = (const char *)bytes + 8;
    const char *json_end = NULL;
    cJSON *parsed = cJSON_ParseWithLengthOpts(json, (size_t)header_len, &json_end, 0);
    if (!parsed)
        return vae_error_set(err, VAE_ERR_FORMAT, "header is not valid JSON (near byte %lld)",
                             json_end ? (long long)(json_end - json) : -1LL);
    for (const char *p = json_end; p < json + header_len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != '\0') {
            cJSON_Delete(parsed);
            return vae_error_set(err, VAE_ERR_FORMAT, "header has bytes after its JSON object");
        }
    }
    *root = parsed;
    *data = bytes + 8 + header_len;
    *data_len = len - 8 - header_len;
    return VAE_OK;
}

/* Phase 2: the header's entries, each key once: __metadata__ into md, every other one checked as a
 * tensor entry into tensors (room for MAX_HEADER_TENSORS: one more than any VAE has, so that the
 * unknown one can be named). */
static vae_status read_entries(const cJSON *root, uint64_t data_len, header_tensor *tensors, int *n,
                               vae_metadata *md, vae_error *err) {
    if (!cJSON_IsObject(root)) return vae_error_set(err, VAE_ERR_FORMAT, "header is not a JSON object");
    vae_status st;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        for (const cJSON *prev = root->child; prev != item; prev = prev->next)
            if (strcmp(prev->string, item->string) == 0)
                return vae_error_set(err, VAE_ERR_FORMAT, "key '%.32s' appears twice in the header",
                                     item->string);
        if (strcmp(item->string, "__metadata__") == 0) {
            if ((st = load_metadata(item, md, err)) != VAE_OK) return st;
            continue;
        }
        if (*n == MAX_HEADER_TENSORS)
            return vae_error_set(err, VAE_ERR_FORMAT, "more than %d tensors: not a VAE weights file",
                                 MAX_HEADER_TENSORS);
        if ((st = parse_tensor_entry(item, data_len, &tensors[*n], err)) != VAE_OK) return st;
        (*n)++;
    }
    return VAE_OK;
}

/* Phase 3: data_offsets must not overlap (sorted by begin, each must end before the next begins);
 * empty tensors occupy no bytes. */
static vae_status check_no_overlap(const header_tensor *tensors, int n, vae_error *err) {
    const header_tensor *sorted[MAX_HEADER_TENSORS];
    int n_sorted = 0;
    for (int i = 0; i < n; i++)
        if (tensors[i].end > tensors[i].begin) sorted[n_sorted++] = &tensors[i];
    qsort(sorted, (size_t)n_sorted, sizeof sorted[0], compare_begin);
    for (int i = 1; i < n_sorted; i++)
        if (sorted[i]->begin < sorted[i - 1]->end)
            return vae_error_set(err, VAE_ERR_FORMAT, "tensors '%s' and '%s' overlap in the data",
                                 sorted[i - 1]->name, sorted[i]->name);
    return VAE_OK;
}

/* Phase 5 (after the configuration, phase 4, is inferred): copies every tensor the layout expects
 * into the model's parameters, and the optional ones present (extra_tensors), checking each shape.
 * *matched counts the header's tensors used. */
static vae_status copy_tensors(vae_model *model, const header_tensor *tensors, int n,
                               const vae_tensor_info *expected, int n_expected, const uint8_t *data,
                               int *matched, vae_error *err) {
    for (int i = 0; i < n_expected; i++) {
        const vae_tensor_info *e = &expected[i];
        const header_tensor *t = find_tensor(tensors, n, e->name);
        if (!t) return vae_error_set(err, VAE_ERR_FORMAT, "missing tensor '%s'", e->name);
        if (t->rank != e->rank || t->shape[0] != e->rows || (e->rank == 2 && t->shape[1] != e->cols)) {
            if (e->rank == 2)
                return vae_error_set(err, VAE_ERR_FORMAT,
                                     "tensor '%s' has shape [%lld%s%lld] but the architecture "
                                     "needs [%d, %d]",
                                     e->name, (long long)t->shape[0], t->rank == 2 ? ", " : "] rank ",
                                     (long long)(t->rank == 2 ? t->shape[1] : 1), e->rows, e->cols);
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' must have shape [%d] (rank 1)",
                                 e->name, e->rows);
        }
        size_t count = (size_t)e->rows * (e->rank == 2 ? (size_t)e->cols : 1);
        copy_tensor(model->params + e->offset, data + t->begin, count, t->dtype);
        /* the parameters keep their dtype when they share one; a mixture widens to F32, which
         * holds F16 and BF16 values exactly */
        if (i == 0)
            model->param_dtype = t->dtype;
        else if (t->dtype != model->param_dtype)
            model->param_dtype = VAE_DTYPE_F32;
        (*matched)++;
    }
    extra_tensor extras[N_EXTRA];
    int n_extras = extra_tensors(model, extras);
    for (int i = 0; i < n_extras; i++) {
        const extra_tensor *e = &extras[i];
        const header_tensor *t = find_tensor(tensors, n, e->name);
        if (!t) continue;
        if (!e->rows) {
            if (t->rank != 1 || t->shape[0] < 1 || t->shape[0] > VAE_MAX_SCORE_TABLE)
                return vae_error_set(err, VAE_ERR_FORMAT,
                                     "tensor '%s' must have shape [n] with n in 1..%d (a score table)",
                                     e->name, VAE_MAX_SCORE_TABLE);
            *e->count = (int)t->shape[0];
        } else if (t->rank != (e->cols ? 2 : 1) || t->shape[0] != e->rows ||
                   (e->cols && t->shape[1] != e->cols)) {
            if (e->cols)
                return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' must have shape [%d, %d]",
                                     e->name, e->rows, e->cols);
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' must have shape [%d]", e->name,
                                 e->rows);
        }
        size_t count = (size_t)(t->end - t->begin) / dtype_sizes[t->dtype];
        *e->slot = malloc(sizeof(float) * (count ? count : 1));
        if (!*e->slot) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory reading '%s'", e->name);
        copy_tensor(*e->slot, data + t->begin, count, t->dtype);
        (*matched)++;
    }
    return VAE_OK;
}

/* Phase 6: when some tensor of the header was not used, names it. */
static vae_status check_unknown(const header_tensor *tensors, int n, const vae_tensor_info *expected,
                                int n_expected, int matched, int n_hidden, vae_error *err) {
    if (matched == n) return VAE_OK;
    for (int i = 0; i < n; i++) {
        int known = is_extra_name(tensors[i].name);
        for (int j = 0; j < n_expected && !known; j++)
            known = strcmp(tensors[i].name, expected[j].name) == 0;
        if (!known)
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "unexpected tensor '%.40s' for a %d-hidden-layer VAE", tensors[i].name,
                                 n_hidden);
    }
    return VAE_OK;
}

/* Refuses a NaN or an infinity among the count values of the tensor `name`. */
static vae_status check_finite(const char *name, const float *v, size_t count, vae_error *err) {
    for (size_t j = 0; j < count; j++)
        if (!isfinite(v[j]))
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' holds NaN or Inf: %s at index %zu",
                                 name, isnan(v[j]) ? "NaN" : v[j] > 0 ? "+Inf" : "-Inf", j);
    return VAE_OK;
}

/* Phase 7: every parameter and every optional tensor is finite (one NaN or Inf weight poisons every
 * output). */
static vae_status check_all_finite(vae_model *model, const vae_tensor_info *expected, int n_expected,
                                   vae_error *err) {
    vae_status st = VAE_OK;
    for (int i = 0; i < n_expected && st == VAE_OK; i++) {
        const vae_tensor_info *e = &expected[i];
        size_t count = (size_t)e->rows * (e->rank == 2 ? (size_t)e->cols : 1);
        st = check_finite(e->name, model->params + e->offset, count, err);
    }
    extra_tensor extras[N_EXTRA];
    int n_extras = extra_tensors(model, extras);
    for (int i = 0; i < n_extras && st == VAE_OK; i++)
        if (*extras[i].slot) st = check_finite(extras[i].name, *extras[i].slot, extra_count(&extras[i]), err);
    return st;
}

/* A metadata value that must be a finite number when present: *out = it, or `absent` without it. */
static vae_status metadata_number(const vae_metadata *md, const char *key, double absent, double lo,
                                  double *out, vae_error *err) {
    const char *text = vae_metadata_get(md, key);
    *out = absent;
    if (!text) return VAE_OK;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || v < lo)
        return vae_error_set(err, VAE_ERR_FORMAT, "__metadata__ %s \"%.32s\" is not a number >= %g",
                             key, text, lo);
    *out = v;
    return VAE_OK;
}

/* Refuses a negative value among the count values of the tensor `name` (spreads, variances, KL). */
static vae_status check_non_negative(const char *name, const float *v, size_t count, vae_error *err) {
    for (size_t j = 0; j < count; j++)
        if (v[j] < 0.0f)
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' holds a negative value: %g at index %zu",
                                 name, (double)v[j], j);
    return VAE_OK;
}

/* The score tables: all three or none, one length, each sorted ascending, with score_k and
 * score_seed in the metadata. */
static vae_status check_score_tables(vae_model *model, const vae_metadata *md, vae_error *err) {
    vae_score_tables *s = &model->scores;
    const vae_score_table *tables[3] = {&s->nll, &s->corrected, &s->ood};
    static const char *names[3] = {"score.nll", "score.corrected", "score.ood"};
    int present = !!s->nll.values + !!s->corrected.values + !!s->ood.values;
    if (present == 0) return VAE_OK;
    if (present != 3)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "score tables come as three (score.nll, score.corrected, score.ood): "
                             "this file has %d of them",
                             present);
    for (int i = 0; i < 3; i++) {
        if (tables[i]->count != s->nll.count)
            return vae_error_set(err, VAE_ERR_FORMAT, "tensor '%s' has %d values but score.nll has %d",
                                 names[i], tables[i]->count, s->nll.count);
        for (int j = 1; j < tables[i]->count; j++)
            if (tables[i]->values[j] < tables[i]->values[j - 1])
                return vae_error_set(err, VAE_ERR_FORMAT,
                                     "tensor '%s' is not sorted: value %d (%g) is below value %d (%g)",
                                     names[i], j, (double)tables[i]->values[j], j - 1,
                                     (double)tables[i]->values[j - 1]);
    }
    const char *k = vae_metadata_get(md, "score_k"), *seed = vae_metadata_get(md, "score_seed");
    char *end;
    long kv = k ? strtol(k, &end, 10) : 0;
    if (!k || end == k || *end || kv < 1 || kv > 1000000)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "score tables need __metadata__ score_k, their samples per image "
                             "(1..1000000)%s",
                             k ? ": it is not" : "");
    errno = 0;
    unsigned long long sv = seed && seed[0] != '-' ? strtoull(seed, &end, 10) : 0;
    if (!seed || seed[0] == '-' || end == seed || *end || errno)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "score tables need __metadata__ score_seed, a non-negative integer%s",
                             seed ? ": it is not" : "");
    s->k = (int)kv;
    s->seed = sv;
    return VAE_OK;
}

/* Phase 8: what the optional tensors promise beyond their shapes (model.h): groups complete,
 * spreads and variances non-negative, the plane's directions orthonormal, score tables sorted; and the
 * metadata's diagnostic figures numbers. Fills the derived fields (active units, score_k). */
static vae_status check_stats(vae_model *model, const vae_metadata *md, vae_error *err) {
    const int d = model->config.latent_dim;
    vae_status st;
    if (model->class_std && !model->centroids)
        return vae_error_set(err, VAE_ERR_FORMAT, "tensor 'class_std' needs the tensor 'centroids'");
    if (model->class_std &&
        (st = check_non_negative("class_std", model->class_std, (size_t)VAE_NUM_CLASSES * d, err)) != VAE_OK)
        return st;
    vae_latent_plane *p = &model->plane;
    int plane = !!p->mean + !!p->dirs + !!p->std;
    if (plane != 0 && plane != 3)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "the principal plane comes as three tensors (plane.mean, plane.dirs, "
                             "plane.std): this file has %d of them",
                             plane);
    if (plane) {
        if ((st = check_non_negative("plane.std", p->std, 2, err)) != VAE_OK) return st;
        double dot[3] = {0, 0, 0}; /* |a|^2, |b|^2, a.b */
        for (int j = 0; j < d; j++) {
            dot[0] += (double)p->dirs[j] * p->dirs[j];
            dot[1] += (double)p->dirs[d + j] * p->dirs[d + j];
            dot[2] += (double)p->dirs[j] * p->dirs[d + j];
        }
        if (fabs(dot[0] - 1) > 1e-3 || fabs(dot[1] - 1) > 1e-3 || fabs(dot[2]) > 1e-3)
            return vae_error_set(err, VAE_ERR_FORMAT,
                                 "tensor 'plane.dirs' must hold two orthonormal rows: their norms "
                                 "are %.6g and %.6g, their dot product %.6g",
                                 sqrt(dot[0]), sqrt(dot[1]), dot[2]);
    }
    vae_diagnostics *g = &model->diag;
    if (!!g->mu_var != !!g->kl)
        return vae_error_set(err, VAE_ERR_FORMAT, "diagnostics come as two tensors (diag.mu_var and "
                                                  "diag.kl): this file has one of them");
    if (g->mu_var) {
        if ((st = check_non_negative("diag.mu_var", g->mu_var, (size_t)d, err)) != VAE_OK ||
            (st = check_non_negative("diag.kl", g->kl, (size_t)d, err)) != VAE_OK)
            return st;
        g->active_units = 0;
        for (int j = 0; j < d; j++) g->active_units += g->mu_var[j] > VAE_ACTIVE_UNIT_THRESHOLD;
    }
    double k;
    if ((st = metadata_number(md, "test_loss", NAN, -INFINITY, &g->test_loss, err)) != VAE_OK ||
        (st = metadata_number(md, "test_nll", NAN, -INFINITY, &g->test_nll, err)) != VAE_OK ||
        (st = metadata_number(md, "test_nll_k", 0, 1, &k, err)) != VAE_OK)
        return st;
    if (k != floor(k) || k > 1e9)
        return vae_error_set(err, VAE_ERR_FORMAT, "__metadata__ test_nll_k must be an integer");
    if (isnan(g->test_nll) != (k == 0))
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "__metadata__ test_nll and test_nll_k come together: this file has one");
    g->test_nll_k = (int)k;
    return check_score_tables(model, md, err);
}

/* The body of vae_weights_load_memory without the file-name prefix on errors: the phases in order. */
static vae_status load_memory(const uint8_t *bytes, size_t len, vae_model **out, vae_error *err) {
    cJSON *root = NULL;
    const uint8_t *data = NULL;
    uint64_t data_len = 0;
    vae_status st = parse_header(bytes, len, &root, &data, &data_len, err);
    if (st != VAE_OK) return st;

    vae_model *model = NULL;
    vae_metadata md = {0};
    header_tensor tensors[MAX_HEADER_TENSORS];
    int n = 0, matched = 0;
    vae_config cfg;
    vae_tensor_info expected[VAE_MAX_TENSORS];
    if ((st = read_entries(root, data_len, tensors, &n, &md, err)) != VAE_OK) goto done;
    if ((st = check_no_overlap(tensors, n, err)) != VAE_OK) goto done;
    if ((st = infer_config(tensors, n, &md, &cfg, err)) != VAE_OK) goto done;
    int n_expected = vae_config_tensors(&cfg, expected);
    model = vae_model_create(&cfg, err);
    if (!model) {
        st = err ? err->status : VAE_ERR_NOMEM;
        goto done;
    }
    if ((st = copy_tensors(model, tensors, n, expected, n_expected, data, &matched, err)) != VAE_OK ||
        (st = check_unknown(tensors, n, expected, n_expected, matched, cfg.n_hidden, err)) != VAE_OK ||
        (st = check_all_finite(model, expected, n_expected, err)) != VAE_OK ||
        (st = check_stats(model, &md, err)) != VAE_OK ||
        (st = vae_model_prepare_inference(model, err)) != VAE_OK)
        goto done;
    model->metadata = md;
    memset(&md, 0, sizeof md);
    *out = model;
    model = NULL;
done:
    vae_model_destroy(model);
    vae_metadata_clear(&md);
    cJSON_Delete(root);
    return st;
}

vae_status vae_weights_load_memory(const uint8_t *bytes, size_t len, const char *source,
                                   vae_model **out, vae_error *err) {
    vae_status st = load_memory(bytes, len, out, err);
    if (st != VAE_OK) vae_error_prefix(err, "%s", source);
    return st;
}

vae_status vae_weights_load(const char *path, vae_model **out, vae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return vae_error_set(err, VAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(f), &info) != 0) {
        int e = errno;
        fclose(f);
        return vae_error_set(err, VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(info.st_mode)) {
        fclose(f);
        return vae_error_set(err, VAE_ERR_IO, "%s: not a regular file%s", path,
                             S_ISDIR(info.st_mode) ? " (it is a directory)" : "");
    }
    uint8_t *bytes = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return vae_error_set(err, VAE_ERR_IO, "%s: cannot determine the file size", path);
    }
    bytes = malloc(size ? (size_t)size : 1);
    if (!bytes) {
        fclose(f);
        return vae_error_set(err, VAE_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
    }
    size_t got = fread(bytes, 1, (size_t)size, f);
    int read_error = ferror(f);
    fclose(f);
    if (got != (size_t)size || read_error) {
        free(bytes);
        return vae_error_set(err, VAE_ERR_IO, "%s: read failed", path);
    }
    vae_status st = vae_weights_load_memory(bytes, (size_t)size, path, out, err);
    free(bytes);
    return st;
}

/* The value of dtype (F16 or BF16) nearest v. */
static float round_to(vae_dtype dtype, float v) {
    return dtype == VAE_DTYPE_F16 ? vae_f16_to_f32(vae_f32_to_f16(v)) : vae_bf16_to_f32(vae_f32_to_bf16(v));
}

vae_status vae_model_round_params(vae_model *model, vae_dtype dtype, vae_error *err) {
    vae_status st = vae_model_require_params(model, "round the weights", err);
    if (st != VAE_OK) return st;
    if (dtype != VAE_DTYPE_F32) {
        vae_tensor_info t[VAE_MAX_TENSORS];
        int n = vae_config_tensors(&model->config, t);
        for (int i = 0; i < n; i++) {
            size_t count = (size_t)t[i].rows * (t[i].rank == 2 ? (size_t)t[i].cols : 1);
            const float *v = model->params + t[i].offset;
            for (size_t j = 0; j < count; j++) {
                if (isinf(round_to(dtype, v[j])) && !isinf(v[j]))
                    return vae_error_set(err, VAE_ERR_ARG,
                                         "tensor '%s' holds %g at index %zu, beyond %s's range: keep "
                                         "it as F32",
                                         t[i].name, (double)v[j], j, vae_dtype_name(dtype));
            }
        }
        for (size_t j = 0; j < model->n_params; j++) model->params[j] = round_to(dtype, model->params[j]);
    }
    model->param_dtype = dtype;
    return VAE_OK;
}

/* Adds {"dtype":...,"shape":[rows(,cols)],"data_offsets":[begin,end]} under name. */
static int add_tensor_entry(cJSON *root, const char *name, vae_dtype dtype, int rows, int cols,
                            size_t begin, size_t end) {
    cJSON *t = cJSON_AddObjectToObject(root, name);
    if (!t || !cJSON_AddStringToObject(t, "dtype", vae_dtype_name(dtype))) return -1;
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    cJSON *offsets = cJSON_AddArrayToObject(t, "data_offsets");
    if (!shape || !offsets) return -1;
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(rows));
    if (cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber(cols));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)end));
    return 0;
}

vae_status vae_weights_serialize(const vae_model *model, uint8_t **out, size_t *out_len,
                                 vae_error *err) {
    vae_status st = vae_model_require_params(model, "write the weights", err);
    if (st != VAE_OK) return st;
    vae_tensor_info t[VAE_MAX_TENSORS];
    int n = vae_config_tensors(&model->config, t);
    const vae_dtype pd = model->param_dtype;
    const size_t esize = dtype_sizes[pd];
    size_t params_bytes = model->n_params * esize;
    /* the optional tensors follow the parameters, in extra_tensors' order (read only) */
    extra_tensor extras[N_EXTRA];
    int n_extras = extra_tensors((vae_model *)model, extras);
    size_t extra_bytes = 0;
    for (int i = 0; i < n_extras; i++) extra_bytes += extra_count(&extras[i]) * sizeof(float);

    cJSON *root = cJSON_CreateObject();
    cJSON *meta = root ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    int failed = !meta;
    for (int i = 0; !failed && i < model->metadata.count; i++)
        failed = !cJSON_AddStringToObject(meta, model->metadata.keys[i], model->metadata.values[i]);
    for (int i = 0; !failed && i < n; i++) {
        size_t count = (size_t)t[i].rows * (t[i].rank == 2 ? (size_t)t[i].cols : 1);
        failed = add_tensor_entry(root, t[i].name, pd, t[i].rows, t[i].cols, t[i].offset * esize,
                                  (t[i].offset + count) * esize) != 0;
    }
    size_t at = params_bytes;
    for (int i = 0; !failed && i < n_extras; i++) {
        const extra_tensor *e = &extras[i];
        size_t count = extra_count(e);
        if (!count) continue;
        failed = add_tensor_entry(root, e->name, VAE_DTYPE_F32, e->rows ? e->rows : (int)count,
                                  e->cols, at, at + count * sizeof(float)) != 0;
        at += count * sizeof(float);
    }
    char *json = failed ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory building the header");

    /* pad the header with spaces so the data starts 8-byte aligned, as safetensors does */
    size_t json_len = strlen(json), header_len = (json_len + 7) & ~(size_t)7;
    size_t total = 8 + header_len + params_bytes + extra_bytes;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(json);
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory serialising %zu bytes", total);
    }
    write_le64(buf, header_len);
    memcpy(buf + 8, json, json_len);
    memset(buf + 8 + json_len, ' ', header_len - json_len);
    free(json);
    uint8_t *data = buf + 8 + header_len;
    write_tensor(data, model->params, model->n_params, pd);
    data += params_bytes;
    for (int i = 0; i < n_extras; i++) {
        size_t count = extra_count(&extras[i]);
        if (!count) continue;
        write_tensor(data, *extras[i].slot, count, VAE_DTYPE_F32);
        data += count * sizeof(float);
    }
    *out = buf;
    *out_len = total;
    return VAE_OK;
}

vae_status vae_weights_save(const vae_model *model, const char *path, vae_error *err) {
    uint8_t *bytes;
    size_t len;
    vae_status st = vae_weights_serialize(model, &bytes, &len, err);
    if (st != VAE_OK) return st;
    size_t tmp_size = strlen(path) + 16;
    char *tmp = malloc(tmp_size);
    if (!tmp) {
        free(bytes);
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = vae_error_set(err, VAE_ERR_IO, "%s: cannot create a file there: %s", path,
                           strerror(errno));
        free(tmp);
        free(bytes);
        return st;
    }
    size_t written = 0;
    while (written < len) {
        ssize_t w = write(fd, bytes + written, len - written);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        written += (size_t)w;
    }
    int saved_errno = errno;
    /* mkstemp makes the file 0600; weights are meant to be readable like any build output */
    int ok = written == len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    if (!ok && written == len) saved_errno = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        saved_errno = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        st = vae_error_set(err, VAE_ERR_IO, "%s: write failed: %s", path, strerror(saved_errno));
    }
    free(tmp);
    free(bytes);
    return st;
}
