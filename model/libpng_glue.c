/* The libpng error and warning callbacks of libpng_glue.h. */
#include "libpng_glue.h"

#include <stdio.h>
#include <string.h>

void vae_libpng_on_error(png_structp png, png_const_charp msg) {
    vae_libpng_failure *f = png_get_error_ptr(png);
    snprintf(f->msg, sizeof f->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

void vae_libpng_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

int vae_libpng_out_of_memory(const vae_libpng_failure *f) {
    return f->nomem || strncmp(f->msg, "Out of memory", 13) == 0;
}
