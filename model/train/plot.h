/* A small RGB raster canvas for the trainer's report: lines, discs, rectangles, a built-in bitmap
 * font, axes with round tick values, legends, and PNG output through vae_png_encode. */
#ifndef VAE_TRAIN_PLOT_H
#define VAE_TRAIN_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "vae/error.h"
#include "vae/png.h"

typedef struct {
    uint8_t r, g, b;
} vae_plot_rgb;

#define VAE_PLOT_RGB(r, g, b) ((vae_plot_rgb){(uint8_t)(r), (uint8_t)(g), (uint8_t)(b)})
#define VAE_PLOT_WHITE VAE_PLOT_RGB(255, 255, 255)
#define VAE_PLOT_BLACK VAE_PLOT_RGB(0, 0, 0)

/* Pixel (x, y) has its centre at the integer coordinates (x, y); x grows right, y grows down. */
typedef struct {
    int width, height;
    uint8_t *pixels;                        /* (height, width, 3) RGB, rows top to bottom */
    int clip_x0, clip_y0, clip_x1, clip_y1; /* drawing only touches [x0,x1) x [y0,y1) */
} vae_plot_canvas;

/* Largest side accepted by vae_plot_create. */
#define VAE_PLOT_MAX_SIDE 8192

/* Allocates a width x height canvas filled with background. Returns NULL and fills err
 * (VAE_ERR_ARG for a side outside 1..VAE_PLOT_MAX_SIDE, VAE_ERR_NOMEM) on failure.
 * Free with vae_plot_destroy. */
vae_plot_canvas *vae_plot_create(int width, int height, vae_plot_rgb background, vae_error *err);

/* Frees the canvas and its pixels. NULL is a no-op. */
void vae_plot_destroy(vae_plot_canvas *canvas);

/* Sets every pixel (ignoring the clip rectangle) to colour. */
void vae_plot_fill(vae_plot_canvas *canvas, vae_plot_rgb colour);

/* Limits later drawing to the rectangle at (x, y) of w x h pixels (intersected with the canvas);
 * vae_plot_clip_reset lifts the limit. */
void vae_plot_clip(vae_plot_canvas *canvas, int x, int y, int w, int h);
void vae_plot_clip_reset(vae_plot_canvas *canvas);

/* Blends colour over pixel (x, y) with opacity alpha in [0,1] (1 replaces it). Pixels outside the
 * clip rectangle are left alone. */
void vae_plot_blend(vae_plot_canvas *canvas, int x, int y, vae_plot_rgb colour, double alpha);

/* Colour of pixel (x, y); black outside the canvas. */
vae_plot_rgb vae_plot_get(const vae_plot_canvas *canvas, int x, int y);

/* A segment from (x0, y0) to (x1, y1) with round ends. With antialias the edge pixels are blended
 * by their coverage. Without it, a thickness <= 1 line is drawn with Bresenham's algorithm (exactly
 * one pixel per step along the major axis, both end pixels included); thicker plain lines set every
 * pixel whose centre lies within thickness/2 of the segment. */
void vae_plot_line(vae_plot_canvas *canvas, double x0, double y0, double x1, double y1,
                   double thickness, vae_plot_rgb colour, int antialias);

/* An anti-aliased filled disc of the given radius centred at (cx, cy), blended with opacity alpha.
 */
void vae_plot_disc(vae_plot_canvas *canvas, double cx, double cy, double radius,
                   vae_plot_rgb colour, double alpha);

/* A filled w x h rectangle with its top-left pixel at (x, y), blended with opacity alpha. */
void vae_plot_rect_fill(vae_plot_canvas *canvas, int x, int y, int w, int h, vae_plot_rgb colour,
                        double alpha);

/* The outline of the w x h rectangle at (x, y), `thickness` pixels wide, drawn inside it. */
void vae_plot_rect_outline(vae_plot_canvas *canvas, int x, int y, int w, int h, int thickness,
                           vae_plot_rgb colour);

/* Copies a w x h grey image (0..255, rows top to bottom) with its top-left at (x, y), each source
 * pixel becoming a scale x scale block. */
void vae_plot_image_grey(vae_plot_canvas *canvas, int x, int y, const uint8_t *grey, int w, int h,
                         int scale);

/* The built-in font: 5 x 7 glyphs (plus one descender row) for ASCII 32..126 on a 6-pixel advance.
 * Other bytes draw as '?'. Every size is multiplied by the integer scale (>= 1). */
#define VAE_PLOT_GLYPH_W 5
#define VAE_PLOT_GLYPH_H 8
#define VAE_PLOT_ADVANCE 6

typedef enum {
    VAE_PLOT_ALIGN_LEFT = 0, /* the anchor is the start of the text */
    VAE_PLOT_ALIGN_CENTER,   /* the anchor is its middle */
    VAE_PLOT_ALIGN_RIGHT,    /* the anchor is its end */
} vae_plot_align;

/* Width in pixels of text at scale (no trailing gap), 0 for the empty string. */
int vae_plot_text_width(const char *text, int scale);
/* Height in pixels of a line of text at scale (descender row included). */
int vae_plot_text_height(int scale);

/* Draws text horizontally; y is the top of the line and x the anchor given by align.
 * Returns the number of ink pixels drawn inside the clip rectangle. */
