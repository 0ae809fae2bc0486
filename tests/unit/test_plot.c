/* The trainer's raster canvas (lines, discs, text, ticks, PNG) and its --report pictures. */

/* Test binaries link libvae.a but not the trainer's objects, so the two trainer files under test
 * are compiled into this test directly (which also lets it reach report.c's static PCA helper). */
#include "../../model/train/plot.c"
#include "../../model/train/report.c"

#include <ftw.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static int is_colour(vae_plot_rgb a, vae_plot_rgb b) {
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

/* Number of canvas pixels that are not `background`. */
static int count_changed(const vae_plot_canvas *c, vae_plot_rgb background) {
    int n = 0;
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++)
            n += !is_colour(vae_plot_get(c, x, y), background);
    return n;
}

/* Bounding box of the changed pixels; returns 0 when nothing changed. */
static int changed_box(const vae_plot_canvas *c, vae_plot_rgb background, int *x0, int *y0, int *x1,
                       int *y1) {
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < c->height; y++) {
        for (int x = 0; x < c->width; x++) {
            if (is_colour(vae_plot_get(c, x, y), background))
                continue;
            *x0 = x < *x0 ? x : *x0;
            *y0 = y < *y0 ? y : *y0;
            *x1 = x > *x1 ? x : *x1;
            *y1 = y > *y1 ? y : *y1;
        }
    }
    return *x1 >= 0;
}

static void test_canvas_basics(void) {
    vae_error err = {0};
    CHECK(vae_plot_create(0, 10, VAE_PLOT_WHITE, &err) == NULL, "zero width accepted");
    CHECK(err.status == VAE_ERR_ARG, "status %d", err.status);
    vae_plot_destroy(NULL);

    vae_plot_canvas *c = vae_plot_create(40, 30, VAE_PLOT_WHITE, &err);
    CHECK(c != NULL, "create: %s", err.message);
    if (!c)
        return;
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 0, "not filled with the background");

    vae_plot_blend(c, 3, 3, VAE_PLOT_BLACK, 0.5);
    CHECK_CLOSE(vae_plot_get(c, 3, 3).r, 128, 1, "half black over white");
    vae_plot_blend(c, 4, 3, VAE_PLOT_RGB(10, 20, 30), 1.0);
    CHECK(is_colour(vae_plot_get(c, 4, 3), VAE_PLOT_RGB(10, 20, 30)), "opaque blend replaces");
    vae_plot_blend(c, -1, 3, VAE_PLOT_BLACK, 1.0); /* off-canvas: ignored */
    vae_plot_blend(c, 40, 30, VAE_PLOT_BLACK, 1.0);
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 2, "off-canvas writes landed");

    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_clip(c, 10, 10, 5, 5);
    vae_plot_rect_fill(c, 0, 0, 40, 30, VAE_PLOT_BLACK, 1.0);
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 25, "clip: %d pixels changed",
          count_changed(c, VAE_PLOT_WHITE));
    CHECK(is_colour(vae_plot_get(c, 10, 10), VAE_PLOT_BLACK) &&
              is_colour(vae_plot_get(c, 9, 10), VAE_PLOT_WHITE),
          "clip edges");
    vae_plot_clip_reset(c);

    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_rect_outline(c, 5, 5, 10, 8, 1, VAE_PLOT_BLACK);
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 2 * 10 + 2 * 6, "outline pixels %d",
          count_changed(c, VAE_PLOT_WHITE));
    CHECK(is_colour(vae_plot_get(c, 7, 7), VAE_PLOT_WHITE), "outline filled its inside");

    vae_plot_fill(c, VAE_PLOT_WHITE);
    const uint8_t grey[4] = {0, 50, 100, 255};
    vae_plot_image_grey(c, 2, 2, grey, 2, 2, 3);
    CHECK(vae_plot_get(c, 7, 4).g == 50 && vae_plot_get(c, 2, 7).b == 100 &&
              vae_plot_get(c, 7, 7).r == 255,
          "grey blit at 3x");
    CHECK(is_colour(vae_plot_get(c, 8, 8), VAE_PLOT_WHITE), "grey blit spilled");
    vae_plot_destroy(c);
}

