/* The VAE model: its configuration, the one block that holds every parameter, named views into it,
 * and the thread-safe batched inference API (encode, decode, reconstruct).
 *
 * Architecture for hidden = {h0, h1, ..., hL-1} and latent size d:
 *   encoder  784 -> h0 -> ... -> hL-1 (activation after each), then two heads hL-1 -> d: mu, logvar
 *   decoder  d -> hL-1 -> ... -> h0 (activation after each), then h0 -> 784 logits, sigmoid
 * Tensor names follow PyTorch's nn.Linear (weight [out, in], bias [out]):
 *   enc.{i}.weight/bias, enc.mu.*, enc.logvar.*, dec.{i}.weight/bias, dec.out.*, and centroids [10, d]. */
#ifndef VAE_MODEL_H
#define VAE_MODEL_H

#include <stddef.h>

#include "vae/error.h"
#include "vae/layers.h"

#define VAE_IMAGE_SIDE 28
#define VAE_INPUT_DIM (VAE_IMAGE_SIDE * VAE_IMAGE_SIDE)
#define VAE_MAX_HIDDEN 4        /* hidden layers per side */
#define VAE_MAX_WIDTH 4096      /* widest hidden layer accepted */
#define VAE_MAX_LATENT 256
#define VAE_NUM_CLASSES 10
#define VAE_MAX_TENSORS (2 * (2 * VAE_MAX_HIDDEN + 3))
#define VAE_MAX_METADATA 64

/* How a weights file stores the parameters (weights.h reads all three; the optional tensors are
 * always written as F32). In memory they are always float. */
typedef enum {
    VAE_DTYPE_F32 = 0,
    VAE_DTYPE_F16,  /* IEEE 754 binary16: 11 significant bits, |x| <= 65504 */
    VAE_DTYPE_BF16, /* bfloat16: float's exponent, 8 significant bits */
} vae_dtype;

/* "F32", "F16" or "BF16": safetensors' spelling, as its headers write it. */
const char *vae_dtype_name(vae_dtype dtype);
/* The dtype named by s in any case: 0, or -1 when s names none of the three. */
int vae_dtype_parse(const char *s, vae_dtype *out);

typedef struct {
    int n_hidden;                 /* 1..VAE_MAX_HIDDEN */
    int hidden[VAE_MAX_HIDDEN];   /* encoder widths in order; the decoder mirrors them */
    int latent_dim;               /* d, 1..VAE_MAX_LATENT */
    vae_activation activation;
} vae_config;

/* Checks ranges; returns VAE_OK or VAE_ERR_ARG with a reason. */
vae_status vae_config_validate(const vae_config *cfg, vae_error *err);

/* Number of float parameters (weights and biases of every layer; centroids excluded). */
size_t vae_config_param_count(const vae_config *cfg);

/* Widest activation of the network (max of 784, hidden widths, 2*d), for sizing scratch. */
int vae_config_max_width(const vae_config *cfg);

/* Multiply-adds one image costs through the encoder (to mu and logvar) or the decoder. */
size_t vae_config_encoder_macs(const vae_config *cfg);
size_t vae_config_decoder_macs(const vae_config *cfg);

/* Writes the hidden widths as "400" or "512,256" into buf. */
void vae_config_hidden_string(const vae_config *cfg, char *buf, size_t size);

/* Writes the layer widths of the encoder as "784-512-256-32" into buf. */
void vae_config_architecture_string(const vae_config *cfg, char *buf, size_t size);

/* Parses "400" or "512,256" into cfg->hidden / n_hidden; returns VAE_ERR_ARG on bad text. */
vae_status vae_config_parse_hidden(vae_config *cfg, const char *text, vae_error *err);

/* One named parameter tensor of the layout. rank 1 has cols == 0. offset is in floats from the start
 * of the parameter block. */
typedef struct {
    char name[24];
    int rows, cols, rank;
    size_t offset;
} vae_tensor_info;

/* Lists the parameter tensors in storage order (the single source of truth for names, shapes and
 * offsets, used by the weights file and by the trainer's mirrored gradient and moment blocks).
 * Returns the count (at most VAE_MAX_TENSORS). */
int vae_config_tensors(const vae_config *cfg, vae_tensor_info out[VAE_MAX_TENSORS]);

/* A fully connected layer viewed inside some parameter-shaped block. */
typedef struct {
    float *weight; /* (out, in) */
    float *bias;   /* (out) */
    int in, out;
} vae_linear;

/* Every layer of the network, bound to one parameter-shaped block (parameters, gradients or an
 * Adam moment: they share one layout). */
