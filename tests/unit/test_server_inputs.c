/* Request inputs (server/inputs.c): query integers, numbers and booleans (a valueless ?invert is
 * true, a valueless ?n is an error), the query allow-list, ?model=, ?format and Accept, JSON seeds
 * (0 is a seed and differs from none; 2^53-1 is the largest; 2^53 is refused), JSON booleans, the
 * body's JSON object checks, numbers, latent rows and images. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "server_fixture.h"

static fx_req f;
static vae_err err;

/* A GET request with the query arguments given as key, value pairs (value NULL: valueless). */
static vae_request *query(int n, ...) {
    fx_req_release(&f);
    fx_req_init(&f, "GET", "/sample");
    f.req.scratch = vae_scratch_for_thread(&fx_server.scratch);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *), *v = va_arg(ap, const char *);
        fx_arg(&f, k, v);
    }
    va_end(ap);
    memset(&err, 0, sizeof err);
    return &f.req;
}

static void test_query_int(void) {
    long long v = 77;
    CHECK(vae_input_query_int(query(0), "n", 1, 10, 5, &v, &err) == VAE_E_NONE && v == 5, "absent: default");
    v = 77;
    CHECK(vae_input_query_int(query(1, "n", NULL), "n", 1, 10, 5, &v, &err) == VAE_E_INVALID_PARAMETER && v == 77,
          "?n without a value is an error, not the default");
    CHECK(strstr(err.message, "n must be an integer from 1 to 10"), "message: %s", err.message);
    CHECK(vae_input_query_int(query(1, "n", ""), "n", 1, 10, 5, &v, &err) == VAE_E_INVALID_PARAMETER, "?n=");
    CHECK(vae_input_query_int(query(1, "n", "1"), "n", 1, 10, 5, &v, &err) == VAE_E_NONE && v == 1, "lo");
    CHECK(vae_input_query_int(query(1, "n", "10"), "n", 1, 10, 5, &v, &err) == VAE_E_NONE && v == 10, "hi");
    CHECK(vae_input_query_int(query(1, "n", "0"), "n", 1, 10, 5, &v, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "from 1 to 10, not 0"),
          "below: %s", err.message);
    CHECK(vae_input_query_int(query(1, "n", "11"), "n", 1, 10, 5, &v, &err) == VAE_E_INVALID_PARAMETER, "above");
    CHECK(vae_input_query_int(query(1, "n", "-3"), "n", -5, 10, 5, &v, &err) == VAE_E_NONE && v == -3, "negative");
    static const char *const bad[] = {"5x", "x5", "1.5", "1e3", "0x10", "99999999999999999999", "-99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vae_input_query_int(query(1, "n", bad[i]), "n", -100, 100, 5, &v, &err) == VAE_E_INVALID_PARAMETER &&
                  strstr(err.message, bad[i]),
              "'%s': %s", bad[i], err.message);
    /* seeds: the whole documented range */
    CHECK(vae_input_query_int(query(1, "seed", "0"), "seed", 0, VAE_SEED_MAX, -1, &v, &err) == VAE_E_NONE && v == 0,
          "seed=0 is a seed");
    CHECK(vae_input_query_int(query(1, "seed", "9007199254740991"), "seed", 0, VAE_SEED_MAX, -1, &v, &err) ==
                  VAE_E_NONE &&
              v == VAE_SEED_MAX,
          "seed=2^53-1");
    CHECK(vae_input_query_int(query(1, "seed", "9007199254740992"), "seed", 0, VAE_SEED_MAX, -1, &v, &err) ==
              VAE_E_INVALID_PARAMETER,
          "seed=2^53");
    CHECK(vae_input_query_int(query(1, "other", "3"), "n", 1, 10, 5, &v, &err) == VAE_E_NONE && v == 5,
          "another argument is not this one");
}

