/* The server's strict input checks: vae_json_check (RFC 8259 syntax, with the offset and reason of
 * the first bad byte) and vae_utf8_invalid_at (the first byte that is not UTF-8). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "inputs.h"
#include "json_check.h"

/* vae_json_check on a C string: -1 when valid, else the offset; *why set on failure. */
static long jc(const char *s, int depth, const char **why) {
    *why = NULL;
    return vae_json_check((const uint8_t *)s, strlen(s), depth, why);
}

static void test_valid_documents(void) {
    static const char *const valid[] = {
        "{}", "[]", "0", "-0", "1.5e+10", "-12.25E-3", "1E5", "\"\"", "true", "false", "null",
        " \t\r\n{ \"a\" : [ 1 , 2 , { } ] } \n", "{\"z\":[0.1,-0.2,3e-5]}",
        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\"\\u00e9 \\uD83D\\uDE00\"", "\"caf\xc3\xa9\"",
        "[[[[1]]]]", "{\"a\":{\"b\":{\"c\":null}}}",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *why;
        long at = jc(valid[i], 64, &why);
        CHECK(at == -1, "'%s' refused at %ld (%s)", valid[i], at, why ? why : "");
    }
}

static void test_invalid_documents(void) {
    /* text, offset of the first bad byte, a word of the reason */
    static const struct {
        const char *text;
        long at;
        const char *reason;
    } bad[] = {
        {"", 0, "expected a value"},
        {"   ", 3, "expected a value"},
        {"{", 1, "expected a string key"},
        {"{\"a\"}", 4, "':'"},
        {"{\"a\":1,}", 7, "expected a string key"},
        {"{\"a\":1 \"b\":2}", 7, "',' or '}'"},
        {"[1,]", 3, "unexpected character"},
        {"[1 2]", 3, "',' or ']'"},
        {"[1", 2, "unterminated array"},
        {"{\"a\":1", 6, "unterminated object"},
        {"01", 1, "start with 0"},
        {"-", 1, "digits"},
        {"1.", 2, "decimal point"},
        {"1e", 2, "exponent"},
        {"1e+", 3, "exponent"},
        {".5", 0, "unexpected character"},
        {"+1", 0, "unexpected character"},
        {"NaN", 0, "NaN"},
        {"-Infinity", 1, "NaN and Infinity"},
        {"infinity", 0, "NaN"},
        {"tru", 3, "literal"},
        {"nul", 3, "literal"},
        {"truth", 3, "literal"},
        {"True", 0, "unexpected character"},
        {"\"abc", 4, "unterminated string"},
        {"\"a\nb\"", 2, "control character"},
        {"\"\\x\"", 2, "invalid escape"},
        {"\"\\u12\"", 2, "four hex digits"},
        /* an escape that is refused for its value is reported at its last hex digit */
        {"\"\\u0000\"", 6, "NUL"},
        {"\"\\uDC00\"", 6, "surrogate"},
        {"\"\\uD800\"", 6, "surrogate"},
        {"\"\\uD800\\u0041\"", 6, "surrogate"},
        {"\"\\uD800x\"", 6, "surrogate"},
        {"\"\\uD83D\\uDE00\\uDE00\"", 18, "surrogate"},
        {"{} {}", 3, "after the JSON value"},
        {"1 2", 2, "after the JSON value"},
        {"\f1", 0, "unexpected character"}, /* form feed is not JSON whitespace (cJSON takes it) */
        {"{1:2}", 1, "string key"},
        {"'a'", 0, "unexpected character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why;
        long at = jc(bad[i].text, 64, &why);
        CHECK(at == bad[i].at, "'%s': offset %ld, expected %ld (%s)", bad[i].text, at, bad[i].at, why ? why : "");
        CHECK(why && strstr(why, bad[i].reason), "'%s': reason '%s' lacks '%s'", bad[i].text, why ? why : "(none)",
              bad[i].reason);
    }
}

static void test_depth_limit(void) {
    char deep[200];
    for (int depth = 1; depth <= 70; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        const char *why;
        long at = jc(deep, 64, &why);
        if (depth <= 64) CHECK(at == -1, "depth %d refused at %ld", depth, at);
        else CHECK(at == 64 && why && strstr(why, "too deep"), "depth %d: %ld (%s)", depth, at, why ? why : "");
    }
    const char *why;
    CHECK(jc("[[1]]", 2, &why) == -1, "depth 2 at limit 2");
    CHECK(jc("[[[1]]]", 2, &why) == 2, "depth 3 at limit 2");
    CHECK(jc("{\"a\":{\"b\":[1]}}", 2, &why) == 10, "objects count too: %ld", jc("{\"a\":{\"b\":[1]}}", 2, &why));
    /* depth is released when a container closes: siblings do not add up */
    CHECK(jc("[[1],[2],[3],[[4]]]", 3, &why) == -1, "siblings add up");
}

static void test_length_is_respected(void) {
    /* the check reads only len bytes: what follows is not looked at */
    const char *why = NULL;
    const uint8_t text[] = "{\"a\":1}garbage";
    CHECK(vae_json_check(text, 7, 64, &why) == -1, "the first 7 bytes are a document");
    CHECK(vae_json_check(text, 6, 64, &why) == 6, "cut before the brace");
    CHECK(vae_json_check((const uint8_t *)"\"ab\"", 3, 64, &why) == 3, "string cut by len");
    CHECK(vae_json_check((const uint8_t *)"truex", 3, 64, &why) == 3, "literal cut by len");
    CHECK(vae_json_check((const uint8_t *)"\"\\u00e9\"", 6, 64, &why) == 2, "escape cut by len");
    CHECK(vae_json_check((const uint8_t *)"1", 1, 64, NULL) == -1, "reason may be NULL");
    CHECK(vae_json_check((const uint8_t *)"x", 1, 64, NULL) == 0, "reason may be NULL on failure");
}

/* vae_utf8_invalid_at on len bytes of s. */
static long u8(const char *s, size_t len) { return vae_utf8_invalid_at((const uint8_t *)s, len); }

static void test_utf8(void) {
    CHECK(u8("", 0) == -1, "empty");
    CHECK(u8("plain ascii \x7f", 13) == -1, "ascii");
    CHECK(u8("\xc2\x80", 2) == -1, "U+0080");
    CHECK(u8("\xdf\xbf", 2) == -1, "U+07FF");
    CHECK(u8("\xe0\xa0\x80", 3) == -1, "U+0800");
    CHECK(u8("\xed\x9f\xbf", 3) == -1, "U+D7FF");
    CHECK(u8("\xee\x80\x80", 3) == -1, "U+E000");
    CHECK(u8("\xef\xbf\xbf", 3) == -1, "U+FFFF");
    CHECK(u8("\xf0\x90\x80\x80", 4) == -1, "U+10000");
    CHECK(u8("\xf4\x8f\xbf\xbf", 4) == -1, "U+10FFFF");
    CHECK(u8("a\xc3\xa9z\xe2\x82\xacy\xf0\x9f\x98\x80", 12) == -1, "mixed");
    /* overlong forms */
    CHECK(u8("\xc0\x80", 2) == 0, "overlong NUL");
    CHECK(u8("\xc1\xbf", 2) == 0, "overlong U+007F");
    CHECK(u8("\xe0\x9f\xbf", 3) == 0, "overlong U+07FF");
    CHECK(u8("\xf0\x8f\xbf\xbf", 4) == 0, "overlong U+FFFF");
    /* surrogates, and past U+10FFFF */
    CHECK(u8("ab\xed\xa0\x80", 5) == 2, "U+D800");
    CHECK(u8("\xed\xbf\xbf", 3) == 0, "U+DFFF");
    CHECK(u8("\xf4\x90\x80\x80", 4) == 0, "U+110000");
    CHECK(u8("\xf5\x80\x80\x80", 4) == 0, "F5 lead byte");
    CHECK(u8("\xf8\x88\x80\x80\x80", 5) == 0, "five-byte form");
    CHECK(u8("\xff", 1) == 0, "FF");
    /* continuation bytes where a lead byte belongs, and lead bytes without continuations */
    CHECK(u8("abc\x80", 4) == 3, "lone continuation");
    CHECK(u8("\xc3(", 2) == 0, "bad continuation");
    CHECK(u8("x\xe2\x82(", 4) == 1, "bad third byte");
    CHECK(u8("\xf0\x9f\x98(", 4) == 0, "bad fourth byte");
    /* a sequence cut off by the end of the buffer, even when the bytes after it would complete it */
    CHECK(u8("a\xc3\xa9", 2) == 1, "2-byte sequence cut by len");
    CHECK(u8("\xe2\x82\xac", 2) == 0, "3-byte sequence cut by len");
    CHECK(u8("\xe2\x82\xac", 1) == 0, "3-byte sequence cut after its lead");
    CHECK(u8("zz\xf0\x9f\x98\x80", 5) == 2, "4-byte sequence cut by len");
    CHECK(u8("\xc3\xa9\xc3\xa9", 4) == -1, "two complete sequences end exactly at len");
    /* the index is of the first bad byte, past any number of good ones */
    char long_text[1000];
    memset(long_text, 'a', sizeof long_text);
    long_text[777] = '\xc0';
    CHECK(u8(long_text, sizeof long_text) == 777, "index %ld", u8(long_text, sizeof long_text));
}

int main(void) {
    test_valid_documents();
    test_invalid_documents();
    test_depth_limit();
    test_length_is_respected();
    test_utf8();
    CHECK_DONE();
}
