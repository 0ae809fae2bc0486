#!/bin/sh
# Writes an nginx configuration from docker/nginx/nginx.conf.template. Settings come from the
# environment:
#   UPSTREAMS    replicas, host:port separated by commas or spaces (default vae:8080: in compose,
#                the service name, which resolves to every replica)
#   LISTEN       port (or address:port) to listen on (default 8080)
#   WEB_ROOT     the frontend's files (default /usr/share/vae-web)
#   RUNTIME_DIR  pid file and temporary files (default /tmp/nginx; created)
#   ACCESS_LOG   (default /dev/stdout)   ERROR_LOG (default /dev/stderr)
#   MAX_FAILS, FAIL_TIMEOUT   passive health of each replica (default 2 and 5s)
# Usage: render.sh [TEMPLATE [OUTPUT]]  (defaults: the template beside this script, standard output)
set -eu
here=$(dirname "$0")
template=${1:-$here/nginx.conf.template}
output=${2:--}
UPSTREAMS=${UPSTREAMS:-vae:8080}
LISTEN=${LISTEN:-8080}
WEB_ROOT=${WEB_ROOT:-/usr/share/vae-web}
RUNTIME_DIR=${RUNTIME_DIR:-/tmp/nginx}
ACCESS_LOG=${ACCESS_LOG:-/dev/stdout}
ERROR_LOG=${ERROR_LOG:-/dev/stderr}
MAX_FAILS=${MAX_FAILS:-2}
FAIL_TIMEOUT=${FAIL_TIMEOUT:-5s}

[ -r "$template" ] || { echo "render.sh: cannot read $template" >&2; exit 1; }
servers=$(echo "$UPSTREAMS" | tr ', ' '\n\n' | grep -v '^$' || true)
[ -n "$servers" ] || { echo "render.sh: UPSTREAMS is empty" >&2; exit 1; }
for s in $servers; do
    case "$s" in
        *[!A-Za-z0-9.:_\[\]-]* | :* | *:) echo "render.sh: '$s' is not host:port" >&2; exit 1 ;;
    esac
done
for v in "$LISTEN" "$WEB_ROOT" "$RUNTIME_DIR" "$ACCESS_LOG" "$ERROR_LOG" "$MAX_FAILS" "$FAIL_TIMEOUT"; do
    case "$v" in
        *[\;\{\}@\ ]*) echo "render.sh: '$v' may not contain ; { } @ or spaces" >&2; exit 1 ;;
    esac
done
mkdir -p "$RUNTIME_DIR"

render() {
    awk -v servers="$servers" -v listen="$LISTEN" -v root="$WEB_ROOT" -v rundir="$RUNTIME_DIR" \
        -v access="$ACCESS_LOG" -v errlog="$ERROR_LOG" -v fails="$MAX_FAILS" -v ftimeout="$FAIL_TIMEOUT" '
        $0 == "@SERVERS@" {
            n = split(servers, list, "\n")
            for (i = 1; i <= n; i++)
                printf "        server %s max_fails=%s fail_timeout=%s;\n", list[i], fails, ftimeout
            next
        }
        {
            gsub(/@LISTEN@/, listen); gsub(/@WEB_ROOT@/, root); gsub(/@RUNTIME_DIR@/, rundir)
            gsub(/@ACCESS_LOG@/, access); gsub(/@ERROR_LOG@/, errlog)
            if ($0 ~ /@[A-Z_]+@/) { print "render.sh: unfilled field: " $0 > "/dev/stderr"; exit 1 }
            print
        }' "$template"
}
if [ "$output" = - ]; then
    render
else
    render >"$output.tmp.$$" && mv "$output.tmp.$$" "$output"
fi
