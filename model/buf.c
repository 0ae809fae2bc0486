/* vae_buf: a byte buffer that grows geometrically. */
#include "vae/buf.h"

#include <stdlib.h>
#include <string.h>

vae_status vae_buf_reserve(vae_buf *buf, size_t extra) {
    if (extra <= buf->cap - buf->len) return VAE_OK;
    if (extra > SIZE_MAX - buf->len) return VAE_ERR_NOMEM;
    size_t need = buf->len + extra;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2; /* geometric, saturating */
    uint8_t *data = realloc(buf->data, cap);
    if (!data) return VAE_ERR_NOMEM;
    buf->data = data;
    buf->cap = cap;
    return VAE_OK;
}

vae_status vae_buf_append(vae_buf *buf, const void *bytes, size_t n) {
    if (n == 0) return VAE_OK;
    vae_status st = vae_buf_reserve(buf, n);
    if (st != VAE_OK) return st;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return VAE_OK;
}

void vae_buf_free(vae_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
