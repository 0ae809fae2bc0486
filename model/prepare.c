/* Preparing pictures the way the training images were made (vae/prepare.h): polarity, ink, levels
 * and the MNIST or Fashion-MNIST normalisation, on a grid of at most VAE_PREPARE_MAX_SIDE a side. */
#include "vae/prepare.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "prepare_core.h"
#include "vae/image.h"

#define SIDE VAE_IMAGE_SIDE
#define BINS 256            /* histograms of 8-bit levels */
#define MNIST_BOX 20        /* MNIST: the ink's box fits 20x20 ... */
#define MNIST_CENTRE 14.0   /* ... with its centre of mass at index (14, 14): MNIST's own mean */

/* The thresholds, set by hand on the pictures of tests/http/scenes.py and the test sets themselves
 * (the README's "Preparing pictures" measures them, and on a second sample). */
#define NOISE_SIGMAS 4.0    /* ink stands this many robust deviations of the background above it */
#define NOISE_FLOOR 0.06    /* and at least this much (15/255) */
#define LEVEL_SIGMAS 2.0    /* the level mapped to 0: the background plus this many deviations */
#define LEVEL_FLOOR 0.02    /* and at least this much */
#define INK_PERCENTILE 0.99 /* the ink's level mapped to 1 */
#define MIN_CONTRAST 0.08   /* the ink's mean must stand this far above the background */
#define SPECK_FRACTION 0.02 /* a piece under this fraction of the largest one is a speck */
#define SPECK_PER_PIXELS 2000 /* and so is one of at most pixels / this */
#define OPAQUE_COVER 0.99   /* a mean alpha from which an image counts as opaque */
#define CORNER_OUTLIER 0.3  /* a corner this far above the darkest one is not background */
#define SMOOTH_PER_SIDE 56  /* the ink is looked for on a box blur of radius shorter side / this */

static const char *const NORMALIZE_NAMES[] = {"none", "mnist", "fill"};

const char *vae_normalize_name(vae_normalize normalize) {
    return (unsigned)normalize < 3 ? NORMALIZE_NAMES[normalize] : "?";
}

int vae_normalize_parse(const char *name, vae_normalize *out) {
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, NORMALIZE_NAMES[i])) {
            *out = (vae_normalize)i;
            return 0;
        }
    return -1;
}

const char *vae_polarity_name(vae_polarity polarity) {
    switch (polarity) {
    case VAE_POLARITY_ASKED: return "asked";
    case VAE_POLARITY_BORDER: return "border";
    case VAE_POLARITY_CENTRE: return "centre";
    case VAE_POLARITY_UNIFORM: return "uniform";
    case VAE_POLARITY_ALPHA: return "alpha";
    }
    return "?";
}

vae_normalize vae_normalize_of_model(const vae_model *model) {
    vae_normalize n = VAE_NORMALIZE_NONE;
    if (model) vae_normalize_parse(vae_metadata_get(&model->metadata, VAE_METADATA_NORMALIZE), &n);
    return n;
}

/* --- histograms ---------------------------------------------------------------------------------- */

static inline int bin_of(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return BINS - 1;
    return (int)(v * (float)(BINS - 1) + 0.5f);
}

static inline double level_of(int bin) { return (double)bin / (BINS - 1); }

/* Otsu's threshold: the bin k that maximises the between-class variance of the bins <= k and > k
 * (the middle of the run of k when several tie, as across an empty gap between two levels); -1 when
 * every pixel is in one bin. */
static int otsu(const uint32_t *hist, uint64_t total) {
    double sum_all = 0;
    for (int b = 0; b < BINS; b++) sum_all += (double)b * hist[b];
    double w0 = 0, sum0 = 0, best = -1;
    int first = -1, last = -1;
    for (int k = 0; k < BINS - 1; k++) {
        w0 += hist[k];
        sum0 += (double)k * hist[k];
        double w1 = (double)total - w0;
        if (w0 == 0) continue;
        if (w1 == 0) break;
        double d = sum0 / w0 - (sum_all - sum0) / w1;
        double between = w0 * w1 * d * d;
        if (between > best) best = between, first = last = k;
        else if (between == best && last == k - 1) last = k;
    }
    return first < 0 ? -1 : (first + last) / 2;
}

/* The smallest bin whose cumulative count reaches the fraction q of total. */
static int hist_quantile(const uint32_t *hist, uint64_t total, double q) {
    uint64_t need = (uint64_t)ceil(q * (double)total), seen = 0;
    if (need < 1) need = 1;
    for (int b = 0; b < BINS; b++)
        if ((seen += hist[b]) >= need) return b;
    return BINS - 1;
}

