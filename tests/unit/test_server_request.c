/* The transport-independent request (server/request.c): the body's hard cap (exactly --max-body is
 * kept, one byte more is dropped and counted, whatever the chunking and whether the length was
 * declared), query lookups (exact keys, valueless arguments), headers (case-insensitive, counted),
 * the method, request memory, and the reply setters. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "server_fixture.h"

static uint8_t pattern[3 << 20];

/* Appends n bytes of the pattern in chunks of `chunk` (or randomish sizes for 0). */
static void append(fx_req *f, size_t from, size_t n, size_t chunk) {
    size_t at = from, end = from + n, k = 0;
    while (at < end) {
        size_t c = chunk ? chunk : 1 + (k * 7919) % 5000;
        if (c > end - at) c = end - at;
        vae_request_append_body(&f->req, pattern + at, c);
        at += c;
        k++;
    }
}

static int body_is_pattern(const fx_req *f, size_t n) {
    return f->req.body_len == n && (n == 0 || !memcmp(f->req.body, pattern, n));
}

static void test_body_cap(void) {
    fx_req f;
    static const size_t caps[] = {64, 100, 16 << 10, (16 << 10) + 1, 70000, 2u << 20};
    static const size_t chunks[] = {1, 63, 64, 4096, 0, SIZE_MAX};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        const size_t cap = caps[c];
        fx_server.opts.max_body = cap;
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            const size_t chunk = chunks[k] == SIZE_MAX ? cap : chunks[k];
            if (chunk == 1 && cap > 100000) continue; /* slow and adds nothing */
            /* exactly the cap: kept whole */
            fx_req_init(&f, "POST", "/decode");
            append(&f, 0, cap, chunk);
            CHECK(body_is_pattern(&f, cap) && f.req.body_discarded == 0,
                  "cap %zu, chunks of %zu: %zu kept, %zu discarded", cap, chunk, f.req.body_len, f.req.body_discarded);
            CHECK(f.req.body_cap >= cap && f.req.body_cap <= cap, "cap %zu: buffer of %zu", cap, f.req.body_cap);
            /* one byte more: that byte is counted and dropped, the rest kept */
            vae_request_append_body(&f.req, "x", 1);
            CHECK(f.req.body_len == cap && f.req.body_discarded == 1, "cap %zu + 1: %zu kept, %zu discarded", cap,
                  f.req.body_len, f.req.body_discarded);
            /* once discarding, everything after is counted, even a chunk that would fit */
            vae_request_append_body(&f.req, "", 0);
            vae_request_append_body(&f.req, "abc", 3);
            CHECK(f.req.body_len == cap && f.req.body_discarded == 4, "cap %zu: later bytes %zu", cap,
                  f.req.body_discarded);
            fx_req_release(&f);

            /* cap + 1 bytes arriving in chunks: refused as a whole */
            fx_req_init(&f, "POST", "/decode");
            append(&f, 0, cap + 1, chunk);
            CHECK(f.req.body_discarded > 0 && f.req.body_len + f.req.body_discarded == cap + 1 &&
                      f.req.body_len <= cap,
                  "cap %zu, %zu + 1 in chunks of %zu: %zu kept, %zu discarded", cap, cap, chunk, f.req.body_len,
                  f.req.body_discarded);
            fx_req_release(&f);
        }
        /* a length declared up front (the pipeline allocates the buffer for it) */
        fx_req_init(&f, "POST", "/decode");
        f.req.body = malloc(cap / 2 + 1);
        f.req.body_cap = cap / 2 + 1;
        append(&f, 0, cap, 0);
        CHECK(body_is_pattern(&f, cap) && f.req.body_discarded == 0, "cap %zu, declared half: %zu kept", cap,
              f.req.body_len);
        fx_req_release(&f);
        /* one chunk larger than the cap */
        fx_req_init(&f, "POST", "/decode");
        append(&f, 0, cap + 1, cap + 1);
        CHECK(f.req.body_len == 0 && f.req.body_discarded == cap + 1, "one chunk of cap + 1: %zu kept", f.req.body_len);
        fx_req_release(&f);
    }
    /* a huge chunk cannot wrap the arithmetic */
    fx_server.opts.max_body = 64;
    fx_req_init(&f, "POST", "/decode");
    append(&f, 0, 10, 10);
    vae_request_append_body(&f.req, pattern, SIZE_MAX - 5);
    CHECK(f.req.body_len == 10 && f.req.body_discarded == SIZE_MAX - 5, "SIZE_MAX chunk");
    fx_req_release(&f);
    fx_server.opts.max_body = 4u << 20;
}

static void test_query(void) {
    fx_req f;
    fx_req_init(&f, "GET", "/sample");
    fx_arg(&f, "n", "4");
    fx_arg(&f, "invert", NULL);
    fx_arg(&f, "seed", "");
    fx_arg(&f, "n", "5");
    CHECK(!strcmp(vae_req_query(&f.req, "n"), "4"), "the first of two values");
    CHECK(vae_req_query(&f.req, "invert") == NULL && vae_req_query_present(&f.req, "invert"),
          "a valueless argument is present without a value");
    CHECK(vae_req_query(&f.req, "seed") && !strcmp(vae_req_query(&f.req, "seed"), ""), "an empty value");
    CHECK(vae_req_query(&f.req, "absent") == NULL && !vae_req_query_present(&f.req, "absent"), "absent");
    CHECK(vae_req_query(&f.req, "N") == NULL && !vae_req_query_present(&f.req, "N"), "keys are case-sensitive");
    CHECK(vae_req_query(&f.req, "") == NULL && !vae_req_query_present(&f.req, "se"), "no prefix match");
    fx_req_release(&f);
    fx_req_init(&f, "GET", "/sample");
    CHECK(vae_req_query(&f.req, "n") == NULL && !vae_req_query_present(&f.req, "n"), "no arguments at all");
    fx_req_release(&f);
}

