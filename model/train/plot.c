/* The report's raster canvas: pixel blending with a clip rectangle, anti-aliased lines and discs, a
 * hand-drawn bitmap font, round axis ticks, legends and PNG output. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vae_plot_canvas *vae_plot_create(int width, int height, vae_plot_rgb background, vae_error *err) {
    if (width < 1 || height < 1 || width > VAE_PLOT_MAX_SIDE || height > VAE_PLOT_MAX_SIDE) {
        vae_error_set(err, VAE_ERR_ARG, "canvas size %dx%d outside 1..%d", width, height,
                      VAE_PLOT_MAX_SIDE);
        return NULL;
    }
    vae_plot_canvas *canvas = calloc(1, sizeof *canvas);
    uint8_t *pixels = malloc((size_t)width * (size_t)height * 3);
    if (!canvas || !pixels) {
        free(canvas);
        free(pixels);
        vae_error_set(err, VAE_ERR_NOMEM, "out of memory for a %dx%d canvas", width, height);
        return NULL;
    }
    canvas->width = width;
    canvas->height = height;
    canvas->pixels = pixels;
    vae_plot_clip_reset(canvas);
    vae_plot_fill(canvas, background);
    return canvas;
}

void vae_plot_destroy(vae_plot_canvas *canvas) {
    if (!canvas)
        return;
    free(canvas->pixels);
    free(canvas);
}

void vae_plot_fill(vae_plot_canvas *canvas, vae_plot_rgb colour) {
    size_t n = (size_t)canvas->width * (size_t)canvas->height;
    uint8_t *p = canvas->pixels;
    for (size_t i = 0; i < n; i++, p += 3) {
        p[0] = colour.r;
        p[1] = colour.g;
        p[2] = colour.b;
    }
}

void vae_plot_clip(vae_plot_canvas *canvas, int x, int y, int w, int h) {
    canvas->clip_x0 = x < 0 ? 0 : x;
    canvas->clip_y0 = y < 0 ? 0 : y;
    canvas->clip_x1 = x + w > canvas->width ? canvas->width : x + w;
    canvas->clip_y1 = y + h > canvas->height ? canvas->height : y + h;
}

void vae_plot_clip_reset(vae_plot_canvas *canvas) {
    vae_plot_clip(canvas, 0, 0, canvas->width, canvas->height);
}

/* Blends one pixel; returns 1 when it lay inside the clip rectangle (and so was touched). */
static int plot_put(vae_plot_canvas *canvas, int x, int y, vae_plot_rgb colour, double alpha) {
    if (x < canvas->clip_x0 || x >= canvas->clip_x1 || y < canvas->clip_y0 || y >= canvas->clip_y1)
        return 0;
    if (!(alpha > 0.0)) /* also rejects NaN */
        return 0;
    uint8_t *p = canvas->pixels + ((size_t)y * (size_t)canvas->width + (size_t)x) * 3;
    if (alpha >= 1.0) {
        p[0] = colour.r;
        p[1] = colour.g;
        p[2] = colour.b;
    } else {
        p[0] = (uint8_t)lround(p[0] + (colour.r - p[0]) * alpha);
        p[1] = (uint8_t)lround(p[1] + (colour.g - p[1]) * alpha);
        p[2] = (uint8_t)lround(p[2] + (colour.b - p[2]) * alpha);
    }
    return 1;
}

void vae_plot_blend(vae_plot_canvas *canvas, int x, int y, vae_plot_rgb colour, double alpha) {
    plot_put(canvas, x, y, colour, alpha);
}

vae_plot_rgb vae_plot_get(const vae_plot_canvas *canvas, int x, int y) {
    if (x < 0 || y < 0 || x >= canvas->width || y >= canvas->height)
        return VAE_PLOT_BLACK;
    const uint8_t *p = canvas->pixels + ((size_t)y * (size_t)canvas->width + (size_t)x) * 3;
    return VAE_PLOT_RGB(p[0], p[1], p[2]);
}