/* --- the corners: where the background shows ----------------------------------------------------- */

/* The width of the band along the image's edges where lines (a frame, a scanner's border) are not
 * ink: a sixteenth of the shorter side, at least 2 pixels; none below 16 pixels. */
static int edge_band(int gw, int gh) {
    const int shorter = gw < gh ? gw : gh;
    return shorter < 16 ? 0 : shorter / 16 > 2 ? shorter / 16 : 2;
}

/* The side of the square patches in the four corners (an eighth of the shorter side). */
static int corner_side(int gw, int gh) {
    int c = (gw < gh ? gw : gh) / 8;
    return c < 1 ? 1 : c;
}

/* Whether a gw x gh grid is a picture (twice the model's side or more) rather than an image of the
 * model's own kind: pictures may have a frame, a gradient and noise. */
static int is_picture(int gw, int gh) { return (gw < gh ? gw : gh) >= 2 * SIDE; }

/* How far inside the edges the corner patches lie: past the edge band in a picture, so that a frame
 * does not pass for the background; at the very corners in an image of the model's size (a garment
 * may reach its edges, and there is no frame). */
static int corner_inset(int gw, int gh) { return is_picture(gw, gh) ? edge_band(gw, gh) : 0; }

/* Corner k's patch (0 top left, 1 top right, 2 bottom left, 3 bottom right): its first pixel. */
static void corner_origin(int gw, int gh, int c, int inset, int k, int *x0, int *y0) {
    *x0 = k & 1 ? gw - c - inset : inset;
    *y0 = k & 2 ? gh - c - inset : inset;
}

/* The median level of corner k's patch (c x c pixels, inset from the edges). */
static double corner_level(const float *p, int gw, int gh, int c, int inset, int k) {
    uint32_t hist[BINS] = {0};
    int x0, y0;
    corner_origin(gw, gh, c, inset, k, &x0, &y0);
    for (int y = y0; y < y0 + c; y++)
        for (int x = x0; x < x0 + c; x++) hist[bin_of(p[(size_t)y * gw + x])]++;
    return level_of(hist_quantile(hist, (uint64_t)c * (uint64_t)c, 0.5));
}

/* Subtracts the background from p (the ink light, the background dark): the bilinear field through
 * the four corners' levels, so that a light gradient (or a corner's shade) falls to 0. A corner more
 * than CORNER_OUTLIER above the darkest one (ink, or a garment, reaching it) takes the darkest one's
 * level instead. */
static void flatten_background(float *p, int gw, int gh) {
    const int c = corner_side(gw, gh), inset = corner_inset(gw, gh);
    double level[4], darkest = 1;
    for (int k = 0; k < 4; k++) {
        level[k] = corner_level(p, gw, gh, c, inset, k);
        if (level[k] < darkest) darkest = level[k];
    }
    for (int k = 0; k < 4; k++)
        if (level[k] > darkest + CORNER_OUTLIER) level[k] = darkest;
    if (level[0] == 0 && level[1] == 0 && level[2] == 0 && level[3] == 0) return; /* the usual case */
    for (int y = 0; y < gh; y++) {
        const double v = gh > 1 ? (double)y / (gh - 1) : 0;
        const double left = level[0] + (level[2] - level[0]) * v, right = level[1] + (level[3] - level[1]) * v;
        const float start = (float)left, step = gw > 1 ? (float)((right - left) / (gw - 1)) : 0.0f;
        float *row = p + (size_t)y * gw;
        for (int x = 0; x < gw; x++) {
            float d = row[x] - (start + step * (float)x);
            row[x] = d > 0 ? d : 0;
        }
    }
}

/* out = the mean of in over the (2r+1) x (2r+1) window around each pixel (clipped to the grid): each
 * row from its prefix sums into tmp, then running sums down the columns, a row at a time (so both
 * passes read memory in order and vectorise). Float sums of at most VAE_PREPARE_MAX_SIDE values in
 * 0..1 err by about 1e-5, far below a histogram bin. gw and r are at most VAE_PREPARE_MAX_SIDE. */
