/* Preparing a picture the way the training images were made, so that a digit photographed, scanned
 * or drawn anywhere on a canvas reaches the model in the form it learnt:
 *
 *   polarity   the model wants light ink on a dark background; dark ink on a light one is inverted,
 *              on request or detected (VAE_INVERT_AUTO: from the image's four corners, or its middle
 *              against them when the corners split two and two);
 *   ink        the pixels above a threshold from the image's own histogram (Otsu's) and above the
 *              background's noise (measured in the corners), in connected pieces: specks and lines
 *              that lie along the image's edges (a frame, a scanner's border) are not ink. In a
 *              picture (56 pixels or more on its shorter side) the background's field through the
 *              four corners (a light gradient, a shade) is subtracted first and the ink is looked
 *              for on a lightly smoothed copy (noise averages out; the output keeps the detail);
 *   levels     the background level maps to 0 and the ink's (its 99th percentile) to 1, so that a
 *              faint gradient, a shadow or grey ink keep no grey background;
 *   normalise  MNIST (LeCun et al.): the ink's bounding box scaled, aspect kept, to fit 20x20 (area
 *              averaging, i.e. anti-aliased; bilinear when enlarging), placed in the 28x28 frame so that
 *              its centre of mass is at pixel (14, 14); Fashion-MNIST: the box scaled to fill 28x28,
 *              centred.
 *
 * Images larger than VAE_PREPARE_MAX_SIDE on a side are first area-averaged to fit it (aspect kept):
 * the ink is found at that resolution. VAE_NORMALIZE_NONE is the plain area average of the whole image
 * to 28x28 (what vae_png_decode_input does), with only the polarity step. */
#ifndef VAE_PREPARE_H
#define VAE_PREPARE_H

#include "vae/buf.h"
#include "vae/error.h"
#include "vae/model.h"

/* Side of the grid the ink is looked for on: larger images are area-averaged to fit. */
#define VAE_PREPARE_MAX_SIDE 256

/* The metadata key the trainer records its data's preparation under ("none", "mnist", "fill"). */
#define VAE_METADATA_NORMALIZE "normalize"

typedef enum {
    VAE_NORMALIZE_NONE = 0, /* the whole image area-averaged to 28x28 */
    VAE_NORMALIZE_MNIST,    /* the ink's box to fit 20x20, centre of mass at the centre */
    VAE_NORMALIZE_FILL,     /* the ink's box to fill 28x28, centred (Fashion-MNIST) */
} vae_normalize;

typedef enum {
    VAE_INVERT_NO = 0, /* light ink on a dark background, as given */
    VAE_INVERT_YES,    /* dark ink on a light background: inverted */
    VAE_INVERT_AUTO,   /* detected from the image */
} vae_invert;

/* Why the polarity is what it is. */
typedef enum {
    VAE_POLARITY_ASKED = 0,  /* the caller said (VAE_INVERT_NO or _YES) */
    VAE_POLARITY_BORDER,     /* three or four of the image's corners are light (the background is
                                light: inverted) or dark: a corner's median in the upper or lower half of
                                the image's range */
    VAE_POLARITY_CENTRE,     /* two corners of each kind: the middle half of the image (the subject) is
                                darker (inverted) or lighter than the corners */
    VAE_POLARITY_UNIFORM,    /* one level: light is a blank page (inverted), dark a blank screen */
    VAE_POLARITY_ALPHA,      /* the image has transparent parts (the background): the opaque ink is
                                dark (inverted) or light */
} vae_polarity;

typedef struct {
    vae_normalize normalize;
    vae_invert invert;
} vae_prepare_options;

/* What a preparation did. */
typedef struct {
    vae_normalize normalize; /* as applied */
    int inverted;            /* 1 when the image was taken as dark ink on a light background */
    vae_polarity polarity;   /* how that was decided */
    int width, height;       /* of the source image */
    /* MNIST and fill only (zeros for none): */
    int box[4];              /* the ink's bounding box in source pixels: x, y, width, height */
    float threshold;         /* ink is above this (0..1, after the polarity) */
    float low, high;         /* the levels mapped to 0 and 1 */
    float scale;             /* output pixels per source pixel */
    int offset[2];           /* where the box's top-left corner lands in the 28x28 frame: source pixel
                                (sx, sy) goes to about (offset[0] + (sx - box[0]) * scale, offset[1] +
                                (sy - box[1]) * scale), which maps a mask drawn on the source */
} vae_prepare_info;

/* "none", "mnist", "fill" ("?" out of range). */
const char *vae_normalize_name(vae_normalize normalize);

/* The value named by name ("none", "mnist", "fill"): 0, or -1 for any other string (*out untouched). */
int vae_normalize_parse(const char *name, vae_normalize *out);

/* "asked", "border", "centre", "uniform", "alpha" ("?" out of range). */
const char *vae_polarity_name(vae_polarity polarity);

/* The preparation a model's training data had, as its weights file records it
 * (VAE_METADATA_NORMALIZE); VAE_NORMALIZE_NONE when the file has no record or an unknown value. */
vae_normalize vae_normalize_of_model(const vae_model *model);

/* Prepares a grey image (height, width) of values in [0,1], 1 = light (white), into the model input
 * out (VAE_INPUT_DIM floats, 0 = background) as opts says; info (may be NULL) says what was done.
 * work (may be NULL: then memory is allocated and freed here) is scratch reused between calls: its
 * contents are overwritten, its capacity kept.
 * Errors: VAE_ERR_ARG (NULL, a size below 1, or width*height over VAE_PREPARE_MAX_PIXELS),
 * VAE_ERR_NOMEM, and VAE_ERR_EMPTY when MNIST or fill normalisation finds no ink (a uniform image, or
 * one of noise, a gradient or lines along its edges only), with a message that says so. out and info
 * are written only on success. */
vae_status vae_prepare_image(const float *grey, int width, int height, const vae_prepare_options *opts,
                             vae_buf *work, float out[VAE_INPUT_DIM], vae_prepare_info *info, vae_error *err);

/* Largest width*height vae_prepare_image takes (the PNG decoder's default limit). */
#define VAE_PREPARE_MAX_PIXELS (4096L * 4096L)

/* What a training set's images show of their preparation: VAE_NORMALIZE_MNIST when most of them have
 * an ink box whose longer side is 20 (+-1) pixels and a centre of mass within a pixel of (14, 14),
 * VAE_NORMALIZE_FILL when most boxes span 27 or 28 pixels, else VAE_NORMALIZE_NONE. pixels is
 * (count, 784) bytes, 0 = background; at most the first 2000 images are looked at. */
vae_normalize vae_prepare_recognise(const uint8_t *pixels, int count);

#endif
