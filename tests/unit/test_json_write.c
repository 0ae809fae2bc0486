/* JSON writer: every float printed must parse back (strtof, and strtod then a cast) to the same bits,
 * be the shortest such decimal and the closest of that length, in the documented format; plus string
 * escaping and array layout. VAE_JSON_EXHAUSTIVE=all (or =LO-HI, hex bit patterns) runs the same float
 * check over every positive finite float on all cores instead (minutes; not part of make test). */
#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "json_write.h"
#include "vae/rng.h"

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* JSON number grammar (RFC 8259): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int valid_json_number(const char *s) {
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9')
        while (is_digit(*s)) s++;
    else return 0;
    if (*s == '.') {
        s++;
        if (!is_digit(*s)) return 0;
        while (is_digit(*s)) s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!is_digit(*s)) return 0;
        while (is_digit(*s)) s++;
    }
    return *s == '\0';
}

/* The decimal a number string denotes, as digits * 10^exp with no trailing zeros in digits. */
typedef struct {
    unsigned long long digits;
    int exp, ndigits;
} decimal;

static decimal parse_decimal(const char *s) {
    decimal d = {0, 0, 0};
    int after_point = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.') after_point = 1;
        else if (is_digit(*s)) {
            d.digits = d.digits * 10 + (unsigned)(*s - '0');
            if (after_point) d.exp--;
        }
    }
    if (*s) d.exp += atoi(s + 1);
    while (d.digits && d.digits % 10 == 0) {
        d.digits /= 10;
        d.exp++;
    }
    for (unsigned long long x = d.digits; x; x /= 10) d.ndigits++;
    return d;
}

/* Does the text read back as exactly these bits, both through strtof and through a parse to double
 * then a cast (what JavaScript and Python do)? */
static int round_trips(const char *s, uint32_t bits) {
    return to_bits(strtof(s, NULL)) == bits && to_bits((float)strtod(s, NULL)) == bits;
}

/* Checks one finite float; on failure writes the reason to why and returns 0. Returns 2 (success)
 * when a shorter decimal reads back through strtof alone, but not through double. Thread-safe. */
static int check_float(float v, char *why, size_t why_cap) {
    uint32_t bits = to_bits(v);
    char s[64], alt[320]; /* %g of a double can be long */
    size_t n = vae_json_format_float(s, v);
    if (n > VAE_JSON_FLOAT_MAX) {
        snprintf(why, why_cap, "%zu bytes", n);
        return 0;
    }
    s[n] = '\0';
    if (!valid_json_number(s)) {
        snprintf(why, why_cap, "'%s' is not a JSON number", s);
        return 0;
    }
    if (to_bits(strtof(s, NULL)) != bits) {
        snprintf(why, why_cap, "'%s' reads back as %.9g by strtof", s, (double)strtof(s, NULL));
        return 0;
    }
    if (to_bits((float)strtod(s, NULL)) != bits) {
        snprintf(why, why_cap, "'%s' reads back differently through double", s);
        return 0;
    }
    int longer = 1;
    if (v == 0) {
        const char *want = (bits >> 31) ? "-0" : "0";
        if (strcmp(s, want) != 0) {
            snprintf(why, why_cap, "zero printed as '%s'", s);
            return 0;
        }
        return 1;
    }
    decimal d = parse_decimal(s);
    /* format: plain decimal exactly for 1e-5 <= |value| < 1e7; no redundant zeros */
    int x = d.exp + d.ndigits - 1;
    const char *e = strchr(s, 'e');
    if ((e == NULL) != (x >= -5 && x < 7)) {
        snprintf(why, why_cap, "'%s': wrong form for decimal exponent %d", s, x);
        return 0;
    }
    const char *mant_end = e ? e : s + n;
    if (strchr(s, '.') && (mant_end[-1] == '0' || mant_end[-1] == '.')) {
        snprintf(why, why_cap, "'%s': trailing zero in the fraction", s);
        return 0;
    }
    if (e && (e[1] != '+' && e[1] != '-')) {
        snprintf(why, why_cap, "'%s': exponent without sign", s);
        return 0;
    }
    if (e && e[2] == '0') {
        snprintf(why, why_cap, "'%s': exponent with a leading zero", s);
        return 0;
    }
    if (d.ndigits > 1) {
        /* shortest: neither (n-1)-digit decimal around the printed one reads back as v (if a shorter
         * one did, one of these two would, as both lie between it and the printed value) */
        unsigned long long below = d.digits / 10;
        for (unsigned long long c = below; c <= below + 1; c++) {
            if (c == 0) continue;
            snprintf(alt, sizeof alt, "%llue%d", c, d.exp + 1);
            if (round_trips(alt, bits)) {
                snprintf(why, why_cap, "'%.20s' is not shortest: '%.40s' reads back too", s, alt);
                return 0;
            }
            if (to_bits(strtof(alt, NULL)) == bits) longer = 2;
        }
        /* and the oracle of the brief: the correctly rounded %.{n-1}g does not read back */
        snprintf(alt, sizeof alt, "%.*g", d.ndigits - 1, (double)v);
        if (round_trips(alt, bits)) {
            snprintf(why, why_cap, "'%.20s' is not shortest: '%.40s' reads back too", s, alt);
            return 0;
        }
    }
    /* closest: when the correctly rounded decimal of this length reads back, it is the one printed */
    snprintf(alt, sizeof alt, "%.*e", d.ndigits - 1, (double)v);
    if (round_trips(alt, bits)) {
        decimal r = parse_decimal(alt);
        if (r.digits != d.digits || r.exp != d.exp) {
            snprintf(why, why_cap, "'%.20s' is not the closest: '%.40s' is", s, alt);
            return 0;
        }
    }
    /* the sign is just a prefix */
    char neg[64];
    size_t nn = vae_json_format_float(neg, -v);
    neg[nn] = '\0';
    if (s[0] == '-' ? strcmp(neg, s + 1) != 0 : (neg[0] != '-' || strcmp(neg + 1, s) != 0)) {
        snprintf(why, why_cap, "'%.20s' and its negation '%.20s' differ", s, neg);
        return 0;
    }
    return longer;
}