static void box_blur(const float *in, int gw, int gh, int r, float *out, float *tmp) {
    float prefix[VAE_PREPARE_MAX_SIDE + 1], acc[VAE_PREPARE_MAX_SIDE], inv[2 * VAE_PREPARE_MAX_SIDE + 2];
    for (int k = 1; k <= 2 * r + 1; k++) inv[k] = 1.0f / (float)k;
    for (int y = 0; y < gh; y++) {
        const float *src = in + (size_t)y * gw;
        float *dst = tmp + (size_t)y * gw;
        prefix[0] = 0;
        for (int x = 0; x < gw; x++) prefix[x + 1] = prefix[x] + src[x];
        int x = 0;
        for (; x < gw && x < r; x++) { /* the window clipped on the left (and maybe the right) */
            const int hi = x + r + 1 < gw ? x + r + 1 : gw;
            dst[x] = prefix[hi] * inv[hi];
        }
        for (; x + r + 1 <= gw; x++) dst[x] = (prefix[x + r + 1] - prefix[x - r]) * inv[2 * r + 1];
        for (; x < gw; x++) dst[x] = (prefix[gw] - prefix[x - r]) * inv[gw - (x - r)];
    }
    memset(acc, 0, sizeof(float) * (size_t)gw);
    for (int y = 0; y < r && y < gh; y++)
        for (int x = 0; x < gw; x++) acc[x] += tmp[(size_t)y * gw + x];
    for (int y = 0; y < gh; y++) {
        if (y + r < gh) {
            const float *add = tmp + (size_t)(y + r) * gw;
            for (int x = 0; x < gw; x++) acc[x] += add[x];
        }
        if (y - r - 1 >= 0) {
            const float *sub = tmp + (size_t)(y - r - 1) * gw;
            for (int x = 0; x < gw; x++) acc[x] -= sub[x];
        }
        const int lo = y - r < 0 ? 0 : y - r, hi = y + r < gh ? y + r : gh - 1;
        const float scale = inv[hi - lo + 1];
        float *dst = out + (size_t)y * gw;
        for (int x = 0; x < gw; x++) dst[x] = acc[x] * scale;
    }
}

/* The background's level and robust deviation (median and 1.4826 x median absolute deviation) from
 * the corner patches that are background: those within CORNER_OUTLIER of the darkest one. */
static void background_of(const float *p, int gw, int gh, double *level, double *sigma) {
    uint32_t hist[BINS] = {0}, dev[BINS] = {0};
    const int c = corner_side(gw, gh), inset = corner_inset(gw, gh);
    double levels[4], darkest = 1;
    for (int k = 0; k < 4; k++) {
        levels[k] = corner_level(p, gw, gh, c, inset, k);
        if (levels[k] < darkest) darkest = levels[k];
    }
    uint64_t n = 0;
    for (int k = 0; k < 4; k++) {
        if (levels[k] > darkest + CORNER_OUTLIER) continue; /* ink reaches it */
        int x0, y0;
        corner_origin(gw, gh, c, inset, k, &x0, &y0);
        for (int y = y0; y < y0 + c; y++)
            for (int x = x0; x < x0 + c; x++) hist[bin_of(p[(size_t)y * gw + x])]++;
        n += (uint64_t)c * (uint64_t)c;
    }
    int median = hist_quantile(hist, n, 0.5);
    for (int b = 0; b < BINS; b++) dev[b > median ? b - median : median - b] += hist[b];
    *level = level_of(median);
    *sigma = 1.4826 * level_of(hist_quantile(dev, n, 0.5));
}

/* --- polarity ------------------------------------------------------------------------------------ */

/* Whether the grid shows dark ink on a light background, and why (vae_prepare_options.invert),
 * judged on p (w x h: the grid's plane, or a picture's plane area-averaged smaller, where noise has
 * averaged out) with corner patches `inset` from its edges; the alpha test uses the whole grid. */