static double clamp01(double v) {
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* Distance from (px, py) to the segment (x0, y0)-(x1, y1). */
static double segment_distance(double px, double py, double x0, double y0, double x1, double y1) {
    double dx = x1 - x0, dy = y1 - y0;
    double len2 = dx * dx + dy * dy;
    double t = len2 > 0.0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0.0;
    t = clamp01(t);
    double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
    return sqrt(ex * ex + ey * ey);
}

static void line_bresenham(vae_plot_canvas *canvas, long x0, long y0, long x1, long y1,
                           vae_plot_rgb colour) {
    long dx = labs(x1 - x0), dy = -labs(y1 - y0);
    long sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long e = dx + dy;
    for (;;) {
        if (x0 >= 0 && x0 < canvas->width && y0 >= 0 && y0 < canvas->height)
            plot_put(canvas, (int)x0, (int)y0, colour, 1.0);
        if (x0 == x1 && y0 == y1)
            break;
        long e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void vae_plot_line(vae_plot_canvas *canvas, double x0, double y0, double x1, double y1,
                   double thickness, vae_plot_rgb colour, int antialias) {
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || !(thickness > 0.0))
        return;
    double half = thickness / 2.0;
    double reach = half + 1.0;
    /* Only the part of the bounding box inside the clip rectangle is visited, so a segment running
     * far off-canvas costs no more than one that stays on it. */
    double bx0 = fmax(fmin(x0, x1) - reach, canvas->clip_x0);
    double by0 = fmax(fmin(y0, y1) - reach, canvas->clip_y0);
    double bx1 = fmin(fmax(x0, x1) + reach, canvas->clip_x1 - 1);
    double by1 = fmin(fmax(y0, y1) + reach, canvas->clip_y1 - 1);
    if (bx0 > bx1 || by0 > by1)
        return;
    if (!antialias && thickness <= 1.0) {
        /* Bresenham only where the endpoints are sane; far-off ones would make it walk forever. */
        double lim = 4.0 * VAE_PLOT_MAX_SIDE;
        if (fabs(x0) < lim && fabs(y0) < lim && fabs(x1) < lim && fabs(y1) < lim) {
            line_bresenham(canvas, lround(x0), lround(y0), lround(x1), lround(y1), colour);
            return;
        }
    }
    for (int y = (int)ceil(by0); y <= (int)floor(by1); y++) {
        for (int x = (int)ceil(bx0); x <= (int)floor(bx1); x++) {
            double d = segment_distance(x, y, x0, y0, x1, y1);
            if (antialias) {
                double cov = clamp01(half + 0.5 - d);
                if (cov > 0.0)
                    plot_put(canvas, x, y, colour, cov);
            } else if (d <= half) {
                plot_put(canvas, x, y, colour, 1.0);
            }
        }
    }
}

void vae_plot_disc(vae_plot_canvas *canvas, double cx, double cy, double radius,
                   vae_plot_rgb colour, double alpha) {
    if (!isfinite(cx) || !isfinite(cy) || !(radius > 0.0))
        return;
    double reach = radius + 1.0;
    int x0 = (int)fmax(ceil(cx - reach), canvas->clip_x0);
    int y0 = (int)fmax(ceil(cy - reach), canvas->clip_y0);
    int x1 = (int)fmin(floor(cx + reach), canvas->clip_x1 - 1);
    int y1 = (int)fmin(floor(cy + reach), canvas->clip_y1 - 1);
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            double d = hypot(x - cx, y - cy);
            double cov = clamp01(radius + 0.5 - d);
            if (cov > 0.0)
                plot_put(canvas, x, y, colour, cov * alpha);
        }
    }
}

