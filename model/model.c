/* The model: configuration checks, the parameter layout and its named views, metadata, and the
 * batched inference passes (encode, decode, reconstruct) over caller-owned workspaces. */
#include "vae/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"
#include "util.h"
#include "vae/rng.h"

struct vae_inference {
    vae_packed_linear enc[VAE_MAX_HIDDEN], mu, logvar, dec[VAE_MAX_HIDDEN], out;
};

static void inference_free(vae_inference *inf) {
    if (!inf) return;
    for (int i = 0; i < VAE_MAX_HIDDEN; i++) {
        vae_packed_free(&inf->enc[i]);
        vae_packed_free(&inf->dec[i]);
    }
    vae_packed_free(&inf->mu);
    vae_packed_free(&inf->logvar);
    vae_packed_free(&inf->out);
    free(inf);
}

/* The refusal of every function that needs the float parameters once they were dropped. */
static vae_status dropped(vae_error *err, const char *what) {
    return vae_error_set(err, VAE_ERR_UNSUPPORTED,
                         "cannot %s: this model's float parameters were dropped for inference only "
                         "(vae_model_drop_params); load the weights file again",
                         what);
}

vae_status vae_model_prepare_inference(vae_model *model, vae_error *err) {
    if (!model->params) return dropped(err, "pack the weights");
    vae_inference *inf = calloc(1, sizeof *inf);
    if (!inf) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory packing the weights");
    const vae_layers *ly = &model->layers;
    vae_status st = VAE_OK;
    for (int i = 0; i < model->config.n_hidden && st == VAE_OK; i++) {
        st = vae_pack_linear(&inf->enc[i], ly->enc[i].weight, ly->enc[i].bias, ly->enc[i].in, ly->enc[i].out);
        if (st == VAE_OK)
            st = vae_pack_linear(&inf->dec[i], ly->dec[i].weight, ly->dec[i].bias, ly->dec[i].in, ly->dec[i].out);
    }
    if (st == VAE_OK) st = vae_pack_linear(&inf->mu, ly->mu.weight, ly->mu.bias, ly->mu.in, ly->mu.out);
    if (st == VAE_OK)
        st = vae_pack_linear(&inf->logvar, ly->logvar.weight, ly->logvar.bias, ly->logvar.in, ly->logvar.out);
    if (st == VAE_OK) st = vae_pack_linear(&inf->out, ly->out.weight, ly->out.bias, ly->out.in, ly->out.out);
    if (st != VAE_OK) {
        inference_free(inf);
        return vae_error_set(err, VAE_ERR_NOMEM, "out of memory packing the weights");
    }
    inference_free(model->inference);
    model->inference = inf;
    return VAE_OK;
}

static const char *const dtype_names[] = {"F32", "F16", "BF16"};

const char *vae_dtype_name(vae_dtype dtype) { return dtype_names[dtype]; }

int vae_dtype_parse(const char *s, vae_dtype *out) {
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, dtype_names[i]) == 0) {
            *out = (vae_dtype)i;
            return 0;
        }
    return -1;
}

vae_status vae_config_validate(const vae_config *cfg, vae_error *err) {
    if (cfg->n_hidden < 1 || cfg->n_hidden > VAE_MAX_HIDDEN)
        return vae_error_set(err, VAE_ERR_ARG, "%d hidden layers: between 1 and %d are supported",
                             cfg->n_hidden, VAE_MAX_HIDDEN);
    for (int i = 0; i < cfg->n_hidden; i++) {
        if (cfg->hidden[i] < 1 || cfg->hidden[i] > VAE_MAX_WIDTH)
            return vae_error_set(err, VAE_ERR_ARG, "hidden layer %d has width %d: must be 1..%d", i,
                                 cfg->hidden[i], VAE_MAX_WIDTH);
    }
    if (cfg->latent_dim < 1 || cfg->latent_dim > VAE_MAX_LATENT)
        return vae_error_set(err, VAE_ERR_ARG, "latent size %d: must be 1..%d", cfg->latent_dim,
                             VAE_MAX_LATENT);
    if (cfg->activation != VAE_ACT_RELU && cfg->activation != VAE_ACT_LEAKY_RELU &&
        cfg->activation != VAE_ACT_TANH)
        return vae_error_set(err, VAE_ERR_ARG, "unknown activation %d", (int)cfg->activation);
    return VAE_OK;
}

/* Tensor names are written with snprintf into vae_tensor_info.name: the longest must fit, and layer
 * indices (0..VAE_MAX_HIDDEN-1) are one digit. */
