/* cJSON's allocations from a per-thread bump arena: a request's JSON tree costs pointer increments
 * instead of a malloc and a free per node. */
#ifndef VAE_SERVER_JSON_ARENA_H
#define VAE_SERVER_JSON_ARENA_H

#include <stddef.h>

/* Installs the arena as cJSON's allocator (process-wide, once, before any thread parses). Threads
 * that never call vae_json_arena_reset, and allocations that do not fit, use malloc. */
void vae_json_arena_install(void);

/* Starts a new request on the calling thread: the previous request's tree must be deleted already.
 * The thread's arena is created on its first call. */
void vae_json_arena_reset(void);

#endif
