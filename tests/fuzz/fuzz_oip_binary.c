/* Fuzz target: the Open Inference Protocol's binary tensor framing on POST /v2/models/{model}/infer:
 * the JSON header's length (Inference-Header-Content-Length or the SageMaker media type's
 * json-header-size), binary_data_size against the bytes after the header, binary outputs asked for,
 * and a gzip'd body. Input: two bytes of header length (little-endian; 0xFFFF: none), one option
 * byte (bits 0-1 media type, 2 the decoder face, 3 direct call, 4 gzip'd body, 5 a second header
 * length that disagrees), then the body. The reply's framing is checked by the harness. */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_server_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3 || size > (1u << 16)) return 0;
    unsigned header_len = data[0] | (unsigned)data[1] << 8;
    uint8_t opt = data[2];
    data += 3;
    size -= 3;
    static const char *const types[] = {NULL, "application/octet-stream", "application/json", NULL};
    char length[24], sagemaker[96];
    snprintf(length, sizeof length, "%u", header_len);
    fuzz_request fr = {.path = (opt & 4) ? "/v2/models/fashion-decoder/infer" : "/v2/models/mnist-encoder/infer",
                       .content_type = types[opt & 3], .direct = (opt >> 3) & 1};
    if ((opt & 3) == 3) {
        snprintf(sagemaker, sizeof sagemaker, "application/vnd.sagemaker-triton.binary+json;json-header-size=%u",
                 header_len + ((opt & 0x20) ? 1 : 0));
        fr.content_type = sagemaker;
    }
    if (header_len != 0xFFFF && (opt & 3) != 3) {
        fr.extra_header_name = "Inference-Header-Content-Length";
        fr.extra_header_value = length;
    }
    if (opt & 0x10) {
        /* the same body gzip'd: the framing applies to the inflated bytes */
        uLongf cap = compressBound((uLong)size) + 32;
        uint8_t *gz = malloc(cap);
        if (!gz) return 0;
        z_stream z = {0};
        if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
            z.next_in = (Bytef *)data;
            z.avail_in = (uInt)size;
            z.next_out = gz;
            z.avail_out = (uInt)cap;
            if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
                fr.content_encoding = "gzip";
                fuzz_run(&fr, gz, cap - z.avail_out);
            }
            deflateEnd(&z);
        }
        free(gz);
        return 0;
    }
    fuzz_run(&fr, data, size);
    return 0;
}
