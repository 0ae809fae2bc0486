/* Base64: RFC 4648 vectors both ways, the forgiving inputs (no padding, whitespace, data URLs), every
 * kind of bad input with its message, output capacity, and random round trips plus a comparison
 * with a plain reference decoder on random near-base64 text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "vae/rng.h"

/* Decodes the NUL-terminated text, expecting success with exactly `want` (want_len bytes). */
static void expect_decode(const char *in, const void *want, size_t want_len) {
    uint8_t out[256];
    size_t got = 12345;
    vae_error err = {0};
    vae_status st = vae_base64_decode(in, strlen(in), out, sizeof out, &got, &err);
    CHECK(st == VAE_OK, "'%s': %s (%s)", in, vae_status_name(st), err.message);
    if (st == VAE_OK)
        CHECK(got == want_len && memcmp(out, want, want_len) == 0, "'%s' decoded to %zu bytes '%.*s'", in, got,
              (int)got, (const char *)out);
    CHECK(vae_base64_decoded_size(strlen(in)) >= want_len, "'%s': decoded_size too small", in);
}

/* Expects failure with status and a message containing needle; *out_len must stay untouched. */
static void expect_reject(const char *in, size_t len, size_t cap, vae_status status, const char *needle) {
    uint8_t out[256];
    size_t got = 12345;
    vae_error err = {0};
    vae_status st = vae_base64_decode(in, len, out, cap, &got, &err);
    CHECK(st == status, "'%.*s': %s, expected %s (%s)", (int)len, in, vae_status_name(st),
          vae_status_name(status), err.message);
    CHECK(err.status == status, "'%.*s': err.status not set", (int)len, in);
    CHECK(strstr(err.message, needle) != NULL, "'%.*s': message '%s' lacks '%s'", (int)len, in, err.message,
          needle);
    CHECK(got == 12345, "'%.*s': out_len written on failure", (int)len, in);
}

static void test_rfc4648(void) {
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *unpadded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        vae_buf buf = {0};
        CHECK(vae_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &buf) == VAE_OK, "encode");
        CHECK(buf.len == strlen(coded[i]) && (buf.len == 0 || memcmp(buf.data, coded[i], buf.len) == 0),
              "encode '%s' gave '%.*s'", plain[i], (int)buf.len, (const char *)buf.data);
        vae_buf_free(&buf);
        expect_decode(coded[i], plain[i], strlen(plain[i]));
        expect_decode(unpadded[i], plain[i], strlen(plain[i]));
    }
    /* encode appends */
    vae_buf buf = {0};
    vae_buf_append(&buf, "x:", 2);
    vae_base64_encode((const uint8_t *)"foob", 4, &buf);
    CHECK(buf.len == 10 && memcmp(buf.data, "x:Zm9vYg==", 10) == 0, "append: %.*s", (int)buf.len,
          (const char *)buf.data);
    vae_buf_free(&buf);
    expect_decode("+/+/", "\xfb\xff\xbf", 3);
    expect_decode("QR==", "A", 1); /* leftover bits ignored */
}

static void test_forgiving(void) {
    expect_decode("Zm9v\nYmFy\n", "foobar", 6);
    expect_decode("  Zm9v\r\nYmFy\r\n", "foobar", 6);
    expect_decode("Z m 9 v\tY g = =\n", "foob", 4);
    expect_decode("\v\fZg==\v\f", "f", 1);
    expect_decode("data:image/png;base64,Zm9vYmFy", "foobar", 6);
    expect_decode("data:image/png;base64,Zm9vYg==", "foob", 4);
    expect_decode("DATA:image/PNG;BASE64,Zm9v", "foo", 3);
    expect_decode("data:;base64,Zg", "f", 1);
    expect_decode("data:image/png;name=a.png;base64,\nZm9v\n", "foo", 3);
    expect_decode("  data:image/png;base64,Zm8=", "fo", 2);
    expect_decode("data:image/png;base64,", "", 0);
    expect_decode(" \n\t", "", 0);
}