static void test_lines(void) {
    vae_error err = {0};
    vae_plot_canvas *c = vae_plot_create(40, 30, VAE_PLOT_WHITE, &err);
    if (!c) {
        CHECK(0, "create: %s", err.message);
        return;
    }
    /* Horizontal: exactly pixels x = 2..12 of row 5. */
    vae_plot_line(c, 2, 5, 12, 5, 1.0, VAE_PLOT_BLACK, 0);
    int ok = 1;
    for (int x = 0; x < 40; x++)
        for (int y = 0; y < 30; y++)
            ok &= is_colour(vae_plot_get(c, x, y), VAE_PLOT_BLACK) == (y == 5 && x >= 2 && x <= 12);
    CHECK(ok, "horizontal line pixels");

    /* Diagonal: exactly (i, i) for i = 0..9. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_line(c, 0, 0, 9, 9, 1.0, VAE_PLOT_BLACK, 0);
    ok = count_changed(c, VAE_PLOT_WHITE) == 10;
    for (int i = 0; i < 10; i++)
        ok &= is_colour(vae_plot_get(c, i, i), VAE_PLOT_BLACK);
    CHECK(ok, "diagonal line pixels");

    /* Steep, drawn backwards: one pixel per row, ends included. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_line(c, 5, 20, 3, 0, 1.0, VAE_PLOT_BLACK, 0);
    ok = count_changed(c, VAE_PLOT_WHITE) == 21;
    for (int y = 0; y <= 20; y++) {
        int in_row = 0;
        for (int x = 0; x < 40; x++)
            in_row += is_colour(vae_plot_get(c, x, y), VAE_PLOT_BLACK);
        ok &= in_row == 1;
    }
    ok &= is_colour(vae_plot_get(c, 3, 0), VAE_PLOT_BLACK) &&
          is_colour(vae_plot_get(c, 5, 20), VAE_PLOT_BLACK);
    CHECK(ok, "steep line pixels");

    /* A thick plain line covers a band of height 5 (distance <= 2.5) plus round caps. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_line(c, 10, 15, 30, 15, 5.0, VAE_PLOT_BLACK, 0);
    ok = 1;
    for (int x = 10; x <= 30; x++)
        for (int y = 13; y <= 17; y++)
            ok &= is_colour(vae_plot_get(c, x, y), VAE_PLOT_BLACK);
    ok &= is_colour(vae_plot_get(c, 20, 12), VAE_PLOT_WHITE) &&
          is_colour(vae_plot_get(c, 20, 18), VAE_PLOT_WHITE);
    CHECK(ok, "thick line band");

    /* Anti-aliased: full ink on the axis, partial at the edge, none beyond. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_line(c, 5, 10.25, 30, 10.25, 2.0, VAE_PLOT_BLACK, 1);
    CHECK(vae_plot_get(c, 15, 10).r == 0, "AA centre %d", vae_plot_get(c, 15, 10).r);
    int edge = vae_plot_get(c, 15, 11).r;
    CHECK(edge > 0 && edge < 255, "AA edge %d", edge);
    CHECK(vae_plot_get(c, 15, 14).r == 255 && vae_plot_get(c, 15, 7).r == 255, "AA spill");

    /* Lines far outside the canvas or with NaN ends draw nothing and do not hang. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_line(c, -1e9, -1e9, -1e9 + 5, -1e9, 1.0, VAE_PLOT_BLACK, 0);
    vae_plot_line(c, NAN, 0, 5, 5, 1.0, VAE_PLOT_BLACK, 1);
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 0, "off-canvas line drew");
    vae_plot_line(c, -1e7, 3, 1e7, 3, 1.0, VAE_PLOT_BLACK, 0);
    CHECK(count_changed(c, VAE_PLOT_WHITE) == 40, "huge horizontal line covers the row");

    /* Disc: area about pi r^2, centred, nothing outside radius + 1. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_disc(c, 20, 15, 6.0, VAE_PLOT_BLACK, 1.0);
    int n = count_changed(c, VAE_PLOT_WHITE);
    CHECK(n > 100 && n < 150, "disc area %d", n);
    CHECK(vae_plot_get(c, 20, 15).r == 0 && vae_plot_get(c, 20, 8).r == 255 &&
              vae_plot_get(c, 27, 15).r == 255,
          "disc extent");
    vae_plot_destroy(c);
}

static int glyph_bits(char ch) {
    const uint8_t *g = glyph_for((unsigned char)ch);
    int n = 0;
    for (int r = 0; r < VAE_PLOT_GLYPH_H; r++)
        for (int b = 0; b < 5; b++)
            n += (g[r] >> b) & 1;
    return n;
}

static void test_text(void) {
    vae_error err = {0};
    vae_plot_canvas *c = vae_plot_create(200, 60, VAE_PLOT_WHITE, &err);
    if (!c) {
        CHECK(0, "create: %s", err.message);
        return;
    }
    CHECK(vae_plot_text_width("", 2) == 0, "empty width");
    CHECK(vae_plot_text_width("AB", 2) == 22, "width %d", vae_plot_text_width("AB", 2));
    CHECK(vae_plot_text_height(3) == 24, "height");

    CHECK(glyph_bits('A') == 18, "glyph A has %d bits", glyph_bits('A'));
    int inked = vae_plot_text(c, 10, 10, "A", 1, VAE_PLOT_BLACK, VAE_PLOT_ALIGN_LEFT);
    CHECK(inked == 18 && count_changed(c, VAE_PLOT_WHITE) == 18, "A at scale 1: %d", inked);
    vae_plot_fill(c, VAE_PLOT_WHITE);
    inked = vae_plot_text(c, 10, 10, "A", 2, VAE_PLOT_BLACK, VAE_PLOT_ALIGN_LEFT);
    CHECK(inked == 72 && count_changed(c, VAE_PLOT_WHITE) == 72, "A at scale 2: %d", inked);

    /* Every printable glyph but the space has ink; the space has none; unknown bytes draw '?'. */
    int empty = 0;
    for (int ch = 33; ch < 127; ch++)
        empty += glyph_bits((char)ch) == 0;
    CHECK(empty == 0 && glyph_bits(' ') == 0, "%d empty glyphs", empty);
    CHECK(glyph_for(200) == glyph_for('?') && glyph_for('\t') == glyph_for('?'), "fallback glyph");

    /* A line of text stays inside its box; centred and right alignment move it. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    const char *s = "Loss 0.5 gjpqy";
    inked = vae_plot_text(c, 100, 20, s, 2, VAE_PLOT_BLACK, VAE_PLOT_ALIGN_CENTER);
    int x0, y0, x1, y1, w = vae_plot_text_width(s, 2);
    CHECK(inked > 0 && changed_box(c, VAE_PLOT_WHITE, &x0, &y0, &x1, &y1), "no ink");
    CHECK(x0 >= 100 - w / 2 && x1 < 100 - w / 2 + w && y0 >= 20 &&
              y1 < 20 + vae_plot_text_height(2),
          "text box %d,%d..%d,%d", x0, y0, x1, y1);
    CHECK(y1 >= 20 + 14, "descenders missing (bottom %d)", y1);
    vae_plot_fill(c, VAE_PLOT_WHITE);
    vae_plot_text(c, 150, 20, "77", 1, VAE_PLOT_BLACK, VAE_PLOT_ALIGN_RIGHT);
    changed_box(c, VAE_PLOT_WHITE, &x0, &y0, &x1, &y1);
    CHECK(x1 == 149 && x0 == 150 - 11, "right-aligned %d..%d", x0, x1);

    /* Upright text: same ink, in a box of the text's height wide and its width tall, above y. */
    vae_plot_fill(c, VAE_PLOT_WHITE);
    int up = vae_plot_text_up(c, 30, 55, "z2 ok", 1, VAE_PLOT_BLACK, VAE_PLOT_ALIGN_LEFT);
    int flat = glyph_bits('z') + glyph_bits('2') + glyph_bits('o') + glyph_bits('k');
    CHECK(up == flat, "upright ink %d vs %d", up, flat);
    changed_box(c, VAE_PLOT_WHITE, &x0, &y0, &x1, &y1);
    CHECK(x0 >= 30 && x1 < 30 + 8 && y1 <= 55 && y0 > 55 - vae_plot_text_width("z2 ok", 1) - 1,
          "upright box %d,%d..%d,%d", x0, y0, x1, y1);
    vae_plot_destroy(c);
}

