/* Per-thread bump arena behind cJSON_InitHooks. */
#include "json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* Enough for the JSON of any request but the largest pixel batches (a {"z": [32 numbers]} tree is
 * about 2 KB); those overflow into malloc. */
#define ARENA_BYTES (256u << 10)

typedef struct {
    uint8_t *base;
    size_t used;
} arena;

static _Thread_local arena *thread_arena;
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_destroy(void *p) {
    arena *a = p;
    free(a->base);
    free(a);
}

static void make_key(void) { pthread_key_create(&arena_key, arena_destroy); }

static void *arena_malloc(size_t n) {
    arena *a = thread_arena;
    size_t need = (n + 15) & ~(size_t)15;
    if (a && need >= n && need <= ARENA_BYTES - a->used) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p) {
    arena *a = thread_arena;
    if (a && (uint8_t *)p >= a->base && (uint8_t *)p < a->base + ARENA_BYTES) return; /* reset frees */
    free(p);
}

void vae_json_arena_install(void) {
    cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
    cJSON_InitHooks(&hooks);
}

void vae_json_arena_reset(void) {
    if (!thread_arena) {
        pthread_once(&arena_once, make_key);
        arena *a = malloc(sizeof *a);
        uint8_t *base = a ? malloc(ARENA_BYTES) : NULL;
        if (!base) { /* no arena: this thread's cJSON uses malloc */
            free(a);
            return;
        }
        a->base = base;
        a->used = 0;
        thread_arena = a;
        pthread_setspecific(arena_key, a); /* freed when the thread ends */
    }
    thread_arena->used = 0;
}
