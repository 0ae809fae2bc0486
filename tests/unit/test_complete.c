/* Completion: the per-step math (log densities written out, the Metropolis-within-Gibbs ratio and its
 * acceptance rate), the clamp, and whole chains that keep the known pixels exactly, repeat from a seed,
 * always take the pseudo-Gibbs proposal and match the staged per-image form. */
#include "vae/complete.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/score.h"

static void test_densities(void) {
    const float z[3] = {0.5f, -1.0f, 2.0f}, mu[3] = {0.0f, -0.5f, 1.0f}, lv[3] = {0.0f, -1.0f, 0.7f};
    double want_prior = 0, want_q = 0;
    for (int j = 0; j < 3; j++) {
        want_prior += -0.5 * z[j] * z[j] - 0.5 * log(2 * M_PI);
        double s = exp(0.5 * lv[j]);
        want_q += -0.5 * pow((z[j] - mu[j]) / s, 2) - log(s) - 0.5 * log(2 * M_PI);
    }
    CHECK_CLOSE(vae_complete_log_prior(z, 3), want_prior, 1e-12, "log prior");
    CHECK_CLOSE(vae_complete_log_q(z, mu, lv, 3), want_q, 1e-9, "log q");
    CHECK_CLOSE(vae_complete_mwg_log_ratio(-10, -2, -1, -12, -3, -0.5), (-10 - 2 + 1) - (-12 - 3 + 0.5), 1e-12,
                "ratio arithmetic");
    /* only known pixels count */
    float x[VAE_INPUT_DIM], logits[VAE_INPUT_DIM];
    uint8_t mask[VAE_INPUT_DIM];
    double want = 0;
    for (int p = 0; p < VAE_INPUT_DIM; p++) {
        x[p] = (float)(p % 5) / 4.0f;
        logits[p] = (float)(p % 11) - 5.0f;
        mask[p] = p < 392;
        double sg = 1 / (1 + exp(-(double)logits[p]));
        if (mask[p]) want += x[p] * log(sg) + (1 - x[p]) * log(1 - sg);
    }
    CHECK_CLOSE(vae_complete_log_lik(x, mask, logits), want, 1e-3, "log p(x_obs|z)");
}

static void test_accept_rate(void) {
    vae_rng rng;
    vae_rng_seed(&rng, 3);
    int taken = 0;
    for (int i = 0; i < 20000; i++) taken += vae_complete_mwg_accept(log(0.3), &rng);
    CHECK_CLOSE(taken / 20000.0, 0.3, 0.015, "acceptance rate for rho = 0.3");
    int all = 1;
    for (int i = 0; i < 100; i++) all &= vae_complete_mwg_accept(0.5, &rng);
    CHECK(all, "rho > 1 always accepts");
    CHECK(!vae_complete_mwg_accept(NAN, &rng) && !vae_complete_mwg_accept(-INFINITY, &rng), "NaN and -inf reject");
    vae_complete_method m;
    CHECK(vae_complete_method_parse("mwg", &m) == 0 && m == VAE_COMPLETE_MWG &&
              vae_complete_method_parse("pseudo_gibbs", &m) == 0 && m == VAE_COMPLETE_PSEUDO_GIBBS &&
              vae_complete_method_parse("gibbs", &m) == -1,
          "method names");
    CHECK(!strcmp(vae_complete_method_name(VAE_COMPLETE_MWG), "mwg"), "name");
}