static void check_ticks(double lo, double hi, int target, double min_step, double want_lo,
                        double want_hi, double want_step, int want_count, int want_decimals) {
    vae_plot_ticks t;
    vae_plot_nice_ticks(lo, hi, target, min_step, &t);
    CHECK(fabs(t.lo - want_lo) < 1e-9 && fabs(t.hi - want_hi) < 1e-9 &&
              fabs(t.step - want_step) < 1e-12 && t.count == want_count &&
              t.decimals == want_decimals,
          "ticks(%g, %g, %d): got %g..%g step %g count %d decimals %d", lo, hi, target, t.lo, t.hi,
          t.step, t.count, t.decimals);
}

static void test_ticks(void) {
    check_ticks(0, 1, 5, 0, 0, 1, 0.2, 6, 1);
    check_ticks(0, 100, 5, 0, 0, 100, 20, 6, 0);
    check_ticks(-3.7, 4.2, 6, 0, -4, 6, 2, 6, 0);
    check_ticks(95.3, 181.7, 6, 0, 80, 200, 20, 7, 0);
    check_ticks(181.7, 95.3, 6, 0, 80, 200, 20, 7, 0); /* either order */
    check_ticks(0.001, 0.0042, 5, 0, 0.001, 0.005, 0.001, 5, 3);
    check_ticks(1, 20, 6, 1, 0, 20, 5, 5, 0);
    check_ticks(1, 1, 8, 1, 0, 2, 1, 3, 0);             /* one epoch */
    check_ticks(1, 3, 10, 1, 1, 3, 1, 3, 0);            /* integer axis never steps by 0.2 */
    check_ticks(NAN, INFINITY, 5, 0, -1, 1, 0.5, 5, 1); /* nothing finite */

    vae_plot_ticks t;
    vae_plot_nice_ticks(5, 5, 5, 0, &t);
    CHECK(t.lo <= 4.5 && t.hi >= 5.5 && t.step > 0 && t.count >= 2, "degenerate range %g..%g", t.lo,
          t.hi);
    vae_plot_nice_ticks(0, 0, 5, 0, &t);
    CHECK(t.lo <= -1 && t.hi >= 1, "zero range %g..%g", t.lo, t.hi);

    /* Over many ranges: the ticks cover the data (up to the documented slack), the step is 1, 2 or
     * 5 times a power of ten and the count stays near the target. */
    vae_rng rng;
    vae_rng_seed(&rng, 42);
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        double a = (vae_rng_uniform(&rng) - 0.5) * pow(10.0, vae_rng_below(&rng, 12) - 6.0);
        double b = a + vae_rng_uniform(&rng) * pow(10.0, vae_rng_below(&rng, 12) - 6.0) + 1e-7;
        int target = 3 + (int)vae_rng_below(&rng, 8);
        vae_plot_nice_ticks(a, b, target, 0, &t);
        double m = t.step / pow(10.0, floor(log10(t.step) + 1e-9));
        int round_step = fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 5) < 1e-6;
        if (!(t.lo <= a + 1e-9 * t.step && t.hi >= b - 1e-9 * t.step) || !round_step ||
            t.count < 2 || t.count > 3 * target) {
            if (bad++ < 5)
                fprintf(stderr, "ticks(%g, %g, %d) = %g..%g step %g count %d\n", a, b, target, t.lo,
                        t.hi, t.step, t.count);
        }
    }
    CHECK(bad == 0, "%d bad tick sets", bad);

    char buf[32];
    vae_plot_format_tick(-0.00001, 2, buf, sizeof buf);
    CHECK(strcmp(buf, "0.00") == 0, "'%s'", buf);
    vae_plot_format_tick(0.2, 1, buf, sizeof buf);
    CHECK(strcmp(buf, "0.2") == 0, "'%s'", buf);
    vae_plot_format_tick(150, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "150") == 0, "'%s'", buf);
    vae_plot_format_tick(-4, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "-4") == 0, "'%s'", buf);

    /* Fitted axes: padded range, ticks only inside it. */
    double rlo, rhi;
    vae_plot_axis_fit(0, 10, 6, 0, 0.05, &t, &rlo, &rhi);
    CHECK_CLOSE(rlo, -0.5, 1e-12, "fit lo");
    CHECK_CLOSE(rhi, 10.5, 1e-12, "fit hi");
    CHECK(t.lo == 0 && t.hi == 10 && t.step == 2 && t.count == 6, "fit ticks %g..%g/%g #%d", t.lo,
          t.hi, t.step, t.count);
    vae_plot_axis_fit(1, 1, 10, 1, 0.03, &t, &rlo, &rhi);
    CHECK(rlo < 1 && rhi > 1 && t.count == 1 && t.lo == 1, "one-epoch axis %g..%g, %d ticks at %g",
          rlo, rhi, t.count, t.lo);

    vae_plot_axes ax;
    vae_plot_axes_init(&ax, 100, 50, 201, 101, &t, 0, 10, &t, -5, 5);
    CHECK_CLOSE(vae_plot_axes_px(&ax, 0), 100, 1e-9, "px left");
    CHECK_CLOSE(vae_plot_axes_px(&ax, 10), 300, 1e-9, "px right");
    CHECK_CLOSE(vae_plot_axes_py(&ax, 5), 50, 1e-9, "py top");
    CHECK_CLOSE(vae_plot_axes_py(&ax, 0), 100, 1e-9, "py middle");
}