static void test_query_float(void) {
    double v = 77;
    CHECK(vae_input_query_float(query(0), "t", 0, 100, 1.0, &v, &err) == VAE_E_NONE && v == 1.0, "absent");
    v = 77;
    CHECK(vae_input_query_float(query(1, "t", NULL), "t", 0, 100, 1.0, &v, &err) == VAE_E_INVALID_PARAMETER && v == 77,
          "?t without a value");
    CHECK(vae_input_query_float(query(1, "t", "0"), "t", 0, 100, 1.0, &v, &err) == VAE_E_NONE && v == 0, "lo");
    CHECK(vae_input_query_float(query(1, "t", "100"), "t", 0, 100, 1.0, &v, &err) == VAE_E_NONE && v == 100, "hi");
    CHECK(vae_input_query_float(query(1, "t", "0.25"), "t", 0, 100, 1.0, &v, &err) == VAE_E_NONE && v == 0.25, "0.25");
    CHECK(vae_input_query_float(query(1, "t", "2.5e1"), "t", 0, 100, 1.0, &v, &err) == VAE_E_NONE && v == 25, "2.5e1");
    static const char *const bad[] = {"", "-0.001", "100.001", "nan", "inf", "-inf", "1e400", "2x", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vae_input_query_float(query(1, "t", bad[i]), "t", 0, 100, 1.0, &v, &err) == VAE_E_INVALID_PARAMETER,
              "'%s' accepted", bad[i]);
}

