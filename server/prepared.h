/* What the preparation of a request's images did, in its reply: a JSON member for JSON replies and
 * an X-Prepared header for PNG ones. Both are left out for the plain average (normalize none with
 * invert given, the defaults): those replies are what they were before the preparation existed. */
#ifndef VAE_SERVER_PREPARED_H
#define VAE_SERVER_PREPARED_H

#include "inputs.h"
#include "json_write.h"
#include "request.h"
#include "vae/prepare.h"

/* One image's preparation as a JSON object: {"normalize": "mnist", "invert": true, "polarity":
 * "border"}, with "box": [x, y, width, height] (the ink's, in the image's pixels) and "threshold"
 * when it was normalised (mnist, fill). */
void vae_prepared_json(vae_json_writer *w, const vae_prepare_info *info);

/* Whether info is more than the plain average (a normalisation, or a polarity detected). */
int vae_prepared_reported(const vae_prepare_info *info);

/* Writes `,"prepared":` and im's preparations: one object, or a list of them when the request gave
 * a list (im->batched); nothing when they are plain. */
void vae_reply_prepared(vae_json_writer *w, const vae_images *im);

/* Adds the header X-Prepared: "normalize=mnist; invert=yes; polarity=border" for one image; for
 * several "normalize=mnist; invert=yes,no,..." (as many as fit the header's 127 bytes); nothing when
 * they are plain. */
void vae_reply_prepared_header(vae_request *req, const vae_prepare_info *info, int n);

#endif
