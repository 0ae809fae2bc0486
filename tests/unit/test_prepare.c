/* Tests for the preparation of pictures (vae/prepare.h): the MNIST and fill geometry on shapes whose
 * answer is known, polarity, the robustness cases (noise, a light gradient, a thin border, a shadow,
 * transparency), "no ink", the PNG path against the grey path, large images, the test sets
 * themselves (VAE_MNIST; Fashion-MNIST when installed) and recognising a training set's preparation. */
#include "vae/prepare.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/dataset.h"
#include "vae/png.h"

#define SIDE 28
#define NPIX (SIDE * SIDE)
#define CANVAS 112

static const vae_prepare_options MNIST_AUTO = {VAE_NORMALIZE_MNIST, VAE_INVERT_AUTO};
static const vae_prepare_options FILL_AUTO = {VAE_NORMALIZE_FILL, VAE_INVERT_AUTO};

static uint32_t lcg_state = 2026u;
static double uniform01(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (lcg_state >> 8) / 16777216.0;
}
static double gaussian(void) { /* Box-Muller */
    double u = uniform01() + 1e-12, v = uniform01();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A canvas of w x h values in ink units (0 background, 1 ink). */
static float *canvas(int w, int h) {
    float *c = calloc((size_t)w * h, sizeof *c);
    if (!c) abort();
    return c;
}

static void fill_rect(float *c, int w, int x0, int y0, int rw, int rh, float v) {
    for (int y = y0; y < y0 + rh; y++)
        for (int x = x0; x < x0 + rw; x++) c[(size_t)y * w + x] = v;
}

/* An "L" (asymmetric, so the centre of mass is not the box's centre): a bar of bw x bh with a foot of
 * fw to the right at its bottom, strokes `t` thick, at (x0, y0). */
static void draw_l(float *c, int w, int x0, int y0, int bh, int fw, int t) {
    fill_rect(c, w, x0, y0, t, bh, 1.0f);
    fill_rect(c, w, x0, y0 + bh - t, fw, t, 1.0f);
}

/* Ink units to what a camera sees: dark ink on a light page (1 - v), or light on dark. */
static void to_luma(float *c, size_t n, int dark) {
    if (dark)
        for (size_t i = 0; i < n; i++) c[i] = 1.0f - c[i];
}

static void add_noise(float *c, size_t n, double sigma) {
    for (size_t i = 0; i < n; i++) {
        double v = c[i] + sigma * gaussian();
        c[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
}

/* A light gradient of amplitude a across the page in ink units (v = g + ink (1 - g)), along x. */
static void add_gradient(float *c, int w, int h, double a) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float g = (float)(a * x / (w - 1));
            float *v = &c[(size_t)y * w + x];
            *v = g + *v * (1 - g);
        }
}

static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double mean_diff(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs((double)a[i] - b[i]);
    return s / n;
}

/* Rows and columns of out holding ink (> 0.1), and its centre of mass in index coordinates. */
static void measure(const float *out, int *rows, int *cols, double *cx, double *cy) {
    int r0 = SIDE, r1 = -1, c0 = SIDE, c1 = -1;
    double m = 0, mx = 0, my = 0;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float v = out[y * SIDE + x];
            m += v, mx += v * x, my += v * y;
            if (v > 0.1f) {
                if (y < r0) r0 = y;
                if (y > r1) r1 = y;
                if (x < c0) c0 = x;
                if (x > c1) c1 = x;
            }
        }
    *rows = r1 - r0 + 1;
    *cols = c1 - c0 + 1;
    *cx = m > 0 ? mx / m : -1;
    *cy = m > 0 ? my / m : -1;
}

static vae_status prepare(const float *grey, int w, int h, const vae_prepare_options *o, float *out,
                          vae_prepare_info *info, vae_error *err) {
    static vae_buf work; /* reused across calls, as the server does */
    return vae_prepare_image(grey, w, h, o, &work, out, info, err);
}

/* --- names ------------------------------------------------------------------------------------- */