_Static_assert(sizeof "enc.logvar.weight" <= sizeof(((vae_tensor_info *)0)->name), "tensor names fit");
_Static_assert(VAE_MAX_HIDDEN <= 10, "one-digit layer indices in tensor names");

/* Appends the weight (out, in) and bias (out) of one linear layer named prefix to the layout. */
static void layout_linear(vae_tensor_info *t, int *count, size_t *offset, const char *prefix,
                          int in, int out) {
    vae_tensor_info *w = &t[(*count)++], *b = &t[(*count)++];
    snprintf(w->name, sizeof w->name, "%s.weight", prefix);
    w->rows = out, w->cols = in, w->rank = 2, w->offset = *offset;
    *offset += (size_t)out * (size_t)in;
    snprintf(b->name, sizeof b->name, "%s.bias", prefix);
    b->rows = out, b->cols = 0, b->rank = 1, b->offset = *offset;
    *offset += (size_t)out;
}

int vae_config_tensors(const vae_config *cfg, vae_tensor_info out[VAE_MAX_TENSORS]) {
    int count = 0;
    size_t offset = 0;
    const int L = cfg->n_hidden, d = cfg->latent_dim;
    char name[16];
    for (int i = 0; i < L; i++) {
        snprintf(name, sizeof name, "enc.%d", i);
        layout_linear(out, &count, &offset, name, i == 0 ? VAE_INPUT_DIM : cfg->hidden[i - 1],
                      cfg->hidden[i]);
    }
    layout_linear(out, &count, &offset, "enc.mu", cfg->hidden[L - 1], d);
    layout_linear(out, &count, &offset, "enc.logvar", cfg->hidden[L - 1], d);
    /* the decoder mirrors the encoder: d -> h[L-1] -> ... -> h[0] -> 784 */
    for (int i = 0; i < L; i++) {
        snprintf(name, sizeof name, "dec.%d", i);
        layout_linear(out, &count, &offset, name, i == 0 ? d : cfg->hidden[L - i],
                      cfg->hidden[L - 1 - i]);
    }
    layout_linear(out, &count, &offset, "dec.out", cfg->hidden[0], VAE_INPUT_DIM);
    return count;
}

size_t vae_config_param_count(const vae_config *cfg) {
    vae_tensor_info t[VAE_MAX_TENSORS];
    int n = vae_config_tensors(cfg, t);
    const vae_tensor_info *last = &t[n - 1];
    return last->offset + (size_t)last->rows * (last->rank == 2 ? (size_t)last->cols : 1);
}

int vae_config_max_width(const vae_config *cfg) {
    int w = VAE_INPUT_DIM;
    for (int i = 0; i < cfg->n_hidden; i++)
        if (cfg->hidden[i] > w) w = cfg->hidden[i];
    if (2 * cfg->latent_dim > w) w = 2 * cfg->latent_dim;
    return w;
}

size_t vae_config_encoder_macs(const vae_config *cfg) {
    size_t macs = 0, in = VAE_INPUT_DIM;
    for (int i = 0; i < cfg->n_hidden; i++) {
        macs += in * (size_t)cfg->hidden[i];
        in = (size_t)cfg->hidden[i];
    }
    return macs + 2 * in * (size_t)cfg->latent_dim;
}

size_t vae_config_decoder_macs(const vae_config *cfg) {
    size_t macs = 0, in = (size_t)cfg->latent_dim;
    for (int i = cfg->n_hidden - 1; i >= 0; i--) {
        macs += in * (size_t)cfg->hidden[i];
        in = (size_t)cfg->hidden[i];
    }
    return macs + in * VAE_INPUT_DIM;
}