static void test_query_bool(void) {
    int v;
    for (int def = 0; def <= 1; def++) {
        v = 77;
        CHECK(vae_input_query_bool(query(0), "invert", def, &v, &err) == VAE_E_NONE && v == def, "absent: %d", def);
        v = 77;
        CHECK(vae_input_query_bool(query(1, "invert", NULL), "invert", def, &v, &err) == VAE_E_NONE && v == 1,
              "a bare ?invert is true (default %d): %d", def, v);
        v = 77;
        CHECK(vae_input_query_bool(query(1, "sample", NULL), "sample", def, &v, &err) == VAE_E_NONE && v == 1,
              "a bare ?sample is true (default %d): %d", def, v);
        CHECK(vae_input_query_bool(query(1, "invert", ""), "invert", def, &v, &err) == VAE_E_NONE && v == 1,
              "?invert= is true");
    }
    static const char *const yes[] = {"1", "true", "TRUE", "True", "yes", "YES"}, *const no[] = {"0", "false", "FALSE",
                                                                                                  "no", "No"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(vae_input_query_bool(query(1, "b", yes[i]), "b", 0, &v, &err) == VAE_E_NONE && v == 1, "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(vae_input_query_bool(query(1, "b", no[i]), "b", 1, &v, &err) == VAE_E_NONE && v == 0, "%s", no[i]);
    static const char *const bad[] = {"2", "on", "off", "y", "n", "truex", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vae_input_query_bool(query(1, "b", bad[i]), "b", 0, &v, &err) == VAE_E_INVALID_PARAMETER &&
                  strstr(err.message, "b must be 1 or 0"),
              "'%s' accepted", bad[i]);
}

static void test_query_check(void) {
    static const char *const allowed[] = {"model", "n", NULL}, *const none[] = {NULL};
    CHECK(vae_input_query_check(query(0), allowed, &err) == VAE_E_NONE, "no arguments");
    CHECK(vae_input_query_check(query(2, "n", "1", "model", NULL), allowed, &err) == VAE_E_NONE, "allowed ones");
    CHECK(vae_input_query_check(query(2, "n", "1", "nn", "2"), allowed, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "unknown query parameter 'nn'; this endpoint accepts: model, n"),
          "unknown: %s", err.message);
    CHECK(vae_input_query_check(query(1, "N", "1"), allowed, &err) == VAE_E_INVALID_PARAMETER, "case matters");
    CHECK(vae_input_query_check(query(2, "n", "1", "n", "2"), allowed, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "'n' is given more than once"),
          "repeated: %s", err.message);
    CHECK(vae_input_query_check(query(3, "model", "a", "n", "1", "model", NULL), allowed, &err) ==
              VAE_E_INVALID_PARAMETER,
          "repeated, second valueless");
    /* an unknown name is reported before a repetition */
    CHECK(vae_input_query_check(query(3, "n", "1", "n", "2", "x", "3"), allowed, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "unknown query parameter 'x'"),
          "unknown first: %s", err.message);
    CHECK(vae_input_query_check(query(1, "n", "1"), none, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "this endpoint takes none"),
          "none allowed: %s", err.message);
}

static void test_model(void) {
    const vae_served_model *m = NULL;
    CHECK(vae_input_model(query(0), &m, &err) == VAE_E_NONE && m == fx_model_at(0), "default");
    CHECK(vae_input_model(query(1, "model", ""), &m, &err) == VAE_E_NONE && m == fx_model_at(0),
          "?model= is the default");
    CHECK(vae_input_model(query(1, "model", NULL), &m, &err) == VAE_E_NONE && m == fx_model_at(0),
          "?model is the default");
    CHECK(vae_input_model(query(1, "model", "fashion"), &m, &err) == VAE_E_NONE && m == fx_model_at(1),
          "fashion");
    m = NULL;
    CHECK(vae_input_model(query(1, "model", "Fashion"), &m, &err) == VAE_E_MODEL_NOT_FOUND && m == NULL &&
              strstr(err.message, "no model 'Fashion'; loaded models: mnist, fashion"),
          "unknown: %s", err.message);
}

static void test_wants_json(void) {
    int json = 77;
    CHECK(vae_input_wants_json(query(0), &json, &err) == VAE_E_NONE && json == 0, "PNG by default");
    CHECK(vae_input_wants_json(query(1, "format", "json"), &json, &err) == VAE_E_NONE && json == 1, "json");
    CHECK(vae_input_wants_json(query(1, "format", "png"), &json, &err) == VAE_E_NONE && json == 0, "png");
    CHECK(vae_input_wants_json(query(1, "format", NULL), &json, &err) == VAE_E_INVALID_PARAMETER &&
              strstr(err.message, "format must be png or json, not ''"),
          "?format alone: %s", err.message);
    CHECK(vae_input_wants_json(query(1, "format", "JSON"), &json, &err) == VAE_E_INVALID_PARAMETER, "JSON");
    CHECK(vae_input_wants_json(query(1, "format", ""), &json, &err) == VAE_E_INVALID_PARAMETER, "?format=");
    static const struct {
        const char *accept;
        int json;
    } accepts[] = {{"application/json", 1},
                   {"text/html, application/json;q=0.9", 1},
                   {"application/json, image/png", 0},
                   {"image/png", 0},
                   {"*/*", 0},
                   {"", 0}};
    for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
        vae_request *r = query(0);
        fx_header(&f, "Accept", accepts[i].accept);
        CHECK(vae_input_wants_json(r, &json, &err) == VAE_E_NONE && json == accepts[i].json, "Accept '%s': %d",
              accepts[i].accept, json);
    }
    vae_request *r = query(1, "format", "png");
    fx_header(&f, "Accept", "application/json");
    CHECK(vae_input_wants_json(r, &json, &err) == VAE_E_NONE && json == 0, "?format wins over Accept");
}

/* Parses text into a cJSON tree (deleted by the next call). */
static cJSON *tree;
static const cJSON *js(const char *text) {
    cJSON_Delete(tree);
    tree = cJSON_Parse(text);
    if (!tree) fx_die("bad JSON in the test");
    memset(&err, 0, sizeof err);
    return tree;
}

static void test_json_seed(void) {
    uint64_t seed = 77;
    int given = 77;
    CHECK(vae_input_json_seed(NULL, &seed, &given, &err) == VAE_E_NONE && given == 0 && seed == 77, "absent");
    CHECK(vae_input_json_seed(js("0"), &seed, &given, &err) == VAE_E_NONE && given == 1 && seed == 0,
          "0 is a seed, and differs from none (given %d)", given);
    CHECK(vae_input_json_seed(js("12345"), &seed, &given, &err) == VAE_E_NONE && given == 1 && seed == 12345, "12345");
    CHECK(vae_input_json_seed(js("9007199254740991"), &seed, &given, &err) == VAE_E_NONE && given &&
              seed == 9007199254740991ULL,
          "2^53-1 is the largest seed");
    CHECK(vae_input_json_seed(js("9007199254740990"), &seed, &given, &err) == VAE_E_NONE && seed == 9007199254740990ULL,
          "2^53-2");
    static const char *const bad[] = {"9007199254740992", "1e300", "-1", "-0.5", "0.5", "1.5", "\"5\"", "true", "null",
                                      "[1]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        given = 77;
        CHECK(vae_input_json_seed(js(bad[i]), &seed, &given, &err) == VAE_E_INVALID_REQUEST && given == 0 &&
                  strstr(err.message, "seed must be an integer from 0 to 2^53-1"),
              "seed %s accepted", bad[i]);
    }
}

static void test_json_bool(void) {
    int v = 77;
    CHECK(vae_input_json_bool(NULL, "invert", 1, &v, &err) == VAE_E_NONE && v == 1, "absent: default 1");
    CHECK(vae_input_json_bool(NULL, "invert", 0, &v, &err) == VAE_E_NONE && v == 0, "absent: default 0");
    CHECK(vae_input_json_bool(js("true"), "invert", 0, &v, &err) == VAE_E_NONE && v == 1, "true");
    CHECK(vae_input_json_bool(js("false"), "invert", 1, &v, &err) == VAE_E_NONE && v == 0, "false");
    static const char *const bad[] = {"1", "0", "\"true\"", "null", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vae_input_json_bool(js(bad[i]), "invert", 0, &v, &err) == VAE_E_INVALID_REQUEST &&
                  strstr(err.message, "invert must be true or false"),
              "%s accepted", bad[i]);
}

static vae_err_kind object(const char *body, cJSON **root) {
    static const char *const fields[] = {"z", "seed", NULL};
    memset(&err, 0, sizeof err);
    *root = NULL;
    return vae_input_json_object((const uint8_t *)body, strlen(body), fields, root, &err);
}

static void test_json_object(void) {
    cJSON *root;
    CHECK(object("{\"z\":[1],\"seed\":2}", &root) == VAE_E_NONE && cJSON_IsObject(root), "valid");
    cJSON_Delete(root);
    CHECK(object("{}", &root) == VAE_E_NONE && root, "empty object");
    cJSON_Delete(root);
    CHECK(object("", &root) == VAE_E_INVALID_JSON && strstr(err.message, "empty") && !root, "empty body");
    CHECK(object("{\"z\":\"\xff\"}", &root) == VAE_E_INVALID_JSON && strstr(err.message, "UTF-8 (byte 6)"),
          "UTF-8: %s", err.message);
    CHECK(object("{\"z\":01}", &root) == VAE_E_INVALID_JSON && strstr(err.message, "at byte 6"), "syntax: %s",
          err.message);
    CHECK(object("[1]", &root) == VAE_E_INVALID_REQUEST && strstr(err.message, "must be a JSON object"), "array");
    CHECK(object("\"z\"", &root) == VAE_E_INVALID_REQUEST, "string");
    CHECK(object("{\"q\":1}", &root) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "unknown field 'q'; accepted fields: z, seed"),
          "unknown: %s", err.message);
    CHECK(object("{\"z\":1,\"z\":2}", &root) == VAE_E_INVALID_REQUEST && strstr(err.message, "'z' appears more than once"),
          "repeated: %s", err.message);
    CHECK(object("{\"Z\":1}", &root) == VAE_E_INVALID_REQUEST, "case matters");
    /* nesting deeper than the server's limit (64), below cJSON's (1000) */
    char deep[300] = "{\"z\":";
    for (int i = 0; i < 70; i++) strcat(deep, "[");
    for (int i = 0; i < 70; i++) strcat(deep, "]");
    strcat(deep, "}");
    CHECK(object(deep, &root) == VAE_E_INVALID_JSON && strstr(err.message, "too deep"), "deep: %s", err.message);
    /* fields inside an object, with a prefix */
    static const char *const inner[] = {"name", NULL};
    CHECK(vae_input_check_fields(js("{\"name\":1,\"x\":2}"), "inputs[0]", inner, &err) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "inputs[0]: unknown field 'x'"),
          "prefix: %s", err.message);
}

