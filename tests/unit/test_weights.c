/* Weights file: round trip, a file laid out the way PyTorch's safetensors writes it, and every kind
 * of corrupt file rejected with its own message and without a half-loaded model. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vae/weights.h"

static vae_model *reference;
static uint8_t *good;
static size_t good_len;

static vae_model *make_reference(void) {
    vae_config cfg = {.n_hidden = 2, .hidden = {12, 8}, .latent_dim = 3,
                      .activation = VAE_ACT_LEAKY_RELU};
    vae_model *m = vae_model_create(&cfg, NULL);
    vae_model_init_params(m, 5);
    m->centroids = malloc(sizeof(float) * 10 * 3);
    for (int i = 0; i < 30; i++) m->centroids[i] = (float)i * 0.25f - 3.0f;
    vae_metadata_set(&m->metadata, "activation", "leaky_relu");
    vae_metadata_set(&m->metadata, "latent_dim", "3");
    vae_metadata_set(&m->metadata, "hidden", "12,8");
    vae_metadata_set(&m->metadata, "input_shape", "28x28");
    vae_metadata_set(&m->metadata, "dataset", "unit-test");
    /* every optional group, so that each can be damaged below */
    m->class_std = malloc(sizeof(float) * 10 * 3);
    for (int i = 0; i < 30; i++) m->class_std[i] = 0.1f + 0.01f * (float)i;
    m->plane.mean = malloc(sizeof(float) * 3);
    m->plane.dirs = malloc(sizeof(float) * 6);
    m->plane.std = malloc(sizeof(float) * 2);
    const float mean[3] = {0.5f, -1.0f, 0.25f}, dirs[6] = {0.6f, 0.8f, 0.0f, 0.0f, 0.0f, 1.0f};
    memcpy(m->plane.mean, mean, sizeof mean);
    memcpy(m->plane.dirs, dirs, sizeof dirs);
    m->plane.std[0] = 1.5f, m->plane.std[1] = 0.7f;
    m->diag.mu_var = malloc(sizeof(float) * 3);
    m->diag.kl = malloc(sizeof(float) * 3);
    const float mu_var[3] = {0.5f, 0.001f, 2.0f}, kl[3] = {1.25f, 0.0f, 3.5f};
    memcpy(m->diag.mu_var, mu_var, sizeof mu_var);
    memcpy(m->diag.kl, kl, sizeof kl);
    vae_score_table *tables[3] = {&m->scores.nll, &m->scores.corrected, &m->scores.ood};
    for (int t = 0; t < 3; t++) {
        tables[t]->count = 7;
        tables[t]->values = malloc(sizeof(float) * 7);
        for (int i = 0; i < 7; i++) tables[t]->values[i] = (float)(t * 100 + i * i) - 50.0f;
    }
    tables[0]->values[3] = tables[0]->values[2]; /* ties are sorted too */
    vae_metadata_set(&m->metadata, "score_k", "64");
    vae_metadata_set(&m->metadata, "score_seed", "99");
    vae_metadata_set(&m->metadata, "test_loss", "101.5");
    vae_metadata_set(&m->metadata, "test_nll", "95.25");
    vae_metadata_set(&m->metadata, "test_nll_k", "5000");
    /* loaded models run on the packed kernels; so does the reference, for bitwise comparisons */
    vae_model_prepare_inference(m, NULL);
    return m;
}

/* Splits `good` into its header (parsed) and data. */
static cJSON *good_header(const uint8_t **data, size_t *data_len) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | good[i];
    *data = good + 8 + n;
    *data_len = good_len - 8 - n;
    return cJSON_ParseWithLength((const char *)good + 8, n);
}

/* Builds a file from a header text and data. Caller frees. */
static uint8_t *build_file(const char *json, const uint8_t *data, size_t data_len, size_t *len) {
    size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *f = malloc(*len);
    for (int i = 0; i < 8; i++) f[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(f + 8, json, n);
    memcpy(f + 8 + n, data, data_len);
    return f;
}

/* Loads bytes expecting failure with status and a message containing `needle`. */
static void expect_reject(const char *what, const uint8_t *bytes, size_t len, vae_status status,
                          const char *needle) {
    vae_model *out = (vae_model *)0x1; /* must stay untouched on failure */
    vae_error err = {0};
    vae_status st = vae_weights_load_memory(bytes, len, "bad.safetensors", &out, &err);
    CHECK(st == status, "%s: status %s, expected %s (%s)", what, vae_status_name(st),
          vae_status_name(status), err.message);
    CHECK(out == (vae_model *)0x1, "%s: output written on failure", what);
    CHECK(strstr(err.message, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.message,
          needle);
    CHECK(strncmp(err.message, "bad.safetensors: ", 17) == 0, "%s: message '%s' does not name the file",
          what, err.message);
    if (st == VAE_OK && out != (vae_model *)0x1) vae_model_destroy(out);
}

/* Edits the good header with fn, rebuilds, expects rejection. */
static void expect_edit_rejected(const char *what, void (*edit)(cJSON *root, uint8_t *data),
                                 vae_status status, const char *needle) {
    const uint8_t *data;
    size_t data_len, len;
    cJSON *root = good_header(&data, &data_len);
    uint8_t *copy = malloc(data_len);
    memcpy(copy, data, data_len);
    edit(root, copy);
    char *json = cJSON_PrintUnformatted(root);
    uint8_t *f = build_file(json, copy, data_len, &len);
    expect_reject(what, f, len, status, needle);
    free(f);
    free(json);
    free(copy);
    cJSON_Delete(root);
}

static cJSON *offsets_of(cJSON *root, const char *name) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(root, name), "data_offsets");
}

