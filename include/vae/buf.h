/* A growable byte buffer: what the PNG writers, the JSON writer and the metrics page append to. */
#ifndef VAE_BUF_H
#define VAE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "vae/error.h"

/* Zero-initialise, append, free with vae_buf_free. data holds len bytes; cap is its capacity. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} vae_buf;

/* Makes room for `extra` more bytes; VAE_ERR_NOMEM on failure (buffer unchanged). */
vae_status vae_buf_reserve(vae_buf *buf, size_t extra);

/* Appends n bytes; VAE_ERR_NOMEM on failure (buffer unchanged). */
vae_status vae_buf_append(vae_buf *buf, const void *bytes, size_t n);

/* Frees the bytes; buf is empty afterwards. */
void vae_buf_free(vae_buf *buf);

#endif