static void test_names(void) {
    const char *names[] = {"none", "mnist", "fill"};
    for (int i = 0; i < 3; i++) {
        vae_normalize n = (vae_normalize)-1;
        CHECK(vae_normalize_parse(names[i], &n) == 0 && n == (vae_normalize)i, "%s", names[i]);
        CHECK(!strcmp(vae_normalize_name((vae_normalize)i), names[i]), "%s", names[i]);
    }
    vae_normalize n = VAE_NORMALIZE_FILL;
    CHECK(vae_normalize_parse("auto", &n) == -1 && n == VAE_NORMALIZE_FILL, "auto is the server's word");
    CHECK(vae_normalize_parse("MNIST", &n) == -1 && vae_normalize_parse(NULL, &n) == -1, "exact names");
    CHECK(!strcmp(vae_normalize_name((vae_normalize)7), "?"), "out of range");
    CHECK(!strcmp(vae_polarity_name(VAE_POLARITY_BORDER), "border") &&
              !strcmp(vae_polarity_name(VAE_POLARITY_CENTRE), "centre") &&
              !strcmp(vae_polarity_name(VAE_POLARITY_ALPHA), "alpha"),
          "polarity names");

    vae_model m = {0};
    CHECK(vae_normalize_of_model(&m) == VAE_NORMALIZE_NONE, "no record: none");
    vae_metadata_set(&m.metadata, VAE_METADATA_NORMALIZE, "fill");
    CHECK(vae_normalize_of_model(&m) == VAE_NORMALIZE_FILL, "the record");
    vae_metadata_set(&m.metadata, VAE_METADATA_NORMALIZE, "sharpen");
    CHECK(vae_normalize_of_model(&m) == VAE_NORMALIZE_NONE, "an unknown record: none");
    vae_metadata_clear(&m.metadata);
    CHECK(vae_normalize_of_model(NULL) == VAE_NORMALIZE_NONE, "NULL");
}

/* --- geometry ------------------------------------------------------------------------------------ */

/* An L anywhere on a canvas: MNIST scales its box to 20 on the longer side with the centre of mass at
 * (14, 14); fill to 28, centred; the box is reported in the canvas's pixels. */
static void test_geometry(void) {
    const struct { int w, h, x0, y0, bh, fw, t; } cases[] = {
        {CANVAS, CANVAS, 10, 20, 60, 30, 8},  /* shrunk: area averages */
        {CANVAS, CANVAS, 70, 5, 40, 40, 6},   /* square box */
        {CANVAS, 80, 3, 30, 44, 12, 5},       /* not square canvas */
        {SIDE, SIDE, 4, 4, 10, 6, 2},         /* enlarged: bilinear */
        {200, 150, 150, 90, 50, 30, 7},       /* near the corner */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int w = cases[k].w, h = cases[k].h;
        float *c = canvas(w, h), out[NPIX];
        draw_l(c, w, cases[k].x0, cases[k].y0, cases[k].bh, cases[k].fw, cases[k].t);
        vae_prepare_info info;
        vae_error err = {0};
        CHECK(prepare(c, w, h, &MNIST_AUTO, out, &info, &err) == VAE_OK, "case %zu: %s", k, err.message);
        CHECK(info.normalize == VAE_NORMALIZE_MNIST && !info.inverted && info.polarity == VAE_POLARITY_BORDER,
              "case %zu: info %d %d %d", k, info.normalize, info.inverted, info.polarity);
        CHECK(info.box[0] == cases[k].x0 && info.box[1] == cases[k].y0 && info.box[2] == cases[k].fw &&
                  info.box[3] == cases[k].bh,
              "case %zu: box %d %d %d %d", k, info.box[0], info.box[1], info.box[2], info.box[3]);
        CHECK(info.width == w && info.height == h, "case %zu: size", k);
        int rows, cols;
        double cx, cy;
        measure(out, &rows, &cols, &cx, &cy);
        int longer = cases[k].bh > cases[k].fw ? cases[k].bh : cases[k].fw;
        int expect_rows = (int)ceil(20.0 * cases[k].bh / longer - 1e-9), expect_cols = (int)ceil(20.0 * cases[k].fw / longer - 1e-9);
        CHECK(abs(rows - expect_rows) <= 1 && abs(cols - expect_cols) <= 1, "case %zu: %dx%d ink, expected %dx%d", k,
              cols, rows, expect_cols, expect_rows);
        CHECK(fabs(cx - 14) <= 0.5 && fabs(cy - 14) <= 0.5, "case %zu: centre of mass (%.2f, %.2f)", k, cx, cy);
        CHECK_CLOSE(info.scale, 20.0 / longer, 1e-4, "scale");

        CHECK(prepare(c, w, h, &FILL_AUTO, out, &info, &err) == VAE_OK, "case %zu fill: %s", k, err.message);
        measure(out, &rows, &cols, &cx, &cy);
        expect_rows = (int)ceil(28.0 * cases[k].bh / longer - 1e-9);
        expect_cols = (int)ceil(28.0 * cases[k].fw / longer - 1e-9);
        CHECK(abs(rows - expect_rows) <= 1 && abs(cols - expect_cols) <= 1, "case %zu fill: %dx%d, expected %dx%d", k,
              cols, rows, expect_cols, expect_rows);
        CHECK(rows == SIDE || cols == SIDE, "case %zu fill: the longer side fills the frame (%dx%d)", k, cols, rows);
        free(c);
    }
}

