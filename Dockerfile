# vae-server image: a build stage with the compiler and -dev packages, then a runtime stage on
# debian:bookworm-slim with only the shared libraries the binaries link, the two binaries and the
# shipped weights. Build:  docker build -t vae-server .   (podman: see tests/container/run.sh)

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev make pkg-config \
        libmicrohttpd-dev libcjson-dev libpng-dev zlib1g-dev libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The weights are part of the image: fail here, not at run time, when one is missing.
RUN test -s model/weights/mnist.safetensors && test -s model/weights/fashion.safetensors && test -s model/weights/mnist2d.safetensors \
 && make -j"$(nproc)" all \
 && make install PREFIX=/usr/local DESTDIR=/out \
 && strip --strip-unneeded /out/usr/local/bin/* \
 && /out/usr/local/bin/vae-server --version

FROM debian:bookworm-slim
ARG RUNTIME_PACKAGES="libmicrohttpd12 libcjson1 libpng16-16 libopenblas0-pthread"
# Only the libraries the binaries link (ldd), no recommends. OpenBLAS's libblas.so.3/liblapack.so.3
# alternatives (7.7 MB) go: the binaries link libopenblas.so.0 itself. The pthread flavour, not the
# serial one, because the server calls BLAS from several HTTP threads at once (it sets 1 BLAS thread).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $RUNTIME_PACKAGES \
 && rm -f /usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3 \
          /usr/lib/*-linux-gnu/openblas-pthread/liblapack.so.3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old \
           /var/log/apt /var/log/dpkg.log \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin vae
COPY --from=build /out/usr/local/ /usr/local/
RUN if ldd /usr/local/bin/vae-server /usr/local/bin/vae-train | grep "not found"; then exit 1; fi

# Configuration: the same VAE_* variables as the server's flags (vae-server --help), for example
# VAE_THREADS, VAE_MODELS=name=/path,..., VAE_API_KEY, VAE_LOG_FORMAT=json, VAE_SHUTDOWN_GRACE.
ENV VAE_PORT=8080 \
    VAE_BIND=0.0.0.0 \
    VAE_SHUTDOWN_GRACE=8
USER 10001:10001
WORKDIR /usr/local/share/vae
EXPOSE 8080
# The binary's own probe of /ready on $VAE_PORT: no curl or shell in the image needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/vae-server", "--healthcheck"]
# SIGTERM (docker stop) drains requests in flight for up to VAE_SHUTDOWN_GRACE seconds, then exits 0;
# 8 s fits inside docker stop's default 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vae-server"]
