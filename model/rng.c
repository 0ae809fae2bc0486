/* xoshiro256** seeded by splitmix64, with Box-Muller normals: reproducible, fast, not rand(). */
#include "vae/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void vae_rng_seed(vae_rng *rng, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&sm);
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint64_t vae_rng_u64(vae_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t vae_rng_below(vae_rng *rng, uint32_t bound) {
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t m = (uint64_t)(uint32_t)(vae_rng_u64(rng) >> 32) * bound;
    uint32_t low = (uint32_t)m;
    if (low < bound) {
        uint32_t threshold = (uint32_t)(-bound) % bound;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(vae_rng_u64(rng) >> 32) * bound;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double vae_rng_uniform(vae_rng *rng) { return (double)(vae_rng_u64(rng) >> 11) * 0x1.0p-53; }

double vae_rng_normal(vae_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1 = 1.0 - vae_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = vae_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1));
    double theta = 2.0 * M_PI * u2;
    rng->spare = r * sin(theta);
    rng->has_spare = 1;
    return r * cos(theta);
}

void vae_rng_normal_fill(vae_rng *rng, float *out, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) out[i] = (float)vae_rng_normal(rng) * scale;
}

void vae_rng_shuffle(vae_rng *rng, uint32_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        uint32_t j = vae_rng_below(rng, (uint32_t)i);
        uint32_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}