void vae_plot_rect_fill(vae_plot_canvas *canvas, int x, int y, int w, int h, vae_plot_rgb colour,
                        double alpha) {
    int x0 = x < canvas->clip_x0 ? canvas->clip_x0 : x;
    int y0 = y < canvas->clip_y0 ? canvas->clip_y0 : y;
    int x1 = x + w > canvas->clip_x1 ? canvas->clip_x1 : x + w;
    int y1 = y + h > canvas->clip_y1 ? canvas->clip_y1 : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            plot_put(canvas, xx, yy, colour, alpha);
}

void vae_plot_rect_outline(vae_plot_canvas *canvas, int x, int y, int w, int h, int thickness,
                           vae_plot_rgb colour) {
    if (w <= 0 || h <= 0 || thickness <= 0)
        return;
    if (2 * thickness >= w || 2 * thickness >= h) {
        vae_plot_rect_fill(canvas, x, y, w, h, colour, 1.0);
        return;
    }
    vae_plot_rect_fill(canvas, x, y, w, thickness, colour, 1.0);
    vae_plot_rect_fill(canvas, x, y + h - thickness, w, thickness, colour, 1.0);
    vae_plot_rect_fill(canvas, x, y + thickness, thickness, h - 2 * thickness, colour, 1.0);
    vae_plot_rect_fill(canvas, x + w - thickness, y + thickness, thickness, h - 2 * thickness,
                       colour, 1.0);
}

void vae_plot_image_grey(vae_plot_canvas *canvas, int x, int y, const uint8_t *grey, int w, int h,
                         int scale) {
    if (scale < 1)
        scale = 1;
    for (int sy = 0; sy < h; sy++) {
        for (int sx = 0; sx < w; sx++) {
            uint8_t v = grey[(size_t)sy * (size_t)w + (size_t)sx];
            vae_plot_rect_fill(canvas, x + sx * scale, y + sy * scale, scale, scale,
                               VAE_PLOT_RGB(v, v, v), 1.0);
        }
    }
}

/* The font, drawn for this project: one byte per row, bit 4 the leftmost column; rows 0..6 hold the
 * body (capitals and digits fill all seven, lower case sits on rows 2..6) and row 7 the descenders.
 */
/* clang-format off */
static const uint8_t plot_font[95][VAE_PLOT_GLYPH_H] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00}, /* '!' */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '"' */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00}, /* '#' */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00}, /* '$' */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00}, /* '%' */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00}, /* '&' */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '\'' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00}, /* '(' */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00}, /* ')' */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00}, /* '*' */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00}, /* '+' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* ',' */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00}, /* '-' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00}, /* '.' */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00}, /* '/' */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0x00}, /* '0' */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00}, /* '1' */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00}, /* '2' */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00}, /* '3' */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00}, /* '4' */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00}, /* '5' */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00}, /* '6' */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00}, /* '7' */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00}, /* '8' */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00}, /* '9' */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00}, /* ':' */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08, 0x00}, /* ';' */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00}, /* '<' */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* '=' */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00}, /* '>' */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00}, /* '?' */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E, 0x00}, /* '@' */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00}, /* 'A' */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00}, /* 'B' */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00}, /* 'C' */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0x00}, /* 'D' */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00}, /* 'E' */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00}, /* 'F' */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00}, /* 'G' */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00}, /* 'H' */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00}, /* 'I' */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00}, /* 'J' */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00}, /* 'K' */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00}, /* 'L' */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00}, /* 'M' */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00}, /* 'N' */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00}, /* 'O' */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00}, /* 'P' */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00}, /* 'Q' */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00}, /* 'R' */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00}, /* 'S' */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'T' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00}, /* 'U' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00}, /* 'V' */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00}, /* 'W' */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00}, /* 'X' */
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'Y' */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00}, /* 'Z' */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00}, /* '[' */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00}, /* '\\' */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00}, /* ']' */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '^' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* '_' */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '`' */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00}, /* 'a' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0x00}, /* 'b' */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00}, /* 'c' */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0x00}, /* 'd' */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00}, /* 'e' */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00}, /* 'f' */
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* 'g' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'h' */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00}, /* 'i' */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* 'j' */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00}, /* 'k' */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00}, /* 'l' */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x15, 0x15, 0x00}, /* 'm' */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'n' */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00}, /* 'o' */
    {0x00, 0x00, 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10}, /* 'p' */
    {0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x01}, /* 'q' */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00}, /* 'r' */
    {0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E, 0x00}, /* 's' */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00}, /* 't' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00}, /* 'u' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00}, /* 'v' */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00}, /* 'w' */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00}, /* 'x' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* 'y' */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00}, /* 'z' */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00}, /* '{' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* '|' */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00}, /* '}' */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00}, /* '~' */
};
/* clang-format on */