typedef struct {
    vae_linear enc[VAE_MAX_HIDDEN];
    vae_linear mu, logvar;
    vae_linear dec[VAE_MAX_HIDDEN];
    vae_linear out;
} vae_layers;

/* Points layers at the tensors of a block of vae_config_param_count(cfg) floats; with block NULL,
 * sets only their sizes (the pointers NULL). */
void vae_layers_bind(vae_layers *layers, const vae_config *cfg, float *block);

/* String key/value metadata as in safetensors' __metadata__. Owned copies. */
typedef struct {
    int count;
    char *keys[VAE_MAX_METADATA];
    char *values[VAE_MAX_METADATA];
} vae_metadata;

/* Sets (or replaces) key. Returns VAE_ERR_NOMEM, or VAE_ERR_LIMIT when full. */
vae_status vae_metadata_set(vae_metadata *md, const char *key, const char *value);
/* Value of key, or NULL. The pointer lives as long as md is not modified. */
const char *vae_metadata_get(const vae_metadata *md, const char *key);
/* Frees every entry; md is empty afterwards. */
void vae_metadata_clear(vae_metadata *md);

typedef struct vae_inference vae_inference;

/* ---- What the trainer measured, stored beside the parameters ----
 * vae-train computes these at the end of training, or for an existing file with --annotate; the
 * weights file holds them as the tensors named below (and the metadata keys named below). Each group
 * is optional: a file without it loads and serves everything else, its pointers are then NULL, and
 * vae_model_require names what is missing and how to add it. */

/* A latent coordinate is active (Burda et al. 2016) when the variance over the test set of its
 * posterior mean exceeds this. */
#define VAE_ACTIVE_UNIT_THRESHOLD 0.01f
/* Longest score table a weights file may hold. */
#define VAE_MAX_SCORE_TABLE (1 << 20)

/* One score's values over the calibration images, sorted ascending (the loader refuses unsorted,
 * non-finite or empty tables). */
typedef struct {
    float *values; /* (count); NULL when absent */
    int count;
} vae_score_table;

/* The calibration of /score: tensors score.nll, score.corrected, score.ood (all one length, all
 * present or all absent), metadata score_k (importance samples per value) and score_seed (the seed
 * given to vae_score_draw_eps; image i of the calibration set drew with index i). */
typedef struct {
    vae_score_table nll;       /* nll in nats (vae_score.nll) */
    vae_score_table corrected; /* nll in bits minus complexity bits (vae_score_corrected) */
    vae_score_table ood;       /* ood_score (vae_score_ood) */
    int k;
    unsigned long long seed;
} vae_score_tables;

/* Diagnostics over the test set: tensors diag.mu_var and diag.kl (both or neither), metadata
 * test_loss, test_nll and test_nll_k. */
typedef struct {
    float *mu_var;    /* (d): variance of each coordinate of the posterior mean; NULL when absent */
    float *kl;        /* (d): mean KL term of each coordinate, nats; NULL when absent */
    int active_units; /* coordinates with mu_var > VAE_ACTIVE_UNIT_THRESHOLD; -1 when absent */
    double test_loss; /* canonical one-sample loss (BCE + KL), nats per image; NAN when absent */
    double test_nll;  /* importance-weighted NLL, nats per image; NAN when absent */
    int test_nll_k;   /* its samples per image; 0 when absent */
} vae_diagnostics;

/* The principal plane of the test set's posterior means: tensors plane.mean (d), plane.dirs (2, d)
 * (orthonormal rows: the two leading principal directions) and plane.std (2) (the standard deviation
 * of the projections on each); all three or none. */
typedef struct {
    float *mean; /* (d); NULL when absent */
    float *dirs; /* (2, d) */
    float *std;  /* (2) */
} vae_latent_plane;

typedef struct {
    vae_config config;
    size_t n_params;
    float *params;        /* one 64-byte-aligned allocation of n_params floats; NULL after
                             vae_model_drop_params */
    vae_layers layers;    /* views into params (NULL pointers after vae_model_drop_params) */
    vae_dtype param_dtype; /* how its file stores params (F32 for a new model); every param is
                              exactly representable in it, and vae_weights_save keeps it */
    float *centroids;     /* (VAE_NUM_CLASSES, d): mean mu of each class over the training set;
                             NULL when absent */
    float *class_std;     /* (VAE_NUM_CLASSES, d): per-coordinate standard deviation of mu within
                             each class over the training set (tensor class_std; needs centroids);
                             NULL when absent */
    vae_latent_plane plane;
    vae_diagnostics diag;
    vae_score_tables scores;
    vae_metadata metadata;
    vae_inference *inference; /* weights packed for the inference kernels; NULL: use OpenBLAS */
} vae_model;