static void decide_polarity(const vae_prepare_grid *g, const float *p, int w, int h, int inset, vae_invert invert,
                            int *inverted, vae_polarity *why) {
    if (invert != VAE_INVERT_AUTO) {
        *inverted = invert == VAE_INVERT_YES;
        *why = VAE_POLARITY_ASKED;
        return;
    }
    if (g->cover) { /* transparency is the background: the opaque part is the ink, dark or light */
        const size_t n = (size_t)g->gw * (size_t)g->gh;
        double light = 0, cover = 0;
        for (size_t i = 0; i < n; i++) light += g->plane[i], cover += g->cover[i];
        if (cover < OPAQUE_COVER * (double)n) {
            *why = VAE_POLARITY_ALPHA;
            *inverted = cover > 0 && light < 0.5 * cover;
            return;
        }
    }
    const size_t n = (size_t)w * (size_t)h;
    float lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < lo) lo = p[i];
        if (p[i] > hi) hi = p[i];
    }
    if (hi - lo < 2.0f / (BINS - 1)) { /* one level: a blank page is light, a blank screen dark */
        *why = VAE_POLARITY_UNIFORM;
        *inverted = p[0] > 0.5f;
        return;
    }
    /* the corners first: ink (or a garment) seldom reaches them, while it may cover most pixels. A
     * corner is light when its median is in the upper half of the image's range */
    const int c = corner_side(w, h);
    int light_corners = 0;
    for (int k = 0; k < 4; k++) light_corners += corner_level(p, w, h, c, inset, k) > 0.5 * (lo + hi);
    if (light_corners != 2) {
        *why = VAE_POLARITY_BORDER;
        *inverted = light_corners > 2;
        return;
    }
    /* corners of both kinds (a garment reaching two, a shadow over two): the subject is in the
     * middle, darker or lighter than the corners */
    double corners = 0, centre = 0;
    for (int k = 0; k < 4; k++) {
        int x0, y0;
        corner_origin(w, h, c, inset, k, &x0, &y0);
        for (int y = y0; y < y0 + c; y++)
            for (int x = x0; x < x0 + c; x++) corners += p[(size_t)y * w + x];
    }
    int cx0 = w / 4, cx1 = w - w / 4, cy0 = h / 4, cy1 = h - h / 4;
    for (int y = cy0; y < cy1; y++)
        for (int x = cx0; x < cx1; x++) centre += p[(size_t)y * w + x];
    *why = VAE_POLARITY_CENTRE;
    *inverted = centre / ((double)(cx1 - cx0) * (cy1 - cy0)) < corners / (4.0 * c * c);
}

/* --- ink: connected pieces above the threshold --------------------------------------------------- */

typedef struct {
    int area;           /* pixels above the threshold in the (smoothed) plane searched */
    int sharp;          /* of those, the ones above it in the sharp plane too */
    int x0, y0, x1, y1; /* bounding box, inclusive */
    int edge_only;      /* every pixel lies in the band along the image's edges */
    int kept;
    double mass;
} piece;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Most pieces a gw x gh grid can hold (8-connected pieces are two pixels apart at least). */
static size_t max_pieces(int gw, int gh) { return (size_t)((gw + 1) / 2) * (size_t)((gh + 1) / 2); }

size_t vae_prepare_work_bytes(int gw, int gh) {
    const size_t n = (size_t)gw * (size_t)gh;
    return 2 * round16(n * sizeof(int32_t)) + 2 * round16(n * sizeof(float)) +
           round16(max_pieces(gw, gh) * sizeof(piece)) + round16((size_t)gh * SIDE * sizeof(float));
}

void vae_prepare_grid_size(int width, int height, vae_normalize normalize, int *gw, int *gh) {
    if (normalize == VAE_NORMALIZE_NONE) {
        *gw = *gh = SIDE;
        return;
    }
    if (width <= VAE_PREPARE_MAX_SIDE && height <= VAE_PREPARE_MAX_SIDE) {
        *gw = width;
        *gh = height;
        return;
    }
    double f = (double)VAE_PREPARE_MAX_SIDE / (width > height ? width : height);
    *gw = (int)lround(width * f);
    *gh = (int)lround(height * f);
    if (*gw < 1) *gw = 1;
    if (*gh < 1) *gh = 1;
}

/* Labels the 8-connected pieces of pixels above t (label[i] = piece index + 1, 0 for none), with
 * each piece's area, box, mass and whether it lies wholly within `band` pixels of the edges (band 0:
 * no piece does). Returns the number of pieces. stack holds gw*gh entries. */
static int label_pieces(const float *p, int gw, int gh, float t, int band, int32_t *label, int32_t *stack,
                        piece *pieces) {
    const size_t n = (size_t)gw * (size_t)gh;
    memset(label, 0, n * sizeof *label);
    int count = 0;
    for (size_t start = 0; start < n; start++) {
        if (label[start] || !(p[start] > t)) continue;
        piece *pc = &pieces[count++];
        *pc = (piece){.x0 = gw, .y0 = gh, .x1 = -1, .y1 = -1, .edge_only = band > 0};
        size_t top = 0;
        label[start] = count;
        stack[top++] = (int32_t)start;
        while (top) {
            int32_t i = stack[--top];
            int x = i % gw, y = i / gw;
            pc->area++;
            pc->mass += p[i];
            if (x < pc->x0) pc->x0 = x;
            if (x > pc->x1) pc->x1 = x;
            if (y < pc->y0) pc->y0 = y;
            if (y > pc->y1) pc->y1 = y;
            if (x >= band && y >= band && x < gw - band && y < gh - band) pc->edge_only = 0;
            for (int ny = y - 1; ny <= y + 1; ny++) {
                if (ny < 0 || ny >= gh) continue;
                for (int nx = x - 1; nx <= x + 1; nx++) {
                    if (nx < 0 || nx >= gw) continue;
                    int32_t k = ny * gw + nx;
                    if (!label[k] && p[k] > t) {
                        label[k] = count;
                        stack[top++] = k;
                    }
                }
            }
        }
    }
    return count;
}