static void test_headers(void) {
    fx_req f;
    fx_req_init(&f, "POST", "/decode");
    fx_header(&f, "Content-Type", "application/json");
    fx_header(&f, "content-length", "12");
    fx_header(&f, "X-Empty", "");
    fx_header(&f, "CONTENT-LENGTH", "13");
    CHECK(!strcmp(vae_req_header(&f.req, "content-type"), "application/json"), "lower-case lookup");
    CHECK(!strcmp(vae_req_header(&f.req, "CONTENT-TYPE"), "application/json"), "upper-case lookup");
    CHECK(!strcmp(vae_req_header(&f.req, "Content-Length"), "12"), "the first of two");
    CHECK(vae_req_header_count(&f.req, "Content-Length") == 2, "two Content-Length");
    CHECK(vae_req_header_count(&f.req, "content-type") == 1, "one Content-Type");
    CHECK(vae_req_header_count(&f.req, "Accept") == 0 && vae_req_header(&f.req, "Accept") == NULL, "absent");
    CHECK(vae_req_header(&f.req, "X-Empty") && !*vae_req_header(&f.req, "X-Empty"), "empty value");
    CHECK(vae_req_header(&f.req, "Content") == NULL, "no prefix match");
    fx_req_release(&f);
}

static void test_init_and_memory(void) {
    static const struct {
        const char *name;
        unsigned method;
    } methods[] = {{"GET", VAE_GET},         {"POST", VAE_POST},          {"HEAD", VAE_HEAD},
                   {"OPTIONS", VAE_OPTIONS}, {"PUT", VAE_OTHER_METHOD},   {"get", VAE_OTHER_METHOD},
                   {"DELETE", VAE_OTHER_METHOD}, {"GETS", VAE_OTHER_METHOD}};
    fx_req f;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        fx_req_init(&f, methods[i].name, "/x");
        CHECK(f.req.method == methods[i].method && !strcmp(f.req.method_name, methods[i].name), "%s: %u",
              methods[i].name, f.req.method);
        CHECK(f.req.route_index == VAE_METRIC_ROUTES - 1 && f.req.phase == VAE_PHASE_BEGIN && !f.req.replied,
              "fresh state");
        CHECK(f.req.started_us > 0 && f.req.server == &fx_server && f.req.transport_ctx == &f, "fields");
        fx_req_release(&f);
    }
    char long_path[600];
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    fx_req_init(&f, "A-VERY-LONG-METHOD-NAME", long_path);
    CHECK(f.req.url == long_path, "url is the transport's");
    CHECK(strlen(f.req.path) == sizeof f.req.path - 1 && !strncmp(f.req.path, long_path, sizeof f.req.path - 1),
          "path truncated for the log");
    CHECK(strlen(f.req.method_name) == sizeof f.req.method_name - 1, "method name truncated");
    unsigned char *a = vae_request_alloc(&f.req, 1000), *b = vae_request_alloc(&f.req, 0);
    CHECK(a && b && a != b, "allocations");
    int zero = 1;
    for (int i = 0; a && i < 1000; i++) zero &= a[i] == 0;
    CHECK(zero, "request memory is zeroed");
    CHECK(((uintptr_t)a % _Alignof(max_align_t)) == 0, "aligned");
    CHECK(vae_request_alloc(&f.req, SIZE_MAX) == NULL && vae_request_alloc(&f.req, SIZE_MAX - 8) == NULL,
          "impossible sizes");
    fx_req_release(&f); /* frees both (ASan and valgrind would tell) */
    CHECK(f.req.allocs == NULL && f.req.body == NULL && f.req.job == NULL, "released");
    fx_req_release(&f); /* twice is harmless */
}

static void test_reply(void) {
    fx_req f;
    fx_req_init(&f, "GET", "/x");
    f.req.scratch = vae_scratch_for_thread(&fx_server.scratch);
    for (int i = 0; i < VAE_MAX_REPLY_HEADERS + 3; i++) vae_reply_header(&f.req, "X-N", "%d", i);
    CHECK(f.req.reply.n_headers == VAE_MAX_REPLY_HEADERS, "%d headers kept", f.req.reply.n_headers);
    CHECK(!strcmp(f.req.reply.header_values[VAE_MAX_REPLY_HEADERS - 1], "7"), "the eighth is 7");
    f.req.reply.n_headers = 0;
    char big[300];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vae_reply_header(&f.req, "X-Big", "%s", big);
    CHECK(strlen(f.req.reply.header_values[0]) == 127, "value truncated to 127");
    static const char text[] = "static";
    vae_reply_static(&f.req, 201, "text/plain", text, 6);
    CHECK(f.req.replied && f.req.reply.status == 201 && f.req.reply.is_static && f.req.reply.data == (const void *)text &&
              f.req.reply.len == 6,
          "static reply");
    vae_json_writer w;
    vae_jw_start(&w, &f.req.scratch->out);
    vae_jw_raw(&w, "{\"a\":1}");
    vae_err err = {0};
    CHECK(vae_reply_json(&f.req, 200, &w, &err) == VAE_E_NONE, "json reply");
    CHECK(f.req.reply.status == 200 && !f.req.reply.is_static && f.req.reply.len == 8 &&
              !memcmp(f.req.reply.data, "{\"a\":1}\n", 8) && !strcmp(f.req.reply.content_type, "application/json"),
          "json reply ends with a newline");
    fx_req_release(&f);
}

int main(void) {
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 31 + (i >> 8));
    fx_server_init();
    test_body_cap();
    test_query();
    test_headers();
    test_init_and_memory();
    test_reply();
    fx_server_free();
    CHECK_DONE();
}
