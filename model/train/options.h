/* Command-line options of vae-train: defaults, parsing and validation. */
#ifndef VAE_TRAIN_OPTIONS_H
#define VAE_TRAIN_OPTIONS_H

#include <stdio.h>

#include "vae/error.h"
#include "vae/model.h"

typedef enum { VAE_LR_CONSTANT, VAE_LR_COSINE } vae_lr_schedule;

typedef struct {
    const char *data_dir;
    const char *out_path;
    const char *report_dir;  /* NULL: no report */
    const char *dataset_name;
    vae_config model;
    int epochs, batch, threads;
    float lr, lr_min, beta, weight_decay;
    vae_lr_schedule schedule;
    int warmup_epochs;      /* linear learning-rate warm-up */
    int shift;              /* augmentation: random translation of up to this many pixels */
    int max_train;          /* use only the first N training images (0 = all) */
    int normalize;          /* the training images' preparation (vae_normalize), -1: recognise it */
    const char *annotate;   /* --annotate FILE: record the preparation in FILE instead of training */
    unsigned long long seed;
    int quiet;
    char command[2048];     /* the command line, recorded in the weights' metadata */
} vae_train_options;

/* Fills opts from argv. Returns VAE_OK, or VAE_ERR_ARG with a one-line reason. Sets *help when --help
 * was given (and returns VAE_OK without checking the rest). */
vae_status vae_train_options_parse(vae_train_options *opts, int argc, char **argv, int *help,
                                   vae_error *err);

/* The --help text. */
void vae_train_options_usage(FILE *out);

#endif