static void edit_dtype(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "enc.1.bias"), "dtype", cJSON_CreateString("F64"));
}
static void edit_f16_span(cJSON *r, uint8_t *d) {
    (void)d; /* F16 with the byte span of F32: twice what the shape needs */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "enc.1.bias"), "dtype", cJSON_CreateString("F16"));
}
static void edit_shape(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "dec.0.weight"), "shape");
    /* same element count (8*3 = 24 = 6*4), wrong shape */
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(6));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(4));
}
static void edit_past_end(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON *o = offsets_of(r, "dec.out.bias");
    double end = cJSON_GetArrayItem(o, 1)->valuedouble;
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(end + 4000));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(end + 4000 + 784 * 4));
}
static void edit_overlap(cJSON *r, uint8_t *d) {
    (void)d;
    /* enc.mu.bias (3 floats) moved onto the start of enc.mu.weight */
    cJSON *w = offsets_of(r, "enc.mu.weight"), *b = offsets_of(r, "enc.mu.bias");
    double begin = cJSON_GetArrayItem(w, 0)->valuedouble;
    cJSON_ReplaceItemInArray(b, 0, cJSON_CreateNumber(begin));
    cJSON_ReplaceItemInArray(b, 1, cJSON_CreateNumber(begin + 12));
}
static void edit_span(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON *o = offsets_of(r, "enc.0.bias");
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(cJSON_GetArrayItem(o, 1)->valuedouble - 4));
}
static void put_float(uint8_t *data, cJSON *r, const char *name, int index, float v) {
    size_t at = (size_t)cJSON_GetArrayItem(offsets_of(r, name), 0)->valuedouble + 4 * (size_t)index;
    memcpy(data + at, &v, 4);
}
static void edit_nan(cJSON *r, uint8_t *d) { put_float(d, r, "dec.1.weight", 5, NAN); }
static void edit_plus_inf(cJSON *r, uint8_t *d) { put_float(d, r, "enc.0.weight", 0, INFINITY); }
static void edit_minus_inf(cJSON *r, uint8_t *d) { put_float(d, r, "dec.out.bias", 783, -INFINITY); }
static void edit_nan_bias(cJSON *r, uint8_t *d) { put_float(d, r, "enc.mu.bias", 2, -NAN); }
static void edit_inf_centroid(cJSON *r, uint8_t *d) { put_float(d, r, "centroids", 7, -INFINITY); }
static void edit_missing(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_DeleteItemFromObject(r, "dec.out.bias");
}
static void edit_unexpected(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON *extra = cJSON_Duplicate(cJSON_GetObjectItem(r, "enc.1.bias"), 1);
    /* aliasing enc.1.bias's bytes would overlap; give it none */
    cJSON *o = cJSON_GetObjectItem(extra, "data_offsets");
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(0));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(0));
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(extra, "shape"), 0, cJSON_CreateNumber(0));
    cJSON_AddItemToObject(r, "enc.attention.bias", extra);
}
static void edit_no_activation(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "__metadata__"), "activation");
}
static void edit_bad_activation(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "activation",
                              cJSON_CreateString("swish"));
}
static void edit_latent_meta(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "latent_dim",
                              cJSON_CreateString("20"));
}
static void edit_hidden_meta(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "hidden",
                              cJSON_CreateString("400"));
}
static void edit_meta_number(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_AddNumberToObject(cJSON_GetObjectItem(r, "__metadata__"), "epochs", 10);
}
static void edit_centroid_shape(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "centroids"), "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(5));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(6));
}
static void edit_negative_offset(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_ReplaceItemInArray(offsets_of(r, "enc.0.bias"), 0, cJSON_CreateNumber(-8));
}
static void edit_rank3(cJSON *r, uint8_t *d) {
    (void)d;
    cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "enc.0.weight"), "shape"),
                         cJSON_CreateNumber(1));
}

static void check_same_outputs(const vae_model *a, const vae_model *b, const char *what);
static void check_stats_round_trip(const vae_model *m);
static void check_drop_params(const char *path);

/* The optional tensors, damaged one way each. */
static void edit_unsorted(cJSON *r, uint8_t *d) { put_float(d, r, "score.corrected", 3, 40.0f); }
static void edit_nan_table(cJSON *r, uint8_t *d) { put_float(d, r, "score.ood", 6, NAN); }
static void edit_negative_std(cJSON *r, uint8_t *d) { put_float(d, r, "class_std", 4, -0.5f); }
static void edit_negative_mu_var(cJSON *r, uint8_t *d) { put_float(d, r, "diag.mu_var", 1, -1e-3f); }
static void edit_skewed_plane(cJSON *r, uint8_t *d) { put_float(d, r, "plane.dirs", 5, 0.9f); }
static void edit_inf_plane_mean(cJSON *r, uint8_t *d) { put_float(d, r, "plane.mean", 2, INFINITY); }
static void set_shape(cJSON *r, const char *name, int rows, int cols) {
    cJSON *shape = cJSON_CreateArray();
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(rows));
    if (cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber(cols));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, name), "shape", shape);
}
static void edit_table_rank(cJSON *r, uint8_t *d) {
    (void)d;
    set_shape(r, "score.nll", 7, 1);
}
static void edit_class_std_shape(cJSON *r, uint8_t *d) {
    (void)d;
    set_shape(r, "class_std", 3, 10);
}
static void edit_plane_std_shape(cJSON *r, uint8_t *d) {
    (void)d;
    set_shape(r, "plane.std", 1, 2);
}
static void edit_diag_shape(cJSON *r, uint8_t *d) {
    (void)d;
    /* 3 floats as [1, 3]: same bytes, wrong rank */
    set_shape(r, "diag.kl", 1, 3);
}
static void edit_table_length(cJSON *r, uint8_t *d) {
    (void)d;
    set_shape(r, "score.ood", 6, 0);
    cJSON *o = offsets_of(r, "score.ood");
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(cJSON_GetArrayItem(o, 1)->valuedouble - 4));
}
static void delete_tensor(cJSON *r, const char *name) { cJSON_DeleteItemFromObject(r, name); }
static void edit_no_plane_std(cJSON *r, uint8_t *d) {
    (void)d;
    delete_tensor(r, "plane.std");
}
static void edit_no_diag_kl(cJSON *r, uint8_t *d) {
    (void)d;
    delete_tensor(r, "diag.kl");
}
static void edit_no_score_nll(cJSON *r, uint8_t *d) {
    (void)d;
    delete_tensor(r, "score.nll");
}
static void edit_no_centroids(cJSON *r, uint8_t *d) {
    (void)d;
    delete_tensor(r, "centroids");
}
static void set_meta(cJSON *r, const char *key, const char *value) {
    cJSON *md = cJSON_GetObjectItem(r, "__metadata__");
    if (value) cJSON_ReplaceItemInObject(md, key, cJSON_CreateString(value));
    else cJSON_DeleteItemFromObject(md, key);
}
static void edit_no_score_k(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "score_k", NULL);
}
static void edit_bad_score_k(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "score_k", "0");
}
static void edit_bad_score_seed(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "score_seed", "-1");
}
static void edit_no_test_nll(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "test_nll", NULL);
}
static void edit_bad_test_nll(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "test_nll", "nan");
}
static void edit_bad_test_loss(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "test_loss", "102.0 nats");
}
static void edit_bad_nll_k(cJSON *r, uint8_t *d) {
    (void)d;
    set_meta(r, "test_nll_k", "2.5");
}