static const uint8_t *glyph_for(unsigned char c) {
    if (c < 32 || c > 126)
        c = '?';
    return plot_font[c - 32];
}

int vae_plot_text_width(const char *text, int scale) {
    size_t n = strlen(text);
    if (n == 0)
        return 0;
    if (scale < 1)
        scale = 1;
    return (int)(((long)n * VAE_PLOT_ADVANCE - (VAE_PLOT_ADVANCE - VAE_PLOT_GLYPH_W)) * scale);
}

int vae_plot_text_height(int scale) {
    return VAE_PLOT_GLYPH_H * (scale < 1 ? 1 : scale);
}

static int align_offset(const char *text, int scale, vae_plot_align align) {
    int w = vae_plot_text_width(text, scale);
    return align == VAE_PLOT_ALIGN_CENTER ? w / 2 : align == VAE_PLOT_ALIGN_RIGHT ? w : 0;
}

/* Draws text with glyph pixel (u along the text, v down from its top) landing on canvas pixel
 * (ox + u*ux + v*vx, oy + u*uy + v*vy) — unit steps that either keep it level or turn it upright.
 */
static int draw_text(vae_plot_canvas *canvas, int ox, int oy, int ux, int uy, int vx, int vy,
                     const char *text, int scale, vae_plot_rgb colour) {
    if (scale < 1)
        scale = 1;
    int inked = 0;
    for (int i = 0; text[i]; i++) {
        const uint8_t *g = glyph_for((unsigned char)text[i]);
        int u0 = i * VAE_PLOT_ADVANCE * scale;
        for (int row = 0; row < VAE_PLOT_GLYPH_H; row++) {
            for (int col = 0; col < VAE_PLOT_GLYPH_W; col++) {
                if (!(g[row] & (0x10 >> col)))
                    continue;
                for (int a = 0; a < scale; a++) {
                    for (int b = 0; b < scale; b++) {
                        int u = u0 + col * scale + a, v = row * scale + b;
                        inked += plot_put(canvas, ox + u * ux + v * vx, oy + u * uy + v * vy,
                                          colour, 1.0);
                    }
                }
            }
        }
    }
    return inked;
}

int vae_plot_text(vae_plot_canvas *canvas, int x, int y, const char *text, int scale,
                  vae_plot_rgb colour, vae_plot_align align) {
    return draw_text(canvas, x - align_offset(text, scale, align), y, 1, 0, 0, 1, text, scale,
                     colour);
}

int vae_plot_text_up(vae_plot_canvas *canvas, int x, int y, const char *text, int scale,
                     vae_plot_rgb colour, vae_plot_align align) {
    return draw_text(canvas, x, y + align_offset(text, scale, align), 0, -1, 1, 0, text, scale,
                     colour);
}

/* A round number near x (> 0): 1, 2 or 5 times a power of ten, the nearest one when `nearest`,
 * else the smallest at least x (Heckbert, "Nice numbers for graph labels", Graphics Gems 1990). */
static double nice_number(double x, int nearest) {
    double e = floor(log10(x));
    double p = pow(10.0, e);
    double f = x / p;
    double nf;
    if (nearest)
        nf = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0;
    else
        nf = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
    return nf * p;
}