static void test_rejects(void) {
#define REJ(s, status, needle) expect_reject(s, sizeof(s) - 1, 256, status, needle)
    REJ("Zm9v*mFy", VAE_ERR_FORMAT, "'*' at offset 4");
    REJ("Zm9v\x01", VAE_ERR_FORMAT, "'\\x01' at offset 4");
    REJ("Zm9vYmFy\xff", VAE_ERR_FORMAT, "'\\xff' at offset 8");
    REJ("Zm9v\0YmFy", VAE_ERR_FORMAT, "'\\x00' at offset 4");
    REJ("Zm-v", VAE_ERR_FORMAT, "'-' at offset 2"); /* the URL-safe alphabet is not accepted */
    REJ("Zm_v", VAE_ERR_FORMAT, "'_' at offset 2");
    REJ("Zm9v'", VAE_ERR_FORMAT, "'\\'' at offset 4");
    REJ("data:image/png;base64,Zm9v!", VAE_ERR_FORMAT, "'!' at offset 26");
    REJ("Zm9vYg==\x80", VAE_ERR_FORMAT, "'\\x80' at offset 8");
    REJ("data:image/png,Zm9v", VAE_ERR_FORMAT, "not base64");
    REJ("data:image/png;base64Zm9v", VAE_ERR_FORMAT, "no ','");
    REJ("data:base64,Zm9v", VAE_ERR_FORMAT, "not base64");
    REJ("Zg=", VAE_ERR_FORMAT, "wrong padding at offset 2");
    REJ("Zg===", VAE_ERR_FORMAT, "wrong padding");
    REJ("Zm8==", VAE_ERR_FORMAT, "wrong padding");
    REJ("Z===", VAE_ERR_FORMAT, "padding '=' at offset 1 where data was expected");
    REJ("=Zg", VAE_ERR_FORMAT, "data after padding at offset 1");
    REJ("====", VAE_ERR_FORMAT, "padding '=' at offset 0");
    REJ("Zm9v=", VAE_ERR_FORMAT, "padding '=' at offset 4");
    REJ("Zg==Zg==", VAE_ERR_FORMAT, "data after padding at offset 4");
    REJ("Zg==\n*", VAE_ERR_FORMAT, "'*' at offset 5");
    REJ("Z", VAE_ERR_FORMAT, "lone character at offset 0");
    REJ("Zm9vY", VAE_ERR_FORMAT, "lone character at offset 4");
    REJ("Zm9vY\n\n", VAE_ERR_FORMAT, "lone character at offset 4");
#undef REJ
    /* capacity */
    expect_reject("Zm9vYmFy", 8, 5, VAE_ERR_LIMIT, "exceeds 5 bytes");
    expect_reject("Zm9vYg", 6, 3, VAE_ERR_LIMIT, "exceeds 3 bytes");
    expect_reject("Zm9vYmE=", 8, 4, VAE_ERR_LIMIT, "exceeds 4 bytes");
    expect_reject("Zm9v", 4, 0, VAE_ERR_LIMIT, "exceeds 0 bytes");
    uint8_t out[8];
    size_t got = 0;
    CHECK(vae_base64_decode("Zm9vYmFy", 8, out, 6, &got, NULL) == VAE_OK && got == 6, "exact capacity");
    CHECK(vae_base64_decode("Zm9vYmE", 7, out, 5, &got, NULL) == VAE_OK && got == 5, "exact capacity, unpadded");
    CHECK(vae_base64_decode("Zm9v*", 5, out, 6, &got, NULL) == VAE_ERR_FORMAT, "NULL err is allowed");
    /* only len bytes are read: what follows does not count */
    CHECK(vae_base64_decode("Zm9v*", 4, out, 6, &got, NULL) == VAE_OK && got == 3, "len respected");
}

static void test_sizes(void) {
    for (size_t n = 0; n < 100; n++)
        CHECK(vae_base64_decoded_size(n) == n * 3 / 4, "decoded_size(%zu) = %zu", n, vae_base64_decoded_size(n));
    CHECK(vae_base64_decoded_size(SIZE_MAX) == SIZE_MAX / 4 * 3 + 2, "decoded_size(SIZE_MAX) overflowed");
    vae_buf buf = {0};
    CHECK(vae_base64_encode((const uint8_t *)"", SIZE_MAX - 1, &buf) == VAE_ERR_NOMEM && buf.len == 0,
          "huge encode must fail cleanly");
}

