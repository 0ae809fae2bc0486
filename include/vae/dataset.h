/* MNIST-style idx files (images idx3 ubyte, labels idx1 ubyte), gzipped or not. */
#ifndef VAE_DATASET_H
#define VAE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "vae/error.h"

/* Largest decompressed idx file accepted. */
#define VAE_DATASET_MAX_FILE_BYTES (512u * 1024u * 1024u)

typedef struct {
    int count;        /* number of images */
    int rows, cols;   /* 28 x 28 for MNIST */
    uint8_t *pixels;  /* (count, rows*cols), 0 = background, 255 = ink */
    uint8_t *labels;  /* (count) in 0..9 */
} vae_dataset;

/* Parses an idx3 image file held in memory. On success *pixels is malloc'd (count*rows*cols bytes). */
vae_status vae_dataset_parse_images(const uint8_t *bytes, size_t len, int *count, int *rows, int *cols,
                                    uint8_t **pixels, vae_error *err);

/* Parses an idx1 label file held in memory; labels must be 0..9. *labels is malloc'd. */
vae_status vae_dataset_parse_labels(const uint8_t *bytes, size_t len, int *count, uint8_t **labels,
                                    vae_error *err);

/* Reads a whole file, transparently gunzipping it (plain files pass through unchanged), up to
 * VAE_DATASET_MAX_FILE_BYTES. *out is malloc'd. */
vae_status vae_dataset_read_file(const char *path, uint8_t **out, size_t *out_len, vae_error *err);

/* Loads "<dir>/<split>-images-idx3-ubyte[.gz]" and the matching labels, split being "train" or
 * "t10k". Checks image and label counts agree and images are 28x28. On failure *out is untouched. */
vae_status vae_dataset_load(const char *dir, const char *split, vae_dataset *out, vae_error *err);

/* Frees the arrays; the struct is zeroed. NULL is a no-op. */
void vae_dataset_free(vae_dataset *ds);

/* A pixel scaled to [0,1]: vae_pixel_values[v] is exactly v / 255.0f (the division PyTorch's ToTensor
 * does), looked up: a division per pixel took a tenth of a training step. */
extern const float vae_pixel_values[256];

/* Writes image i scaled to [0,1] into out[rows*cols]. */
void vae_dataset_image(const vae_dataset *ds, int i, float *out);

#endif