/* Marks the pieces that are ink: not along the edges only, not specks (judged by their sharp
 * pixels: smoothing spreads a speck, and joins two near ones). Returns how many. */
static int keep_pieces(piece *pieces, int count, size_t pixels) {
    int largest = 0;
    for (int k = 0; k < count; k++)
        if (!pieces[k].edge_only && pieces[k].sharp > largest) largest = pieces[k].sharp;
    double min_area = 1.0 + (double)(pixels / SPECK_PER_PIXELS);
    if (SPECK_FRACTION * largest > min_area) min_area = SPECK_FRACTION * largest;
    int kept = 0;
    for (int k = 0; k < count; k++) {
        pieces[k].kept = !pieces[k].edge_only && pieces[k].sharp >= min_area;
        kept += pieces[k].kept;
    }
    return kept;
}

/* --- scaling the box ----------------------------------------------------------------------------- */

/* The box (bx, by, bw, bh) of q (gh, gw) scaled by s into r (rh, rw), r's origin at the box's corner:
 * area averages when shrinking (s <= 1, anti-aliased), bilinear samples when enlarging. The last row
 * and column may be partly outside the scaled box: they are weighted by how much of them it covers.
 * tmp holds bh*rw floats. */
static void scale_box(const float *q, int gw, int bx, int by, int bw, int bh, double s, float *r, int rw, int rh,
                      float *tmp) {
    const double tw = bw * s, th = bh * s;
    for (int v = 0; v < bh; v++) { /* along x, each row of the box */
        const float *row = q + (size_t)(by + v) * gw + bx;
        for (int j = 0; j < rw; j++) {
            double acc = 0;
            if (s <= 1.0) {
                double a = j / s, b = (j + 1) / s < bw ? (j + 1) / s : bw;
                for (int u = (int)a; u < bw && u < b; u++) {
                    double lo = u > a ? u : a, hi = u + 1 < b ? u + 1 : b;
                    acc += row[u] * (hi - lo);
                }
                acc *= s;
            } else {
                double u = (j + 0.5) / s - 0.5;
                u = u < 0 ? 0 : u > bw - 1 ? bw - 1 : u;
                int u0 = (int)u, u1 = u0 + 1 < bw ? u0 + 1 : u0;
                double f = u - u0, cover = tw - j < 1 ? tw - j : 1;
                acc = (row[u0] * (1 - f) + row[u1] * f) * cover;
            }
            tmp[(size_t)v * rw + j] = (float)acc;
        }
    }
    for (int i = 0; i < rh; i++) { /* along y */
        for (int j = 0; j < rw; j++) {
            double acc = 0;
            if (s <= 1.0) {
                double a = i / s, b = (i + 1) / s < bh ? (i + 1) / s : bh;
                for (int v = (int)a; v < bh && v < b; v++) {
                    double lo = v > a ? v : a, hi = v + 1 < b ? v + 1 : b;
                    acc += tmp[(size_t)v * rw + j] * (hi - lo);
                }
                acc *= s;
            } else {
                double v = (i + 0.5) / s - 0.5;
                v = v < 0 ? 0 : v > bh - 1 ? bh - 1 : v;
                int v0 = (int)v, v1 = v0 + 1 < bh ? v0 + 1 : v0;
                double f = v - v0, cover = th - i < 1 ? th - i : 1;
                acc = (tmp[(size_t)v0 * rw + j] * (1 - f) + tmp[(size_t)v1 * rw + j] * f) * cover;
            }
            r[i * rw + j] = (float)acc;
        }
    }
}

/* --- normalisation ------------------------------------------------------------------------------- */

/* Finds the ink of p (gh, gw; 0 = background), levels it and scales its box into out. The ink is
 * looked for on a smoothed copy (noise averages out; the output keeps the detail), after the
 * background field is subtracted. */