/* The levels: grey ink on a grey page comes out as full ink on black. */
static void test_levels(void) {
    float *c = canvas(CANVAS, CANVAS), out[NPIX];
    for (int i = 0; i < CANVAS * CANVAS; i++) c[i] = 0.2f;
    draw_l(c, CANVAS, 30, 30, 50, 30, 8);
    for (int i = 0; i < CANVAS * CANVAS; i++)
        if (c[i] == 1.0f) c[i] = 0.6f; /* light grey ink on a dark grey page */
    vae_prepare_info info;
    vae_error err = {0};
    CHECK(prepare(c, CANVAS, CANVAS, &MNIST_AUTO, out, &info, &err) == VAE_OK, "%s", err.message);
    float hi = 0;
    int zero = 0;
    for (int i = 0; i < NPIX; i++) hi = fmaxf(hi, out[i]), zero += out[i] == 0.0f;
    CHECK(hi == 1.0f, "the ink's level maps to 1 (max %g)", hi);
    CHECK(zero > NPIX / 2, "the page maps to 0 (%d zero pixels)", zero);
    /* the page's level is subtracted first (the field through the corners), then the levels */
    CHECK(info.low < 0.05f && info.high > 0.35f && info.high <= 0.41f, "levels %g..%g", info.low, info.high);
    free(c);
}

/* --- polarity ------------------------------------------------------------------------------------ */

