/* What to tell an HTTP client whose image was refused by the PNG decoder. */
#ifndef VAE_SERVER_PNG_ADVICE_H
#define VAE_SERVER_PNG_ADVICE_H

#include "vae/png.h"

/* Advice for a client that sent bytes with this problem ("send the raw bytes"), or NULL when the
 * decoder's own message says all there is. A constant string. */
const char *vae_png_advice(vae_png_problem problem);

#endif