static void test_number(void) {
    float out = 77;
    CHECK(vae_input_number(js("0.5"), 0, 1, &out) == VAE_NUMBER_OK && out == 0.5f, "0.5");
    CHECK(vae_input_number(js("0"), 0, 1, &out) == VAE_NUMBER_OK && out == 0, "lo");
    CHECK(vae_input_number(js("1"), 0, 1, &out) == VAE_NUMBER_OK && out == 1, "hi");
    out = 77;
    CHECK(vae_input_number(js("1.0001"), 0, 1, &out) == VAE_NUMBER_OUT_OF_RANGE && out == 77, "above");
    CHECK(vae_input_number(js("-1e-9"), 0, 1, &out) == VAE_NUMBER_OUT_OF_RANGE, "below");
    CHECK(vae_input_number(js("1e39"), -FLT_MAX, FLT_MAX, &out) == VAE_NUMBER_NOT_FLOAT32, "past float32");
    CHECK(vae_input_number(js("-1e39"), -FLT_MAX, FLT_MAX, &out) == VAE_NUMBER_NOT_FLOAT32, "past -float32");
    CHECK(vae_input_number(js("3.4e38"), -FLT_MAX, FLT_MAX, &out) == VAE_NUMBER_OK, "near FLT_MAX");
    CHECK(vae_input_number(js("\"1\""), 0, 1, &out) == VAE_NUMBER_NOT_A_NUMBER, "string");
    CHECK(vae_input_number(js("null"), 0, 1, &out) == VAE_NUMBER_NOT_A_NUMBER, "null");
    cJSON *inf = cJSON_CreateNumber(INFINITY), *nan = cJSON_CreateNumber(NAN);
    CHECK(vae_input_number(inf, -FLT_MAX, FLT_MAX, &out) == VAE_NUMBER_NOT_FLOAT32, "infinity");
    CHECK(vae_input_number(nan, -FLT_MAX, FLT_MAX, &out) == VAE_NUMBER_NOT_FLOAT32, "NaN");
    cJSON_Delete(inf);
    cJSON_Delete(nan);
}

