/* Routing (vae_route_matches, vae_route_find, vae_route_allow_list, the route table's invariants) and
 * the percent-decoding libmicrohttpd applies to paths and query strings (vae_http_unescape). */
#include <string.h>

#include "check.h"
#include "http.h"
#include "request.h"
#include "routes.h"

static int matches(const char *pattern, const char *path, char *param, size_t size) {
    strcpy(param, "untouched");
    return vae_route_matches(pattern, path, param, size);
}

static void test_matches(void) {
    char p[16];
    CHECK(matches("/encode", "/encode", p, sizeof p), "exact path");
    CHECK(!matches("/encode", "/encod", p, sizeof p), "a prefix of the pattern");
    CHECK(!matches("/encode", "/encoder", p, sizeof p), "a longer path");
    CHECK(!matches("/encode", "/encode/", p, sizeof p), "a trailing slash");
    CHECK(!matches("/encode", "/Encode", p, sizeof p), "case matters");
    CHECK(!matches("/encode", "", p, sizeof p), "empty path");
    CHECK(matches("/", "/", p, sizeof p), "root");
    CHECK(!matches("/", "//", p, sizeof p), "double slash");

    CHECK(matches("/v2/models/{model}", "/v2/models/mnist-encoder", p, sizeof p) && !strcmp(p, "mnist-encoder"),
          "param '%s'", p);
    CHECK(matches("/v2/models/{model}/ready", "/v2/models/abc/ready", p, sizeof p) && !strcmp(p, "abc"),
          "param before a suffix '%s'", p);
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models/abc/read", p, sizeof p), "suffix differs");
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models/abc", p, sizeof p), "suffix missing");
    CHECK(!matches("/v2/models/{model}", "/v2/models/abc/ready", p, sizeof p), "one segment only");
    CHECK(!matches("/v2/models/{model}", "/v2/models/", p, sizeof p), "empty segment");
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models//ready", p, sizeof p), "empty inner segment");
    CHECK(!matches("/v2/models/{model}", "/v2/models", p, sizeof p), "no segment");
    /* the segment must fit the buffer with its NUL: 15 bytes fit in 16, 16 do not */
    CHECK(matches("/m/{x}", "/m/123456789012345", p, sizeof p) && !strcmp(p, "123456789012345"), "15 bytes");
    CHECK(!matches("/m/{x}", "/m/1234567890123456", p, sizeof p), "16 bytes");
    CHECK(matches("/m/{x}", "/m/a", p, 2) && !strcmp(p, "a"), "1 byte in 2");
    CHECK(!matches("/m/{x}", "/m/ab", p, 2), "2 bytes in 2");
}

static void test_find(void) {
    char param[128];
    int index = -1;
    CHECK(vae_n_routes >= 20 && vae_n_routes < 32, "%d routes", vae_n_routes);
    for (int i = 0; i < vae_n_routes; i++) {
        /* each route's own path, with "x" for its {model} segment, finds that route */
        char path[128];
        const char *pat = vae_routes[i].path, *brace = strchr(pat, '{');
        if (brace) snprintf(path, sizeof path, "%.*sx%s", (int)(brace - pat), pat, strchr(brace, '}') + 1);
        else snprintf(path, sizeof path, "%s", pat);
        index = -1;
        const vae_route *r = vae_route_find(path, param, sizeof param, &index);
        CHECK(r == &vae_routes[i] && index == i, "%s found route %d", path, index);
        if (brace) CHECK(!strcmp(param, "x"), "%s: param '%s'", path, param);
    }
    index = 77;
    CHECK(vae_route_find("/nope", param, sizeof param, &index) == NULL && index == 77, "unknown path");
    CHECK(vae_route_find("/v2/models/m/versions/2/infer", param, sizeof param, &index) == NULL, "version 2");
    const vae_route *r = vae_route_find("/v2/models/mnist-decoder/versions/1/infer", param, sizeof param, &index);
    CHECK(r && !strcmp(r->path, "/v2/models/{model}/versions/1/infer") && !strcmp(param, "mnist-decoder"),
          "versioned infer");
}