static int float_failures_shown;

static void check_one(float v, const char *set) {
    char why[160];
    int ok = check_float(v, why, sizeof why);
    if (!ok && float_failures_shown++ >= 20) {
        check_count++;
        check_failures++;
        return;
    }
    CHECK(ok, "%s: %.9g (0x%08x): %s", set, (double)v, (unsigned)to_bits(v), why);
}

static void check_expected(float v, const char *want) {
    char s[32];
    size_t n = vae_json_format_float(s, v);
    s[n] = '\0';
    CHECK(strcmp(s, want) == 0, "%.9g printed as '%s', expected '%s'", (double)v, s, want);
}

static void test_known_values(void) {
    check_expected(0.0f, "0");
    check_expected(-0.0f, "-0");
    check_expected(1.0f, "1");
    check_expected(-1.0f, "-1");
    check_expected(0.5f, "0.5");
    check_expected(0.1f, "0.1");
    check_expected(1.0f / 255, "0.003921569");
    check_expected(128.0f / 255, "0.5019608");
    check_expected(255.0f, "255");
    check_expected(-2.75f, "-2.75");
    check_expected(3.14159265f, "3.1415927");
    check_expected(1e-5f, "0.00001");
    check_expected(9.99999e-6f, "9.99999e-6");
    check_expected(1e-7f, "1e-7");
    check_expected(1234567.0f, "1234567");
    check_expected(9999999.0f, "9999999");
    check_expected(1e7f, "1e+7");
    check_expected(16777216.0f, "1.6777216e+7");
    check_expected(1.5e20f, "1.5e+20");
    check_expected(FLT_MAX, "3.4028235e+38");
    check_expected(-FLT_MAX, "-3.4028235e+38");
    check_expected(FLT_MIN, "1.1754944e-38");
    check_expected(FLT_TRUE_MIN, "1e-45");
    check_expected(2097152.25f, "2097152.2"); /* exact tie between ...2 and ...3: the even digit */
    check_expected(2097152.75f, "2097152.8");
    /* 7.038531e-26 reads back through strtof, but through double it lands on the midpoint above */
    check_expected(from_bits(0x15ae43fd), "7.0385307e-26");
    check_expected(INFINITY, "null");
    check_expected(-INFINITY, "null");
    check_expected(NAN, "null");
}

static void test_pixels(void) {
    for (int i = 0; i <= 255; i++) {
        check_one((float)i / 255.0f, "i/255");
        check_one((float)i * (1.0f / 255.0f), "i*(1/255)");
        check_one((float)((double)i / 255.0), "i/255 (double)");
    }
    for (int i = 0; i <= 65535; i++) {
        check_one((float)i / 65535.0f, "i/65535");
        check_one((float)((double)i / 65535.0), "i/65535 (double)");
    }
}

static uint32_t random_finite_bits(vae_rng *rng) {
    for (;;) {
        uint32_t b = (uint32_t)vae_rng_u64(rng);
        if (((b >> 23) & 0xff) != 0xff) return b;
    }
}

