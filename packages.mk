# The libraries the build links, found with pkg-config: one list for the Makefile and for
# tests/fuzz/fuzz.mk. A package pkg-config cannot find stops any compile or link (the pkg-check
# prerequisite) with its name and the command that installs it, instead of a compiler error about a
# missing header; targets that compile nothing (make deps, make clean) still run.
PKGS := libmicrohttpd libcjson libpng zlib openblas

PKG_MISSING := $(shell if command -v pkg-config >/dev/null 2>&1; then \
                   for p in $(PKGS); do pkg-config --exists $$p || echo $$p; done; \
               else echo pkg-config; fi)
PKG_CFLAGS := $(if $(PKG_MISSING),,$(shell pkg-config --cflags $(PKGS)))
PKG_LIBS   := $(if $(PKG_MISSING),,$(shell pkg-config --libs $(PKGS)))

.PHONY: pkg-check
pkg-check:
ifneq ($(PKG_MISSING),)
	@echo "error: pkg-config cannot find: $(PKG_MISSING)" >&2
	@echo "       install the build dependencies with 'make deps' (tests/install-deps.sh build), then run make again" >&2
	@exit 1
else
	@:
endif
