# The web frontend: nginx serving docker/web/ and proxying /api/ to the vae-server replicas,
# configured from docker/nginx/nginx.conf.template at start. Build from docker/:
#   docker build -f docker/web.Dockerfile -t vae-web docker/
# Run: -e UPSTREAMS=host:port,host:port (default vae:8080, the compose service name).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
           /etc/nginx/sites-enabled/*
COPY web/ /usr/share/vae-web/
COPY nginx/nginx.conf.template nginx/render.sh nginx/entrypoint.sh /etc/vae-web/
ENV UPSTREAMS=vae:8080 \
    LISTEN=8080 \
    RUNTIME_DIR=/tmp/nginx
# www-data (33): nginx runs unprivileged, writing only under /tmp
USER 33:33
EXPOSE 8080
# nginx's own /healthz through bash's /dev/tcp: no curl in the image
HEALTHCHECK --interval=10s --timeout=3s --start-period=3s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
# SIGQUIT: nginx finishes the requests in flight, then exits 0
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/etc/vae-web/entrypoint.sh"]
