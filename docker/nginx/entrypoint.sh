#!/bin/sh
# The frontend image's entry point: renders the nginx configuration from the environment
# (UPSTREAMS, LISTEN, ...: see render.sh) into RUNTIME_DIR, then runs nginx in the foreground.
set -eu
RUNTIME_DIR=${RUNTIME_DIR:-/tmp/nginx}
export RUNTIME_DIR
/etc/vae-web/render.sh /etc/vae-web/nginx.conf.template "$RUNTIME_DIR/nginx.conf"
exec nginx -e stderr -p "$RUNTIME_DIR" -c "$RUNTIME_DIR/nginx.conf" -g 'daemon off;'
