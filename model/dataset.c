/* MNIST-style idx files: magic, big-endian dimensions, then bytes; gzipped or plain. */
#include "vae/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"
#include "vae/model.h"

vae_status vae_dataset_parse_images(const uint8_t *bytes, size_t len, int *count, int *rows, int *cols,
                                    uint8_t **pixels, vae_error *err) {
    if (len < 16)
        return vae_error_set(err, VAE_ERR_FORMAT, "%zu bytes: too short for an idx3 image header", len);
    uint32_t magic = read_be32(bytes);
    if (magic == 0x00000801)
        return vae_error_set(err, VAE_ERR_FORMAT, "this is an idx1 label file, not an image file");
    if (magic != 0x00000803)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "bad magic 0x%08x: expected 0x00000803 (idx3, unsigned bytes)", magic);
    uint32_t n = read_be32(bytes + 4), r = read_be32(bytes + 8), c = read_be32(bytes + 12);
    if (n == 0 || r == 0 || c == 0 || n > (1u << 24) || r > 4096 || c > 4096)
        return vae_error_set(err, VAE_ERR_FORMAT, "implausible dimensions %u x %u x %u", n, r, c);
    uint64_t need = (uint64_t)n * r * c;
    if (need != len - 16)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "header says %u images of %ux%u (%llu bytes) but the file holds %zu: "
                             "%s",
                             n, r, c, (unsigned long long)need, len - 16,
                             need > len - 16 ? "truncated" : "trailing bytes");
    uint8_t *p = malloc((size_t)need);
    if (!p) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory for %llu pixels",
                                 (unsigned long long)need);
    memcpy(p, bytes + 16, (size_t)need);
    *count = (int)n;
    *rows = (int)r;
    *cols = (int)c;
    *pixels = p;
    return VAE_OK;
}

vae_status vae_dataset_parse_labels(const uint8_t *bytes, size_t len, int *count, uint8_t **labels,
                                    vae_error *err) {
    if (len < 8)
        return vae_error_set(err, VAE_ERR_FORMAT, "%zu bytes: too short for an idx1 label header", len);
    uint32_t magic = read_be32(bytes);
    if (magic == 0x00000803)
        return vae_error_set(err, VAE_ERR_FORMAT, "this is an idx3 image file, not a label file");
    if (magic != 0x00000801)
        return vae_error_set(err, VAE_ERR_FORMAT,
                             "bad magic 0x%08x: expected 0x00000801 (idx1, unsigned bytes)", magic);
    uint32_t n = read_be32(bytes + 4);
    if (n == 0 || n > (1u << 24))
        return vae_error_set(err, VAE_ERR_FORMAT, "implausible label count %u", n);
    if ((uint64_t)n != len - 8)
        return vae_error_set(err, VAE_ERR_FORMAT, "header says %u labels but the file holds %zu: %s",
                             n, len - 8, (size_t)n > len - 8 ? "truncated" : "trailing bytes");
    for (uint32_t i = 0; i < n; i++) {
        if (bytes[8 + i] > 9)
            return vae_error_set(err, VAE_ERR_FORMAT, "label %u is %u: labels must be 0..9", i,
                                 bytes[8 + i]);
    }
    uint8_t *p = malloc(n);
    if (!p) return vae_error_set(err, VAE_ERR_NOMEM, "out of memory for %u labels", n);
    memcpy(p, bytes + 8, n);
    *count = (int)n;
    *labels = p;
    return VAE_OK;
}

