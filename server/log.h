/* The server's log: one access line per request (text or JSON lines on stdout) and lifecycle events
 * on stderr. */
#ifndef VAE_SERVER_LOG_H
#define VAE_SERVER_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* Sets the format for every later call (process-wide configuration, set once at start). */
void vae_log_init(vae_log_format format);

/* One access line: client, method, path, request ID, status (0 = no reply: `reason` says why),
 * bytes, microseconds. */
void vae_log_access(const char *client, const char *method, const char *path, const char *request_id,
                    int status, size_t bytes, uint64_t micros, const char *reason);

/* A lifecycle event or error ("info", "warn", "error"). */
void vae_log_event(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