void vae_plot_nice_ticks(double lo, double hi, int target, double min_step, vae_plot_ticks *out) {
    if (!isfinite(lo) && !isfinite(hi)) {
        lo = -1.0;
        hi = 1.0;
    } else if (!isfinite(lo)) {
        lo = hi;
    } else if (!isfinite(hi)) {
        hi = lo;
    }
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    /* A zero-width range still needs an axis: widen it by 10% of its magnitude (or 1 at zero). */
    double mag = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= 1e-12 * mag || hi - lo < 1e-300) {
        double d = mag > 0.0 ? 0.1 * mag : 1.0;
        lo -= d;
        hi += d;
    }
    if (target < 2)
        target = 2;
    double range = nice_number(hi - lo, 0);
    double step = nice_number(range / (target - 1), 1);
    if (min_step > 0.0 && step < min_step)
        step = min_step;
    /* The small slack keeps values that are multiples of step up to rounding from gaining a tick.
     */
    double first = floor(lo / step + 1e-9) * step;
    double last = ceil(hi / step - 1e-9) * step;
    out->lo = first;
    out->hi = last;
    out->step = step;
    out->count = (int)lround((last - first) / step) + 1;
    int decimals = (int)-floor(log10(step) + 1e-9);
    out->decimals = decimals < 0 ? 0 : decimals;
}

void vae_plot_format_tick(double value, int decimals, char *buf, size_t size) {
    if (decimals > 8 || fabs(value) >= 1e9) {
        snprintf(buf, size, "%g", value);
        return;
    }
    if (fabs(value) < 0.5 * pow(10.0, -decimals))
        value = 0.0; /* no "-0" */
    snprintf(buf, size, "%.*f", decimals, value);
}

void vae_plot_axis_fit(double lo, double hi, int target, double min_step, double pad,
                       vae_plot_ticks *ticks, double *range_lo, double *range_hi) {
    vae_plot_ticks t;
    vae_plot_nice_ticks(lo, hi, target, min_step,
                        &t); /* also sorts out order and non-finite ends */
    if (!isfinite(lo) && !isfinite(hi)) {
        lo = -1.0;
        hi = 1.0;
    } else if (!isfinite(lo)) {
        lo = hi;
    } else if (!isfinite(hi)) {
        hi = lo;
    }
    if (lo > hi) {
        double s = lo;
        lo = hi;
        hi = s;
    }
    double mag = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= 1e-12 * mag || hi - lo < 1e-300) {
        double d = mag > 0.0 ? 0.1 * mag : 1.0;
        lo -= d;
        hi += d;
    } else if (pad > 0.0) {
        double d = pad * (hi - lo);
        lo -= d;
        hi += d;
    }
    double first = ceil(lo / t.step - 1e-9) * t.step;
    double last = floor(hi / t.step + 1e-9) * t.step;
    long count = lround((last - first) / t.step) + 1;
    t.lo = first;
    t.hi = last;
    t.count = count > 0 ? (int)count : 0;
    *ticks = t;
    *range_lo = lo;
    *range_hi = hi;
}

void vae_plot_axes_init(vae_plot_axes *ax, int left, int top, int width, int height,
                        const vae_plot_ticks *x, double x_lo, double x_hi, const vae_plot_ticks *y,
                        double y_lo, double y_hi) {
    ax->left = left;
    ax->top = top;
    ax->width = width;
    ax->height = height;
    ax->x_lo = x_lo;
    ax->x_hi = x_hi;
    ax->y_lo = y_lo;
    ax->y_hi = y_hi;
    ax->x = *x;
    ax->y = *y;
}

double vae_plot_axes_px(const vae_plot_axes *ax, double x) {
    return ax->left + (x - ax->x_lo) / (ax->x_hi - ax->x_lo) * (ax->width - 1);
}

double vae_plot_axes_py(const vae_plot_axes *ax, double y) {
    return ax->top + (ax->y_hi - y) / (ax->y_hi - ax->y_lo) * (ax->height - 1);
}

