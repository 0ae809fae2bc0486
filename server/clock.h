/* The server's one clock: monotonic time, for latencies, deadlines and uptime. */
#ifndef VAE_SERVER_CLOCK_H
#define VAE_SERVER_CLOCK_H

#include <stdint.h>

/* Microseconds on the monotonic clock (CLOCK_MONOTONIC). */
uint64_t vae_now_us(void);

/* The same in seconds. */
double vae_now_seconds(void);

#endif
