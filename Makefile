# vae-serve: one plain Makefile. `make` builds the library, trainer and server; `make test` installs
# what the tests need when missing, builds, and runs every suite, failing on any failure.

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   ?= /usr/bin/python3
MNIST    ?= ../shared/data/mnist
FASHION  ?= /usr/share/datasets/fashion-mnist

PKGS     := libmicrohttpd libcjson libpng zlib openblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -fno-math-errno -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) -MMD -MP
LDLIBS   += $(PKG_LIBS) -lm -lpthread

# `make SANITIZE=1` (used by test-asan) builds everything with ASan+UBSan into its own tree.
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC    := $(wildcard model/*.c)
TRAIN_SRC  := $(wildcard model/train/*.c)
SERVER_SRC := $(wildcard server/*.c) $(wildcard server/*.S)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
TRAIN_OBJ  := $(TRAIN_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(patsubst %.S,$(BUILD)/%.o,$(SERVER_SRC:%.c=$(BUILD)/%.o))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBVAE     := $(BUILD)/libvae.a
BINS       := $(BUILD)/vae-train $(if $(SERVER_SRC),$(BUILD)/vae-server)

.PHONY: all test test-unit test-train test-http deps clean install run bench-train
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# the OpenAPI document is embedded in the server (GET /openapi.yaml)
$(BUILD)/server/embed.o: server/embed.S openapi.yaml
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(LIBVAE): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vae-train: $(TRAIN_OBJ) $(LIBVAE)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vae-server: $(SERVER_OBJ) $(LIBVAE)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Everything in server/ but main, as an archive, so unit tests and fuzzers link only what they use.
SERVER_LIB := $(BUILD)/libvae-server.a
$(SERVER_LIB): $(filter-out $(BUILD)/server/main.o,$(SERVER_OBJ))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(LIBVAE) $(if $(SERVER_SRC),$(SERVER_LIB))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(LDFLAGS) -o $@ $< $(if $(SERVER_SRC),$(SERVER_LIB)) $(LIBVAE) $(LDLIBS)

# Installs the Debian packages the build and tests need when they are missing (no-op otherwise).
deps:
	@tests/install-deps.sh build test

# Builds and starts the server on the shipped models (port 8080; VAE_* variables configure it).
run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/vae-server

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory test-unit test-train test-http

test-unit: $(UNIT_BIN) $(BINS)
	@set -e; for t in $(UNIT_BIN); do \
	    echo "== $$t"; VAE_MNIST=$(MNIST) $$t; done

test-train: $(BUILD)/vae-train
	@echo "== tests/train/test_cli.sh"; tests/train/test_cli.sh $(BUILD)

test-http: $(BINS)
	@echo "== tests/http"; tests/http/run.sh $(BUILD) $(MNIST)

bench-train:
	@tests/install-deps.sh build bench
	@$(MAKE) --no-print-directory $(BUILD)/vae-train
	@tests/bench/bench_train.sh $(BUILD)/vae-train $(MNIST)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/vae/weights
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 model/weights/*.safetensors $(DESTDIR)$(PREFIX)/share/vae/weights/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