static void test_latents(void) {
    float out[4 * 3];
    int n = 0, batched = 77;
    CHECK(vae_input_latents(js("[1,2,3]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_NONE && n == 1 && !batched &&
              out[0] == 1 && out[2] == 3,
          "one vector");
    CHECK(vae_input_latents(js("[[1,2,3],[4,5,6]]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_NONE && n == 2 &&
              batched && out[3] == 4 && out[5] == 6,
          "two vectors");
    CHECK(vae_input_latents(js("[[1,2,3]]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_NONE && n == 1 && batched,
          "a list of one is batched");
    CHECK(vae_input_latents(js("[[0,0,0],[0,0,0],[0,0,0],[0,0,0]]"), "z", 3, out, 4, &n, &batched, &err) ==
                  VAE_E_NONE &&
              n == 4,
          "max rows");
    CHECK(vae_input_latents(js("[[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0]]"), "z", 3, out, 4, &n, &batched, &err) ==
                  VAE_E_TOO_MANY_ITEMS &&
              strstr(err.message, "z has 5 rows; at most 4"),
          "too many: %s", err.message);
    CHECK(vae_input_latents(js("[1,2]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_VALUE &&
              strstr(err.message, "z has 2 numbers; it needs 3"),
          "short: %s", err.message);
    CHECK(vae_input_latents(js("[1,2,3,4]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_VALUE,
          "long: %s", err.message);
    CHECK(vae_input_latents(js("[[1,2,3],[1,2]]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_VALUE &&
              strstr(err.message, "z[1] has 2 numbers"),
          "short row: %s", err.message);
    CHECK(vae_input_latents(js("[[1,2,3],4]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "z[1] must be an array of 3 numbers"),
          "row not an array: %s", err.message);
    CHECK(vae_input_latents(js("[1,\"2\",3]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "z[1] is not a number"),
          "not a number: %s", err.message);
    CHECK(vae_input_latents(js("[1,1e39,3]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_VALUE &&
              strstr(err.message, "z[1] is not a finite float32"),
          "not float32: %s", err.message);
    CHECK(vae_input_latents(js("[]"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_REQUEST, "empty");
    CHECK(vae_input_latents(js("3"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_REQUEST, "a number");
    CHECK(vae_input_latents(js("{}"), "z", 3, out, 4, &n, &batched, &err) == VAE_E_INVALID_REQUEST, "an object");
}

static void test_images(void) {
    vae_scratch *s = vae_scratch_for_thread(&fx_server.scratch);
    float *x = s->x;
    vae_images im = {77, 77, NULL};
    /* the plain average, as given and inverted: what every image was before the preparation options */
    const vae_image_options as_given = {{VAE_NORMALIZE_NONE, VAE_INVERT_NO}, 0};
    const vae_image_options inverted = {{VAE_NORMALIZE_NONE, VAE_INVERT_YES}, 0};
    /* pixels: flat, nested, ranges, invert */
    char *flat = malloc(784 * 8 + 64), *p = flat;
    p += sprintf(p, "{\"pixels\":[");
    for (int i = 0; i < 784; i++) p += sprintf(p, "%s%g", i ? "," : "", (i % 5) / 4.0);
    sprintf(p, "]}");
    cJSON *root = cJSON_Parse(flat);
    vae_request *r = query(0);
    CHECK(vae_input_images(r, root, &as_given, x, 4, &im, &err) == VAE_E_NONE && im.n == 1 && !im.batched && x[1] == 0.25f &&
              x[4] == 1.0f,
          "flat pixels: %s", err.message);
    CHECK(vae_input_images(r, root, &inverted, x, 4, &im, &err) == VAE_E_NONE && x[1] == 0.75f && x[4] == 0.0f,
          "inverted pixels");
    cJSON_Delete(root);
    CHECK(vae_input_images(r, js("{\"pixels\":[[0.5]]}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_VALUE &&
              strstr(err.message, "pixels[0] has 1 numbers; it needs 784"),
          "short row: %s", err.message);
    CHECK(vae_input_images(r, js("{}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "give exactly one of"),
          "none: %s", err.message);
    CHECK(vae_input_images(r, js("{\"image\":\"\",\"pixels\":[]}"), &as_given, x, 4, &im, &err) ==
              VAE_E_INVALID_REQUEST,
          "two");
    CHECK(vae_input_images(r, js("{\"image\":3}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_REQUEST, "image 3");
    CHECK(vae_input_images(r, js("{\"image\":\"@@@\"}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_BASE64,
          "bad base64: %s", err.message);
    CHECK(vae_input_images(r, js("{\"image\":\"aGVsbG8=\"}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_PNG &&
              strstr(err.message, "image: "),
          "not a PNG: %s", err.message);
    CHECK(vae_input_images(r, js("{\"images\":[]}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_REQUEST,
          "no images");
    CHECK(vae_input_images(r, js("{\"images\":\"x\"}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_REQUEST,
          "images not a list");
    CHECK(vae_input_images(r, js("{\"images\":[\"a\",\"a\",\"a\",\"a\",\"a\"]}"), &as_given, x, 4, &im, &err) ==
                  VAE_E_TOO_MANY_ITEMS &&
              strstr(err.message, "images has 5 entries; at most 4"),
          "too many: %s", err.message);
    CHECK(vae_input_images(r, js("{\"images\":[1]}"), &as_given, x, 4, &im, &err) == VAE_E_INVALID_REQUEST &&
              strstr(err.message, "images[0] must be"),
          "images[0] a number: %s", err.message);

    /* real PNGs: a 28x28 grey image, one and in a list of two */
    uint8_t grey[784];
    for (int i = 0; i < 784; i++) grey[i] = (uint8_t)(i % 256);
    vae_buf png = {0};
    vae_error e = {0};
    if (vae_png_encode(grey, 28, 28, 1, -1, &png, &e) != VAE_OK) fx_die(e.message);
    vae_buf b64buf = {0};
    if (vae_base64_encode(png.data, png.len, &b64buf) != VAE_OK || vae_buf_reserve(&b64buf, 1) != VAE_OK)
        fx_die("out of memory");
    b64buf.data[b64buf.len] = '\0';
    const char *b64 = (const char *)b64buf.data;
    char *body = malloc(strlen(b64) * 2 + 64);
    sprintf(body, "{\"images\":[\"%s\",\"%s\"]}", b64, b64);
    CHECK(vae_input_images(r, js(body), &as_given, x, 4, &im, &err) == VAE_E_NONE && im.n == 2 && im.batched &&
              fabsf(x[1] - 1 / 255.0f) < 1e-6f && fabsf(x[784 + 255] - 1.0f) < 1e-6f,
          "two images: %s", err.message);
    sprintf(body, "{\"image\":\"%s\"}", b64);
    CHECK(vae_input_images(r, js(body), &inverted, x, 4, &im, &err) == VAE_E_NONE && im.n == 1 && !im.batched &&
              fabsf(x[0] - 1.0f) < 1e-6f,
          "one inverted image: %s", err.message);
    /* a PNG body */
    f.req.body_type = VAE_BODY_PNG;
    f.req.body = malloc(png.len);
    memcpy(f.req.body, png.data, png.len);
    f.req.body_len = png.len;
    CHECK(vae_input_images(r, NULL, &as_given, x, 4, &im, &err) == VAE_E_NONE && im.n == 1 && !im.batched, "PNG body");
    f.req.body_len = 0;
    CHECK(vae_input_images(r, NULL, &as_given, x, 4, &im, &err) == VAE_E_INVALID_PNG &&
              strstr(err.message, "the body is empty"),
          "empty PNG body: %s", err.message);
    f.req.body_len = 20;
    CHECK(vae_input_images(r, NULL, &as_given, x, 4, &im, &err) == VAE_E_INVALID_PNG &&
              strstr(err.message, "the body: "),
          "cut PNG body: %s", err.message);
    /* larger than --max-pixels: 422, not 400 */
    fx_server.opts.max_pixels = 783;
    f.req.body_len = png.len;
    CHECK(vae_input_images(r, NULL, &as_given, x, 4, &im, &err) == VAE_E_IMAGE_TOO_LARGE, "max pixels: %s",
          err.message);
    fx_server.opts.max_pixels = 4096L * 4096L;
    vae_buf_free(&png);
    vae_buf_free(&b64buf);
    free(body);
    free(flat);
}

static void test_join_names(void) {
    const char *names[] = {"alpha", "beta", "gamma"};
    char buf[64], small[8];
    CHECK(!strcmp(vae_join_names(buf, sizeof buf, names, 3), "alpha, beta, gamma"), "%s", buf);
    CHECK(!strcmp(vae_join_names(buf, sizeof buf, names, 0), ""), "none");
    CHECK(!strcmp(vae_join_names(buf, sizeof buf, names, 1), "alpha"), "one");
    vae_join_names(small, sizeof small, names, 3);
    CHECK(!strcmp(small, "alpha, "), "truncated: '%s'", small);
}

int main(void) {
    fx_server_init();
    test_query_int();
    test_query_float();
    test_query_bool();
    test_query_check();
    test_model();
    test_wants_json();
    test_json_seed();
    test_json_bool();
    test_json_object();
    test_number();
    test_latents();
    test_images();
    test_join_names();
    cJSON_Delete(tree);
    fx_req_release(&f);
    fx_server_free();
    CHECK_DONE();
}
