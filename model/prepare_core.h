/* The preparation's core (prepare.c), shared by vae_prepare_image and the PNG decoder, which hands it
 * the image already reduced to a grid of planes (libvae-internal: not an installed header). */
#ifndef VAE_PREPARE_CORE_H
#define VAE_PREPARE_CORE_H

#include <stddef.h>

#include "vae/prepare.h"

/* An image reduced to gw x gh: plane[i] is alpha * luma (or, when polarised, the ink itself: the
 * caller applied an invert that is not VAE_INVERT_AUTO), cover[i] alpha (NULL: opaque). Both are
 * (gh, gw) in [0,1]. width x height is the source's size (for the box in vae_prepare_info). */
typedef struct {
    float *plane;        /* overwritten with the prepared ink */
    const float *cover;
    int gw, gh;
    int width, height;
    int polarised;
} vae_prepare_grid;

/* The grid a width x height image is reduced to: 28x28 for VAE_NORMALIZE_NONE; else its own size
 * when both sides fit VAE_PREPARE_MAX_SIDE, or scaled (aspect kept, each side at least 1) to fit. */
void vae_prepare_grid_size(int width, int height, vae_normalize normalize, int *gw, int *gh);

/* Bytes of work memory vae_prepare_finish needs for a gw x gh grid (the planes are the caller's). */
size_t vae_prepare_work_bytes(int gw, int gh);

/* Decides the polarity (unless polarised), then normalises as opts says into out (VAE_INPUT_DIM
 * floats). g->gw x g->gh must be 28x28 for VAE_NORMALIZE_NONE. work holds vae_prepare_work_bytes
 * (max_align_t aligned). VAE_OK, or VAE_ERR_EMPTY with the message when there is no ink to
 * normalise. info (may be NULL) is written on success. */
vae_status vae_prepare_finish(const vae_prepare_grid *g, const vae_prepare_options *opts, void *work,
                              float *out, vae_prepare_info *info, vae_error *err);

#endif