static vae_status normalise(const vae_prepare_grid *g, vae_normalize mode, void *work, float *out,
                            vae_prepare_info *info, vae_error *err) {
    const int gw = g->gw, gh = g->gh;
    const size_t n = (size_t)gw * (size_t)gh, ints = round16(n * sizeof(int32_t)), floats = round16(n * sizeof(float));
    float *p = g->plane;
    uint8_t *w = work;
    int32_t *label = (int32_t *)w;
    int32_t *stack = (int32_t *)(w + ints);
    float *smooth = (float *)(w + 2 * ints);
    float *blur_tmp = (float *)(w + 2 * ints + floats);
    piece *pieces = (piece *)(w + 2 * ints + 2 * floats);
    float *tmp = (float *)(w + 2 * ints + 2 * floats + round16(max_pieces(gw, gh) * sizeof(piece)));

    /* a picture (twice the model's side or more) may have a gradient and noise; a 28x28 image is the
     * model's own kind, whose corners may well be the garment's */
    const int shorter = gw < gh ? gw : gh, radius = shorter / SMOOTH_PER_SIDE;
    double page, page_sigma; /* the background as it came, for the message when there is no ink */
    background_of(p, gw, gh, &page, &page_sigma);
    if (is_picture(gw, gh)) flatten_background(p, gw, gh);
    const float *sm = p;
    if (radius > 0) {
        box_blur(p, gw, gh, radius, smooth, blur_tmp);
        sm = smooth;
    }
    uint32_t hist[BINS] = {0};
    for (size_t i = 0; i < n; i++) hist[bin_of(sm[i])]++;
    int lo_bin = 0, hi_bin = BINS - 1; /* the range, for the message when there is no ink */
    while (lo_bin < BINS - 1 && !hist[lo_bin]) lo_bin++;
    while (hi_bin > 0 && !hist[hi_bin]) hi_bin--;
    const double lo_seen = level_of(lo_bin), hi_seen = level_of(hi_bin);
    const int k = otsu(hist, n);
    const double t = k < 0 ? 1.0 : (k + 0.5) / (BINS - 1);
    double bg, sigma;
    background_of(sm, gw, gh, &bg, &sigma);
    const double floor_ = bg + (NOISE_SIGMAS * sigma > NOISE_FLOOR ? NOISE_SIGMAS * sigma : NOISE_FLOOR);
    /* MNIST's strokes are the bilevel image above Otsu's threshold; a garment's faint parts count */
    double thr = mode == VAE_NORMALIZE_MNIST ? (t > floor_ ? t : floor_) : (0.5 * t > floor_ ? 0.5 * t : floor_);
    if (thr > 1) thr = 1;

    const int band = edge_band(gw, gh);
    int count = label_pieces(sm, gw, gh, (float)thr, band, label, stack, pieces);
    if (sm == p) {
        for (int i = 0; i < count; i++) pieces[i].sharp = pieces[i].area;
    } else {
        for (int i = 0; i < count; i++) pieces[i].sharp = 0;
        for (size_t i = 0; i < n; i++)
            if (label[i] && p[i] > thr) pieces[label[i] - 1].sharp++;
    }
    if (keep_pieces(pieces, count, n) == 0)
        return vae_error_set(err, VAE_ERR_EMPTY,
                             "no ink: nothing stands out from the background (values %.2f to %.2f); the image is "
                             "blank or holds only noise, a gradient or lines along its edges%s",
                             lo_seen, hi_seen,
                             page > 0.5 ? " (a light background: dark ink needs invert=auto or true)" : "");
    int x0 = gw, y0 = gh, x1 = -1, y1 = -1, area = 0;
    double mass = 0;
    for (int i = 0; i < count; i++) {
        const piece *pc = &pieces[i];
        if (!pc->kept) continue;
        area += pc->area;
        mass += pc->mass;
        if (pc->x0 < x0) x0 = pc->x0;
        if (pc->y0 < y0) y0 = pc->y0;
        if (pc->x1 > x1) x1 = pc->x1;
        if (pc->y1 > y1) y1 = pc->y1;
    }
    if (sm != p) { /* the smoothing widens the pieces: the box is that of the sharp pixels in them */
        int bx0 = gw, by0 = gh, bx1 = -1, by1 = -1;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                size_t i = (size_t)y * gw + x;
                if (!label[i] || !pieces[label[i] - 1].kept || !(p[i] > thr)) continue;
                if (x < bx0) bx0 = x;
                if (x > bx1) bx1 = x;
                if (y < by0) by0 = y;
                if (y > by1) by1 = y;
            }
        if (bx1 >= 0) x0 = bx0, y0 = by0, x1 = bx1, y1 = by1;
    }
    if (mass / area - bg < MIN_CONTRAST)
        return vae_error_set(err, VAE_ERR_EMPTY,
                             "no ink: the marks are only %.2f above the background; at least %.2f is needed",
                             mass / area - bg, MIN_CONTRAST);

    /* levels: the background (and its noise) to 0, the ink's 99th percentile to 1; pixels whose
     * neighbourhood is background, or that belong to specks and edge lines, to 0 */
    uint32_t ink_hist[BINS] = {0};
    for (size_t i = 0; i < n; i++)
        if (label[i] && pieces[label[i] - 1].kept) ink_hist[bin_of(sm[i])]++;
    const double lo = bg + (LEVEL_SIGMAS * sigma > LEVEL_FLOOR ? LEVEL_SIGMAS * sigma : LEVEL_FLOOR);
    double hi = level_of(hist_quantile(ink_hist, (uint64_t)area, INK_PERCENTILE));
    if (hi < lo + 0.05) hi = lo + 0.05;
    const float scale_lv = (float)(1.0 / (hi - lo)), offset = (float)lo;
    for (size_t i = 0; i < n; i++) {
        float v = (label[i] && !pieces[label[i] - 1].kept) || !(sm[i] > offset) ? 0.0f : (p[i] - offset) * scale_lv;
        p[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }

    const int bw = x1 - x0 + 1, bh = y1 - y0 + 1, longer = bw > bh ? bw : bh;
    const double s = (double)(mode == VAE_NORMALIZE_MNIST ? MNIST_BOX : SIDE) / longer;
    int rw = (int)ceil(bw * s - 1e-9), rh = (int)ceil(bh * s - 1e-9);
    rw = rw < 1 ? 1 : rw > SIDE ? SIDE : rw;
    rh = rh < 1 ? 1 : rh > SIDE ? SIDE : rh;
    float r[SIDE * SIDE];
    scale_box(p, gw, x0, y0, bw, bh, s, r, rw, rh, tmp);
    int ox, oy;
    if (mode == VAE_NORMALIZE_MNIST) { /* the centre of mass to (14, 14), by whole pixels as MNIST did */
        double m = 0, mx = 0, my = 0;
        for (int i = 0; i < rh; i++)
            for (int j = 0; j < rw; j++) m += r[i * rw + j], mx += j * r[i * rw + j], my += i * r[i * rw + j];
        ox = m > 0 ? (int)lround(MNIST_CENTRE - mx / m) : (SIDE - rw) / 2;
        oy = m > 0 ? (int)lround(MNIST_CENTRE - my / m) : (SIDE - rh) / 2;
    } else { /* the box centred */
        ox = (int)lround((SIDE - bw * s) / 2);
        oy = (int)lround((SIDE - bh * s) / 2);
    }
    memset(out, 0, sizeof(float) * SIDE * SIDE);
    for (int i = 0; i < rh; i++)
        for (int j = 0; j < rw; j++) {
            int y = oy + i, x = ox + j;
            float v = r[i * rw + j];
            if (y >= 0 && y < SIDE && x >= 0 && x < SIDE) out[y * SIDE + x] = v < 0 ? 0 : v > 1 ? 1 : v;
        }

    const double fx = (double)g->width / gw, fy = (double)g->height / gh;
    info->box[0] = (int)floor(x0 * fx);
    info->box[1] = (int)floor(y0 * fy);
    info->box[2] = (int)ceil((x1 + 1) * fx) - info->box[0];
    info->box[3] = (int)ceil((y1 + 1) * fy) - info->box[1];
    info->threshold = (float)thr;
    info->low = (float)lo;
    info->high = (float)hi;
    info->scale = (float)(s / fx);
    info->offset[0] = ox;
    info->offset[1] = oy;
    return VAE_OK;
}