/* A reference for the conversions, by another route: a half's value from its fields in double, and
 * the nearest half by binary search over the ordered finite ones (ties to the even encoding). */
static double ref_half_value(uint16_t h) {
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v = exp ? ldexp(1024 + mant, exp - 25) : ldexp(mant, -24);
    return h & 0x8000 ? -v : v;
}

static uint16_t ref_nearest_half(float f) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest encoding whose value is <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ref_half_value((uint16_t)mid) <= a) lo = mid;
        else hi = mid - 1;
    }
    if (lo < 0x7bff) {
        double below = a - ref_half_value((uint16_t)lo), above = ref_half_value((uint16_t)(lo + 1)) - a;
        if (above < below || (above == below && (lo & 1))) lo++;
    }
    return sign | (uint16_t)lo;
}

static uint16_t ref_nearest_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
    float lo, hi;
    memcpy(&lo, &lo_bits, 4);
    memcpy(&hi, &hi_bits, 4);
    /* past the largest bfloat16 the next value up is 2^128 (the rounding to infinity) */
    double hi_value = isinf(hi) ? copysign(ldexp(1, 128), f) : (double)hi;
    double below = fabs((double)f - lo), above = fabs(hi_value - f);
    if (above < below || (above == below && ((lo_bits >> 16) & 1))) return (uint16_t)(hi_bits >> 16);
    return (uint16_t)(lo_bits >> 16);
}

/* Every half widens to its value; floats across the whole range (and each half's neighbours and
 * midpoints, where rounding decides) narrow to the nearest, ties to even. */
static void check_dtype_conversions(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = vae_f16_to_f32((uint16_t)h);
        int exp = (h >> 10) & 0x1f;
        if (exp == 31) {
            bad += (h & 0x3ff) ? !isnan(f) : !(isinf(f) && !!signbit(f) == !!(h & 0x8000));
            bad += vae_f32_to_f16(f) != (isnan(f) ? ((h & 0x8000) | 0x7e00) : h);
            continue;
        }
        bad += (double)f != ref_half_value((uint16_t)h) || !!signbit(f) != !!(h & 0x8000);
        bad += vae_f32_to_f16(f) != h; /* exact values come back unchanged */
        if ((h & 0x7fff) < 0x7bff) {   /* the midpoint to the next one up, and just either side */
            double mid = (ref_half_value((uint16_t)h) + ref_half_value((uint16_t)(h + 1))) / 2;
            float m = (float)mid;
            if ((double)m == mid) bad += vae_f32_to_f16(m) != ref_nearest_half(m);
            bad += vae_f32_to_f16(nextafterf(m, 0)) != ref_nearest_half(nextafterf(m, 0));
            bad += vae_f32_to_f16(nextafterf(m, INFINITY)) != ref_nearest_half(nextafterf(m, INFINITY));
        }
    }
    CHECK(bad == 0, "%d half-precision conversions differ from the reference", bad);
    bad = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4099) { /* about a million floats of every kind */
        float f;
        uint32_t bits = (uint32_t)u;
        memcpy(&f, &bits, 4);
        if (isnan(f)) {
            bad += !isnan(vae_f16_to_f32(vae_f32_to_f16(f))) + !isnan(vae_bf16_to_f32(vae_f32_to_bf16(f)));
            continue;
        }
        if (vae_f32_to_f16(f) != ref_nearest_half(f)) {
            bad++;
            if (bad < 4) fprintf(stderr, "  F16 of %a: %04x, reference %04x\n", f, vae_f32_to_f16(f), ref_nearest_half(f));
        }
        if (!isinf(f) && vae_f32_to_bf16(f) != ref_nearest_bf16(f)) {
            bad++;
            if (bad < 4) fprintf(stderr, "  BF16 of %a: %04x, reference %04x\n", f, vae_f32_to_bf16(f), ref_nearest_bf16(f));
        }
        uint32_t hb = (uint32_t)vae_f32_to_bf16(f) << 16;
        float back = vae_bf16_to_f32(vae_f32_to_bf16(f));
        bad += memcmp(&back, &hb, 4) != 0;
    }
    CHECK(bad == 0, "%d conversions of sampled floats differ from the reference", bad);
    CHECK(vae_f32_to_f16(65504.0f) == 0x7bff && vae_f32_to_f16(65519.99f) == 0x7bff &&
              vae_f32_to_f16(65520.0f) == 0x7c00 && vae_f32_to_f16(-1e9f) == 0xfc00 &&
              vae_f32_to_f16(0x1p-25f) == 0 && vae_f32_to_f16(0x1.8p-25f) == 1 &&
              vae_f32_to_f16(0x1p-24f) == 1 && vae_f32_to_f16(-0.0f) == 0x8000,
          "F16 boundary cases");
    CHECK(vae_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80 && vae_f32_to_bf16(1.0f + 0x1.8p-8f) == 0x3f81 &&
              vae_f32_to_bf16(1.0f + 0x3p-8f) == 0x3f82 &&
              vae_f32_to_bf16(3.4e38f) == 0x7f80,
          "BF16 ties to even, overflow to Inf");
    vae_dtype d;
    CHECK(vae_dtype_parse("f16", &d) == 0 && d == VAE_DTYPE_F16 && vae_dtype_parse("BF16", &d) == 0 &&
              d == VAE_DTYPE_BF16 && vae_dtype_parse("F64", &d) == -1 &&
              !strcmp(vae_dtype_name(VAE_DTYPE_F32), "F32"),
          "dtype names");
}

