/* vae-train's flags: one table of options, strict number parsing, one clear error per mistake. */
#include "options.h"

#include "vae/prepare.h"
#include "vae/weights.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vae_train_options_usage(FILE *out) {
    fprintf(out,
            "usage: vae-train --data DIR [options]\n"
            "Trains a fully connected VAE on MNIST-style idx files and writes a safetensors file.\n"
            "\n"
            "  --data DIR            directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
            "  --out FILE            weights file to write (default vae.safetensors)\n"
            "  --dataset NAME        dataset name for the metadata (default: DIR's last component)\n"
            "  --epochs N            passes over the training set (default 10)\n"
            "  --batch N             images per step (default 128)\n"
            "  --lr X                Adam learning rate (default 1e-3)\n"
            "  --lr-schedule S       constant or cosine (decays to --lr-min) (default constant)\n"
            "  --lr-min X            final learning rate of the cosine schedule (default 0)\n"
            "  --warmup N            epochs of linear learning-rate warm-up (default 0)\n"
            "  --weight-decay X      decoupled (AdamW) weight decay (default 0)\n"
            "  --hidden W[,W...]     hidden widths of the encoder, mirrored by the decoder (default 400)\n"
            "  --latent D            latent size (default 20)\n"
            "  --activation A        relu, leaky_relu (slope 0.2) or tanh (default relu)\n"
            "  --beta X              weight of the KL term; 1 is the VAE, other values a beta-VAE (default 1)\n"
            "  --shift N             augmentation: translate training images by up to N pixels (default 0)\n"
            "  --max-train N         use only the first N training images (default: all)\n"
            "  --seed N              seed of every random choice (default 1)\n"
            "  --threads N           threads of the training kernels, OpenBLAS and the scoring of\n"
            "                        the statistics (default: online CPUs)\n"
            "  --kl-warmup N         epochs over which the KL weight rises linearly from 0 to --beta\n"
            "                        (default 0: none)\n"
            "  --ema X               evaluate and save an exponential moving average of the parameters\n"
            "                        with decay X per step, e.g. 0.999 (Polyak averaging; default 0: off)\n"
            "  --binarize MODE       none, or dynamic: training pixels drawn as Bernoulli of their grey\n"
            "                        values every epoch, the test set binarized once (default none)\n"
            "  --eval-iwae K         after training: the test set's importance-weighted NLL with K\n"
            "                        samples per image (Burda et al.), in the log and the metadata\n"
            "  --score-k K           importance samples of the stored score tables (default 64)\n"
            "  --normalize P         how the training images were prepared, recorded for the server's\n"
            "                        normalize=auto: mnist (fit 20x20, centred by mass), fill (fill the\n"
            "                        frame, as Fashion-MNIST) or none (default: recognised from the images)\n"
            "  --annotate FILE       no training: compute the statistics (class centroids and spreads,\n"
            "                        principal plane, diagnostics, score tables; NLL with --eval-iwae)\n"
            "                        of the model in FILE on --data and write them into FILE (or --out)\n"
            "  --dtype T             how the file stores the weights: F32, F16 (half the size) or BF16\n"
            "                        (default F32; with --annotate, the file's own); the weights are\n"
            "                        rounded first, and every figure in the file measured on them\n"
            "  --ood-data DIR        also measure how well the scores tell DIR's test images from the\n"
            "                        model's own (AUROCs, ROC curves in --report)\n"
            "  --measure-completion N  also compare the completion chains (N steps) on the test set\n"
            "                        with the bottom half hidden\n"
            "  --report DIR          write pictures (samples, reconstructions, morph, latent map,\n"
            "                        manifold, traversals, loss) and per-epoch figures as CSV into DIR\n"
            "  --quiet               no progress bar\n"
            "  --help                this text\n");
}

static vae_status parse_int(const char *flag, const char *text, long lo, long hi, int *out,
                            vae_error *err) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno)
        return vae_error_set(err, VAE_ERR_ARG, "%s: '%s' is not an integer", flag, text);
    if (v < lo || v > hi)
        return vae_error_set(err, VAE_ERR_ARG, "%s: %ld is out of range %ld..%ld", flag, v, lo, hi);
    *out = (int)v;
    return VAE_OK;
}