/* Reads a whole file into a malloc'd buffer; NULL when it cannot. */
static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return data;
}

/* Width and height from a PNG's IHDR; 0 when the file is not a PNG. */
static int png_size(const char *path, int *w, int *h) {
    size_t len = 0;
    uint8_t *data = read_all(path, &len);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int ok = data && len >= 33 && memcmp(data, sig, 8) == 0 && memcmp(data + 12, "IHDR", 4) == 0;
    if (ok) {
        *w = (int)((uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 |
                   data[19]);
        *h = (int)((uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 |
                   data[23]);
    }
    free(data);
    return ok;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_png(const char *tmp) {
    vae_error err = {0};
    vae_plot_canvas *c = vae_plot_create(37, 21, VAE_PLOT_RGB(10, 20, 30), &err);
    if (!c) {
        CHECK(0, "create: %s", err.message);
        return;
    }
    vae_plot_blend(c, 36, 20, VAE_PLOT_RGB(200, 100, 50), 1.0);
    char path[512];
    snprintf(path, sizeof path, "%s/canvas.png", tmp);
    CHECK(vae_plot_save_png(c, path, &err) == VAE_OK, "save: %s", err.message);

    /* Decode it fully with libpng: size, and the pixels we drew. */
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    int ok = png_image_begin_read_from_file(&img, path) != 0;
    CHECK(ok, "libpng cannot read %s: %s", path, img.message);
    if (ok) {
        CHECK(img.width == 37 && img.height == 21, "decoded %ux%u", img.width, img.height);
        img.format = PNG_FORMAT_RGB;
        uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
        ok = px && png_image_finish_read(&img, NULL, px, 0, NULL) != 0;
        CHECK(ok, "decode: %s", img.message);
        if (ok) {
            const uint8_t *last = px + (20 * 37 + 36) * 3;
            CHECK(px[0] == 10 && px[1] == 20 && px[2] == 30, "first pixel %d,%d,%d", px[0], px[1],
                  px[2]);
            CHECK(last[0] == 200 && last[1] == 100 && last[2] == 50, "last pixel");
        }
        free(px);
        png_image_free(&img);
    }

    /* A directory that does not exist: VAE_ERR_IO naming the file. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", tmp);
    vae_status st = vae_plot_save_png(c, path, &err);
    CHECK(st == VAE_ERR_IO && strstr(err.message, "x.png"), "bad path: %d '%s'", st, err.message);
    vae_plot_destroy(c);
}

/* The report's PCA: power iteration with deflation finds known eigenpairs. */
static void test_power_iteration(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 3);
    double a[9] = {1, 0, 0, 0, 3, 0, 0, 0, 2}, v1[3], v2[3], tmp[3];
    double l1 = power_iteration(a, 3, v1, tmp, NULL, &rng);
    CHECK_CLOSE(l1, 3, 1e-9, "lambda1 of diag(1,3,2)");
    CHECK_CLOSE(v1[1], 1, 1e-6, "v1 is e2");
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            a[r * 3 + c] -= l1 * v1[r] * v1[c];
    double l2 = power_iteration(a, 3, v2, tmp, v1, &rng);
    CHECK_CLOSE(l2, 2, 1e-9, "lambda2 after deflation");
    CHECK_CLOSE(v2[2], 1, 1e-6, "v2 is e3");

    double b[4] = {2, 1, 1, 2};
    l1 = power_iteration(b, 2, v1, tmp, NULL, &rng);
    CHECK_CLOSE(l1, 3, 1e-9, "lambda1 of [[2,1],[1,2]]");
    CHECK_CLOSE(v1[0], sqrt(0.5), 1e-6, "v1 = (1,1)/sqrt2");
    CHECK_CLOSE(v1[1], sqrt(0.5), 1e-6, "v1 = (1,1)/sqrt2");
}

static void check_report_files(const char *dir, int n_epochs) {
    static const struct {
        const char *name;
        int w, h;
    } pngs[] = {
        {"samples.png", VAE_REPORT_SAMPLES_W, VAE_REPORT_SAMPLES_H},
        {"reconstructions.png", VAE_REPORT_RECON_W, VAE_REPORT_RECON_H},
        {"morph_3_to_8.png", VAE_REPORT_MORPH_W, VAE_REPORT_MORPH_H},
        {"latent_map.png", VAE_REPORT_MAP_W, VAE_REPORT_MAP_H},
        {"loss.png", VAE_REPORT_LOSS_W, VAE_REPORT_LOSS_H},
    };
    char path[1024];
    for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, pngs[i].name);
        int w = 0, h = 0;
        CHECK(png_size(path, &w, &h), "%s missing or not a PNG", path);
        CHECK(w == pngs[i].w && h == pngs[i].h, "%s is %dx%d, want %dx%d", path, w, h, pngs[i].w,
              pngs[i].h);
    }
    CHECK(VAE_REPORT_SAMPLES_W == 672 && VAE_REPORT_SAMPLES_H == 672,
          "samples are 8x8 of 28x28 at 3x");

    snprintf(path, sizeof path, "%s/epochs.csv", dir);
    size_t len = 0;
    uint8_t *csv = read_all(path, &len);
    CHECK(csv != NULL, "%s missing", path);
    if (!csv)
        return;
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += csv[i] == '\n';
    CHECK(lines == n_epochs + 1, "%s has %d lines, want %d", path, lines, n_epochs + 1);
    const char *header =
        "epoch,train_loss,test_loss,train_bce,train_kl,test_bce,test_kl,seconds,lr\n";
    CHECK(len >= strlen(header) && memcmp(csv, header, strlen(header)) == 0, "csv header");
    if (n_epochs > 0) {
        const char *row = (const char *)csv + strlen(header);
        int epoch = 0;
        double train = 0, lr = 0;
        CHECK(sscanf(row, "%d,%lf,%*f,%*f,%*f,%*f,%*f,%*f,%lf", &epoch, &train, &lr) == 3 &&
                  epoch == 1 && fabs(train - 200.5) < 1e-6 && fabs(lr - 0.001) < 1e-12,
              "first csv row: %.60s", row);
    }
    free(csv);
}

/* The latent-space pictures: the manifold for d >= 2 only, the traversal with a row per coordinate
 * up to 10. */
static void check_latent_files(const char *dir, int d) {
    char path[1024];
    int w = 0, h = 0;
    snprintf(path, sizeof path, "%s/manifold.png", dir);
    if (d >= 2) {
        CHECK(png_size(path, &w, &h) && w == VAE_REPORT_MANIFOLD_W && h == VAE_REPORT_MANIFOLD_H,
              "%s is %dx%d, want %dx%d", path, w, h, VAE_REPORT_MANIFOLD_W, VAE_REPORT_MANIFOLD_H);
    } else {
        CHECK(access(path, F_OK) != 0, "%s written for d = 1", path);
    }
    snprintf(path, sizeof path, "%s/traversal.png", dir);
    CHECK(png_size(path, &w, &h) && w == VAE_REPORT_TRAVERSE_W && h == VAE_REPORT_TRAVERSE_H(d),
          "%s is %dx%d, want %dx%d", path, w, h, VAE_REPORT_TRAVERSE_W, VAE_REPORT_TRAVERSE_H(d));
}

/* A report for a small random model on synthetic images, for latent sizes 1, 2 and 5. */
static void test_report(const char *tmp) {
    enum { N = 30 };
    vae_dataset test = {.count = N, .rows = 28, .cols = 28};
    test.pixels = malloc((size_t)N * VAE_INPUT_DIM);
    test.labels = malloc(N);
    vae_epoch_stats history[3];
    if (!test.pixels || !test.labels) {
        CHECK(0, "out of memory");
        goto done;
    }
    vae_rng rng;
    vae_rng_seed(&rng, 11);
    for (int i = 0; i < N; i++) {
        test.labels[i] = (uint8_t)(i % 10);
        for (int p = 0; p < VAE_INPUT_DIM; p++) /* a blob whose place depends on the class */
            test.pixels[(size_t)i * VAE_INPUT_DIM + p] =
                abs(p / 28 - 8 - i % 10) < 4 && abs(p % 28 - 14) < 5
                    ? (uint8_t)(200 + vae_rng_below(&rng, 56))
                    : 0;
    }
    for (int e = 0; e < 3; e++)
        history[e] = (vae_epoch_stats){.epoch = e + 1,
                                       .train_loss = 200.5 - 20 * e,
                                       .test_loss = 190 - 15 * e,
                                       .train_bce = 190 - 20 * e,
                                       .train_kl = 10.5,
                                       .test_bce = 180 - 15 * e,
                                       .test_kl = 10,
                                       .seconds = 1.25,
                                       .lr = 0.001};

    const int latents[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++) {
        vae_error err = {0};
        vae_config cfg = {
            .n_hidden = 1, .hidden = {16}, .latent_dim = latents[k], .activation = VAE_ACT_RELU};
        vae_model *model = vae_model_create(&cfg, &err);
        CHECK(model != NULL, "model: %s", err.message);
        if (!model)
            continue;
        vae_model_init_params(model, 5 + k);
        if (latents[k] == 5) { /* the model's own centroids are used when present */
            model->centroids = calloc(VAE_NUM_CLASSES * 5, sizeof(float));
            if (model->centroids)
                model->centroids[MORPH_TO * 5] = 1.0f;
        }
        char dir[512];
        snprintf(dir, sizeof dir, "%s/d%d/nested", tmp, latents[k]); /* parents made too */
        int epochs = k == 0 ? 1 : 3; /* one epoch: a one-point plot */
        vae_status st = vae_report_write(dir, model, &test, history, epochs, 7, &err);
        CHECK(st == VAE_OK, "report d=%d: %s", latents[k], err.message);
        if (st == VAE_OK) {
            check_report_files(dir, epochs);
            check_latent_files(dir, latents[k]);
        }
        vae_model_destroy(model);
    }

    /* Errors: a directory under a regular file, no test images, no history. */
    vae_error err = {0};
    vae_config cfg = {.n_hidden = 1, .hidden = {8}, .latent_dim = 2, .activation = VAE_ACT_RELU};
    vae_model *model = vae_model_create(&cfg, &err);
    if (model) {
        char file[512], dir[600];
        snprintf(file, sizeof file, "%s/plain-file", tmp);
        FILE *f = fopen(file, "w");
        if (f)
            fclose(f);
        snprintf(dir, sizeof dir, "%s/report", file);
        vae_status st = vae_report_write(dir, model, &test, history, 1, 1, &err);
        CHECK(st == VAE_ERR_IO && strstr(err.message, "plain-file"), "dir under a file: %d '%s'",
              st, err.message);
        vae_dataset none = {
            .count = 0, .rows = 28, .cols = 28, .pixels = test.pixels, .labels = test.labels};
        snprintf(dir, sizeof dir, "%s/empty", tmp);
        st = vae_report_write(dir, model, &none, history, 1, 1, &err);
        CHECK(st == VAE_ERR_ARG, "empty test set: %d", st);
        st = vae_report_write(dir, model, &test, NULL, 2, 1, &err);
        CHECK(st == VAE_ERR_ARG, "missing history: %d", st);
        st = vae_report_write(dir, model, &test, NULL, 0, 1, &err);
        CHECK(st == VAE_OK, "zero epochs: %s", err.message);
        if (st == VAE_OK)
            check_report_files(dir, 0);
        vae_model_destroy(model);
    } else {
        CHECK(0, "model: %s", err.message);
    }
done:
    free(test.pixels);
    free(test.labels);
}

int main(void) {
    char tmp[256];
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/vae-test-plot-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_canvas_basics();
    test_lines();
    test_text();
    test_ticks();
    test_png(tmp);
    test_power_iteration();
    test_report(tmp);
    remove_tree(tmp);
    CHECK(access(tmp, F_OK) != 0, "temporary directory %s left behind", tmp);
    CHECK_DONE();
}
