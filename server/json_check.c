/* Strict JSON syntax check: a recursive descent over the grammar of RFC 8259, section 2-7. */
#include "json_check.h"

typedef struct {
    const uint8_t *s;
    size_t len, at;
    int depth, max_depth;
    const char *reason;
} checker;

static int fail(checker *c, const char *reason) {
    c->reason = reason;
    return -1;
}

static void skip_ws(checker *c) {
    while (c->at < c->len) {
        uint8_t b = c->s[c->at];
        if (b != ' ' && b != '\t' && b != '\n' && b != '\r') break;
        c->at++;
    }
}

static int is_digit(checker *c) { return c->at < c->len && c->s[c->at] >= '0' && c->s[c->at] <= '9'; }

static int literal(checker *c, const char *word) {
    for (const char *w = word; *w; w++, c->at++)
        if (c->at >= c->len || c->s[c->at] != (uint8_t)*w)
            return fail(c, "invalid literal (JSON has true, false and null; NaN and Infinity are not JSON)");
    return 0;
}

static int number(checker *c) {
    if (c->s[c->at] == '-') c->at++;
    if (c->at < c->len && (c->s[c->at] == 'I' || c->s[c->at] == 'i'))
        return fail(c, "NaN and Infinity are not JSON numbers");
    if (!is_digit(c)) return fail(c, "a number needs digits");
    if (c->s[c->at] == '0') {
        c->at++;
        if (is_digit(c)) return fail(c, "numbers do not start with 0");
    } else {
        while (is_digit(c)) c->at++;
    }
    if (c->at < c->len && c->s[c->at] == '.') {
        c->at++;
        if (!is_digit(c)) return fail(c, "a digit must follow the decimal point");
        while (is_digit(c)) c->at++;
    }
    if (c->at < c->len && (c->s[c->at] == 'e' || c->s[c->at] == 'E')) {
        c->at++;
        if (c->at < c->len && (c->s[c->at] == '+' || c->s[c->at] == '-')) c->at++;
        if (!is_digit(c)) return fail(c, "an exponent needs digits");
        while (is_digit(c)) c->at++;
    }
    return 0;
}

static int hex(uint8_t b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

/* The value of four hex digits at s[at..at+4) (the caller checked they are hex). */
static unsigned hex4(const uint8_t *s) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t b = s[i];
        v = v * 16 + (unsigned)(b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10);
    }
    return v;
}

/* Checks the 4 hex digits after "\u" at c->at (which points at the 'u'), and for a high surrogate
 * the "\uDC00".."\uDFFF" that must follow; leaves c->at on the last digit. */
static int unicode_escape(checker *c) {
    for (int i = 1; i <= 4; i++)
        if (c->at + (size_t)i >= c->len || !hex(c->s[c->at + (size_t)i]))
            return fail(c, "\\u needs four hex digits");
    unsigned u = hex4(c->s + c->at + 1);
    c->at += 4;
    /* a NUL would end the C strings the server keeps keys and values in */
    if (u == 0) return fail(c, "\\u0000 (NUL) is not allowed in strings");
    if (u >= 0xDC00 && u <= 0xDFFF) return fail(c, "unpaired UTF-16 surrogate escape");
    if (u >= 0xD800 && u <= 0xDBFF) {
        const uint8_t *p = c->s + c->at + 1;
        if (c->at + 6 >= c->len || p[0] != '\\' || p[1] != 'u' || !hex(p[2]) || !hex(p[3]) ||
            !hex(p[4]) || !hex(p[5]))
            return fail(c, "unpaired UTF-16 surrogate escape");
        unsigned low = hex4(p + 2);
        if (low < 0xDC00 || low > 0xDFFF) return fail(c, "unpaired UTF-16 surrogate escape");
        c->at += 6;
    }
    return 0;
}

static int string(checker *c) {
    c->at++; /* opening quote */
    while (c->at < c->len) {
        uint8_t b = c->s[c->at];
        if (b == '"') {
            c->at++;
            return 0;
        }
        if (b < 0x20) return fail(c, "control character inside a string (escape it)");
        if (b == '\\') {
            c->at++;
            if (c->at >= c->len) break;
            b = c->s[c->at];
            if (b == 'u') {
                if (unicode_escape(c)) return -1;
            } else if (b != '"' && b != '\\' && b != '/' && b != 'b' && b != 'f' && b != 'n' &&
                       b != 'r' && b != 't') {
                return fail(c, "invalid escape in a string");
            }
        }
        c->at++;
    }
    return fail(c, "unterminated string");
}

static int value(checker *c);

static int container(checker *c, uint8_t close) {
    if (++c->depth > c->max_depth) return fail(c, "nesting too deep");
    c->at++;
    skip_ws(c);
    if (c->at < c->len && c->s[c->at] == close) {
        c->at++;
        c->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (c->at >= c->len || c->s[c->at] != '"') return fail(c, "expected a string key");
            if (string(c)) return -1;
            skip_ws(c);
            if (c->at >= c->len || c->s[c->at] != ':') return fail(c, "expected ':' after the key");
            c->at++;
        }
        if (value(c)) return -1;
        skip_ws(c);
        if (c->at >= c->len) return fail(c, close == '}' ? "unterminated object" : "unterminated array");
        if (c->s[c->at] == ',') {
            c->at++;
            skip_ws(c);
            continue;
        }
        if (c->s[c->at] == close) {
            c->at++;
            c->depth--;
            return 0;
        }
        return fail(c, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int value(checker *c) {
    skip_ws(c);
    if (c->at >= c->len) return fail(c, "expected a value");
    switch (c->s[c->at]) {
    case '{': return container(c, '}');
    case '[': return container(c, ']');
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    case 'N':
    case 'I':
    case 'i': return fail(c, "NaN and Infinity are not JSON numbers");
    default:
        if (c->s[c->at] == '-' || (c->s[c->at] >= '0' && c->s[c->at] <= '9')) return number(c);
        return fail(c, "unexpected character");
    }
}

long vae_json_check(const uint8_t *s, size_t len, int max_depth, const char **reason) {
    checker c = {.s = s, .len = len, .max_depth = max_depth};
    if (value(&c) == 0) {
        skip_ws(&c);
        if (c.at == c.len) return -1;
        c.reason = "unexpected bytes after the JSON value";
    }
    if (reason) *reason = c.reason;
    return (long)(c.at < len ? c.at : len);
}