/* The header length a safetensors file starts with. */
static uint64_t header_length(const uint8_t *bytes) {
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | bytes[i];
    return hl;
}

/* The reference model rounded to F16 (*m) and serialised (*len bytes, header length *hl, the header
 * parsed into *root). */
static uint8_t *f16_file(vae_model **m, size_t *len, uint64_t *hl, cJSON **root) {
    vae_error err = {0};
    uint8_t *bytes = NULL;
    *m = NULL;
    CHECK(vae_weights_load_memory(good, good_len, "copy", m, &err) == VAE_OK &&
              vae_model_round_params(*m, VAE_DTYPE_F16, &err) == VAE_OK &&
              vae_weights_serialize(*m, &bytes, len, &err) == VAE_OK,
          "F16 copy: %s", err.message);
    *hl = header_length(bytes);
    *root = cJSON_ParseWithLength((char *)bytes + 8, (size_t)*hl);
    return bytes;
}

/* A model rounded to F16 or BF16 is written with its parameters in that dtype (the optional tensors
 * stay F32), half the size, and loads back to the same floats, keeping its dtype; a file mixing
 * dtypes loads as F32, losing nothing; a weight F16 cannot hold is refused, naming it. */
static void check_half_files(void) {
    for (int k = 0; k < 2; k++) {
        vae_dtype dt = k ? VAE_DTYPE_BF16 : VAE_DTYPE_F16;
        vae_error err = {0};
        uint8_t *bytes = NULL;
        size_t len = 0;
        vae_model *m = NULL, *back = NULL;
        CHECK(vae_weights_load_memory(good, good_len, "copy", &m, &err) == VAE_OK, "%s", err.message);
        if (!m) return;
        CHECK(m->param_dtype == VAE_DTYPE_F32, "an F32 file loads as %s", vae_dtype_name(m->param_dtype));
        CHECK(vae_model_round_params(m, dt, &err) == VAE_OK && m->param_dtype == dt &&
                  vae_model_prepare_inference(m, &err) == VAE_OK,
              "round: %s", err.message);
        double worst = 0;
        int changed = 0;
        for (size_t i = 0; i < m->n_params; i++) {
            /* half an ulp: relative for normal values, absolute (2^-25) for F16's subnormals */
            double w = fabs(reference->params[i]), e = fabs(m->params[i] - reference->params[i]);
            worst = fmax(worst, k || w >= 0x1p-14 ? e / w : e / 0x1p-14);
            changed += m->params[i] != reference->params[i];
        }
        CHECK(changed > (int)m->n_params / 2 && worst <= (k ? 0x1p-8 : 0x1p-11) * 1.0001,
              "%s rounding: %d of %zu changed, worst relative error %g", vae_dtype_name(dt), changed,
              m->n_params, worst);
        CHECK(vae_weights_serialize(m, &bytes, &len, &err) == VAE_OK, "%s", err.message);
        char *json = (char *)bytes + 8;
        uint64_t hl = header_length(bytes), good_hl = header_length(good);
        CHECK((good_len - 8 - good_hl) - (len - 8 - hl) == reference->n_params * 2,
              "%s data is %llu bytes against F32's %llu: expected %zu fewer", vae_dtype_name(dt),
              (unsigned long long)(len - 8 - hl), (unsigned long long)(good_len - 8 - good_hl),
              reference->n_params * 2);
        cJSON *root = cJSON_ParseWithLength(json, (size_t)hl);
        const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "dec.out.weight"), "dtype");
        const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "score.nll"), "dtype");
        CHECK(cJSON_IsString(w) && !strcmp(w->valuestring, vae_dtype_name(dt)) && cJSON_IsString(c) &&
                  !strcmp(c->valuestring, "F32"),
              "%s file: parameters as %s, tables as %s", vae_dtype_name(dt), w ? w->valuestring : "?",
              c ? c->valuestring : "?");
        cJSON_Delete(root);
        CHECK(vae_weights_load_memory(bytes, len, "half", &back, &err) == VAE_OK, "%s", err.message);
        if (back) {
            CHECK(back->param_dtype == dt && memcmp(back->params, m->params, m->n_params * 4) == 0,
                  "%s round trip: dtype %s, parameters %s", vae_dtype_name(dt),
                  vae_dtype_name(back->param_dtype),
                  memcmp(back->params, m->params, m->n_params * 4) ? "changed" : "kept");
            check_stats_round_trip(back);
            check_same_outputs(m, back, "half round trip");
            vae_model_destroy(back);
        }
        free(bytes);
        vae_model_destroy(m);
    }
    /* one tensor F16, the rest F32: F32 in memory and when saved again */
    {
        vae_error err = {0};
        vae_model *m, *mixed = NULL;
        size_t half_len;
        uint64_t hl;
        cJSON *root;
        uint8_t *half = f16_file(&m, &half_len, &hl, &root);
        if (!half) return;
        /* widen enc.0.bias (the second parameter tensor) to F32 at the end of the data */
        cJSON *t = cJSON_GetObjectItem(root, "enc.0.bias");
        int n = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "shape"), 0)->valueint;
        size_t data_len = half_len - 8 - (size_t)hl;
        uint8_t *data = malloc(data_len + 4 * (size_t)n);
        memcpy(data, half + 8 + hl, data_len);
        memcpy(data + data_len, m->layers.enc[0].bias, 4 * (size_t)n);
        cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F32"));
        cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
        cJSON_ReplaceItemInArray(off, 0, cJSON_CreateNumber((double)data_len));
        cJSON_ReplaceItemInArray(off, 1, cJSON_CreateNumber((double)(data_len + 4 * (size_t)n)));
        char *json = cJSON_PrintUnformatted(root);
        size_t len;
        uint8_t *f = build_file(json, data, data_len + 4 * (size_t)n, &len);
        CHECK(vae_weights_load_memory(f, len, "mixed", &mixed, &err) == VAE_OK, "mixed: %s", err.message);
        if (mixed) {
            CHECK(mixed->param_dtype == VAE_DTYPE_F32 &&
                      memcmp(mixed->params, m->params, m->n_params * 4) == 0,
                  "mixed dtypes: loads as %s, parameters %s", vae_dtype_name(mixed->param_dtype),
                  memcmp(mixed->params, m->params, m->n_params * 4) ? "changed" : "kept");
            vae_model_destroy(mixed);
        }
        free(f);
        free(json);
        free(data);
        cJSON_Delete(root);
        free(half);
        vae_model_destroy(m);
    }
    /* an F16 infinity in the file is refused like an F32 one */
    {
        vae_error err = {0};
        vae_model *m, *out = (vae_model *)0x1;
        size_t half_len;
        uint64_t hl;
        cJSON *root;
        uint8_t *half = f16_file(&m, &half_len, &hl, &root);
        if (!half) return;
        int begin = cJSON_GetArrayItem(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "dec.1.weight"), "data_offsets"), 0)
                        ->valueint;
        cJSON_Delete(root);
        half[8 + hl + (size_t)begin + 2 * 3] = 0x00, half[8 + hl + (size_t)begin + 2 * 3 + 1] = 0xfc;
        CHECK(vae_weights_load_memory(half, half_len, "inf", &out, &err) == VAE_ERR_FORMAT &&
                  out == (vae_model *)0x1 && strstr(err.message, "dec.1.weight") &&
                  strstr(err.message, "-Inf at index 3"),
              "F16 -Inf: %s", err.message);
        free(half);
        vae_model_destroy(m);
        /* a weight beyond F16's range: refused, nothing rounded */
        m = NULL;
        vae_weights_load_memory(good, good_len, "copy", &m, &err);
        m->layers.dec[1].weight[4] = 70000.0f;
        const float before = m->params[1];
        CHECK(vae_model_round_params(m, VAE_DTYPE_F16, &err) == VAE_ERR_ARG && strstr(err.message, "dec.1.weight") &&
                  strstr(err.message, "70000 at index 4") && m->param_dtype == VAE_DTYPE_F32 &&
                  m->params[1] == before,
              "F16 overflow: %s", err.message);
        CHECK(vae_model_round_params(m, VAE_DTYPE_BF16, &err) == VAE_OK, "BF16 holds 70000: %s", err.message);
        vae_model_destroy(m);
    }
}

