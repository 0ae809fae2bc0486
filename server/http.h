/* The transport: libmicrohttpd's callbacks drive the request pipeline (pipeline.h), suspend and resume
 * connections for the batcher, and send the replies; the daemon's start, quiesce and stop. */
#ifndef VAE_SERVER_HTTP_H
#define VAE_SERVER_HTTP_H

#include <stddef.h>

#include "server.h"

/* Starts libmicrohttpd's workers and the thread that accepts on an already listening socket and hands
 * them the connections. Returns VAE_OK, or an error (listen_fd is then the caller's to close). */
vae_status vae_http_start(vae_server *server, int listen_fd, vae_error *err);

/* Stops accepting new connections (SIGTERM); requests in flight continue. */
void vae_http_quiesce(vae_server *server);

/* Stops accepting if vae_http_quiesce has not, then stops the daemon, closing every connection. */
void vae_http_stop(vae_server *server);

/* Percent-decodes s in place, as libmicrohttpd does to paths, query keys and values, except that %00
 * is left as it is: a decoded NUL would end the C string and make "/health%00x" route as "/health".
 * Returns the new length. */
size_t vae_http_unescape(char *s);

#endif
