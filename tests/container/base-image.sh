#!/bin/sh
# Makes the base image the Dockerfile names (debian:bookworm-slim) on a machine that cannot pull
# it: a minimal Debian bookworm root file system from debootstrap, trimmed the way the official slim
# image is (no apt lists, no man pages, docs or locales), imported into podman as
# localhost/debian:bookworm-slim, which `FROM debian:bookworm-slim` then finds without pulling.
# A no-op when an image of that name exists (pulled or made). Usage: tests/container/base-image.sh
set -eu
if podman image exists debian:bookworm-slim; then
    exit 0
fi
image=localhost/debian:bookworm-slim
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT INT TERM
echo "base-image: building $image with debootstrap (about a minute)" >&2
if ! debootstrap --variant=minbase bookworm "$rootfs" >"$rootfs.log" 2>&1; then
    tail -n 20 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    echo "base-image: debootstrap failed" >&2
    exit 1
fi
rm -f "$rootfs.log"
# The same apt sources as this machine (bookworm, its updates and security suites), when it has
# them in deb822 form; otherwise debootstrap's own.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
fi
# Like the official slim image: dpkg leaves out documentation (copyright files excepted), and apt
# keeps no package lists or downloaded packages in the image.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/log/* "$rootfs"/tmp/*
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/*
tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["bash"]' - "$image" >/dev/null
echo "base-image: $image: $(podman image inspect --format '{{.Size}}' "$image") bytes" >&2