static void test_table(void) {
    /* what every route of a kind must carry: the pipeline enforces these flags, so a route that
     * lost one would answer without its API key, before the models are loaded, or in the wrong
     * error dialect */
    int seen_model_routes = 0;
    for (int i = 0; i < vae_n_routes; i++) {
        const vae_route *r = &vae_routes[i];
        const int oip = !strncmp(r->path, "/v2", 3);
        CHECK(r->endpoint && r->endpoint->write, "%s has an endpoint with a write step", r->path);
        CHECK(r->methods == VAE_GET || r->methods == VAE_POST, "%s: methods %u", r->path, r->methods);
        CHECK(!!(r->flags & VAE_ROUTE_OIP) == oip, "%s: OIP flag", r->path);
        if (r->flags & (VAE_ROUTE_JSON | VAE_ROUTE_PNG)) CHECK(r->methods == VAE_POST, "%s: body on GET", r->path);
        if (r->methods == VAE_POST) CHECK(r->flags & VAE_ROUTE_JSON, "%s: POST without JSON", r->path);
        if (r->flags & VAE_ROUTE_READY) CHECK(r->flags & VAE_ROUTE_AUTH, "%s: READY without AUTH", r->path);
        for (int j = 0; j < i; j++) CHECK(strcmp(r->path, vae_routes[j].path), "%s twice", r->path);
        /* every route that runs a model (it has a run step) needs the key and the models */
        if (r->endpoint->run) {
            seen_model_routes++;
            CHECK((r->flags & (VAE_ROUTE_AUTH | VAE_ROUTE_READY)) == (VAE_ROUTE_AUTH | VAE_ROUTE_READY),
                  "%s runs a model without AUTH|READY", r->path);
        }
    }
    CHECK(seen_model_routes == 7, "%d routes run a model", seen_model_routes);
    static const struct {
        const char *path;
        unsigned flags;
    } expect[] = {
        {"/health", 0},
        {"/ready", 0},
        {"/metrics", 0},
        {"/v1/models", VAE_ROUTE_AUTH | VAE_ROUTE_READY},
        {"/encode", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON | VAE_ROUTE_PNG},
        {"/reconstruct", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON | VAE_ROUTE_PNG},
        {"/decode", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
        {"/sample", VAE_ROUTE_AUTH | VAE_ROUTE_READY},
        {"/interpolate", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
        {"/v2/health/live", VAE_ROUTE_OIP},
        {"/v2/models/{model}/ready", VAE_ROUTE_OIP | VAE_ROUTE_AUTH},
        {"/v2/models/{model}/infer", VAE_ROUTE_OIP | VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
    };
    for (size_t k = 0; k < sizeof expect / sizeof expect[0]; k++) {
        int found = 0;
        for (int i = 0; i < vae_n_routes; i++)
            if (!strcmp(vae_routes[i].path, expect[k].path)) {
                found = 1;
                CHECK(vae_routes[i].flags == expect[k].flags, "%s: flags %#x, expected %#x", expect[k].path,
                      vae_routes[i].flags, expect[k].flags);
            }
        CHECK(found, "no route %s", expect[k].path);
    }
}

static void test_allow_list(void) {
    char buf[64];
    vae_route_allow_list(VAE_GET, buf, sizeof buf);
    CHECK(!strcmp(buf, "GET, HEAD, OPTIONS"), "GET: '%s'", buf);
    vae_route_allow_list(VAE_POST, buf, sizeof buf);
    CHECK(!strcmp(buf, "POST, OPTIONS"), "POST: '%s'", buf);
    vae_route_allow_list(VAE_GET | VAE_POST, buf, sizeof buf);
    CHECK(!strcmp(buf, "GET, HEAD, POST, OPTIONS"), "GET|POST: '%s'", buf);
    vae_route_allow_list(0, buf, sizeof buf);
    CHECK(!strcmp(buf, "OPTIONS"), "none: '%s'", buf);
    char small[6];
    vae_route_allow_list(VAE_GET, small, sizeof small);
    CHECK(!strcmp(small, "GET, "), "truncated: '%s'", small);
}

static void unescape_case(const char *in, const char *out) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", in);
    size_t n = vae_http_unescape(buf);
    CHECK(!strcmp(buf, out) && n == strlen(out), "'%s' -> '%s' (%zu), expected '%s'", in, buf, n, out);
}

static void test_unescape(void) {
    unescape_case("", "");
    unescape_case("/encode", "/encode");
    unescape_case("%41%62c", "Abc");
    unescape_case("%2f%2F", "//");
    unescape_case("%e9%C3%a9", "\xe9\xc3\xa9");
    unescape_case("a+b", "a+b"); /* '+' is the query splitter's business, not this one's */
    unescape_case("%", "%");
    unescape_case("%4", "%4");
    unescape_case("ab%", "ab%");
    unescape_case("%zz%4g%g4", "%zz%4g%g4");
    unescape_case("%%41", "%A");
    unescape_case("%2541", "%41"); /* decoded once only */
    unescape_case("%00", "%00");   /* a NUL would cut the C string: kept escaped */
    unescape_case("/health%00x", "/health%00x");
    unescape_case("%01%7f%80%ff", "\x01\x7f\x80\xff");
    unescape_case("%10%20", "\x10 ");
    unescape_case("%0a", "\n");
    unescape_case("x%a0", "x\xa0");
}

int main(void) {
    test_matches();
    test_find();
    test_table();
    test_allow_list();
    test_unescape();
    CHECK_DONE();
}
