/* The preparation of images, as the replies report it. */
#include "prepared.h"

#include <stdio.h>
#include <string.h>

void vae_prepared_json(vae_json_writer *w, const vae_prepare_info *info) {
    vae_jw_printf(w, "{\"normalize\":\"%s\",\"invert\":%s,\"polarity\":\"%s\"", vae_normalize_name(info->normalize),
                  info->inverted ? "true" : "false", vae_polarity_name(info->polarity));
    if (info->normalize != VAE_NORMALIZE_NONE) {
        vae_jw_printf(w, ",\"box\":[%d,%d,%d,%d],\"threshold\":", info->box[0], info->box[1], info->box[2],
                      info->box[3]);
        vae_jw_float(w, info->threshold);
        vae_jw_raw(w, ",\"scale\":");
        vae_jw_float(w, info->scale);
        vae_jw_printf(w, ",\"offset\":[%d,%d]", info->offset[0], info->offset[1]);
    }
    vae_jw_raw(w, "}");
}

int vae_prepared_reported(const vae_prepare_info *info) {
    return info->normalize != VAE_NORMALIZE_NONE || info->polarity != VAE_POLARITY_ASKED;
}

void vae_reply_prepared(vae_json_writer *w, const vae_images *im) {
    if (im->n < 1 || !vae_prepared_reported(&im->info[0])) return; /* the options are the request's */
    vae_jw_raw(w, ",\"prepared\":");
    if (!im->batched) {
        vae_prepared_json(w, &im->info[0]);
        return;
    }
    vae_jw_raw(w, "[");
    for (int i = 0; i < im->n; i++) {
        if (i) vae_jw_raw(w, ",");
        vae_prepared_json(w, &im->info[i]);
    }
    vae_jw_raw(w, "]");
}

void vae_reply_prepared_header(vae_request *req, const vae_prepare_info *info, int n) {
    if (n < 1 || !vae_prepared_reported(&info[0])) return;
    if (n == 1) {
        vae_reply_header(req, "X-Prepared", "normalize=%s; invert=%s; polarity=%s",
                         vae_normalize_name(info->normalize), info->inverted ? "yes" : "no",
                         vae_polarity_name(info->polarity));
        return;
    }
    char value[128];
    int used = snprintf(value, sizeof value, "normalize=%s; invert=", vae_normalize_name(info->normalize));
    for (int i = 0; i < n; i++) {
        const char *word = info[i].inverted ? "yes" : "no";
        if (used + (int)strlen(word) + 1 >= (int)sizeof value) break;
        used += snprintf(value + used, sizeof value - (size_t)used, "%s%s", i ? "," : "", word);
    }
    vae_reply_header(req, "X-Prepared", "%s", value);
}