/* Every optional tensor and figure survives the round trip, with the derived fields filled. */
static void check_stats_round_trip(const vae_model *m) {
    CHECK(m->class_std && memcmp(m->class_std, reference->class_std, 30 * 4) == 0, "class_std changed");
    CHECK(m->plane.mean && memcmp(m->plane.mean, reference->plane.mean, 3 * 4) == 0 &&
              memcmp(m->plane.dirs, reference->plane.dirs, 6 * 4) == 0 &&
              memcmp(m->plane.std, reference->plane.std, 2 * 4) == 0,
          "principal plane changed");
    CHECK(m->diag.mu_var && memcmp(m->diag.mu_var, reference->diag.mu_var, 3 * 4) == 0 &&
              memcmp(m->diag.kl, reference->diag.kl, 3 * 4) == 0,
          "diagnostics changed");
    CHECK(m->diag.active_units == 2, "active units %d, expected 2 (variances 0.5, 0.001, 2)",
          m->diag.active_units);
    CHECK(m->diag.test_loss == 101.5 && m->diag.test_nll == 95.25 && m->diag.test_nll_k == 5000,
          "diagnostic figures %g %g %d", m->diag.test_loss, m->diag.test_nll, m->diag.test_nll_k);
    const vae_score_table *a[3] = {&m->scores.nll, &m->scores.corrected, &m->scores.ood};
    const vae_score_table *b[3] = {&reference->scores.nll, &reference->scores.corrected,
                                   &reference->scores.ood};
    for (int t = 0; t < 3; t++)
        CHECK(a[t]->values && a[t]->count == 7 && memcmp(a[t]->values, b[t]->values, 7 * 4) == 0,
              "score table %d changed", t);
    CHECK(m->scores.k == 64 && m->scores.seed == 99, "score_k %d, score_seed %llu", m->scores.k,
          m->scores.seed);
    vae_error err = {0};
    CHECK(vae_model_require(m, VAE_PART_CENTROIDS | VAE_PART_CLASS_STATS | VAE_PART_PLANE |
                                   VAE_PART_DIAGNOSTICS | VAE_PART_SCORES,
                            &err) == VAE_OK,
          "require on a complete model: %s", err.message);
}

/* A file with the parameters only (an old one, or a PyTorch export without data) loads, serves, and
 * says what it lacks. */