static void test_polarity(void) {
    float *c = canvas(CANVAS, CANVAS), *d = canvas(CANVAS, CANVAS), a[NPIX], b[NPIX];
    draw_l(c, CANVAS, 20, 30, 50, 25, 7);
    memcpy(d, c, sizeof(float) * CANVAS * CANVAS);
    to_luma(d, CANVAS * CANVAS, 1);
    vae_prepare_info ia, ib;
    vae_error err = {0};
    CHECK(prepare(c, CANVAS, CANVAS, &MNIST_AUTO, a, &ia, &err) == VAE_OK, "%s", err.message);
    CHECK(prepare(d, CANVAS, CANVAS, &MNIST_AUTO, b, &ib, &err) == VAE_OK, "%s", err.message);
    CHECK(!ia.inverted && ib.inverted && ib.polarity == VAE_POLARITY_BORDER, "light on dark %d, dark on light %d (%s)",
          ia.inverted, ib.inverted, vae_polarity_name(ib.polarity));
    CHECK(max_diff(a, b, NPIX) < 1e-5, "both polarities prepare alike (%g)", max_diff(a, b, NPIX));
    vae_prepare_options wrong = {VAE_NORMALIZE_MNIST, VAE_INVERT_NO};
    vae_error werr = {0};
    CHECK(prepare(d, CANVAS, CANVAS, &wrong, b, &ib, &werr) == VAE_ERR_EMPTY && strstr(werr.message, "invert=auto"),
          "dark ink taken as light: no ink, and the message says what to do: %s", werr.message);
    vae_prepare_options asked = {VAE_NORMALIZE_MNIST, VAE_INVERT_YES};
    CHECK(prepare(d, CANVAS, CANVAS, &asked, b, &ib, &err) == VAE_OK && ib.inverted &&
              ib.polarity == VAE_POLARITY_ASKED,
          "asked");
    /* no normalisation: the plain 28x28 average, polarity detected on it */
    vae_prepare_options none_auto = {VAE_NORMALIZE_NONE, VAE_INVERT_AUTO}, none_yes = {VAE_NORMALIZE_NONE, VAE_INVERT_YES};
    CHECK(prepare(d, CANVAS, CANVAS, &none_auto, a, &ia, &err) == VAE_OK && ia.inverted, "none + auto");
    CHECK(prepare(d, CANVAS, CANVAS, &none_yes, b, &ib, &err) == VAE_OK && max_diff(a, b, NPIX) == 0,
          "none + auto = none + yes here");
    CHECK(ia.box[2] == 0 && ia.threshold == 0, "none reports no box");

    /* a garment reaching two corners: they disagree, the middle decides */
    float *g = canvas(SIDE, SIDE);
    fill_rect(g, SIDE, 4, 2, 20, 26, 0.8f);  /* body to the bottom */
    fill_rect(g, SIDE, 0, 14, 28, 14, 0.8f); /* sleeves into both bottom corners */
    for (int dark = 0; dark < 2; dark++) {
        float *gg = canvas(SIDE, SIDE);
        memcpy(gg, g, sizeof(float) * NPIX);
        if (dark)
            for (int i = 0; i < NPIX; i++) gg[i] = 1.0f - gg[i];
        CHECK(prepare(gg, SIDE, SIDE, &FILL_AUTO, a, &ia, &err) == VAE_OK, "%s", err.message);
        CHECK(ia.inverted == dark && ia.polarity == VAE_POLARITY_CENTRE, "garment %s: inverted %d by %s",
              dark ? "dark" : "light", ia.inverted, vae_polarity_name(ia.polarity));
        free(gg);
    }
    free(g);
    free(c);
    free(d);
}

/* --- robustness ---------------------------------------------------------------------------------- */

/* Each disturbance of a clean dark-on-light L keeps the box within a pixel or two and the prepared
 * image close to the clean one. */
static void test_robust(void) {
    const int n = CANVAS * CANVAS;
    float *clean = canvas(CANVAS, CANVAS), ref[NPIX], out[NPIX];
    draw_l(clean, CANVAS, 35, 25, 56, 28, 8);
    float *page = canvas(CANVAS, CANVAS);
    memcpy(page, clean, sizeof(float) * n);
    to_luma(page, n, 1);
    vae_prepare_info ref_info, info;
    vae_error err = {0};
    CHECK(prepare(page, CANVAS, CANVAS, &MNIST_AUTO, ref, &ref_info, &err) == VAE_OK, "%s", err.message);
    const char *names[] = {"noise 0.1", "gradient 0.3", "thin border", "shadow", "noise, gradient, border, shadow"};
    for (int k = 0; k < 5; k++) {
        float *c = canvas(CANVAS, CANVAS);
        memcpy(c, clean, sizeof(float) * n);
        if (k == 1 || k == 4) add_gradient(c, CANVAS, CANVAS, 0.3);
        if (k == 3 || k == 4) /* a soft shadow over the top left: the page a third darker */
            for (int y = 0; y < CANVAS / 2; y++)
                for (int x = 0; x < CANVAS / 2; x++) {
                    float *v = &c[y * CANVAS + x];
                    *v = *v + (1 - *v) * 0.3f * (1 - (float)(x + y) / CANVAS);
                }
        if (k == 2 || k == 4) { /* a 2-pixel dark frame, 1 pixel in from the edge */
            fill_rect(c, CANVAS, 1, 1, CANVAS - 2, 2, 1.0f);
            fill_rect(c, CANVAS, 1, CANVAS - 3, CANVAS - 2, 2, 1.0f);
            fill_rect(c, CANVAS, 1, 1, 2, CANVAS - 2, 1.0f);
            fill_rect(c, CANVAS, CANVAS - 3, 1, 2, CANVAS - 2, 1.0f);
        }
        to_luma(c, n, 1);
        if (k == 0 || k == 4) add_noise(c, n, 0.1);
        CHECK(prepare(c, CANVAS, CANVAS, &MNIST_AUTO, out, &info, &err) == VAE_OK, "%s: %s", names[k], err.message);
        int box_off = 0;
        for (int i = 0; i < 4; i++) box_off = abs(info.box[i] - ref_info.box[i]) > box_off ? abs(info.box[i] - ref_info.box[i]) : box_off;
        CHECK(info.inverted && box_off <= 2, "%s: inverted %d, box %d %d %d %d (clean %d %d %d %d)", names[k], info.inverted,
              info.box[0], info.box[1], info.box[2], info.box[3], ref_info.box[0], ref_info.box[1], ref_info.box[2],
              ref_info.box[3]);
        CHECK(mean_diff(out, ref, NPIX) < 0.05, "%s: mean difference %.3f from the clean preparation", names[k],
              mean_diff(out, ref, NPIX));
        free(c);
    }
    free(clean);
    free(page);
}

