/* Forward/backward kernels of the VAE: linear layers through cblas, activations, the loss terms. */
#include "vae/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

const char *vae_activation_name(vae_activation act) {
    switch (act) {
    case VAE_ACT_RELU: return "relu";
    case VAE_ACT_LEAKY_RELU: return "leaky_relu";
    case VAE_ACT_TANH: return "tanh";
    }
    return "unknown";
}

int vae_activation_parse(const char *name, vae_activation *out) {
    static const vae_activation all[] = {VAE_ACT_RELU, VAE_ACT_LEAKY_RELU, VAE_ACT_TANH};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, vae_activation_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

void vae_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int B, int C, int OC) {
    // out is (B,OC), inp is (B,C), weight is (OC,C), bias is (OC)
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * OC, bias, (size_t)OC * sizeof(float));
    if (B == 1) {
        /* gemv avoids gemm's packing overhead for a single row (the common one-request case) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OC, C, 1.0f, weight, C, inp, 1, 1.0f, out, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, inp, C, weight, C,
                    1.0f, out, OC);
    }
}

void vae_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int B, int C, int OC) {
    // dout is (B,OC), inp is (B,C), weight is (OC,C); dinp is (B,C), dweight (OC,C), dbias (OC)
    if (dinp) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, weight, C,
                    0.0f, dinp, C);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout, OC, inp, C, 1.0f,
                dweight, C);
    for (int b = 0; b < B; b++) {
        const float *row = dout + (size_t)b * OC;
        for (int o = 0; o < OC; o++) dbias[o] += row[o];
    }
}

void vae_activation_forward(float *out, const float *inp, size_t n, vae_activation act) {
    switch (act) {
    case VAE_ACT_RELU:
        for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
        break;
    case VAE_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : VAE_LEAKY_SLOPE * inp[i];
        break;
    case VAE_ACT_TANH:
        for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
        break;
    }
}

void vae_activation_backward(float *dinp, const float *dout, const float *inp, const float *out,
                             size_t n, vae_activation act) {
    switch (act) {
    case VAE_ACT_RELU:
        for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0.0f ? dout[i] : 0.0f;
        break;
    case VAE_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0.0f ? dout[i] : VAE_LEAKY_SLOPE * dout[i];
        break;
    case VAE_ACT_TANH:
        for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
        break;
    }
}

void vae_sigmoid_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* exp of a non-positive argument only: no overflow for any finite input */
        float e = expf(-fabsf(inp[i]));
        out[i] = inp[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
}

double vae_bce_logits_forward(const float *logits, const float *target, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float l = logits[i];
        sum += (double)(fmaxf(l, 0.0f) - l * target[i] + log1pf(expf(-fabsf(l))));
    }
    return sum;
}

void vae_bce_logits_backward(float *dlogits, const float *logits, const float *target, size_t n,
                             float scale) {
    for (size_t i = 0; i < n; i++) {
        float l = logits[i];
        float e = expf(-fabsf(l));
        float s = l >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        dlogits[i] = scale * (s - target[i]);
    }
}

double vae_bce_logits_forward_backward(float *dlogits, const float *logits, const float *target,
                                       size_t n, float scale) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float l = logits[i];
        float e = expf(-fabsf(l));
        float inv = 1.0f / (1.0f + e);
        float s = l >= 0.0f ? inv : e * inv;
        sum += (double)(fmaxf(l, 0.0f) - l * target[i] + log1pf(e));
        dlogits[i] = scale * (s - target[i]);
    }
    return sum;
}

double vae_kl_forward(const float *mu, const float *logvar, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += 0.5 * ((double)expf(logvar[i]) - logvar[i] - 1.0 + (double)mu[i] * mu[i]);
    return sum;
}

void vae_kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n,
                     float scale) {
    for (size_t i = 0; i < n; i++) {
        dmu[i] += scale * mu[i];
        dlogvar[i] += scale * 0.5f * (expf(logvar[i]) - 1.0f);
    }
}

void vae_reparam_forward(float *z, const float *mu, const float *logvar, const float *eps,
                         size_t n) {
    for (size_t i = 0; i < n; i++) z[i] = mu[i] + eps[i] * expf(0.5f * logvar[i]);
}

void vae_reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *logvar,
                          const float *eps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = dz[i];
        dlogvar[i] = g * eps[i] * 0.5f * expf(0.5f * logvar[i]);
        dmu[i] = g;
    }
}