static void check_without_stats(void) {
    vae_config cfg = reference->config;
    vae_model *bare = vae_model_create(&cfg, NULL);
    memcpy(bare->params, reference->params, reference->n_params * 4);
    for (int i = 0; i < reference->metadata.count; i++)
        if (strncmp(reference->metadata.keys[i], "score_", 6) && strncmp(reference->metadata.keys[i], "test_", 5))
            vae_metadata_set(&bare->metadata, reference->metadata.keys[i], reference->metadata.values[i]);
    uint8_t *bytes;
    size_t len;
    vae_error err = {0};
    CHECK(vae_weights_serialize(bare, &bytes, &len, &err) == VAE_OK, "%s", err.message);
    vae_model *m = NULL;
    CHECK(vae_weights_load_memory(bytes, len, "bare.safetensors", &m, &err) == VAE_OK, "bare file: %s",
          err.message);
    if (m) {
        CHECK(!m->centroids && !m->class_std && !m->plane.mean && !m->diag.mu_var && !m->scores.nll.values,
              "a bare file has no optional groups");
        CHECK(m->diag.active_units == -1 && isnan(m->diag.test_nll) && isnan(m->diag.test_loss) &&
                  m->diag.test_nll_k == 0,
              "absent diagnostics: %d %g %g %d", m->diag.active_units, m->diag.test_nll,
              m->diag.test_loss, m->diag.test_nll_k);
        check_same_outputs(reference, m, "bare file");
        static const struct {
            unsigned part;
            const char *needle;
        } parts[] = {{VAE_PART_CENTROIDS, "centroids"},  {VAE_PART_CLASS_STATS, "class_std"},
                     {VAE_PART_PLANE, "plane.dirs"},     {VAE_PART_DIAGNOSTICS, "diag.mu_var"},
                     {VAE_PART_SCORES, "score.nll"}};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            vae_error e = {0};
            CHECK(vae_model_require(m, parts[i].part, &e) == VAE_ERR_UNSUPPORTED &&
                      strstr(e.message, parts[i].needle) && strstr(e.message, "vae-train --annotate"),
                  "require %u on a bare model: '%s'", parts[i].part, e.message);
        }
        vae_model_destroy(m);
    }
    free(bytes);
    vae_model_destroy(bare);
}

static void check_same_outputs(const vae_model *a, const vae_model *b, const char *what) {
    vae_workspace *ws = vae_workspace_create(784, 4);
    float x[2 * 784], mu_a[6], lv_a[6], mu_b[6], lv_b[6], out_a[2 * 784], out_b[2 * 784];
    for (int i = 0; i < 2 * 784; i++) x[i] = (float)((i * 37) % 255) / 255.0f;
    vae_encode(a, ws, x, 2, mu_a, lv_a);
    vae_encode(b, ws, x, 2, mu_b, lv_b);
    vae_reconstruct(a, ws, x, 2, out_a);
    vae_reconstruct(b, ws, x, 2, out_b);
    CHECK(memcmp(mu_a, mu_b, sizeof mu_a) == 0 && memcmp(lv_a, lv_b, sizeof lv_a) == 0,
          "%s: encode differs", what);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0, "%s: reconstruction differs", what);
    vae_workspace_destroy(ws);
}

/* The layout PyTorch's safetensors produces: tensors sorted by name with their data in that order,
 * __metadata__ first, header padded with spaces to a multiple of 8. */
static void check_pytorch_layout(void) {
    const uint8_t *data;
    size_t data_len;
    cJSON *root = good_header(&data, &data_len);
    const char *names[64];
    int n = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, root) if (strcmp(item->string, "__metadata__")) names[n++] = item->string;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "__metadata__", cJSON_Duplicate(cJSON_GetObjectItem(root, "__metadata__"), 1));
    uint8_t *new_data = malloc(data_len);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_Duplicate(cJSON_GetObjectItem(root, names[i]), 1);
        cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
        size_t b = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, e = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
        memcpy(new_data + at, data + b, e - b);
        cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber((double)at));
        cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber((double)(at + e - b)));
        at += e - b;
        cJSON_AddItemToObject(out, names[i], t);
    }
    char *json = cJSON_PrintUnformatted(out);
    size_t jl = strlen(json), padded = (jl + 7) & ~(size_t)7;
    char *pad = malloc(padded + 1);
    memcpy(pad, json, jl);
    memset(pad + jl, ' ', padded - jl);
    pad[padded] = '\0';
    size_t len;
    uint8_t *f = build_file(pad, new_data, data_len, &len);
    vae_model *m = NULL;
    vae_error err = {0};
    CHECK(vae_weights_load_memory(f, len, "pytorch.safetensors", &m, &err) == VAE_OK,
          "PyTorch-ordered file: %s", err.message);
    if (m) {
        check_same_outputs(reference, m, "PyTorch-ordered file");
        vae_model_destroy(m);
    }
    free(f);
    free(pad);
    free(json);
    free(new_data);
    cJSON_Delete(out);
    cJSON_Delete(root);
}

/* A loaded model without its float parameters (what vae-server keeps) computes the same bits from
 * its packed copy, keeps its sizes and dtype, and refuses what needs the parameters; a model without
 * a packed copy keeps them. */
static void check_drop_params(const char *path) {
    vae_model *m = NULL;
    vae_error err = {0};
    CHECK(vae_weights_load(path, &m, &err) == VAE_OK, "load: %s", err.message);
    if (!m) return;
    const size_t n_params = m->n_params;
    CHECK(vae_model_require_params(m, "write the weights", &err) == VAE_OK, "a loaded model has its parameters");
    CHECK(vae_model_drop_params(m, &err) == VAE_OK && !m->params && !m->layers.enc[0].weight &&
              !m->layers.out.bias,
          "dropped: %s", err.message);
    CHECK(m->n_params == n_params && m->param_dtype == VAE_DTYPE_F32 && m->layers.out.out == 784 &&
              m->layers.mu.in == 8,
          "sizes and dtype stay");
    check_same_outputs(reference, m, "parameters dropped");
    check_stats_round_trip(m);
    CHECK(vae_model_drop_params(m, &err) == VAE_OK, "dropping again is a no-op");
    uint8_t *bytes = NULL;
    size_t len = 0;
    memset(&err, 0, sizeof err);
    CHECK(vae_weights_serialize(m, &bytes, &len, &err) == VAE_ERR_UNSUPPORTED && !bytes &&
              strstr(err.message, "cannot write the weights") && strstr(err.message, "dropped"),
          "serialize refuses: %s", err.message);
    CHECK(vae_weights_save(m, path, &err) == VAE_ERR_UNSUPPORTED, "save refuses: %s", err.message);
    CHECK(vae_model_round_params(m, VAE_DTYPE_F16, &err) == VAE_ERR_UNSUPPORTED &&
              strstr(err.message, "cannot round the weights"),
          "rounding refuses: %s", err.message);
    CHECK(vae_model_prepare_inference(m, &err) == VAE_ERR_UNSUPPORTED && m->inference,
          "packing again refuses and keeps the packed copy: %s", err.message);
    check_same_outputs(reference, m, "after the refusals");
    vae_model_destroy(m);

    vae_model *fresh = vae_model_create(&reference->config, &err);
    CHECK(fresh && vae_model_drop_params(fresh, &err) == VAE_ERR_UNSUPPORTED && fresh->params &&
              strstr(err.message, "without its packed copy"),
          "no packed copy: the parameters stay: %s", err.message);
    vae_model_destroy(fresh);
}