vae_status vae_prepare_finish(const vae_prepare_grid *g, const vae_prepare_options *opts, void *work,
                              float *out, vae_prepare_info *info, vae_error *err) {
    const size_t n = (size_t)g->gw * (size_t)g->gh;
    vae_prepare_info done = {.normalize = opts->normalize, .width = g->width, .height = g->height};
    const vae_invert invert = g->polarised ? (opts->invert == VAE_INVERT_YES ? VAE_INVERT_YES : VAE_INVERT_NO)
                                           : opts->invert;
    /* a picture is judged area-averaged to the model's side on its shorter side (in the work's
     * smoothing plane, free until normalise), its corners past the edge band scaled alike */
    const float *view = g->plane;
    int vw = g->gw, vh = g->gh, inset = 0;
    if (invert == VAE_INVERT_AUTO && is_picture(g->gw, g->gh)) {
        const int shorter = g->gw < g->gh ? g->gw : g->gh;
        float *small = (float *)((uint8_t *)work + 2 * round16(n * sizeof(int32_t)));
        vw = (int)lround((double)g->gw * SIDE / shorter);
        vh = (int)lround((double)g->gh * SIDE / shorter);
        vae_image_resize_area(g->plane, g->gw, g->gh, small, vw, vh);
        inset = (int)lround((double)edge_band(g->gw, g->gh) * SIDE / shorter);
        view = small;
    }
    decide_polarity(g, view, vw, vh, inset, invert, &done.inverted, &done.polarity);
    if (!g->polarised && done.inverted)
        for (size_t i = 0; i < n; i++) {
            float v = (g->cover ? g->cover[i] : 1.0f) - g->plane[i];
            g->plane[i] = v < 0 ? 0 : v;
        }
    if (opts->normalize == VAE_NORMALIZE_NONE) {
        if (g->gw != SIDE || g->gh != SIDE)
            return vae_error_set(err, VAE_ERR_ARG, "prepare: a %dx%d grid without normalisation", g->gw, g->gh);
        for (size_t i = 0; i < n; i++) {
            float v = g->plane[i];
            out[i] = v > 0 ? (v < 1 ? v : 1) : 0;
        }
    } else {
        vae_status st = normalise(g, opts->normalize, work, out, &done, err);
        if (st != VAE_OK) return st;
    }
    if (info) *info = done;
    return VAE_OK;
}