/* Pictures with nothing on them are refused with VAE_ERR_EMPTY and a message that says so. */
static void test_no_ink(void) {
    const int n = CANVAS * CANVAS;
    const char *names[] = {"white page", "black screen", "grey", "noise", "light gradient", "noise and gradient",
                           "a frame only", "specks"};
    for (int k = 0; k < 8; k++) {
        float *c = canvas(CANVAS, CANVAS), out[NPIX];
        for (int i = 0; i < NPIX; i++) out[i] = 42.0f;
        if (k == 2) for (int i = 0; i < n; i++) c[i] = 0.5f;
        if (k == 4 || k == 5) add_gradient(c, CANVAS, CANVAS, 0.3);
        if (k == 6) {
            fill_rect(c, CANVAS, 0, 0, CANVAS, 2, 1.0f);
            fill_rect(c, CANVAS, 0, CANVAS - 2, CANVAS, 2, 1.0f);
            fill_rect(c, CANVAS, 0, 0, 2, CANVAS, 1.0f);
            fill_rect(c, CANVAS, CANVAS - 2, 0, 2, CANVAS, 1.0f);
        }
        if (k == 7)
            for (int s = 0; s < 60; s++) c[(int)(uniform01() * n)] = 1.0f; /* some of them side by side */
        to_luma(c, n, k != 1 && k != 2);
        if (k == 3 || k == 5) add_noise(c, n, 0.1);
        for (int mode = VAE_NORMALIZE_MNIST; mode <= VAE_NORMALIZE_FILL; mode++) {
            vae_prepare_options o = {(vae_normalize)mode, VAE_INVERT_AUTO};
            vae_prepare_info info = {.threshold = 9};
            vae_error err = {0};
            vae_status st = prepare(c, CANVAS, CANVAS, &o, out, &info, &err);
            CHECK(st == VAE_ERR_EMPTY && strstr(err.message, "no ink"), "%s (%s): status %d, '%s'", names[k],
                  vae_normalize_name(o.normalize), st, err.message);
            CHECK(out[0] == 42.0f && info.threshold == 9, "%s: out and info untouched", names[k]);
        }
        vae_prepare_options none = {VAE_NORMALIZE_NONE, VAE_INVERT_AUTO};
        CHECK(prepare(c, CANVAS, CANVAS, &none, out, NULL, NULL) == VAE_OK, "%s: none takes it as it is", names[k]);
        free(c);
    }
}

/* --- the PNG path -------------------------------------------------------------------------------- */

static vae_buf png_of(const float *grey, int w, int h) {
    uint8_t *px = malloc((size_t)w * h);
    if (!px) abort();
    for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(grey[i] * 255 + 0.5f);
    vae_buf png = {0};
    if (vae_png_encode(px, w, h, 1, 6, &png, NULL) != VAE_OK) abort();
    free(px);
    return png;
}

/* The decoder prepares the PNG of a picture as vae_prepare_image prepares its (quantised) grey, and
 * with none and a given polarity it is vae_png_decode_input to the bit. */
