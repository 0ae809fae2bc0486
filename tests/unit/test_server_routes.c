/* Routing (vae_route_matches, vae_route_find, vae_route_allow_list, the route table's invariants) and
 * the percent-decoding libmicrohttpd applies to paths and query strings (vae_http_unescape). */
#include <string.h>

#include "check.h"
#include "http.h"
#include "request.h"
#include "metrics.h"
#include "routes.h"

static vae_route_params params;

static int matches(const char *pattern, const char *path) {
    memset(&params, 0, sizeof params);
    strcpy(params.model, "untouched");
    return vae_route_matches(pattern, path, &params);
}

static void test_matches(void) {
    CHECK(matches("/encode", "/encode"), "exact path");
    CHECK(!matches("/encode", "/encod"), "a prefix of the pattern");
    CHECK(!matches("/encode", "/encoder"), "a longer path");
    CHECK(!matches("/encode", "/encode/"), "a trailing slash");
    CHECK(!matches("/encode", "/Encode"), "case matters");
    CHECK(!matches("/encode", ""), "empty path");
    CHECK(matches("/", "/"), "root");
    CHECK(!matches("/", "//"), "double slash");

    CHECK(matches("/v2/models/{model}", "/v2/models/mnist-encoder") && !strcmp(params.model, "mnist-encoder"),
          "param '%s'", params.model);
    CHECK(matches("/v2/models/{model}/ready", "/v2/models/abc/ready") && !strcmp(params.model, "abc"),
          "param before a suffix '%s'", params.model);
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models/abc/read"), "suffix differs");
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models/abc"), "suffix missing");
    CHECK(!matches("/v2/models/{model}", "/v2/models/abc/ready"), "one segment only");
    CHECK(!matches("/v2/models/{model}", "/v2/models/"), "empty segment");
    CHECK(!matches("/v2/models/{model}/ready", "/v2/models//ready"), "empty inner segment");
    CHECK(!matches("/v2/models/{model}", "/v2/models"), "no segment");
    CHECK(matches("/v2/models/{model}/versions/{version}", "/v2/models/m/versions/12") &&
              !strcmp(params.model, "m") && !strcmp(params.version, "12"),
          "two segments '%s' '%s'", params.model, params.version);
    CHECK(!matches("/m/{other}", "/m/x"), "a segment name the table does not use");
    /* a segment must fit its field with its NUL: 127 bytes fit in the model's 128, 128 do not */
    char path[300], seg[200];
    memset(seg, 'a', 127);
    seg[127] = '\0';
    snprintf(path, sizeof path, "/m/%s", seg);
    CHECK(matches("/m/{model}", path) && strlen(params.model) == 127, "127 bytes");
    snprintf(path, sizeof path, "/m/%sb", seg);
    CHECK(!matches("/m/{model}", path), "128 bytes");
    memset(seg, '1', 31);
    seg[31] = '\0';
    snprintf(path, sizeof path, "/v/%s", seg);
    CHECK(matches("/v/{version}", path) && strlen(params.version) == 31, "31-byte version");
    snprintf(path, sizeof path, "/v/%s1", seg);
    CHECK(!matches("/v/{version}", path), "32-byte version");
}

static void test_find(void) {
    vae_route_params p;
    int index = -1;
    CHECK(vae_n_routes >= 20 && vae_n_routes < VAE_METRIC_ROUTES, "%d routes", vae_n_routes);
    for (int i = 0; i < vae_n_routes; i++) {
        /* each route's own path, with "x" for {model} and "1" for {version}, finds that route */
        char path[160] = "";
        const char *pat = vae_routes[i].path;
        size_t used = 0;
        while (*pat && used + 2 < sizeof path) {
            if (!strncmp(pat, "{model}", 7)) path[used++] = 'x', pat += 7;
            else if (!strncmp(pat, "{version}", 9)) path[used++] = '1', pat += 9;
            else path[used++] = *pat++;
        }
        path[used] = '\0';
        index = -1;
        const vae_route *r = vae_route_find(path, &p, &index);
        CHECK(r == &vae_routes[i] && index == i, "%s found route %d", path, index);
        if (strstr(vae_routes[i].path, "{model}")) CHECK(!strcmp(p.model, "x"), "%s: model '%s'", path, p.model);
    }
    index = 77;
    CHECK(vae_route_find("/nope", &p, &index) == NULL && index == 77, "unknown path");
    const vae_route *r = vae_route_find("/v2/models/mnist-decoder/versions/2/infer", &p, &index);
    CHECK(r && !strcmp(r->path, "/v2/models/{model}/versions/{version}/infer") && !strcmp(p.model, "mnist-decoder") &&
              !strcmp(p.version, "2"),
          "versioned infer");
    r = vae_route_find("/v2/models/stats", &p, &index);
    CHECK(r && !strcmp(r->path, "/v2/models/stats"), "the literal stats route before the model pattern");
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
        CHECK(r->methods == VAE_GET || r->methods == VAE_POST || r->methods == (VAE_GET | VAE_POST),
              "%s: methods %u", r->path, r->methods);
        CHECK(!!(r->flags & VAE_ROUTE_OIP) == oip, "%s: OIP flag", r->path);
        if (r->flags & (VAE_ROUTE_JSON | VAE_ROUTE_PNG | VAE_ROUTE_BINARY))
            CHECK(r->methods & VAE_POST, "%s: a body route without POST", r->path);
        if (r->methods & VAE_POST) CHECK(r->flags & VAE_ROUTE_JSON, "%s: POST without JSON", r->path);
        if (r->flags & VAE_ROUTE_READY) CHECK(r->flags & VAE_ROUTE_AUTH, "%s: READY without AUTH", r->path);
        for (int j = 0; j < i; j++) CHECK(strcmp(r->path, vae_routes[j].path), "%s twice", r->path);
        /* every route that runs a model (it has a run step) needs the key and the models */
        if (r->endpoint->run) {
            seen_model_routes++;
            CHECK((r->flags & (VAE_ROUTE_AUTH | VAE_ROUTE_READY)) == (VAE_ROUTE_AUTH | VAE_ROUTE_READY),
                  "%s runs a model without AUTH|READY", r->path);
        }
    }
    /* /encode, /reconstruct, /decode, /sample, /interpolate, /score, /manifold, /traverse,
     * /complete, the two infer routes, and the two repository routes that load and unload models */
    CHECK(seen_model_routes == 13, "%d routes run a model", seen_model_routes);
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
        {"/score", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON | VAE_ROUTE_PNG},
        {"/manifold", VAE_ROUTE_AUTH | VAE_ROUTE_READY},
        {"/traverse", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
        {"/complete", VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
        {"/v2/health/live", VAE_ROUTE_OIP},
        {"/v2/models/{model}/ready", VAE_ROUTE_OIP | VAE_ROUTE_AUTH},
        {"/v2/models/{model}/infer",
         VAE_ROUTE_OIP | VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON | VAE_ROUTE_BINARY},
        {"/v2/models/stats", VAE_ROUTE_OIP | VAE_ROUTE_AUTH | VAE_ROUTE_READY},
        {"/v2/repository/index", VAE_ROUTE_OIP | VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON},
        {"/v2/repository/models/{model}/load",
         VAE_ROUTE_OIP | VAE_ROUTE_AUTH | VAE_ROUTE_READY | VAE_ROUTE_JSON | VAE_ROUTE_CONTROL},
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