int main(void) {
    reference = make_reference();
    vae_error err = {0};
    CHECK(vae_weights_serialize(reference, &good, &good_len, &err) == VAE_OK, "%s", err.message);

    /* round trip through a real file */
    char dir[] = "/tmp/vae-weights-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    CHECK(vae_weights_save(reference, path, &err) == VAE_OK, "save: %s", err.message);
    vae_model *loaded = NULL;
    CHECK(vae_weights_load(path, &loaded, &err) == VAE_OK, "load: %s", err.message);
    if (loaded) {
        CHECK(loaded->n_params == reference->n_params &&
                  memcmp(loaded->params, reference->params, reference->n_params * 4) == 0,
              "parameters changed in the round trip");
        CHECK(loaded->centroids && memcmp(loaded->centroids, reference->centroids, 30 * 4) == 0,
              "centroids changed in the round trip");
        CHECK(loaded->config.activation == VAE_ACT_LEAKY_RELU && loaded->config.n_hidden == 2 &&
                  loaded->config.hidden[0] == 12 && loaded->config.hidden[1] == 8 &&
                  loaded->config.latent_dim == 3,
              "architecture changed in the round trip");
        const char *ds = vae_metadata_get(&loaded->metadata, "dataset");
        CHECK(ds && strcmp(ds, "unit-test") == 0, "metadata lost");
        check_same_outputs(reference, loaded, "round trip");
        check_stats_round_trip(loaded);
        vae_model_destroy(loaded);
    }
    check_drop_params(path);
    /* the data section starts 8-byte aligned */
    uint64_t hl = header_length(good);
    CHECK(hl % 8 == 0, "header length %llu is not a multiple of 8", (unsigned long long)hl);
    check_pytorch_layout();
    check_dtype_conversions();
    check_half_files();

    /* the packed kernels and the OpenBLAS path agree (not bitwise: different summation order) */
    {
        vae_workspace *ws = vae_workspace_create(784, 4);
        float x[3 * 784], a[3 * 784], b[3 * 784];
        for (int i = 0; i < 3 * 784; i++) x[i] = (float)((i * 31) % 256) / 255.0f;
        vae_inference *packed = reference->inference;
        vae_reconstruct(reference, ws, x, 3, a);
        reference->inference = NULL;
        vae_reconstruct(reference, ws, x, 3, b);
        reference->inference = packed;
        double worst = 0;
        for (int i = 0; i < 3 * 784; i++) worst = fmax(worst, fabs(a[i] - b[i]));
        CHECK(worst < 1e-5, "packed kernels vs OpenBLAS: max difference %g", worst);
        vae_workspace_destroy(ws);
    }

    /* files on disk */
    vae_model *none = NULL;
    CHECK(vae_weights_load("/nonexistent/x.safetensors", &none, &err) == VAE_ERR_IO && !none &&
              strstr(err.message, "/nonexistent/x.safetensors") && strstr(err.message, "No such file"),
          "missing file: %s", err.message);
    CHECK(vae_weights_save(reference, "/nonexistent/dir/x.safetensors", &err) == VAE_ERR_IO,
          "unwritable path: %s", err.message);
    unlink(path);
    rmdir(dir);

    /* byte-level corruptions */
    expect_reject("empty", good, 0, VAE_ERR_FORMAT, "too short");
    expect_reject("7 bytes", good, 7, VAE_ERR_FORMAT, "too short");
    expect_reject("truncated in the header", good, 40, VAE_ERR_FORMAT, "larger than the rest");
    expect_reject("truncated in the data", good, good_len - 100, VAE_ERR_FORMAT, "past the end");
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    expect_reject("absurd header length", huge, sizeof huge, VAE_ERR_FORMAT, "larger than the rest");
    size_t len;
    uint8_t *f = build_file("{\"enc.0.weight\": [1, 2", good, 0, &len);
    expect_reject("invalid JSON", f, len, VAE_ERR_FORMAT, "not valid JSON");
    free(f);
    f = build_file("[1, 2, 3]", good, 0, &len);
    expect_reject("JSON array", f, len, VAE_ERR_FORMAT, "not a JSON object");
    free(f);
    f = build_file("{} xyz", good, 0, &len);
    expect_reject("trailing bytes", f, len, VAE_ERR_FORMAT, "after its JSON");
    free(f);
    f = build_file("{}", good, 0, &len);
    expect_reject("no tensors", f, len, VAE_ERR_FORMAT, "enc.0.weight");
    free(f);
    f = build_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   good, 8, &len);
    expect_reject("duplicate key", f, len, VAE_ERR_FORMAT, "appears twice");
    free(f);

    /* header-level corruptions */
    expect_edit_rejected("F64 dtype", edit_dtype, VAE_ERR_UNSUPPORTED, "dtype F64; F32, F16 and BF16");
    expect_edit_rejected("F16 span", edit_f16_span, VAE_ERR_FORMAT, "needs 16 bytes of F16 but data_offsets span 32");
    expect_edit_rejected("wrong shape", edit_shape, VAE_ERR_FORMAT, "dec.0.weight' has shape [6, 4]");
    expect_edit_rejected("offsets past the end", edit_past_end, VAE_ERR_FORMAT, "past the end");
    expect_edit_rejected("overlapping tensors", edit_overlap, VAE_ERR_FORMAT, "overlap");
    expect_edit_rejected("span vs shape", edit_span, VAE_ERR_FORMAT, "shape needs");
    expect_edit_rejected("negative offset", edit_negative_offset, VAE_ERR_FORMAT, "begin <= end");
    expect_edit_rejected("rank 3", edit_rank3, VAE_ERR_FORMAT, "rank 3");
    expect_edit_rejected("NaN weight", edit_nan, VAE_ERR_FORMAT, "dec.1.weight' holds NaN");
    expect_edit_rejected("+Inf weight", edit_plus_inf, VAE_ERR_FORMAT, "'enc.0.weight' holds NaN or Inf: +Inf at index 0");
    expect_edit_rejected("-Inf bias", edit_minus_inf, VAE_ERR_FORMAT, "'dec.out.bias' holds NaN or Inf: -Inf at index 783");
    expect_edit_rejected("NaN bias", edit_nan_bias, VAE_ERR_FORMAT, "'enc.mu.bias' holds NaN or Inf: NaN at index 2");
    expect_edit_rejected("Inf centroid", edit_inf_centroid, VAE_ERR_FORMAT, "'centroids' holds NaN or Inf: -Inf at index 7");
    expect_edit_rejected("missing tensor", edit_missing, VAE_ERR_FORMAT, "missing tensor 'dec.out.bias'");
    expect_edit_rejected("unexpected tensor", edit_unexpected, VAE_ERR_FORMAT, "unexpected tensor 'enc.attention.bias'");
    expect_edit_rejected("no activation", edit_no_activation, VAE_ERR_FORMAT, "no \"activation\"");
    expect_edit_rejected("unknown activation", edit_bad_activation, VAE_ERR_FORMAT, "\"swish\"");
    expect_edit_rejected("latent_dim mismatch", edit_latent_meta, VAE_ERR_FORMAT, "latent_dim is \"20\"");
    expect_edit_rejected("hidden mismatch", edit_hidden_meta, VAE_ERR_FORMAT, "hidden is \"400\"");
    expect_edit_rejected("metadata number", edit_meta_number, VAE_ERR_FORMAT, "not a string");
    expect_edit_rejected("centroid shape", edit_centroid_shape, VAE_ERR_FORMAT, "'centroids' must have shape [10, 3]");


    /* the optional tensors and figures: shapes, finiteness, groups, sortedness, metadata */
    check_without_stats();
    expect_edit_rejected("unsorted table", edit_unsorted, VAE_ERR_FORMAT,
                         "'score.corrected' is not sorted: value 3 (40) is below value 2 (54)");
    expect_edit_rejected("NaN in a table", edit_nan_table, VAE_ERR_FORMAT, "'score.ood' holds NaN or Inf: NaN at index 6");
    expect_edit_rejected("Inf plane mean", edit_inf_plane_mean, VAE_ERR_FORMAT, "'plane.mean' holds NaN or Inf: +Inf");
    expect_edit_rejected("negative class spread", edit_negative_std, VAE_ERR_FORMAT, "'class_std' holds a negative value");
    expect_edit_rejected("negative variance", edit_negative_mu_var, VAE_ERR_FORMAT, "'diag.mu_var' holds a negative value");
    expect_edit_rejected("skewed plane", edit_skewed_plane, VAE_ERR_FORMAT, "'plane.dirs' must hold two orthonormal rows");
    expect_edit_rejected("table of rank 2", edit_table_rank, VAE_ERR_FORMAT, "'score.nll' must have shape [n]");
    expect_edit_rejected("class_std shape", edit_class_std_shape, VAE_ERR_FORMAT, "'class_std' must have shape [10, 3]");
    expect_edit_rejected("plane.std shape", edit_plane_std_shape, VAE_ERR_FORMAT, "'plane.std' must have shape [2]");
    expect_edit_rejected("diag.kl rank", edit_diag_shape, VAE_ERR_FORMAT, "'diag.kl' must have shape [3]");
    expect_edit_rejected("table lengths", edit_table_length, VAE_ERR_FORMAT, "'score.ood' has 6 values but score.nll has 7");
    expect_edit_rejected("plane without std", edit_no_plane_std, VAE_ERR_FORMAT, "has 2 of them");
    expect_edit_rejected("diag without kl", edit_no_diag_kl, VAE_ERR_FORMAT, "diagnostics come as two tensors");
    expect_edit_rejected("tables without nll", edit_no_score_nll, VAE_ERR_FORMAT, "score tables come as three");
    expect_edit_rejected("class_std without centroids", edit_no_centroids, VAE_ERR_FORMAT, "needs the tensor 'centroids'");
    expect_edit_rejected("no score_k", edit_no_score_k, VAE_ERR_FORMAT, "need __metadata__ score_k");
    expect_edit_rejected("score_k 0", edit_bad_score_k, VAE_ERR_FORMAT, "score_k, their samples per image (1..1000000): it is not");
    expect_edit_rejected("negative score_seed", edit_bad_score_seed, VAE_ERR_FORMAT, "score_seed, a non-negative integer: it is not");
    expect_edit_rejected("test_nll_k without test_nll", edit_no_test_nll, VAE_ERR_FORMAT, "test_nll and test_nll_k come together");
    expect_edit_rejected("test_nll nan", edit_bad_test_nll, VAE_ERR_FORMAT, "test_nll \"nan\" is not a number");
    expect_edit_rejected("test_loss text", edit_bad_test_loss, VAE_ERR_FORMAT, "test_loss \"102.0 nats\"");
    expect_edit_rejected("fractional test_nll_k", edit_bad_nll_k, VAE_ERR_FORMAT, "test_nll_k must be an integer");

    free(good);
    vae_model_destroy(reference);
    CHECK_DONE();
}