/* Whether v lies in [a, b] (either order) up to rounding. */
static int in_range(double v, double a, double b) {
    double lo = fmin(a, b), hi = fmax(a, b), slack = 1e-9 * (hi - lo);
    return v >= lo - slack && v <= hi + slack;
}

void vae_plot_axes_draw(vae_plot_canvas *canvas, const vae_plot_axes *ax, const char *title,
                        const char *xlabel, const char *ylabel, int scale) {
    const vae_plot_rgb grid = VAE_PLOT_RGB(228, 228, 228);
    const vae_plot_rgb frame = VAE_PLOT_RGB(70, 70, 70);
    const vae_plot_rgb ink = VAE_PLOT_RGB(30, 30, 30);
    int left = ax->left, top = ax->top, right = ax->left + ax->width - 1;
    int bottom = ax->top + ax->height - 1;
    int th = vae_plot_text_height(scale);
    int tick = 3 * scale;
    char label[64];

    for (int i = 0; i < ax->x.count; i++) {
        double v = ax->x.lo + i * ax->x.step;
        if (!in_range(v, ax->x_lo, ax->x_hi))
            continue;
        int px = (int)lround(vae_plot_axes_px(ax, v));
        vae_plot_line(canvas, px, top, px, bottom, 1.0, grid, 0);
        vae_plot_line(canvas, px, bottom, px, bottom + tick, 1.0, frame, 0);
        vae_plot_format_tick(v, ax->x.decimals, label, sizeof label);
        vae_plot_text(canvas, px, bottom + tick + 2 * scale, label, scale, ink,
                      VAE_PLOT_ALIGN_CENTER);
    }
    int widest = 0;
    for (int i = 0; i < ax->y.count; i++) {
        double v = ax->y.lo + i * ax->y.step;
        if (!in_range(v, ax->y_lo, ax->y_hi))
            continue;
        int py = (int)lround(vae_plot_axes_py(ax, v));
        vae_plot_line(canvas, left, py, right, py, 1.0, grid, 0);
        vae_plot_line(canvas, left - tick, py, left, py, 1.0, frame, 0);
        vae_plot_format_tick(v, ax->y.decimals, label, sizeof label);
        int w = vae_plot_text_width(label, scale);
        if (w > widest)
            widest = w;
        /* Centre the seven body rows (not the descender) on the tick. */
        vae_plot_text(canvas, left - tick - 2 * scale, py - (7 * scale) / 2, label, scale, ink,
                      VAE_PLOT_ALIGN_RIGHT);
    }
    vae_plot_rect_outline(canvas, left, top, ax->width, ax->height, 1, frame);

    if (xlabel)
        vae_plot_text(canvas, left + ax->width / 2, bottom + tick + 2 * scale + th + 5 * scale,
                      xlabel, scale, ink, VAE_PLOT_ALIGN_CENTER);
    if (ylabel)
        vae_plot_text_up(canvas, left - tick - 2 * scale - widest - 6 * scale - th,
                         top + ax->height / 2, ylabel, scale, ink, VAE_PLOT_ALIGN_CENTER);
    if (title) {
        int ty = top - th - 8 * scale;
        /* Bold: the same glyphs again one pixel to the right. */
        vae_plot_text(canvas, left + ax->width / 2, ty, title, scale, ink, VAE_PLOT_ALIGN_CENTER);
        vae_plot_text(canvas, left + ax->width / 2 + 1, ty, title, scale, ink,
                      VAE_PLOT_ALIGN_CENTER);
    }
}

/* Legend metrics, in units of the text scale. */
#define LEGEND_PAD 5
#define LEGEND_KEY 14
#define LEGEND_GAP 5
#define LEGEND_ROW 11