static vae_status parse_float(const char *flag, const char *text, double lo, double hi, float *out,
                              vae_error *err) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v))
        return vae_error_set(err, VAE_ERR_ARG, "%s: '%s' is not a finite number", flag, text);
    if (v < lo || v > hi)
        return vae_error_set(err, VAE_ERR_ARG, "%s: %g is out of range %g..%g", flag, v, lo, hi);
    *out = (float)v;
    return VAE_OK;
}

/* The dataset's name from its directory: the last non-empty path component. */
static const char *basename_of(const char *dir, char *buf, size_t size) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    size_t n = len - start < size - 1 ? len - start : size - 1;
    memcpy(buf, dir + start, n);
    buf[n] = '\0';
    return buf;
}

vae_status vae_train_options_parse(vae_train_options *o, int argc, char **argv, int *help,
                                   vae_error *err) {
    static char dataset_buf[128];
    memset(o, 0, sizeof *o);
    *help = 0;
    o->out_path = "vae.safetensors";
    o->model.n_hidden = 1;
    o->model.hidden[0] = 400;
    o->model.latent_dim = 20;
    o->model.activation = VAE_ACT_RELU;
    o->epochs = 10;
    o->batch = 128;
    o->lr = 1e-3f;
    o->beta = 1.0f;
    o->seed = 1;
    o->score_k = 64;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus > 0 ? (int)cpus : 1;

    size_t used = 0;
    for (int i = 0; i < argc && used < sizeof o->command - 1; i++) {
        int n = snprintf(o->command + used, sizeof o->command - used, i ? " %s" : "%s", argv[i]);
        if (n < 0) break;
        used += (size_t)n;
    }

    vae_status st = VAE_OK;
    for (int i = 1; i < argc && st == VAE_OK; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
            *help = 1;
            return VAE_OK;
        }
        if (!strcmp(flag, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (strncmp(flag, "--", 2) != 0)
            return vae_error_set(err, VAE_ERR_ARG, "unexpected argument '%s' (see --help)", flag);
        if (i + 1 >= argc)
            return vae_error_set(err, VAE_ERR_ARG, "%s needs a value (see --help)", flag);
        const char *val = argv[++i];
        static const char *training_only[] = {"--epochs", "--batch", "--lr", "--lr-schedule", "--lr-min",
                                              "--warmup", "--weight-decay", "--hidden", "--latent",
                                              "--activation", "--beta", "--shift", "--max-train",
                                              "--kl-warmup", "--binarize", "--ema"};
        for (size_t t = 0; t < sizeof training_only / sizeof training_only[0] && !o->training_flag; t++)
            if (!strcmp(flag, training_only[t])) o->training_flag = training_only[t];
        if (!strcmp(flag, "--data")) o->data_dir = val;
        else if (!strcmp(flag, "--out")) o->out_path = val, o->out_given = 1;
        else if (!strcmp(flag, "--annotate")) o->annotate = val;
        else if (!strcmp(flag, "--ood-data")) o->ood_dir = val;
        else if (!strcmp(flag, "--dtype")) {
            if (vae_dtype_parse(val, &o->dtype) != 0)
                st = vae_error_set(err, VAE_ERR_ARG, "--dtype: '%s' is not F32, F16 or BF16", val);
            o->dtype_given = 1;
        }
        else if (!strcmp(flag, "--eval-iwae")) st = parse_int(flag, val, 1, 100000, &o->eval_iwae, err);
        else if (!strcmp(flag, "--score-k")) st = parse_int(flag, val, 1, 5000, &o->score_k, err);
        else if (!strcmp(flag, "--kl-warmup")) st = parse_int(flag, val, 0, 100000, &o->kl_warmup, err);
        else if (!strcmp(flag, "--measure-completion"))
            st = parse_int(flag, val, 1, 10000, &o->complete_steps, err);
        else if (!strcmp(flag, "--normalize")) {
            vae_normalize n;
            if (vae_normalize_parse(val, &n) != 0)
                st = vae_error_set(err, VAE_ERR_ARG, "--normalize: '%s' is not mnist, fill or none", val);
            o->normalize = val;
        } else if (!strcmp(flag, "--binarize")) {
            if (!strcmp(val, "none")) o->binarize = VAE_BINARIZE_NONE;
            else if (!strcmp(val, "dynamic")) o->binarize = VAE_BINARIZE_DYNAMIC;
            else st = vae_error_set(err, VAE_ERR_ARG, "--binarize: '%s' is not none or dynamic", val);
        }
        else if (!strcmp(flag, "--report")) o->report_dir = val;
        else if (!strcmp(flag, "--dataset")) o->dataset_name = val;
        else if (!strcmp(flag, "--epochs")) st = parse_int(flag, val, 1, 100000, &o->epochs, err);
        else if (!strcmp(flag, "--batch")) st = parse_int(flag, val, 1, 65536, &o->batch, err);
        else if (!strcmp(flag, "--threads")) st = parse_int(flag, val, 1, 1024, &o->threads, err);
        else if (!strcmp(flag, "--latent"))
            st = parse_int(flag, val, 1, VAE_MAX_LATENT, &o->model.latent_dim, err);
        else if (!strcmp(flag, "--shift")) st = parse_int(flag, val, 0, 8, &o->shift, err);
        else if (!strcmp(flag, "--warmup")) st = parse_int(flag, val, 0, 100000, &o->warmup_epochs, err);
        else if (!strcmp(flag, "--max-train")) st = parse_int(flag, val, 1, INT_MAX, &o->max_train, err);
        else if (!strcmp(flag, "--lr")) st = parse_float(flag, val, 1e-9, 10.0, &o->lr, err);
        else if (!strcmp(flag, "--lr-min")) st = parse_float(flag, val, 0.0, 10.0, &o->lr_min, err);
        else if (!strcmp(flag, "--beta")) st = parse_float(flag, val, 0.0, 1000.0, &o->beta, err);
        else if (!strcmp(flag, "--ema")) st = parse_float(flag, val, 0.0, 0.999999, &o->ema, err);
        else if (!strcmp(flag, "--weight-decay"))
            st = parse_float(flag, val, 0.0, 1.0, &o->weight_decay, err);
        else if (!strcmp(flag, "--hidden")) {
            st = vae_config_parse_hidden(&o->model, val, err);
            if (st != VAE_OK) vae_error_prefix(err, "--hidden");
        } else if (!strcmp(flag, "--activation")) {
            if (vae_activation_parse(val, &o->model.activation) != 0)
                st = vae_error_set(err, VAE_ERR_ARG,
                                   "--activation: '%s' is not relu, leaky_relu or tanh", val);
        } else if (!strcmp(flag, "--lr-schedule")) {
            if (!strcmp(val, "constant")) o->schedule = VAE_LR_CONSTANT;
            else if (!strcmp(val, "cosine")) o->schedule = VAE_LR_COSINE;
            else st = vae_error_set(err, VAE_ERR_ARG, "--lr-schedule: '%s' is not constant or cosine", val);
        } else if (!strcmp(flag, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 10);
            if (end == val || *end || errno || val[0] == '-')
                st = vae_error_set(err, VAE_ERR_ARG, "--seed: '%s' is not a non-negative integer", val);
            o->seed = v;
        } else {
            st = vae_error_set(err, VAE_ERR_ARG, "unknown option '%s' (see --help)", flag);
        }
    }
    if (st != VAE_OK) return st;
    if (!o->data_dir)
        return vae_error_set(err, VAE_ERR_ARG,
                             "--data DIR is required (a directory of MNIST-style idx files)");
    if (o->annotate && o->training_flag)
        return vae_error_set(err, VAE_ERR_ARG,
                             "--annotate takes the model from its file: %s does not apply", o->training_flag);
    if (o->kl_warmup > o->epochs)
        return vae_error_set(err, VAE_ERR_ARG, "--kl-warmup %d is longer than --epochs %d", o->kl_warmup,
                             o->epochs);
    if (o->warmup_epochs >= o->epochs && o->warmup_epochs > 0)
        return vae_error_set(err, VAE_ERR_ARG, "--warmup %d must be shorter than --epochs %d",
                             o->warmup_epochs, o->epochs);
    if (o->lr_min > o->lr)
        return vae_error_set(err, VAE_ERR_ARG, "--lr-min %g is above --lr %g", o->lr_min, o->lr);
    if (!o->dataset_name) o->dataset_name = basename_of(o->data_dir, dataset_buf, sizeof dataset_buf);
    return vae_config_validate(&o->model, err);
}
