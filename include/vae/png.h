/* PNG in and out of the model: encoding grey or RGB pixels (libpng, or a run-length writer for the
 * server's small images), and decoding a PNG of any colour type into the model's 28x28 [0,1] input,
 * plainly or prepared as the training images were (vae/prepare.h), with the kind of problem when the
 * bytes are not a usable PNG. */
#ifndef VAE_PNG_H
#define VAE_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "vae/buf.h"
#include "vae/error.h"
#include "vae/model.h"
#include "vae/prepare.h"

/* The 8 bytes every PNG starts with (a string literal: use VAE_PNG_SIGNATURE_LEN, not strlen). */
#define VAE_PNG_SIGNATURE "\x89PNG\r\n\x1a\n"
#define VAE_PNG_SIGNATURE_LEN 8

/* Largest width or height the encoders write. */
#define VAE_PNG_MAX_SIDE 16384

/* Largest width*height vae_png_decode_input accepts by default (checked from the header, before
 * anything the size of the image is allocated). */
#define VAE_PNG_DEFAULT_MAX_PIXELS (4096L * 4096L)

/* Encodes width x height pixels with 1 (grey) or 3 (RGB) 8-bit channels, rows top to bottom, as a PNG
 * appended to out. level is the zlib level 0..9 (-1 for the codec's tuned default). VAE_ERR_ARG for
 * a size outside 1..VAE_PNG_MAX_SIDE, other channel counts or levels; VAE_ERR_NOMEM. On failure
 * out->len is as it was (its capacity may have grown). */
vae_status vae_png_encode(const uint8_t *pixels, int width, int height, int channels, int level,
                          vae_buf *out, vae_error *err);

/* Encodes like vae_png_encode with a writer made for the server's small images: one pass, fixed
 * Huffman codes and run-length matches only, nothing set up per image (no libpng, no zlib stream).
 * Appends to out. vae_png_encode uses it for level -1. Thread-safe: it reads constant tables only. */
vae_status vae_png_encode_rle(const uint8_t *pixels, int width, int height, int channels,
                              vae_buf *out, vae_error *err);

/* What is wrong with bytes given to vae_png_decode_input: the words for a person who sent them are the
 * caller's to choose (the message in vae_error says what the bytes are, not what to do). */
typedef enum {
    VAE_PNG_NONE = 0,      /* nothing wrong with the bytes (success, a bad argument, out of memory) */
    VAE_PNG_EMPTY,         /* zero bytes */
    VAE_PNG_NOT_PNG,       /* no PNG signature; the message names the format when it is recognised */
    VAE_PNG_BASE64,        /* base64 text of a PNG instead of its bytes */
    VAE_PNG_MULTIPART,     /* MIME multipart data (a form wrapped around the file) */
    VAE_PNG_LINE_ENDINGS,  /* a PNG signature whose line-ending bytes were rewritten (a text-mode copy) */
    VAE_PNG_TRUNCATED,     /* the bytes end before the image data is complete */
    VAE_PNG_BAD_CRC,       /* a chunk's CRC does not match its contents */
    VAE_PNG_BAD_HEADER,    /* IHDR missing, not first, malformed or out of range */
    VAE_PNG_ZERO_SIZE,     /* the header says width or height 0 */
    VAE_PNG_TOO_LARGE,     /* more pixels than max_pixels (the status is VAE_ERR_LIMIT) */
    VAE_PNG_CORRUPT_DATA,  /* image data that does not decompress, fails zlib's checksum, holds too
                              much or too little, or has a bad row filter */
    VAE_PNG_UNSUPPORTED,   /* a critical chunk this decoder does not know */
    VAE_PNG_INVALID,       /* any other violation of the format (e.g. a palette image without PLTE) */
} vae_png_problem;

/* Decodes a PNG of any colour type and bit depth (grey, grey+alpha, RGB, RGBA, palette, with or
 * without tRNS, 1..16 bits, interlaced or not) into the model input out (VAE_INPUT_DIM floats): grey,
 * composited over the background (transparent means background), area-averaged to 28x28, scaled to
 * [0,1], 0 = background. With invert, the PNG is taken to be dark ink on a light background and is
 * inverted.
 * The image data is decoded completely and zlib's checksum (adler32) is verified: damaged compressed
 * data is refused, never decoded into other pixels. The chunks after the image data are not read, so
 * bytes that lack only the final IEND chunk (or end inside it) after complete, verified image data
 * still decode.
 * Errors: VAE_ERR_FORMAT (the bytes are not a usable PNG) or VAE_ERR_LIMIT (more than max_pixels
 * pixels, judged from the header before anything the size of the image is allocated), each with a
 * message saying what is wrong and, when problem is not NULL, *problem set to its kind; VAE_ERR_ARG
 * and VAE_ERR_NOMEM (with *problem = VAE_PNG_NONE). out is written only on success. */
vae_status vae_png_decode_input(const uint8_t *bytes, size_t len, long max_pixels, int invert,
                                float out[VAE_INPUT_DIM], vae_png_problem *problem, vae_error *err);

/* Decodes like vae_png_decode_input, then prepares the image as opts says (vae_prepare_image: the
 * polarity given or detected, the MNIST or fill normalisation): the grey is composited over the
 * background as above, and the sums are made on the preparation's grid (the image itself up to
 * VAE_PREPARE_MAX_SIDE a side, else area-averaged to fit), so nothing the size of a large image is
 * allocated. With {VAE_NORMALIZE_NONE, VAE_INVERT_NO or _YES} the result is vae_png_decode_input's,
 * to the bit. work (may be NULL: then memory is allocated and freed here) is reused scratch; info
 * (may be NULL) says what was done. Errors: those of vae_png_decode_input, and VAE_ERR_EMPTY (with
 * *problem = VAE_PNG_NONE) when the normalisation finds no ink. out and info are written only on
 * success. */
vae_status vae_png_decode_prepared(const uint8_t *bytes, size_t len, long max_pixels,
                                   const vae_prepare_options *opts, vae_buf *work, float out[VAE_INPUT_DIM],
                                   vae_prepare_info *info, vae_png_problem *problem, vae_error *err);

#endif