static void test_png_path(void) {
    const int n = CANVAS * CANVAS;
    float *c = canvas(CANVAS, CANVAS);
    draw_l(c, CANVAS, 40, 12, 70, 40, 9);
    to_luma(c, n, 1);
    add_noise(c, n, 0.05);
    for (int i = 0; i < n; i++) c[i] = (float)(uint8_t)(c[i] * 255 + 0.5f) / 255.0f; /* as the PNG holds it */
    vae_buf png = png_of(c, CANVAS, CANVAS), work = {0};
    const vae_prepare_options opts[] = {MNIST_AUTO, FILL_AUTO, {VAE_NORMALIZE_MNIST, VAE_INVERT_YES},
                                        {VAE_NORMALIZE_NONE, VAE_INVERT_AUTO}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        float a[NPIX], b[NPIX];
        vae_prepare_info ia, ib;
        vae_error err = {0};
        vae_png_problem problem;
        CHECK(vae_png_decode_prepared(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &opts[k], &work, a, &ia, &problem,
                                      &err) == VAE_OK,
              "%zu: %s", k, err.message);
        CHECK(prepare(c, CANVAS, CANVAS, &opts[k], b, &ib, &err) == VAE_OK, "%zu: %s", k, err.message);
        CHECK(max_diff(a, b, NPIX) < 1e-5, "%zu: PNG and grey differ by %g", k, max_diff(a, b, NPIX));
        CHECK(ia.inverted == ib.inverted && ia.polarity == ib.polarity && !memcmp(ia.box, ib.box, sizeof ia.box),
              "%zu: the same info", k);
    }
    for (int invert = 0; invert < 2; invert++) {
        float a[NPIX], b[NPIX];
        vae_prepare_options plain = {VAE_NORMALIZE_NONE, invert ? VAE_INVERT_YES : VAE_INVERT_NO};
        vae_prepare_info info;
        CHECK(vae_png_decode_input(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, invert, a, NULL, NULL) == VAE_OK &&
                  vae_png_decode_prepared(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &plain, NULL, b, &info, NULL,
                                          NULL) == VAE_OK,
              "plain decode");
        CHECK(!memcmp(a, b, sizeof a), "none, invert %d: bit for bit the plain decoder", invert);
        CHECK(info.inverted == invert && info.polarity == VAE_POLARITY_ASKED && info.width == CANVAS, "plain info");
    }
    /* no ink in a PNG: VAE_ERR_EMPTY, no PNG problem */
    float *blank = canvas(CANVAS, CANVAS);
    vae_buf blank_png = png_of(blank, CANVAS, CANVAS);
    float out[NPIX];
    vae_png_problem problem = VAE_PNG_INVALID;
    vae_error err = {0};
    CHECK(vae_png_decode_prepared(blank_png.data, blank_png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &MNIST_AUTO, &work, out,
                                  NULL, &problem, &err) == VAE_ERR_EMPTY &&
              problem == VAE_PNG_NONE,
          "blank PNG: %s", err.message);
    vae_prepare_options bad = {(vae_normalize)9, VAE_INVERT_NO};
    CHECK(vae_png_decode_prepared(png.data, png.len, VAE_PNG_DEFAULT_MAX_PIXELS, &bad, NULL, out, NULL, NULL, NULL) ==
              VAE_ERR_ARG,
          "options out of range");
    vae_buf_free(&blank_png);
    free(blank);
    vae_buf_free(&png);
    vae_buf_free(&work);
    free(c);
}

static void append_to_buf(png_structp png, png_bytep data, size_t n) {
    if (vae_buf_append(png_get_io_ptr(png), data, n) != VAE_OK) png_error(png, "out of memory");
}
static void flush_nothing(png_structp png) { (void)png; }

/* An 8-bit grey+alpha PNG of w x w (grey, alpha) pairs, written with libpng directly. */
static vae_buf grey_alpha_png(const uint8_t *ga, int w) {
    vae_buf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) abort();
    png_set_write_fn(png, &out, append_to_buf, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)w, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < w; y++) png_write_row(png, ga + (size_t)y * w * 2);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return out;
}

/* Transparency is the background: black strokes on a transparent canvas (a browser's drawing) are
 * dark ink, prepared like the same strokes white on black. */