/* A decoder written the obvious way, for comparison: strip whitespace, then check and convert. */
static vae_status reference_decode(const char *in, size_t len, uint8_t *out, size_t *out_len) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *clean = malloc(len + 1);
    size_t n = 0, pads = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') continue;
        if (ch == '=') pads++;
        else if (!ch || !strchr(alphabet, ch) || pads) {
            free(clean);
            return VAE_ERR_FORMAT;
        } else clean[n++] = ch;
    }
    vae_status st = VAE_OK;
    if (n % 4 == 1 || (pads && pads != 4 - n % 4) || (pads && n % 4 == 0)) st = VAE_ERR_FORMAT;
    uint32_t acc = 0;
    size_t bits = 0, o = 0;
    for (size_t i = 0; st == VAE_OK && i < n; i++) {
        acc = (acc << 6) | (uint32_t)(strchr(alphabet, clean[i]) - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    free(clean);
    *out_len = o;
    return st;
}

static void test_random(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 64);
    enum { MAX = 1 << 20 };
    uint8_t *data = malloc(MAX), *back = malloc(MAX), *ref = malloc(MAX);
    char *text = malloc(2 * MAX);
    for (int round = 0; round < 600; round++) {
        size_t n = round < 300 ? (size_t)round : round < 598 ? vae_rng_below(&rng, 20000) : MAX;
        for (size_t i = 0; i < n; i++) data[i] = (uint8_t)vae_rng_u64(&rng);
        vae_buf buf = {0};
        CHECK(vae_base64_encode(data, n, &buf) == VAE_OK, "encode %zu", n);
        CHECK(buf.len == (n + 2) / 3 * 4, "encoded length %zu for %zu", buf.len, n);
        size_t got = 0;
        vae_error err = {0};
        vae_status st = vae_base64_decode((const char *)buf.data, buf.len, back, vae_base64_decoded_size(buf.len),
                                          &got, &err);
        CHECK(st == VAE_OK && got == n && memcmp(back, data, n) == 0, "round trip of %zu bytes: %s", n,
              err.message);
        /* the same wrapped at 76 columns with CRLF, without padding, behind a data URL */
        size_t t = 0;
        memcpy(text, "data:image/png;base64,", 22);
        t = 22;
        size_t body = buf.len;
        while (body && buf.data[body - 1] == '=') body--;
        for (size_t i = 0; i < body; i++) {
            if (i && i % 76 == 0) {
                text[t++] = '\r';
                text[t++] = '\n';
            }
            text[t++] = (char)buf.data[i];
        }
        st = vae_base64_decode(text, t, back, vae_base64_decoded_size(t), &got, &err);
        CHECK(st == VAE_OK && got == n && memcmp(back, data, n) == 0, "wrapped round trip of %zu bytes: %s", n,
              err.message);
        vae_buf_free(&buf);
    }
    /* near-base64 noise against the reference decoder */
    static const char pool[] = "ABCXYZabcxyz0189+/=== \n\r\t*-_\x80";
    size_t mismatches = 0, accepted = 0;
    for (int round = 0; round < 300000; round++) {
        size_t n = vae_rng_below(&rng, 24);
        int noise = (int)vae_rng_below(&rng, 4); /* how much of the pool beyond the clean part */
        size_t pool_n = noise == 0 ? 12 : noise == 1 ? 18 : noise == 2 ? 24 : sizeof pool - 1;
        for (size_t i = 0; i < n; i++) text[i] = pool[vae_rng_below(&rng, (uint32_t)pool_n)];
        size_t got = 0, ref_len = 0;
        vae_status st = vae_base64_decode(text, n, back, 64, &got, NULL);
        vae_status want = reference_decode(text, n, ref, &ref_len);
        if (st != want || (st == VAE_OK && (got != ref_len || memcmp(back, ref, got) != 0))) {
            if (mismatches++ < 10)
                CHECK(0, "'%.*s': %s, reference %s", (int)n, text, vae_status_name(st), vae_status_name(want));
        }
        accepted += st == VAE_OK;
    }
    CHECK(mismatches == 0, "%zu mismatches with the reference", mismatches);
    CHECK(accepted > 10000, "only %zu random inputs were valid", accepted);
    free(data);
    free(back);
    free(ref);
    free(text);
}

int main(void) {
    test_rfc4648();
    test_forgiving();
    test_rejects();
    test_sizes();
    test_random();
    CHECK_DONE();
}