vae_status vae_prepare_image(const float *grey, int width, int height, const vae_prepare_options *opts,
                             vae_buf *work, float out[VAE_INPUT_DIM], vae_prepare_info *info, vae_error *err) {
    if (!grey || !opts || !out) return vae_error_set(err, VAE_ERR_ARG, "prepare: NULL argument");
    if (width < 1 || height < 1 || (long long)width * height > VAE_PREPARE_MAX_PIXELS)
        return vae_error_set(err, VAE_ERR_ARG, "prepare: a %dx%d image (at least 1x1, at most %ld pixels)", width,
                             height, VAE_PREPARE_MAX_PIXELS);
    if ((unsigned)opts->normalize > VAE_NORMALIZE_FILL || (unsigned)opts->invert > VAE_INVERT_AUTO)
        return vae_error_set(err, VAE_ERR_ARG, "prepare: options out of range");
    int gw, gh;
    vae_prepare_grid_size(width, height, opts->normalize, &gw, &gh);
    const size_t n = (size_t)gw * (size_t)gh, plane_bytes = round16(n * sizeof(float));
    vae_buf local = {0}, *buf = work ? work : &local;
    buf->len = 0;
    if (vae_buf_reserve(buf, plane_bytes + vae_prepare_work_bytes(gw, gh)) != VAE_OK)
        return vae_error_set(err, VAE_ERR_NOMEM, "prepare: out of memory");
    float *plane = (float *)buf->data;
    if (gw == width && gh == height) memcpy(plane, grey, n * sizeof(float));
    else vae_image_resize_area(grey, width, height, plane, gw, gh);
    vae_prepare_grid g = {.plane = plane, .gw = gw, .gh = gh, .width = width, .height = height};
    vae_status st = vae_prepare_finish(&g, opts, buf->data + plane_bytes, out, info, err);
    vae_buf_free(&local);
    return st;
}

vae_normalize vae_prepare_recognise(const uint8_t *pixels, int count) {
    const int n = count < 2000 ? count : 2000;
    int mnist = 0, fill = 0;
    for (int k = 0; k < n; k++) {
        const uint8_t *img = pixels + (size_t)k * SIDE * SIDE;
        int x0 = SIDE, y0 = SIDE, x1 = -1, y1 = -1;
        double m = 0, mx = 0, my = 0;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                int v = img[y * SIDE + x];
                m += v, mx += (double)v * x, my += (double)v * y;
                if (v > 25) { /* a tenth of full ink */
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
            }
        if (x1 < 0) continue;
        int longer = x1 - x0 > y1 - y0 ? x1 - x0 + 1 : y1 - y0 + 1;
        mnist += longer >= MNIST_BOX - 1 && longer <= MNIST_BOX + 1 && fabs(mx / m - MNIST_CENTRE) <= 1 &&
                 fabs(my / m - MNIST_CENTRE) <= 1;
        fill += longer >= SIDE - 1;
    }
    if (n > 0 && 2 * mnist > n) return VAE_NORMALIZE_MNIST;
    if (n > 0 && 2 * fill > n) return VAE_NORMALIZE_FILL;
    return VAE_NORMALIZE_NONE;
}