/* The optional groups above, as bits for vae_model_require. */
typedef enum {
    VAE_PART_CENTROIDS = 1 << 0,   /* centroids */
    VAE_PART_CLASS_STATS = 1 << 1, /* centroids and class_std */
    VAE_PART_PLANE = 1 << 2,       /* plane.* */
    VAE_PART_DIAGNOSTICS = 1 << 3, /* diag.* */
    VAE_PART_SCORES = 1 << 4,      /* score.* */
} vae_model_part;

/* VAE_OK when the model holds every group in `parts` (an OR of vae_model_part); otherwise
 * VAE_ERR_UNSUPPORTED with a message naming the first missing group, its tensors, and how to add
 * them (vae-train --annotate). */
vae_status vae_model_require(const vae_model *model, unsigned parts, vae_error *err);

/* Frees the optional groups (centroids, class_std, plane, diagnostics tensors, score tables) and
 * marks them absent (diag's metadata figures stay). */
void vae_model_clear_stats(vae_model *model);

/* Allocates a model with zeroed parameters for cfg. Returns NULL (and fills err) on failure. */
vae_model *vae_model_create(const vae_config *cfg, vae_error *err);

/* Initialises weights like PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weights
 * and biases, drawn from a generator seeded with seed. */
void vae_model_init_params(vae_model *model, unsigned long long seed);

/* Packs a copy of the weights for the small-batch inference kernels (vae_weights_load does it), so
 * vae_encode/vae_decode avoid OpenBLAS's per-call repacking. A snapshot: call again after changing
 * params (the trainer does not, and its inference runs on OpenBLAS). VAE_ERR_NOMEM on failure, the
 * model then still works through OpenBLAS. */
vae_status vae_model_prepare_inference(vae_model *model, vae_error *err);

/* For a process that only runs inference (vae-server): frees the float parameters of a model that
 * has its packed copy, which holds the same values (11 MB of the shipped mnist's resident memory).
 * Every inference function keeps working from the packed copy with the same results, and n_params
 * and param_dtype stay; what needs the parameters themselves (vae_weights_serialize and
 * vae_weights_save, vae_model_round_params, vae_model_prepare_inference, vae_model_init_params, the
 * trainer) must not be given the model afterwards, and the first three refuse it with
 * VAE_ERR_UNSUPPORTED. Returns VAE_ERR_UNSUPPORTED, freeing nothing, when the model has no packed
 * copy; VAE_OK when dropped (again: a no-op). */
vae_status vae_model_drop_params(vae_model *model, vae_error *err);
/* VAE_OK when the model still has its float parameters; else VAE_ERR_UNSUPPORTED with a message that
 * it cannot `what` (e.g. "save the weights") and why. */
vae_status vae_model_require_params(const vae_model *model, const char *what, vae_error *err);

/* Frees the model and everything it owns. NULL is a no-op. */
void vae_model_destroy(vae_model *model);

/* Scratch for inference: the caller owns one per thread and passes it to every call. Holds the
 * activations of up to max_batch images for models no wider than max_width. */
typedef struct vae_workspace vae_workspace;

/* Returns NULL on allocation failure. */
vae_workspace *vae_workspace_create(int max_width, int max_batch);
/* NULL is a no-op. */
void vae_workspace_destroy(vae_workspace *ws);

/* The inference calls below read the model only, so any number of threads may call them at once on
 * one model, each with its own workspace. Any n >= 0 is accepted; batches larger than the
 * workspace are processed in chunks. They cannot fail once arguments are valid: the workspace must
 * have been created with max_width >= vae_config_max_width(&model->config). */

/* x is (n, 784) in [0,1]; mu and logvar are (n, d). */
void vae_encode(const vae_model *model, vae_workspace *ws, const float *x, int n, float *mu,
                float *logvar);

/* z is (n, d); xhat is (n, 784), sigmoid outputs in [0,1]. */
void vae_decode(const vae_model *model, vae_workspace *ws, const float *z, int n, float *xhat);

/* z is (n, d); logits is (n, 784): the decoder's output before the sigmoid, so that
 * vae_decode(z) = sigmoid(vae_decode_logits(z)) and the Bernoulli log-likelihood can be computed in
 * the stable logits form (vae_score_compute). */
void vae_decode_logits(const vae_model *model, vae_workspace *ws, const float *z, int n,
                       float *logits);

/* xhat = decode(mu(x)): the deterministic reconstruction. x and xhat are (n, 784); they may alias. */
void vae_reconstruct(const vae_model *model, vae_workspace *ws, const float *x, int n, float *xhat);

#endif
