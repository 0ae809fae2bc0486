/* Reading and writing models as safetensors files: 8-byte little-endian header length N, N bytes of
 * JSON header ({"name": {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, ...,
 * "__metadata__": {string: string}}), then the raw little-endian data. Tensors may be F32, F16 or
 * BF16 (each widened exactly to float on load); the parameters are written in the model's
 * param_dtype, the optional tensors as F32. */
#ifndef VAE_WEIGHTS_H
#define VAE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "vae/model.h"

/* Largest header accepted (safetensors' own reader uses the same 100 MB bound). */
#define VAE_WEIGHTS_MAX_HEADER (100u * 1000u * 1000u)

/* Exact widenings, and narrowings rounding to nearest, ties to even. A finite float beyond F16's range
 * becomes an infinity of its sign (so does one beyond BF16's); NaN stays NaN. */
float vae_f16_to_f32(uint16_t h);
uint16_t vae_f32_to_f16(float f);
float vae_bf16_to_f32(uint16_t h);
uint16_t vae_f32_to_bf16(float f);

/* Rounds every parameter to the nearest value of dtype and sets param_dtype, so that the model in
 * memory is exactly the one its file will hold. VAE_ERR_ARG, the parameters untouched, when one would
 * overflow to an infinity (a F16 weight beyond 65504): the message names the tensor and the index.
 * A model packed for inference must be packed again (vae_model_prepare_inference). */
vae_status vae_model_round_params(vae_model *model, vae_dtype dtype, vae_error *err);

/* Parses and checks a whole file held in memory: header length against size, JSON, dtypes, every
 * shape against the others and against the metadata (activation, latent_dim, hidden), offsets inside
 * the data and not overlapping, no NaN or Inf. `source` names the file in messages.
 * On success *out owns a new model; on failure *out is untouched and err says what is wrong. */
vae_status vae_weights_load_memory(const uint8_t *bytes, size_t len, const char *source,
                                   vae_model **out, vae_error *err);

/* vae_weights_load_memory on the contents of path. */
vae_status vae_weights_load(const char *path, vae_model **out, vae_error *err);

/* Serialises model (parameters, centroids when present, metadata). *out is a malloc'd buffer the
 * caller frees. */
vae_status vae_weights_serialize(const vae_model *model, uint8_t **out, size_t *out_len,
                                 vae_error *err);

/* Writes the serialised model to path atomically (temporary file in the same directory, then rename),
 * so an interrupted write never leaves a half-written weights file behind. */
vae_status vae_weights_save(const vae_model *model, const char *path, vae_error *err);

#endif
