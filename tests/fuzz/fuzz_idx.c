/* Fuzz target: the idx readers (vae_dataset_parse_images, vae_dataset_parse_labels) on the raw
 * bytes, and, for input that starts with the gzip magic, vae_dataset_read_file on it first (through
 * a memfd). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "vae/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_both(const uint8_t *data, size_t size) {
    int count = 0, rows = 0, cols = 0;
    uint8_t *pixels = NULL, *labels = NULL;
    vae_error err = {0};
    if (vae_dataset_parse_images(data, size, &count, &rows, &cols, &pixels, &err) == VAE_OK) {
        if (count <= 0 || rows <= 0 || cols <= 0 || (size_t)count * rows * cols != size - 16)
            fuzz_fail("images: inconsistent %d x %d x %d from %zu bytes", count, rows, cols, size);
        /* touch the first and last pixel: ASan checks the allocation's extent */
        volatile uint8_t sink = pixels[0] ^ pixels[(size_t)count * rows * cols - 1];
        (void)sink;
        free(pixels);
    }
    if (vae_dataset_parse_labels(data, size, &count, &labels, &err) == VAE_OK) {
        if (count <= 0 || (size_t)count != size - 8) fuzz_fail("labels: %d from %zu bytes", count, size);
        for (int i = 0; i < count; i++)
            if (labels[i] > 9) fuzz_fail("label %d is %d", i, labels[i]);
        free(labels);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_both(data, size);
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        int fd = memfd_create("fuzz-idx", MFD_CLOEXEC);
        if (fd < 0) fuzz_fail("memfd_create failed");
        if (write(fd, data, size) != (ssize_t)size) fuzz_fail("memfd write failed");
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        uint8_t *bytes = NULL;
        size_t len = 0;
        vae_error err = {0};
        if (vae_dataset_read_file(path, &bytes, &len, &err) == VAE_OK) {
            parse_both(bytes, len);
            free(bytes);
        }
        close(fd);
    }
    return 0;
}