static void test_alpha(void) {
    const int w = 96, n = w * w;
    float *ink = canvas(w, w);
    draw_l(ink, w, 20, 10, 60, 30, 6);
    uint8_t *ga = calloc((size_t)n, 2), *grey = malloc((size_t)n);
    if (!ga || !grey) abort();
    for (int i = 0; i < n; i++) {
        ga[2 * i] = 0;                             /* black ... */
        ga[2 * i + 1] = (uint8_t)(ink[i] * 255);   /* ... opaque where drawn */
        grey[i] = (uint8_t)(ink[i] * 255);
    }
    vae_buf a = grey_alpha_png(ga, w), b = {0};
    CHECK(vae_png_encode(grey, w, w, 1, 6, &b, NULL) == VAE_OK, "encode");
    for (int mode = VAE_NORMALIZE_NONE; mode <= VAE_NORMALIZE_FILL; mode++) {
        vae_prepare_options o = {(vae_normalize)mode, VAE_INVERT_AUTO};
        float out_a[NPIX], out_b[NPIX];
        vae_prepare_info ia, ib;
        vae_error err = {0};
        CHECK(vae_png_decode_prepared(a.data, a.len, VAE_PNG_DEFAULT_MAX_PIXELS, &o, NULL, out_a, &ia, NULL, &err) ==
                  VAE_OK,
              "%s: %s", vae_normalize_name(o.normalize), err.message);
        CHECK(vae_png_decode_prepared(b.data, b.len, VAE_PNG_DEFAULT_MAX_PIXELS, &o, NULL, out_b, &ib, NULL, &err) ==
                  VAE_OK,
              "%s: %s", vae_normalize_name(o.normalize), err.message);
        CHECK(ia.inverted && ia.polarity == VAE_POLARITY_ALPHA && !ib.inverted, "%s: alpha %d (%s), opaque %d",
              vae_normalize_name(o.normalize), ia.inverted, vae_polarity_name(ia.polarity), ib.inverted);
        CHECK(max_diff(out_a, out_b, NPIX) < 1e-5, "%s: transparent black strokes = white on black (%g)",
              vae_normalize_name(o.normalize), max_diff(out_a, out_b, NPIX));
    }
    vae_buf_free(&a);
    vae_buf_free(&b);
    free(ga);
    free(grey);
    free(ink);
}

/* --- large images -------------------------------------------------------------------------------- */

static void test_large(void) {
    const int w = 1000, h = 600;
    float *c = canvas(w, h), out[NPIX];
    draw_l(c, w, 600, 100, 400, 200, 40);
    to_luma(c, (size_t)w * h, 1);
    vae_prepare_info info;
    vae_error err = {0};
    CHECK(prepare(c, w, h, &MNIST_AUTO, out, &info, &err) == VAE_OK, "%s", err.message);
    /* found on a 256x154 grid: the box in the image's pixels is within a grid pixel (~4 px) */
    CHECK(abs(info.box[0] - 600) <= 4 && abs(info.box[1] - 100) <= 4 && abs(info.box[2] - 200) <= 8 &&
              abs(info.box[3] - 400) <= 8,
          "box %d %d %d %d", info.box[0], info.box[1], info.box[2], info.box[3]);
    int rows, cols;
    double cx, cy;
    measure(out, &rows, &cols, &cx, &cy);
    CHECK(abs(rows - 20) <= 1 && abs(cols - 10) <= 1 && fabs(cx - 14) <= 0.5 && fabs(cy - 14) <= 0.5,
          "%dx%d at (%.2f, %.2f)", cols, rows, cx, cy);
    CHECK(info.inverted && info.width == w && info.height == h, "info");
    free(c);
}

static void test_errors(void) {
    float grey[4] = {0}, out[NPIX];
    vae_error err = {0};
    CHECK(vae_prepare_image(NULL, 2, 2, &MNIST_AUTO, NULL, out, NULL, &err) == VAE_ERR_ARG, "NULL grey");
    CHECK(vae_prepare_image(grey, 0, 2, &MNIST_AUTO, NULL, out, NULL, &err) == VAE_ERR_ARG, "zero width");
    CHECK(vae_prepare_image(grey, 100000, 100000, &MNIST_AUTO, NULL, out, NULL, &err) == VAE_ERR_ARG &&
              strstr(err.message, "100000x100000"),
          "too many pixels: %s", err.message);
    vae_prepare_options bad = {VAE_NORMALIZE_MNIST, (vae_invert)5};
    CHECK(vae_prepare_image(grey, 2, 2, &bad, NULL, out, NULL, &err) == VAE_ERR_ARG, "bad invert");
    /* a 1x1 and a 2x2 image of ink */
    float one = 1.0f;
    vae_prepare_options light = {VAE_NORMALIZE_MNIST, VAE_INVERT_NO};
    CHECK(vae_prepare_image(&one, 1, 1, &light, NULL, out, NULL, &err) == VAE_ERR_EMPTY, "1x1: %s", err.message);
}

