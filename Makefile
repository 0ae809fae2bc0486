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

.PHONY: all test test-unit test-train test-http test-fuzz-regressions test-pytorch deps clean install run bench bench-train bench-prepare \
        container-test scaleout-test browser-test fuzz fuzz-ci test-asan test-valgrind load soak
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

# PyTorch round trip (model/pytorch): exporter, loader and server against PyTorch; needs python3-torch.
test-pytorch: $(BUILD)/vae-server
	@tests/install-deps.sh build pytorch
	@echo "== tests/pytorch"; PYTHON=$(PYTHON) tests/pytorch/run.sh $(BUILD) $(MNIST)

# Builds the service and frontend images with podman (base image by debootstrap when it cannot be
# pulled), runs them and checks them through published ports.
container-test:
	@tests/container/run.sh

# Validates docker/compose.yaml and docker/k8s/, then 2 replicas behind the frontend's nginx on
# loopback: spread, kill -9 and SIGTERM under load.
scaleout-test: deps
	@$(MAKE) --no-print-directory all
	@tests/scaleout/run.sh $(BUILD)

# Headless Chromium (playwright-core) drives the web frontend through nginx; screenshots in
# $(BUILD)/browser-artifacts/.
browser-test: deps
	@$(MAKE) --no-print-directory all
	@tests/browser/run.sh $(BUILD)

# Builds and starts the server on the shipped models (port 8080; VAE_* variables configure it).
run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/vae-server

test: deps
	@tests/install-deps.sh fuzz
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory test-unit test-train test-http test-fuzz-regressions

test-unit: $(UNIT_BIN) $(BINS)
	@set -e; for t in $(UNIT_BIN); do \
	    echo "== $$t"; VAE_MNIST=$(MNIST) $$t; done

test-train: $(BUILD)/vae-train
	@echo "== tests/train/test_cli.sh"; tests/train/test_cli.sh $(BUILD)

test-http: $(BINS)
	@echo "== tests/http"; tests/http/run.sh $(BUILD) $(MNIST)

# Every fuzz seed and every input that once broke something, replayed through its libFuzzer target
# with ASan + UBSan (clang); no fuzzing, a few seconds.
test-fuzz-regressions:
	@echo "== tests/fuzz/regress.sh"; tests/fuzz/regress.sh

# make fuzz: every libFuzzer target (tests/fuzz/) for FUZZ_SECONDS each, two at a time (one per core);
# fuzz-ci: 60 s each, as CI runs them. New inputs collect in $(BUILD)/fuzz/corpus/; a crash fails the run.
FUZZ_SECONDS ?= 300
fuzz:
	@tests/install-deps.sh build fuzz
	@FUZZ_PARALLEL=2 tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci:
	@tests/install-deps.sh build fuzz
	@FUZZ_PARALLEL=2 tests/fuzz/run.sh 60

# The whole suite (unit, trainer, HTTP) built with ASan+UBSan (halt on error) in build/asan, then that
# server under wrk over the endpoint mix.
test-asan: deps
	@tests/install-deps.sh fuzz hardening
	@tests/hardening/asan.sh $(MNIST)

# The HTTP suite with every server under valgrind memcheck (about 4 minutes); VALGRIND_TESTS="a b"
# runs only the tests whose names contain a or b.
VALGRIND_TESTS ?=
test-valgrind: deps
	@tests/install-deps.sh hardening
	@$(MAKE) --no-print-directory all
	@tests/hardening/valgrind.sh $(BUILD) $(MNIST) $(foreach k,$(VALGRIND_TESTS),-k $(k))

# wrk at saturation over a mix of every model endpoint for LOAD_SECONDS; soak: SOAK_REQUESTS requests
# over the same mix, failing if resident memory grows by 2 MB or more after the warm-up.
LOAD_SECONDS ?= 300
SOAK_REQUESTS ?= 1000000
load: deps
	@tests/install-deps.sh hardening
	@$(MAKE) --no-print-directory all
	@VAE_TEST_MNIST=$(MNIST) tests/hardening/load.sh $(BUILD) $(LOAD_SECONDS)

soak: deps
	@tests/install-deps.sh hardening
	@$(MAKE) --no-print-directory all
	@VAE_TEST_MNIST=$(MNIST) tests/hardening/soak.sh $(BUILD) $(SOAK_REQUESTS)

# make bench: every endpoint under wrk beside /health and the sgemm ceiling, for the shipped model
# and for the canonical 784-400-20 (trained here once, 10 epochs), then the trainer's s/epoch.
BENCH_CANONICAL := $(BUILD)/bench/mnist-400-20.safetensors
$(BUILD)/bench/peak_flops: tests/bench/peak_flops.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)
$(BENCH_CANONICAL): $(BUILD)/vae-train
	@mkdir -p $(dir $@)
	$(BUILD)/vae-train --data $(MNIST) --out $@ --epochs 10 --threads 2 --quiet

bench:
	@tests/install-deps.sh build bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/peak_flops $(BENCH_CANONICAL)
	@tests/bench/bench_http.py $(BUILD) --variant "batching on=" --variant "batching off=,--batching=off"
	@echo
	@tests/bench/bench_http.py $(BUILD) --model mnist400=$(BENCH_CANONICAL) \
	    --variant "batching on=" --variant "batching off=,--batching=off"
	@echo
	@$(BUILD)/vae-train --data $(MNIST) --out $(BUILD)/bench/t.safetensors --epochs 3 --threads 2 --quiet \
	    | sed -n 's/.*; \([0-9.]*\) s per epoch.*/trainer: 784-400-20, batch 128, 2 threads: \1 s per epoch (3 epochs)/p'

# make bench-prepare: the cost of each image preparation option (normalize, invert=auto): microseconds
# per PNG in the library (tests/bench/bench_prepare.c), then requests/s through the server under wrk
# (tests/bench/bench_prepare.py). tests/bench/prepare_accuracy.py measures what they buy.
$(BUILD)/bench/bench_prepare: tests/bench/bench_prepare.c $(LIBVAE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBVAE) $(LDLIBS)

bench-prepare:
	@tests/install-deps.sh build bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_prepare
	@$(BUILD)/bench/bench_prepare
	@echo
	@tests/bench/bench_prepare.py $(BUILD)

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
