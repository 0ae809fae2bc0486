/* The shipped weights: they load, carry the metadata the README promises, and the MNIST model meets
 * its bound on the full test set, measured the canonical way (BCE summed over pixels + KL, one z
 * sample per image, averaged over the 10,000 test images). Needs VAE_MNIST (the data directory). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/dataset.h"
#include "vae/prepare.h"
#include "vae/train.h"
#include "vae/weights.h"

#define MNIST_BOUND 104.0

static vae_model *load(const char *path) {
    vae_model *m = NULL;
    vae_error err = {0};
    CHECK(vae_weights_load(path, &m, &err) == VAE_OK, "%s", err.message);
    if (!m) return NULL;
    static const char *keys[] = {"activation", "latent_dim", "hidden", "input_shape", "dataset",
                                 "epochs", "train_loss", "test_loss", "command"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK(vae_metadata_get(&m->metadata, keys[i]) != NULL, "%s: metadata lacks '%s'", path, keys[i]);
    CHECK(m->centroids != NULL, "%s: no class centroids", path);
    return m;
}

/* Mean loss per image over the test set with one z per image. */
static double test_loss(vae_model *m, const vae_dataset *test, double *bce, double *kl) {
    vae_error err = {0};
    vae_trainer *tr = vae_trainer_create(m, 500, &err);
    float *x = malloc(sizeof(float) * VAE_INPUT_DIM * 500);
    vae_rng rng;
    vae_rng_seed(&rng, 2024);
    vae_loss total = {0};
    for (int start = 0; start < test->count; start += 500) {
        int B = test->count - start < 500 ? test->count - start : 500;
        for (int b = 0; b < B; b++) vae_dataset_image(test, start + b, x + (size_t)b * VAE_INPUT_DIM);
        vae_loss l = vae_trainer_evaluate(tr, x, B, &rng);
        total.bce += l.bce;
        total.kl += l.kl;
        total.count += l.count;
    }
    free(x);
    vae_trainer_destroy(tr);
    *bce = total.bce / total.count;
    *kl = total.kl / total.count;
    return *bce + *kl;
}

int main(void) {
    const char *dir = getenv("VAE_MNIST");
    if (!dir) dir = "../shared/data/mnist";
    vae_model *mnist = load("model/weights/mnist.safetensors");
    vae_model *fashion = load("model/weights/fashion.safetensors");
    if (fashion) {
        const char *ds = vae_metadata_get(&fashion->metadata, "dataset");
        CHECK(ds && strstr(ds, "fashion"), "fashion model's dataset is '%s'", ds ? ds : "(none)");
    }
    /* normalize=auto needs the training data's preparation in the file; a file trained before the
     * trainer recorded it gets it with vae-train --annotate FILE --data DIR (the tensors unchanged) */
    const struct { vae_model *m; const char *want; } prep[] = {{mnist, "mnist"}, {fashion, "fill"}};
    for (int i = 0; i < 2; i++) {
        const char *v = prep[i].m ? vae_metadata_get(&prep[i].m->metadata, VAE_METADATA_NORMALIZE) : NULL;
        CHECK(prep[i].m && v && !strcmp(v, prep[i].want) && vae_normalize_of_model(prep[i].m) != VAE_NORMALIZE_NONE,
              "the %s weights record normalize '%s', not '%s' (vae-train --annotate FILE --data DIR adds it)",
              prep[i].want, prep[i].want, v ? v : "(none)");
    }
    vae_dataset test = {0};
    vae_error err = {0};
    CHECK(vae_dataset_load(dir, "t10k", &test, &err) == VAE_OK,
          "the MNIST test set is needed (set VAE_MNIST): %s", err.message);
    if (mnist && test.count) {
        CHECK(test.count == 10000, "the bound is defined on all 10,000 test images, found %d", test.count);
        double bce, kl, loss = test_loss(mnist, &test, &bce, &kl);
        printf("shipped mnist model: test loss %.3f nats per image (bce %.3f + kl %.3f), bound %.1f\n",
               loss, bce, kl, MNIST_BOUND);
        CHECK(loss <= MNIST_BOUND, "test loss %.3f exceeds %.1f", loss, MNIST_BOUND);
        /* the metadata's figure is the trainer's own measurement of the same thing */
        double recorded = atof(vae_metadata_get(&mnist->metadata, "test_loss"));
        CHECK(fabs(recorded - loss) < 0.5, "metadata test_loss %.3f vs measured %.3f", recorded, loss);
    }
    vae_dataset_free(&test);
    vae_model_destroy(mnist);
    vae_model_destroy(fashion);
    CHECK_DONE();
}