/* --- the test sets ------------------------------------------------------------------------------- */

/* The test images as the datasets prepared them come back nearly unchanged by their own
 * normalisation, none is refused, and the polarity of every one (as given and inverted) is detected. */
static void test_dataset(const char *dir, vae_normalize mode, double max_mean_diff) {
    vae_dataset ds = {0};
    vae_error err = {0};
    if (vae_dataset_load(dir, "t10k", &ds, &err) != VAE_OK) {
        printf("test_prepare: %s not found, skipping its test set\n", dir);
        return;
    }
    const int count = ds.count; /* all of them: 10,000 each way */
    double diff = 0;
    int refused = 0, wrong_polarity = 0;
    for (int i = 0; i < count; i++) {
        float img[NPIX], inv[NPIX], out[NPIX];
        vae_dataset_image(&ds, i, img);
        for (int j = 0; j < NPIX; j++) inv[j] = 1.0f - img[j];
        vae_prepare_options o = {mode, VAE_INVERT_AUTO};
        vae_prepare_info info;
        if (prepare(img, SIDE, SIDE, &o, out, &info, &err) != VAE_OK) {
            refused++;
            continue;
        }
        diff += mean_diff(out, img, NPIX);
        wrong_polarity += info.inverted;
        if (prepare(inv, SIDE, SIDE, &o, out, &info, &err) == VAE_OK) wrong_polarity += !info.inverted;
    }
    diff /= count - refused;
    printf("test_prepare: %s (%s): mean |prepared - image| %.4f, %d refused, %d wrong polarities of %d\n", dir,
           vae_normalize_name(mode), diff, refused, wrong_polarity, 2 * count);
    CHECK(refused == 0, "%s: %d test images refused", dir, refused);
    CHECK(wrong_polarity == 0, "%s: %d polarities wrong", dir, wrong_polarity);
    CHECK(diff < max_mean_diff, "%s: the preparation moved the test images by %.4f a pixel", dir, diff);
    CHECK(vae_prepare_recognise(ds.pixels, ds.count) == mode, "%s recognised as %s", dir,
          vae_normalize_name(vae_prepare_recognise(ds.pixels, ds.count)));
    vae_dataset_free(&ds);
}

static void test_recognise(void) {
    uint8_t *px = calloc(100, NPIX);
    if (!px) abort();
    CHECK(vae_prepare_recognise(px, 100) == VAE_NORMALIZE_NONE, "blank images: none");
    for (int k = 0; k < 100; k++) /* a 10x10 square in a corner: not MNIST, not filling */
        for (int y = 0; y < 10; y++) memset(px + (size_t)k * NPIX + y * SIDE, 200, 10);
    CHECK(vae_prepare_recognise(px, 100) == VAE_NORMALIZE_NONE, "corner squares: none");
    for (int k = 0; k < 100; k++)
        for (int y = 0; y < SIDE; y++) memset(px + (size_t)k * NPIX + y * SIDE + 8, 200, 12);
    CHECK(vae_prepare_recognise(px, 100) == VAE_NORMALIZE_FILL, "full-height bars: fill");
    CHECK(vae_prepare_recognise(px, 0) == VAE_NORMALIZE_NONE, "no images");
    free(px);
}

int main(void) {
    test_names();
    test_geometry();
    test_levels();
    test_polarity();
    test_robust();
    test_no_ink();
    test_png_path();
    test_alpha();
    test_large();
    test_errors();
    test_recognise();
    const char *mnist = getenv("VAE_MNIST");
    test_dataset(mnist ? mnist : "../shared/data/mnist", VAE_NORMALIZE_MNIST, 0.03);
    test_dataset("/usr/share/datasets/fashion-mnist", VAE_NORMALIZE_FILL, 0.04);
    CHECK_DONE();
}
