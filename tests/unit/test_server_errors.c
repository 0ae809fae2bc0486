/* The error table (server/errors.c): every kind has a status, a type and a protocol status; types are
 * unique; the Open Inference Protocol has no 422 (those are 400 there) and keeps every other status;
 * Retry-After only on the 503s a retry can cure; vae_fail records the kind and a truncated message. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "errors.h"

static void test_every_kind_has_a_row(void) {
    for (int k = VAE_E_NONE + 1; k < VAE_E_COUNT; k++) {
        const vae_err_info *info = vae_err_info_of((vae_err_kind)k);
        CHECK(info != NULL, "kind %d has no row", k);
        if (!info) continue;
        CHECK(info->status >= 400 && info->status <= 599, "kind %d: status %d", k, info->status);
        CHECK(info->type && info->type[0], "kind %d has no type", k);
        CHECK(info->oip_status >= 400 && info->oip_status <= 599, "kind %d: OIP status %d", k, info->oip_status);
        if (info->status == 422) CHECK(info->oip_status == 400, "%s: 422 must be 400 in OIP", info->type);
        else CHECK(info->oip_status == info->status, "%s: OIP status %d for %d", info->type, info->oip_status,
                   info->status);
        for (const char *c = info->type; *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_', "%s: type is not snake_case",
                  info->type);
        for (int j = VAE_E_NONE + 1; j < k; j++)
            CHECK(strcmp(info->type, vae_err_info_of((vae_err_kind)j)->type) != 0, "type %s twice", info->type);
        /* a retry helps only when the server is busy, loading or short of memory */
        const int retry = k == VAE_E_NOT_READY || k == VAE_E_OVERLOADED || k == VAE_E_OUT_OF_MEMORY;
        CHECK(info->retry_after == (retry ? 1 : 0), "%s: Retry-After %d", info->type, info->retry_after);
    }
    const vae_err_info *none = vae_err_info_of(VAE_E_NONE);
    CHECK(none->status == 200, "VAE_E_NONE is %d", none->status);
}

static void test_rows(void) {
    /* the documented rows (README's error table, openapi.yaml), one by one */
    static const struct {
        vae_err_kind kind;
        int status;
        const char *type;
    } rows[] = {
        {VAE_E_INVALID_JSON, 400, "invalid_json"},
        {VAE_E_INVALID_BASE64, 400, "invalid_base64"},
        {VAE_E_INVALID_PNG, 400, "invalid_png"},
        {VAE_E_INVALID_FRAMING, 400, "invalid_framing"},
        {VAE_E_INVALID_ENCODING, 400, "invalid_encoding"},
        {VAE_E_INVALID_BINARY, 400, "invalid_binary"},
        {VAE_E_UNAUTHORIZED, 401, "unauthorized"},
        {VAE_E_FORBIDDEN, 403, "forbidden"},
        {VAE_E_NOT_FOUND, 404, "not_found"},
        {VAE_E_MODEL_NOT_FOUND, 404, "model_not_found"},
        {VAE_E_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
        {VAE_E_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
        {VAE_E_UNSUPPORTED_MEDIA, 415, "unsupported_media_type"},
        {VAE_E_INVALID_REQUEST, 422, "invalid_request"},
        {VAE_E_INVALID_VALUE, 422, "invalid_value"},
        {VAE_E_INVALID_PARAMETER, 422, "invalid_parameter"},
        {VAE_E_IMAGE_TOO_LARGE, 422, "image_too_large"},
        {VAE_E_TOO_MANY_ITEMS, 422, "too_many_items"},
        {VAE_E_NO_INK, 422, "no_ink"},
        {VAE_E_MODEL_LOAD_FAILED, 422, "model_load_failed"},
        {VAE_E_INTERNAL, 500, "internal"},
        {VAE_E_NOT_IMPLEMENTED, 501, "not_implemented"},
        {VAE_E_NOT_READY, 503, "not_ready"},
        {VAE_E_DRAINING, 503, "draining"},
        {VAE_E_OVERLOADED, 503, "overloaded"},
        {VAE_E_OUT_OF_MEMORY, 503, "out_of_memory"},
    };
    CHECK(sizeof rows / sizeof rows[0] == VAE_E_COUNT - 1, "%zu rows listed for %d kinds",
          sizeof rows / sizeof rows[0], VAE_E_COUNT - 1);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const vae_err_info *info = vae_err_info_of(rows[i].kind);
        CHECK(info->status == rows[i].status && !strcmp(info->type, rows[i].type), "%s: (%d, %s)", rows[i].type,
              info->status, info->type);
    }
}

static void test_out_of_range(void) {
    const vae_err_info *internal = vae_err_info_of(VAE_E_INTERNAL);
    CHECK(vae_err_info_of(VAE_E_COUNT) == internal, "VAE_E_COUNT is not internal");
    CHECK(vae_err_info_of((vae_err_kind)1000) == internal, "1000 is not internal");
    CHECK(vae_err_info_of((vae_err_kind)-1) == internal, "-1 is not internal");
}

static void test_fail(void) {
    vae_err err = {0};
    vae_err_kind k = vae_fail(&err, VAE_E_INVALID_VALUE, "z[%d] is %s", 3, "NaN");
    CHECK(k == VAE_E_INVALID_VALUE && err.kind == VAE_E_INVALID_VALUE, "kind %d", (int)err.kind);
    CHECK(!strcmp(err.message, "z[3] is NaN"), "message '%s'", err.message);
    char longer[2000];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    vae_fail(&err, VAE_E_INTERNAL, "%s", longer);
    CHECK(strlen(err.message) == sizeof err.message - 1, "truncated to %zu", strlen(err.message));
    CHECK(err.kind == VAE_E_INTERNAL, "kind after a second fail");
}

int main(void) {
    test_every_kind_has_a_row();
    test_rows();
    test_out_of_range();
    test_fail();
    CHECK_DONE();
}
