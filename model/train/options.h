/* Command-line options of vae-train: defaults, parsing and validation. */
#ifndef VAE_TRAIN_OPTIONS_H
#define VAE_TRAIN_OPTIONS_H

#include <stdio.h>

#include "vae/error.h"
#include "vae/model.h"

typedef enum { VAE_LR_CONSTANT, VAE_LR_COSINE } vae_lr_schedule;

/* --binarize: none (grey values as targets) or dynamic (each training image's pixels drawn as
 * Bernoulli of their grey values every epoch; the test set binarized once, from a fixed seed). */
typedef enum { VAE_BINARIZE_NONE, VAE_BINARIZE_DYNAMIC } vae_binarize;

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
    unsigned long long seed;
    int quiet;
    int kl_warmup;          /* epochs over which the KL weight rises linearly from 0 to beta */
    float ema;              /* decay of the parameters' exponential moving average (0: none) */
    vae_binarize binarize;
    int eval_iwae;          /* K: the test set's importance-weighted NLL with K samples (0: none) */
    int score_k;            /* importance samples of the score calibration tables */
    const char *annotate;   /* --annotate FILE: add the statistics to FILE, no training */
    const char *ood_dir;    /* --ood-data DIR: measure out-of-distribution AUROCs against DIR */
    const char *normalize;  /* metadata key `normalize`: "mnist", "fill" or "none" (NULL: recognised) */
    int complete_steps;     /* --measure-completion N: compare the completion chains, N steps */
    vae_dtype dtype;        /* --dtype: how the file stores the weights (F32 unless given) */
    int dtype_given;        /* --dtype was on the command line */
    int out_given;          /* --out was on the command line */
    const char *training_flag; /* the first flag given that only training uses (NULL: none) */
    char command[2048];     /* the command line, recorded in the weights' metadata */
} vae_train_options;

/* Fills opts from argv. Returns VAE_OK, or VAE_ERR_ARG with a one-line reason. Sets *help when --help
 * was given (and returns VAE_OK without checking the rest). */
vae_status vae_train_options_parse(vae_train_options *opts, int argc, char **argv, int *help,
                                   vae_error *err);

/* The --help text. */
void vae_train_options_usage(FILE *out);

#endif
