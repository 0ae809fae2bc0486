/* libpng plumbing shared by the PNG encoder and decoder (libvae-internal). libpng reports errors
 * through a callback that must not return, so the callback records the message and longjmps back
 * to the setjmp of the function that drives libpng. */
#ifndef VAE_LIBPNG_GLUE_H
#define VAE_LIBPNG_GLUE_H

#include <png.h>

/* The error pointer given to png_create_*_struct. */
typedef struct {
    char msg[200];
    int nomem; /* our own allocation failed inside a libpng callback */
} vae_libpng_failure;

/* Error callback: records msg in the vae_libpng_failure and longjmps. */
void vae_libpng_on_error(png_structp png, png_const_charp msg);

/* Warning callback: silent (warnings must not print to a server's stderr). */
void vae_libpng_on_warning(png_structp png, png_const_charp msg);

/* Whether the failure was running out of memory (ours, or libpng's "Out of memory"). */
int vae_libpng_out_of_memory(const vae_libpng_failure *f);

#endif