void vae_plot_legend_size(const vae_plot_legend_entry *entries, int n, int scale, int *w, int *h) {
    if (scale < 1)
        scale = 1;
    int widest = 0;
    for (int i = 0; i < n; i++) {
        int tw = vae_plot_text_width(entries[i].label, scale);
        if (tw > widest)
            widest = tw;
    }
    *w = (2 * LEGEND_PAD + LEGEND_KEY + LEGEND_GAP) * scale + widest;
    *h = 2 * LEGEND_PAD * scale + (n > 0 ? n * LEGEND_ROW * scale - (LEGEND_ROW - 7) * scale : 0);
}

void vae_plot_legend(vae_plot_canvas *canvas, int x, int y, const vae_plot_legend_entry *entries,
                     int n, int scale, vae_plot_key key) {
    if (scale < 1)
        scale = 1;
    int w, h;
    vae_plot_legend_size(entries, n, scale, &w, &h);
    vae_plot_rect_fill(canvas, x, y, w, h, VAE_PLOT_WHITE, 0.9);
    vae_plot_rect_outline(canvas, x, y, w, h, 1, VAE_PLOT_RGB(170, 170, 170));
    for (int i = 0; i < n; i++) {
        int row = y + LEGEND_PAD * scale + i * LEGEND_ROW * scale;
        double cy = row + 3.0 * scale; /* middle of the seven body rows */
        double kx0 = x + LEGEND_PAD * scale, kx1 = kx0 + LEGEND_KEY * scale;
        if (key == VAE_PLOT_KEY_LINE || key == VAE_PLOT_KEY_LINE_DISC)
            vae_plot_line(canvas, kx0, cy, kx1, cy, 1.25 * scale, entries[i].colour, 1);
        if (key == VAE_PLOT_KEY_DISC || key == VAE_PLOT_KEY_LINE_DISC)
            vae_plot_disc(canvas, (kx0 + kx1) / 2, cy,
                          (key == VAE_PLOT_KEY_DISC ? 3.0 : 2.5) * scale, entries[i].colour, 1.0);
        vae_plot_text(canvas, (int)kx1 + LEGEND_GAP * scale, row, entries[i].label, scale,
                      VAE_PLOT_RGB(30, 30, 30), VAE_PLOT_ALIGN_LEFT);
    }
}

vae_plot_rgb vae_plot_category_colour(int i) {
    /* Ten hues of similar weight, distinct on white and apart in lightness where hues are close. */
    static const vae_plot_rgb palette[10] = {
        {38, 110, 190},  /* blue */
        {245, 130, 32},  /* orange */
        {48, 160, 64},   /* green */
        {214, 40, 44},   /* red */
        {148, 103, 189}, /* purple */
        {140, 86, 70},   /* brown */
        {228, 118, 192}, /* pink */
        {122, 122, 122}, /* grey */
        {185, 186, 36},  /* olive */
        {26, 188, 206},  /* cyan */
    };
    int k = i % 10;
    return palette[k < 0 ? k + 10 : k];
}

vae_status vae_plot_encode_png(const vae_plot_canvas *canvas, vae_buf *out, vae_error *err) {
    return vae_png_encode(canvas->pixels, canvas->width, canvas->height, 3, -1, out, err);
}

vae_status vae_plot_save_png(const vae_plot_canvas *canvas, const char *path, vae_error *err) {
    vae_buf png = {0};
    vae_status st = vae_plot_encode_png(canvas, &png, err);
    if (st != VAE_OK) {
        vae_buf_free(&png);
        vae_error_prefix(err, "%s", path);
        return st;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        vae_buf_free(&png);
        return vae_error_set(err, VAE_ERR_IO, "cannot create %s: %s", path, strerror(e));
    }
    size_t wrote = fwrite(png.data, 1, png.len, f);
    int e = errno;
    int closed = fclose(f);
    if (closed != 0)
        e = errno;
    size_t len = png.len;
    vae_buf_free(&png);
    if (wrote != len || closed != 0)
        return vae_error_set(err, VAE_ERR_IO, "cannot write %s: %s", path, strerror(e));
    return VAE_OK;
}