static void test_random(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 20240607);
    for (int i = 0; i < 2000000; i++) check_one(from_bits(random_finite_bits(&rng)), "random bits");
    for (int i = 0; i < 200000; i++) check_one((float)vae_rng_normal(&rng) * 3.0f, "latent-like");
}

static void test_edges(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 7);
    for (uint32_t b = 1; b <= 20000; b++) check_one(from_bits(b), "small subnormal");
    for (uint32_t b = 0x7fffff - 20000; b <= 0x800000 + 20000; b++) check_one(from_bits(b), "near FLT_MIN");
    for (int i = 0; i < 100000; i++) check_one(from_bits(1 + vae_rng_below(&rng, 0x7fffff)), "subnormal");
    for (uint32_t b = 0x7f7fffff - 20000; b <= 0x7f7fffff; b++) check_one(from_bits(b), "near FLT_MAX");
    check_one(FLT_MAX, "FLT_MAX");
    check_one(FLT_MIN, "FLT_MIN");
    check_one(FLT_TRUE_MIN, "FLT_TRUE_MIN");
    check_one(FLT_EPSILON, "FLT_EPSILON");
    for (int e = -149; e <= 127; e++) { /* powers of two (the narrow-below case) and neighbours */
        float p = ldexpf(1.0f, e);
        check_one(p, "2^e");
        check_one(nextafterf(p, 0.0f), "2^e-");
        check_one(nextafterf(p, INFINITY), "2^e+");
    }
    for (int e = -45; e <= 38; e++) { /* powers of ten and neighbours */
        char s[16];
        snprintf(s, sizeof s, "1e%d", e);
        float p = strtof(s, NULL);
        check_one(p, "10^e");
        check_one(nextafterf(p, 0.0f), "10^e-");
        check_one(nextafterf(p, INFINITY), "10^e+");
    }
    for (uint32_t b = 0x3f800000 - 10000; b <= 0x3f800000 + 10000; b++) check_one(from_bits(b), "near 1");
    for (int i = 0; i <= 100000; i++) check_one((float)i, "integer");
    for (int i = 0; i <= 100000; i++) check_one((float)i / 1000.0f, "i/1000");
}

/* Floats next to a midpoint that is itself a short decimal: j * 10^(q-1) with j * 5^(q-1) odd is
 * halfway between c * 2^q and (c+1) * 2^q; only the even one of the two may print it. And exact
 * ties between two candidate decimals: c/4 (c odd, 2^23 <= c < 2^24) ends in .25 or .75, and
 * similar dyadic fractions. */
static void test_halfway(void) {
    long long pow5 = 1;
    int tried = 0;
    for (int q = 2; q <= 11; q++) {
        pow5 *= 5; /* 5^(q-1) */
        for (long long j = 1; j * pow5 < (1LL << 25); j += 2) {
            long long odd = j * pow5;
            if (odd < (1LL << 24)) continue;
            long long c = (odd - 1) / 2;
            check_one(ldexpf((float)c, q), "below a short midpoint");
            check_one(ldexpf((float)(c + 1), q), "above a short midpoint");
            tried++;
        }
    }
    CHECK(tried > 100, "only %d short midpoints", tried);
    vae_rng rng;
    vae_rng_seed(&rng, 11);
    for (int q = -12; q <= -1; q++)
        for (int i = 0; i < 5000; i++) {
            uint32_t c = (1u << 23) | (uint32_t)vae_rng_below(&rng, 1u << 23) | 1u;
            check_one(ldexpf((float)c, q), "odd c * 2^q");
        }
}

static const char *format_all(const float *v, size_t n) {
    static char text[4096];
    vae_buf buf = {0};
    CHECK(vae_json_float_array(&buf, v, n) == VAE_OK, "array append");
    size_t len = buf.len < sizeof text - 1 ? buf.len : sizeof text - 1;
    memcpy(text, buf.data, len);
    text[len] = '\0';
    vae_buf_free(&buf);
    return text;
}