static void test_chains(void) {
    vae_config cfg = {.n_hidden = 1, .hidden = {32}, .latent_dim = 3, .activation = VAE_ACT_TANH};
    vae_model *m = vae_model_create(&cfg, NULL);
    vae_model_init_params(m, 17);
    vae_model_prepare_inference(m, NULL);
    vae_workspace *ws = vae_workspace_create(VAE_INPUT_DIM, 8);
    enum { N = 3, STEPS = 12 };
    float x[N * VAE_INPUT_DIM], out[N * VAE_INPUT_DIM], again[N * VAE_INPUT_DIM];
    float *chain = malloc(sizeof(float) * N * STEPS * VAE_INPUT_DIM);
    uint8_t mask[N * VAE_INPUT_DIM];
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    for (int i = 0; i < N * VAE_INPUT_DIM; i++) {
        x[i] = (float)vae_rng_uniform(&rng);
        mask[i] = (i % VAE_INPUT_DIM) < 14 * 28; /* the top half known */
    }
    for (int method = 0; method < 2; method++) {
        int accepted[N];
        vae_error err = {0};
        CHECK(vae_complete_images(m, ws, x, mask, N, method, STEPS, 5, out, chain, accepted, &err) == VAE_OK,
              "%s", err.message);
        int kept = 1, filled = 1;
        for (int i = 0; i < N * VAE_INPUT_DIM; i++) {
            if (mask[i]) kept &= out[i] == x[i];
            else filled &= out[i] > 0.0f && out[i] < 1.0f;
        }
        CHECK(kept, "%s: known pixels kept exactly", vae_complete_method_name(method));
        CHECK(filled, "%s: hidden pixels hold decoder means", vae_complete_method_name(method));
        CHECK(memcmp(chain + (size_t)(STEPS - 1) * VAE_INPUT_DIM, out, sizeof(float) * VAE_INPUT_DIM) == 0,
              "the chain's last image is the output");
        for (int i = 0; i < N; i++) {
            if (method == VAE_COMPLETE_PSEUDO_GIBBS) CHECK(accepted[i] == STEPS, "pseudo-Gibbs takes every proposal");
            else CHECK(accepted[i] >= 1 && accepted[i] <= STEPS, "MwG took %d of %d", accepted[i], STEPS);
        }
        vae_complete_images(m, ws, x, mask, N, method, STEPS, 5, again, NULL, NULL, &err);
        CHECK(memcmp(again, out, sizeof out) == 0, "same seed, same completion");
        /* image 1 alone with its own seed: the same chain */
        vae_complete_images(m, ws, x + VAE_INPUT_DIM, mask + VAE_INPUT_DIM, 1, method, STEPS,
                            5 + 0xD1B54A32D192ED03ULL, again, NULL, NULL, &err);
        CHECK(memcmp(again, out + VAE_INPUT_DIM, sizeof(float) * VAE_INPUT_DIM) == 0, "image 1 alone differs");
    }
    /* the staged form the server runs, for one image: encode, draw, decode, update */
    {
        const int d = 3;
        float cur[VAE_INPUT_DIM], mu[3], lv[3], eps[3], zp[3], zc[3], lp[VAE_INPUT_DIM], lc[VAE_INPUT_DIM];
        double lik = 0;
        vae_rng r;
        vae_rng_seed(&r, 5);
        vae_complete_clamp(cur, x, mask, NULL);
        for (int t = 0; t < STEPS; t++) {
            vae_encode(m, ws, cur, 1, mu, lv);
            vae_rng_normal_fill(&r, eps, (size_t)d, 1.0f);
            vae_score_latents(zp, mu, lv, eps, 1, 1, d);
            vae_decode_logits(m, ws, zp, 1, lp);
            vae_complete_update(VAE_COMPLETE_MWG, cur, zc, lc, &lik, x, mask, mu, lv, zp, lp, d, t == 0, &r);
        }
        vae_complete_images(m, ws, x, mask, 1, VAE_COMPLETE_MWG, STEPS, 5, again, NULL, NULL, NULL);
        CHECK(memcmp(cur, again, sizeof cur) == 0, "staged MwG differs from vae_complete_images");
    }
    CHECK(vae_complete_images(m, ws, x, mask, N, VAE_COMPLETE_MWG, 0, 5, out, NULL, NULL, NULL) == VAE_ERR_ARG,
          "steps 0");
    free(chain);
    vae_workspace_destroy(ws);
    vae_model_destroy(m);
}

int main(void) {
    test_densities();
    test_accept_rate();
    test_chains();
    CHECK_DONE();
}