int vae_plot_text(vae_plot_canvas *canvas, int x, int y, const char *text, int scale,
                  vae_plot_rgb colour, vae_plot_align align);

/* Draws text rotated a quarter turn anticlockwise (reading bottom to top), as for a y-axis label:
 * x is the left edge of the rotated line (the glyph tops) and y the anchor along it given by align
 * (LEFT: the text starts at y and runs upward). Returns the number of ink pixels drawn. */
int vae_plot_text_up(vae_plot_canvas *canvas, int x, int y, const char *text, int scale,
                     vae_plot_rgb colour, vae_plot_align align);

/* Round tick values: count ticks lo, lo+step, ..., hi, with step 1, 2 or 5 times a power of ten,
 * and decimals the number of digits after the point that labels them exactly. */
typedef struct {
    double lo, hi, step;
    int count;
    int decimals;
} vae_plot_ticks;

/* Chooses about `target` (>= 2) round ticks whose span covers [lo, hi] (given in either order; an
 * end within a billionth of a step beyond a round value counts as on it, so rounding noise does not
 * add a tick).
 * min_step > 0 bounds the step from below (1 for an integer axis such as epochs). A degenerate or
 * non-finite range is widened around its value (to [-1, 1] when nothing is finite). Never fails. */
void vae_plot_nice_ticks(double lo, double hi, int target, double min_step, vae_plot_ticks *out);

/* Formats a tick value with `decimals` digits after the point ("-0" printed as "0"); very large or
 * small magnitudes fall back to %g. */
void vae_plot_format_tick(double value, int decimals, char *buf, size_t size);

/* Fits an axis to data spanning [lo, hi] (either order; non-finite ends ignored as in
 * vae_plot_nice_ticks): *range_lo..*range_hi is that span widened by pad (a fraction of its width)
 * on each side, or around the value when it has no width, and ticks are the round values of a
 * vae_plot_nice_ticks step (about `target` of them) that lie inside it; count may be 0 when none
 * do. */
void vae_plot_axis_fit(double lo, double hi, int target, double min_step, double pad,
                       vae_plot_ticks *ticks, double *range_lo, double *range_hi);

/* A plot area (in canvas pixels), the data ranges its edges stand for, and the ticks drawn on it.
 */
typedef struct {
    int left, top, width, height;
    double x_lo, x_hi, y_lo, y_hi; /* data values at the left/right and bottom/top edges */
    vae_plot_ticks x, y;
} vae_plot_axes;

/* Fills ax for the plot area at (left, top) of width x height pixels spanning x_lo..x_hi and
 * y_lo..y_hi (each pair must differ), with ticks x and y (those outside the range are not drawn).
 */
void vae_plot_axes_init(vae_plot_axes *ax, int left, int top, int width, int height,
                        const vae_plot_ticks *x, double x_lo, double x_hi, const vae_plot_ticks *y,
                        double y_lo, double y_hi);

/* Canvas coordinates of a data point (y grows upward in data, downward on the canvas). */
double vae_plot_axes_px(const vae_plot_axes *ax, double x);
double vae_plot_axes_py(const vae_plot_axes *ax, double y);

/* Draws light grid lines at the ticks, the frame, tick marks and their labels (at text scale
 * `scale`), the x label centred below, the y label rotated at the left and the title centred above
 * in bold. Any of the strings may be NULL. Space needed outside the plot area, at scale 2: about
 * 14 characters' width plus 40 pixels at the left, 70 pixels below and 50 above. */
void vae_plot_axes_draw(vae_plot_canvas *canvas, const vae_plot_axes *ax, const char *title,
                        const char *xlabel, const char *ylabel, int scale);

/* How a legend entry shows its colour. */
typedef enum {
    VAE_PLOT_KEY_LINE = 0, /* a short line */
    VAE_PLOT_KEY_DISC,     /* a dot, as for scatter points */
    VAE_PLOT_KEY_LINE_DISC /* a short line with a marker on it */
} vae_plot_key;

typedef struct {
    const char *label;
    vae_plot_rgb colour;
} vae_plot_legend_entry;

/* Size in pixels of the legend box vae_plot_legend draws for these entries. */
void vae_plot_legend_size(const vae_plot_legend_entry *entries, int n, int scale, int *w, int *h);

/* Draws a legend box (white, slightly transparent, grey border) with its top-left at (x, y): one
 * row per entry, its key then its label. */
void vae_plot_legend(vae_plot_canvas *canvas, int x, int y, const vae_plot_legend_entry *entries,
                     int n, int scale, vae_plot_key key);

/* Colour i (taken modulo 10) of a ten-colour categorical palette readable on white. */
vae_plot_rgb vae_plot_category_colour(int i);

/* Appends the canvas to out as an RGB PNG. Errors as vae_png_encode. */
vae_status vae_plot_encode_png(const vae_plot_canvas *canvas, vae_buf *out, vae_error *err);

/* Writes the canvas to path as an RGB PNG. VAE_ERR_IO naming the path when it cannot be written
 * (a partial file may be left behind); VAE_ERR_NOMEM. */
vae_status vae_plot_save_png(const vae_plot_canvas *canvas, const char *path, vae_error *err);

#endif