vae_status vae_dataset_read_file(const char *path, uint8_t **out, size_t *out_len, vae_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return vae_error_set(err, VAE_ERR_IO, "%s: cannot open: %s", path,
                             errno ? strerror(errno) : "out of memory");
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    vae_status st = buf ? VAE_OK : vae_error_set(err, VAE_ERR_NOMEM, "%s: out of memory", path);
    while (st == VAE_OK) {
        if (len == cap) {
            if (cap >= VAE_DATASET_MAX_FILE_BYTES) {
                st = vae_error_set(err, VAE_ERR_LIMIT, "%s: larger than %u bytes", path,
                                   VAE_DATASET_MAX_FILE_BYTES);
                break;
            }
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                st = vae_error_set(err, VAE_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t want = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        int got = gzread(f, buf + len, (unsigned)want);
        if (got < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            st = vae_error_set(err, VAE_ERR_FORMAT, "%s: %s", path,
                               code == Z_ERRNO ? strerror(errno) : msg);
            break;
        }
        if (got == 0) {
            /* gzread returns 0 both at a clean end and for a gzip stream cut short */
            int code;
            const char *msg = gzerror(f, &code);
            if (code != Z_OK && code != Z_STREAM_END)
                st = vae_error_set(err, VAE_ERR_FORMAT, "%s: %s", path, msg);
            else if (!gzeof(f))
                st = vae_error_set(err, VAE_ERR_FORMAT, "%s: read stopped early", path);
            break;
        }
        len += (size_t)got;
    }
    gzclose(f);
    if (st != VAE_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = len;
    return VAE_OK;
}

/* Opens <dir>/<split>-<kind>-ubyte, trying the .gz name first. */
static vae_status read_idx(const char *dir, const char *split, const char *kind, char *path,
                           size_t path_size, uint8_t **bytes, size_t *len, vae_error *err) {
    snprintf(path, path_size, "%s/%s-%s-ubyte.gz", dir, split, kind);
    FILE *probe = fopen(path, "rb");
    if (!probe) snprintf(path, path_size, "%s/%s-%s-ubyte", dir, split, kind);
    else fclose(probe);
    return vae_dataset_read_file(path, bytes, len, err);
}

vae_status vae_dataset_load(const char *dir, const char *split, vae_dataset *out, vae_error *err) {
    char path[4096];
    uint8_t *bytes = NULL;
    size_t len = 0;
    vae_dataset ds = {0};
    int n_labels = 0;
    vae_status st = read_idx(dir, split, "images-idx3", path, sizeof path, &bytes, &len, err);
    if (st == VAE_OK) {
        st = vae_dataset_parse_images(bytes, len, &ds.count, &ds.rows, &ds.cols, &ds.pixels, err);
        if (st != VAE_OK) vae_error_prefix(err, "%s", path);
    }
    free(bytes);
    bytes = NULL;
    if (st == VAE_OK && (ds.rows != VAE_IMAGE_SIDE || ds.cols != VAE_IMAGE_SIDE))
        st = vae_error_set(err, VAE_ERR_FORMAT, "%s: images are %dx%d; the model needs %dx%d", path,
                           ds.rows, ds.cols, VAE_IMAGE_SIDE, VAE_IMAGE_SIDE);
    if (st == VAE_OK) st = read_idx(dir, split, "labels-idx1", path, sizeof path, &bytes, &len, err);
    if (st == VAE_OK) {
        st = vae_dataset_parse_labels(bytes, len, &n_labels, &ds.labels, err);
        if (st != VAE_OK) vae_error_prefix(err, "%s", path);
    }
    free(bytes);
    if (st == VAE_OK && n_labels != ds.count)
        st = vae_error_set(err, VAE_ERR_FORMAT, "%s: %d labels for %d images in %s/%s-images", path,
                           n_labels, ds.count, dir, split);
    if (st != VAE_OK) {
        vae_dataset_free(&ds);
        return st;
    }
    *out = ds;
    return VAE_OK;
}

void vae_dataset_free(vae_dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* v / 255.0f for every byte, folded by the compiler with the same IEEE rounding as the division at run
 * time (test_train checks every entry against the division). */
#define PIX1(v) ((v) / 255.0f)
#define PIX4(v) PIX1(v), PIX1(v + 1), PIX1(v + 2), PIX1(v + 3)
#define PIX16(v) PIX4(v), PIX4(v + 4), PIX4(v + 8), PIX4(v + 12)
#define PIX64(v) PIX16(v), PIX16(v + 16), PIX16(v + 32), PIX16(v + 48)
const float vae_pixel_values[256] = {PIX64(0), PIX64(64), PIX64(128), PIX64(192)};
#undef PIX64
#undef PIX16
#undef PIX4
#undef PIX1

void vae_dataset_image(const vae_dataset *ds, int i, float *out) {
    const size_t n = (size_t)ds->rows * ds->cols;
    const uint8_t *p = ds->pixels + (size_t)i * n;
    for (size_t j = 0; j < n; j++) out[j] = vae_pixel_values[p[j]];
}
