/* A small seeded random generator (xoshiro256**) with Gaussian sampling, so every run that uses
 * randomness is reproducible from its seed. One state per thread: the functions are not locked. */
#ifndef VAE_RNG_H
#define VAE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;  /* second Box-Muller value, valid when has_spare */
    int has_spare;
} vae_rng;

/* Seeds the state from one 64-bit value (expanded with splitmix64). Any seed, 0 included, is valid. */
void vae_rng_seed(vae_rng *rng, uint64_t seed);

/* Next 64 uniformly distributed bits. */
uint64_t vae_rng_u64(vae_rng *rng);

/* Uniform integer in [0, bound), without modulo bias. bound must be > 0. */
uint32_t vae_rng_below(vae_rng *rng, uint32_t bound);

/* Uniform double in [0, 1) with 53 random bits. */
double vae_rng_uniform(vae_rng *rng);

/* Standard normal N(0, 1) (Box-Muller in double precision). */
double vae_rng_normal(vae_rng *rng);

/* Fills out[0..n) with N(0,1) samples times scale. */
void vae_rng_normal_fill(vae_rng *rng, float *out, size_t n, float scale);

/* Shuffles idx[0..n) in place (Fisher-Yates). */
void vae_rng_shuffle(vae_rng *rng, uint32_t *idx, size_t n);

#endif