static void test_arrays(void) {
    float v[] = {0.5f, 1.0f, 0.0f, -2.25f, 1e-7f};
    const char *got = format_all(v, 5);
    CHECK(strcmp(got, "[0.5,1,0,-2.25,1e-7]") == 0, "array: %s", got);
    got = format_all(v, 0);
    CHECK(strcmp(got, "[]") == 0, "empty array: %s", got);

    vae_buf buf = {0};
    float m[6] = {0.1f, 0.2f, 0.3f, 1, 2, 3};
    CHECK(vae_json_float_rows(&buf, m, 2, 3) == VAE_OK, "rows");
    CHECK(buf.len == strlen("[[0.1,0.2,0.3],[1,2,3]]") &&
              memcmp(buf.data, "[[0.1,0.2,0.3],[1,2,3]]", buf.len) == 0,
          "rows: %.*s", (int)buf.len, (const char *)buf.data);
    buf.len = 0;
    CHECK(vae_json_float_rows(&buf, m, 0, 3) == VAE_OK && buf.len == 2 && memcmp(buf.data, "[]", 2) == 0,
          "no rows: %.*s", (int)buf.len, (const char *)buf.data);
    buf.len = 0;
    CHECK(vae_json_float_rows(&buf, m, 2, 0) == VAE_OK && buf.len == 7 && memcmp(buf.data, "[[],[]]", 7) == 0,
          "empty rows: %.*s", (int)buf.len, (const char *)buf.data);

    /* a whole /sample?n=256 reply's worth, read back by cJSON (via double) */
    enum { ROWS = 256, COLS = 784 };
    float *big = malloc(sizeof(float) * ROWS * COLS);
    vae_rng rng;
    vae_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
        big[i] = i % 3 ? (float)vae_rng_uniform(&rng) : (float)vae_rng_normal(&rng);
    buf.len = 0;
    CHECK(vae_json_raw(&buf, "{\"x\":") == VAE_OK, "raw");
    CHECK(vae_json_float_rows(&buf, big, ROWS, COLS) == VAE_OK, "big rows");
    CHECK(vae_json_raw(&buf, "}") == VAE_OK, "raw");
    CHECK(buf.len <= 5 + 1 + 2 + (size_t)ROWS * (3 + COLS * (VAE_JSON_FLOAT_MAX + 1)), "length %zu", buf.len);
    cJSON *doc = cJSON_ParseWithLength((const char *)buf.data, buf.len);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(doc, "x");
    CHECK(cJSON_IsArray(x) && cJSON_GetArraySize(x) == ROWS, "big rows parse");
    size_t mismatches = 0, count = 0;
    int r = 0;
    for (const cJSON *row = x ? x->child : NULL; row; row = row->next, r++) {
        int c = 0;
        for (const cJSON *it = row->child; it; it = it->next, c++, count++)
            if (c >= COLS || !cJSON_IsNumber(it) ||
                to_bits((float)it->valuedouble) != to_bits(big[(size_t)r * COLS + c]))
                mismatches++;
    }
    CHECK(count == (size_t)ROWS * COLS && mismatches == 0, "%zu numbers read back, %zu differ", count,
          mismatches);
    cJSON_Delete(doc);
    free(big);

    /* sizes that cannot be reserved fail cleanly before touching v */
    size_t before = buf.len;
    CHECK(vae_json_float_array(&buf, NULL, SIZE_MAX / 8) == VAE_ERR_NOMEM, "huge array");
    CHECK(vae_json_float_rows(&buf, NULL, SIZE_MAX / 64, 1000) == VAE_ERR_NOMEM, "huge rows");
    CHECK(vae_json_float_rows(&buf, NULL, 2, SIZE_MAX / 8) == VAE_ERR_NOMEM, "huge cols");
    CHECK(buf.len == before, "buffer changed by failed appends");
    vae_buf_free(&buf);
}

static void check_string(const char *in, const char *want) {
    vae_buf buf = {0};
    CHECK(vae_json_raw(&buf, "x") == VAE_OK, "raw");
    CHECK(vae_json_string(&buf, in) == VAE_OK, "string append");
    size_t n = strlen(want);
    CHECK(buf.len == n + 1 && memcmp(buf.data + 1, want, n) == 0, "string: got %.*s, want %s",
          (int)buf.len - 1, (const char *)buf.data + 1, want);
    /* and it is a JSON string whose value is the input (where the input is valid UTF-8) */
    cJSON *doc = cJSON_ParseWithLength((const char *)buf.data + 1, buf.len - 1);
    CHECK(in == NULL ? cJSON_IsNull(doc) : cJSON_IsString(doc), "string output does not parse: %s", want);
    if (in && !strstr(want, "\\ufffd") && cJSON_IsString(doc))
        CHECK(strcmp(doc->valuestring, in) == 0, "string reads back as %s", doc->valuestring);
    cJSON_Delete(doc);
    vae_buf_free(&buf);
}