void vae_config_hidden_string(const vae_config *cfg, char *buf, size_t size) {
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (int i = 0; i < cfg->n_hidden && used < size; i++) {
        int n = snprintf(buf + used, size - used, i ? ",%d" : "%d", cfg->hidden[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

void vae_config_architecture_string(const vae_config *cfg, char *buf, size_t size) {
    char hidden[VAE_MAX_HIDDEN * 12];
    vae_config_hidden_string(cfg, hidden, sizeof hidden);
    for (char *p = hidden; *p; p++)
        if (*p == ',') *p = '-';
    snprintf(buf, size, "%d-%s-%d", VAE_INPUT_DIM, hidden, cfg->latent_dim);
}

vae_status vae_config_parse_hidden(vae_config *cfg, const char *text, vae_error *err) {
    int widths[VAE_MAX_HIDDEN], n = 0;
    const char *p = text;
    if (!*p) return vae_error_set(err, VAE_ERR_ARG, "hidden sizes are empty: give e.g. 400 or 512,256");
    while (*p) {
        if (n == VAE_MAX_HIDDEN)
            return vae_error_set(err, VAE_ERR_ARG, "hidden sizes '%s': at most %d layers", text,
                                 VAE_MAX_HIDDEN);
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > VAE_MAX_WIDTH || (*end != ',' && *end != '\0'))
            return vae_error_set(err, VAE_ERR_ARG,
                                 "hidden sizes '%s': expected widths 1..%d separated by commas "
                                 "(e.g. 512,256)",
                                 text, VAE_MAX_WIDTH);
        widths[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && !*p)
            return vae_error_set(err, VAE_ERR_ARG, "hidden sizes '%s': trailing comma", text);
    }
    cfg->n_hidden = n;
    memcpy(cfg->hidden, widths, (size_t)n * sizeof(int));
    return VAE_OK;
}

void vae_layers_bind(vae_layers *layers, const vae_config *cfg, float *block) {
    vae_tensor_info t[VAE_MAX_TENSORS];
    vae_config_tensors(cfg, t);
    memset(layers, 0, sizeof *layers);
    /* tensors come in (weight, bias) pairs, in the order enc.*, mu, logvar, dec.*, out */
    vae_linear *order[2 * VAE_MAX_HIDDEN + 3];
    int k = 0;
    for (int i = 0; i < cfg->n_hidden; i++) order[k++] = &layers->enc[i];
    order[k++] = &layers->mu;
    order[k++] = &layers->logvar;
    for (int i = 0; i < cfg->n_hidden; i++) order[k++] = &layers->dec[i];
    order[k++] = &layers->out;
    for (int i = 0; i < k; i++) {
        const vae_tensor_info *w = &t[2 * i], *b = &t[2 * i + 1];
        order[i]->weight = block ? block + w->offset : NULL;
        order[i]->bias = block ? block + b->offset : NULL;
        order[i]->out = w->rows;
        order[i]->in = w->cols;
    }
}

vae_status vae_metadata_set(vae_metadata *md, const char *key, const char *value) {
    char *v = strdup(value);
    if (!v) return VAE_ERR_NOMEM;
    for (int i = 0; i < md->count; i++) {
        if (strcmp(md->keys[i], key) == 0) {
            free(md->values[i]);
            md->values[i] = v;
            return VAE_OK;
        }
    }
    if (md->count == VAE_MAX_METADATA) {
        free(v);
        return VAE_ERR_LIMIT;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return VAE_ERR_NOMEM;
    }
    md->keys[md->count] = k;
    md->values[md->count] = v;
    md->count++;
    return VAE_OK;
}

const char *vae_metadata_get(const vae_metadata *md, const char *key) {
    for (int i = 0; i < md->count; i++)
        if (strcmp(md->keys[i], key) == 0) return md->values[i];
    return NULL;
}

void vae_metadata_clear(vae_metadata *md) {
    for (int i = 0; i < md->count; i++) {
        free(md->keys[i]);
        free(md->values[i]);
    }
    md->count = 0;
}

vae_model *vae_model_create(const vae_config *cfg, vae_error *err) {
    if (vae_config_validate(cfg, err) != VAE_OK) return NULL;
    vae_model *m = calloc(1, sizeof *m);
    if (!m) {
        vae_error_set(err, VAE_ERR_NOMEM, "out of memory allocating the model");
        return NULL;
    }
    m->config = *cfg;
    m->n_params = vae_config_param_count(cfg);
    m->params = alloc_floats(m->n_params);
    if (!m->params) {
        vae_error_set(err, VAE_ERR_NOMEM, "out of memory allocating %zu parameters", m->n_params);
        free(m);
        return NULL;
    }
    vae_layers_bind(&m->layers, cfg, m->params);
    m->diag.active_units = -1;
    m->diag.test_loss = NAN;
    m->diag.test_nll = NAN;
    return m;
}

void vae_model_init_params(vae_model *model, unsigned long long seed) {
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_tensor_info t[VAE_MAX_TENSORS];
    int n = vae_config_tensors(&model->config, t);
    for (int i = 0; i < n; i += 2) {
        /* nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
        float bound = 1.0f / sqrtf((float)t[i].cols);
        size_t count = (size_t)t[i].rows * (size_t)t[i].cols + (size_t)t[i + 1].rows;
        float *p = model->params + t[i].offset; /* the bias follows its weight */
        for (size_t j = 0; j < count; j++) p[j] = (float)((2.0 * vae_rng_uniform(&rng) - 1.0) * bound);
    }
}

void vae_model_clear_stats(vae_model *model) {
    free(model->centroids);
    free(model->class_std);
    free(model->plane.mean);
    free(model->plane.dirs);
    free(model->plane.std);
    free(model->diag.mu_var);
    free(model->diag.kl);
    free(model->scores.nll.values);
    free(model->scores.corrected.values);
    free(model->scores.ood.values);
    model->centroids = model->class_std = NULL;
    memset(&model->plane, 0, sizeof model->plane);
    model->diag.mu_var = model->diag.kl = NULL;
    model->diag.active_units = -1;
    memset(&model->scores, 0, sizeof model->scores);
}

vae_status vae_model_require(const vae_model *model, unsigned parts, vae_error *err) {
    static const struct {
        unsigned part;
        const char *what;
    } groups[] = {
        {VAE_PART_CENTROIDS, "class centroids (tensor centroids)"},
        {VAE_PART_CLASS_STATS, "class statistics (tensors centroids and class_std)"},
        {VAE_PART_PLANE, "a principal plane (tensors plane.mean, plane.dirs, plane.std)"},
        {VAE_PART_DIAGNOSTICS, "diagnostics (tensors diag.mu_var and diag.kl)"},
        {VAE_PART_SCORES, "score calibration tables (tensors score.nll, score.corrected, score.ood)"},
    };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        unsigned p = groups[i].part;
        if (!(parts & p)) continue;
        int present = p == VAE_PART_CENTROIDS     ? model->centroids != NULL
                      : p == VAE_PART_CLASS_STATS ? model->centroids && model->class_std
                      : p == VAE_PART_PLANE       ? model->plane.mean != NULL
                      : p == VAE_PART_DIAGNOSTICS ? model->diag.mu_var != NULL
                                                  : model->scores.nll.values != NULL;
        if (!present)
            return vae_error_set(err, VAE_ERR_UNSUPPORTED,
                                 "this weights file lacks %s; `vae-train --annotate FILE --data DIR` "
                                 "adds the statistics (DIR: the data set it was trained on)",
                                 groups[i].what);
    }
    return VAE_OK;
}

vae_status vae_model_drop_params(vae_model *model, vae_error *err) {
    if (!model->params) return VAE_OK;
    if (!model->inference)
        return vae_error_set(err, VAE_ERR_UNSUPPORTED,
                             "cannot drop the float parameters of a model without its packed copy "
                             "(vae_model_prepare_inference)");
    free(model->params);
    model->params = NULL;
    vae_layers_bind(&model->layers, &model->config, NULL); /* the views go; their sizes stay */
    return VAE_OK;
}

vae_status vae_model_require_params(const vae_model *model, const char *what, vae_error *err) {
    return model->params ? VAE_OK : dropped(err, what);
}

void vae_model_destroy(vae_model *model) {
    if (!model) return;
    free(model->params);
    vae_model_clear_stats(model);
    inference_free(model->inference);
    vae_metadata_clear(&model->metadata);
    free(model);
}

struct vae_workspace {
    int max_width, max_batch;
    float *a, *b; /* ping-pong activations, (max_batch, max_width) each */
};

vae_workspace *vae_workspace_create(int max_width, int max_batch) {
    if (max_width < 1 || max_batch < 1) return NULL;
    vae_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->max_width = max_width;
    ws->max_batch = max_batch;
    size_t n = (size_t)max_width * (size_t)max_batch;
    ws->a = alloc_floats(n);
    ws->b = alloc_floats(n);
    if (!ws->a || !ws->b) {
        vae_workspace_destroy(ws);
        return NULL;
    }
    return ws;
}

void vae_workspace_destroy(vae_workspace *ws) {
    if (!ws) return;
    free(ws->a);
    free(ws->b);
    free(ws);
}

/* The packed copy of one layer, or NULL when the model has none. */
#define PACKED(m, layer) ((m)->inference ? &(m)->inference->layer : NULL)

/* One layer of inference: out = act(in @ W^T + b), through the packed kernels when the model has
 * them (bias and ReLU fused), else OpenBLAS. act_on selects whether the activation applies. */
static void infer_linear(const vae_model *m, const vae_linear *l, const vae_packed_linear *packed,
                         float *out, const float *in, int B, int act_on) {
    vae_activation act = m->config.activation;
    if (packed) {
        vae_epilogue ep = !act_on || act == VAE_ACT_TANH ? VAE_EPILOGUE_NONE
                          : act == VAE_ACT_RELU          ? VAE_EPILOGUE_RELU
                                                         : VAE_EPILOGUE_LEAKY;
        vae_kernel_linear(out, in, packed, B, ep);
        if (act_on && act == VAE_ACT_TANH) vae_activation_forward(out, out, (size_t)B * l->out, act);
        return;
    }
    vae_linear_forward(out, in, l->weight, l->bias, B, l->in, l->out);
    if (act_on) vae_activation_forward(out, out, (size_t)B * l->out, act);
}

/* Runs the encoder's hidden stack on B rows of x; returns the buffer holding the last hidden
 * activations (B, hidden[L-1]). */
static float *encoder_hidden(const vae_model *m, vae_workspace *ws, const float *x, int B) {
    const vae_layers *ly = &m->layers;
    const float *in = x;
    float *out = ws->a;
    for (int i = 0; i < m->config.n_hidden; i++) {
        infer_linear(m, &ly->enc[i], PACKED(m, enc[i]), out, in, B, 1);
        in = out;
        out = out == ws->a ? ws->b : ws->a;
    }
    return (float *)in;
}

/* Decodes B latent rows z (which may live in ws->b, never in ws->a) into the decoder's pre-sigmoid
 * output logits (B, 784). */
static void decode_rows_logits(const vae_model *m, vae_workspace *ws, const float *z, int B,
                               float *logits) {
    const vae_layers *ly = &m->layers;
    const float *in = z;
    float *out = ws->a;
    for (int i = 0; i < m->config.n_hidden; i++) {
        infer_linear(m, &ly->dec[i], PACKED(m, dec[i]), out, in, B, 1);
        in = out;
        out = out == ws->a ? ws->b : ws->a;
    }
    infer_linear(m, &ly->out, PACKED(m, out), logits, in, B, 0);
}

/* decode_rows_logits, then the sigmoid in place: xhat (B, 784) in [0,1]. */
static void decode_rows(const vae_model *m, vae_workspace *ws, const float *z, int B, float *xhat) {
    decode_rows_logits(m, ws, z, B, xhat);
    if (m->inference) vae_kernel_sigmoid(xhat, xhat, (size_t)B * VAE_INPUT_DIM);
    else vae_sigmoid_forward(xhat, xhat, (size_t)B * VAE_INPUT_DIM);
}

void vae_encode(const vae_model *model, vae_workspace *ws, const float *x, int n, float *mu,
                float *logvar) {
    const int d = model->config.latent_dim;
    const vae_layers *ly = &model->layers;
    for (int start = 0; start < n; start += ws->max_batch) {
        int B = n - start < ws->max_batch ? n - start : ws->max_batch;
        const float *h = encoder_hidden(model, ws, x + (size_t)start * VAE_INPUT_DIM, B);
        infer_linear(model, &ly->mu, PACKED(model, mu), mu + (size_t)start * d, h, B, 0);
        infer_linear(model, &ly->logvar, PACKED(model, logvar), logvar + (size_t)start * d, h, B, 0);
    }
}

void vae_decode(const vae_model *model, vae_workspace *ws, const float *z, int n, float *xhat) {
    const int d = model->config.latent_dim;
    for (int start = 0; start < n; start += ws->max_batch) {
        int B = n - start < ws->max_batch ? n - start : ws->max_batch;
        decode_rows(model, ws, z + (size_t)start * d, B, xhat + (size_t)start * VAE_INPUT_DIM);
    }
}

void vae_decode_logits(const vae_model *model, vae_workspace *ws, const float *z, int n,
                       float *logits) {
    const int d = model->config.latent_dim;
    for (int start = 0; start < n; start += ws->max_batch) {
        int B = n - start < ws->max_batch ? n - start : ws->max_batch;
        decode_rows_logits(model, ws, z + (size_t)start * d, B, logits + (size_t)start * VAE_INPUT_DIM);
    }
}

void vae_reconstruct(const vae_model *model, vae_workspace *ws, const float *x, int n, float *xhat) {
    const vae_layers *ly = &model->layers;
    for (int start = 0; start < n; start += ws->max_batch) {
        int B = n - start < ws->max_batch ? n - start : ws->max_batch;
        const float *h = encoder_hidden(model, ws, x + (size_t)start * VAE_INPUT_DIM, B);
        /* mu goes to whichever buffer h is not in, then moves to ws->b for decode_rows */
        float *mu = h == ws->a ? ws->b : ws->a;
        infer_linear(model, &ly->mu, PACKED(model, mu), mu, h, B, 0);
        if (mu == ws->a) {
            memcpy(ws->b, mu, (size_t)B * ly->mu.out * sizeof(float));
            mu = ws->b;
        }
        decode_rows(model, ws, mu, B, xhat + (size_t)start * VAE_INPUT_DIM);
    }
}