static void test_strings(void) {
    check_string("", "\"\"");
    check_string("plain text", "\"plain text\"");
    check_string("say \"hi\" \\ now", "\"say \\\"hi\\\" \\\\ now\"");
    check_string("a\nb\tc\r\x01\x1f\x7f/", "\"a\\u000ab\\u0009c\\u000d\\u0001\\u001f\x7f/\"");
    check_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_string("\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\""); /* U+FFFF, U+10FFFF */
    check_string("\xff", "\"\\ufffd\"");
    check_string("a\x80z", "\"a\\ufffdz\"");
    check_string("end\xc3", "\"end\\ufffd\"");
    check_string("\xe2\x82z", "\"\\ufffdz\"");
    check_string("\xc0\xaf", "\"\\ufffd\\ufffd\"");                 /* overlong '/' */
    check_string("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");      /* overlong, 3 bytes */
    check_string("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");      /* a surrogate */
    check_string("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    check_string("\xf0\x9f\x98\"", "\"\\ufffd\\\"\"");
    check_string(NULL, "null");
}

static void test_ints(void) {
    long long v[] = {0, 7, -1, 1234567890123LL, LLONG_MAX, LLONG_MIN};
    const char *want[] = {"0", "7", "-1", "1234567890123", "9223372036854775807", "-9223372036854775808"};
    for (int i = 0; i < 6; i++) {
        vae_buf buf = {0};
        CHECK(vae_json_int(&buf, v[i]) == VAE_OK, "int");
        CHECK(buf.len == strlen(want[i]) && memcmp(buf.data, want[i], buf.len) == 0, "int %s: %.*s", want[i],
              (int)buf.len, (const char *)buf.data);
        vae_buf_free(&buf);
    }
}

/* ---- the exhaustive run ---- */

typedef struct {
    uint32_t lo, hi; /* inclusive range of bit patterns */
    unsigned long long failures, longer; /* longer: a digit more than strtof alone would need */
} exhaustive_part;

static void *exhaustive_worker(void *arg) {
    exhaustive_part *part = arg;
    char why[160];
    for (uint64_t i = part->lo; i <= part->hi; i++) {
        uint32_t b = (uint32_t)i;
        if (((b >> 23) & 0xff) == 0xff) continue;
        int r = check_float(from_bits(b), why, sizeof why);
        if (r == 0 && part->failures++ < 20) fprintf(stderr, "0x%08x: %s\n", (unsigned)b, why);
        if (r == 2 && part->longer++ < 5) {
            char s[32];
            s[vae_json_format_float(s, from_bits(b))] = '\0';
            fprintf(stderr, "0x%08x: '%s' is a digit longer to survive a parse through double\n", (unsigned)b, s);
        }
    }
    return NULL;
}

static int run_exhaustive(const char *spec) {
    uint32_t lo = 0, hi = 0x7f7fffff;
    if (strcmp(spec, "all") != 0) {
        unsigned long a, z;
        if (sscanf(spec, "%lx-%lx", &a, &z) != 2 || a > z || z > 0xffffffffUL) {
            fprintf(stderr, "VAE_JSON_EXHAUSTIVE: 'all' or LO-HI in hex\n");
            return 2;
        }
        lo = (uint32_t)a;
        hi = (uint32_t)z;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    exhaustive_part parts[64];
    pthread_t threads[64];
    uint64_t total = (uint64_t)hi - lo + 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < nt; t++) {
        parts[t].lo = (uint32_t)(lo + total * (uint64_t)t / (uint64_t)nt);
        parts[t].hi = (uint32_t)(lo + total * (uint64_t)(t + 1) / (uint64_t)nt - 1);
        parts[t].failures = parts[t].longer = 0;
        pthread_create(&threads[t], NULL, exhaustive_worker, &parts[t]);
    }
    unsigned long long failures = 0, longer = 0;
    for (int t = 0; t < nt; t++) {
        pthread_join(threads[t], NULL);
        failures += parts[t].failures;
        longer += parts[t].longer;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("exhaustive 0x%08x-0x%08x: %llu patterns, %llu failures, %llu a digit longer for double, "
           "%.0f s on %d threads\n",
           (unsigned)lo, (unsigned)hi, (unsigned long long)total, failures, longer, secs, nt);
    CHECK(failures == 0, "%llu floats failed", failures);
    CHECK_DONE();
}

int main(void) {
    const char *exhaustive = getenv("VAE_JSON_EXHAUSTIVE");
    if (exhaustive && *exhaustive) return run_exhaustive(exhaustive);
    test_known_values();
    test_pixels();
    test_edges();
    test_halfway();
    test_random();
    test_arrays();
    test_strings();
    test_ints();
    CHECK_DONE();
}
