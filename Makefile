# vae-serve: one plain Makefile. `make` builds the library, trainer and server; `make test` installs
# what the tests need when missing, builds, and runs every suite, failing on any failure.

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   ?= /usr/bin/python3
MNIST    ?= ../shared/data/mnist
FASHION  ?= /usr/share/datasets/fashion-mnist

.DEFAULT_GOAL := all
include packages.mk

# Flags the project needs whatever the command line says: `make CFLAGS=-O0` or `make CFLAGS='-O1 -g'`
# replace only the default -O2 -g. (They are filtered out before they are appended, so a recursive
# make that inherits the result through the environment does not get them twice.)
CFLAGS   ?= -O2 -g
VAE_CFLAGS := -fno-math-errno -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) -MMD -MP
VAE_LDFLAGS :=
# `make SANITIZE=1` (used by test-asan) builds everything with ASan+UBSan into its own tree;
# `make SANITIZE=thread CC=clang` (used by test-tsan) with ThreadSanitizer.
ifeq ($(SANITIZE),1)
VAE_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
VAE_LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),thread)
VAE_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
VAE_LDFLAGS += -fsanitize=thread
else ifneq ($(SANITIZE),)
$(error SANITIZE=$(SANITIZE): use SANITIZE=1 (ASan+UBSan) or SANITIZE=thread (TSan))
endif
override CFLAGS  := $(filter-out $(VAE_CFLAGS),$(CFLAGS)) $(VAE_CFLAGS)
override LDFLAGS := $(filter-out $(VAE_LDFLAGS),$(LDFLAGS)) $(VAE_LDFLAGS)
override LDLIBS  := $(filter-out $(PKG_LIBS) -lm -lpthread,$(LDLIBS)) $(PKG_LIBS) -lm -lpthread

LIB_SRC    := $(wildcard model/*.c)
TRAIN_SRC  := $(wildcard model/train/*.c)
SERVER_SRC := $(wildcard server/*.c) $(wildcard server/*.S)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
TRAIN_OBJ  := $(TRAIN_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(patsubst %.S,$(BUILD)/%.o,$(SERVER_SRC:%.c=$(BUILD)/%.o))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBVAE     := $(BUILD)/libvae.a
BINS       := $(BUILD)/vae-train $(BUILD)/vae-server

.PHONY: all test test-unit test-train test-http test-fuzz-regressions test-pytorch deps clean install run bench bench-train bench-prepare \
        container-test scaleout-test browser-test fuzz fuzz-ci test-asan test-tsan test-valgrind load soak reload-test mutation bench-pipeline
all: $(BINS)

$(BUILD)/%.o: %.c | pkg-check
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

$(BUILD)/tests/%: tests/unit/%.c $(LIBVAE) $(SERVER_LIB) | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver $(LDFLAGS) -o $@ $< $(SERVER_LIB) $(LIBVAE) $(LDLIBS)

# Installs the Debian packages the build and tests need when they are missing (no-op otherwise).
deps:
	@tests/install-deps.sh build test

# PyTorch round trip (model/pytorch): exporter, loader and server against PyTorch; needs python3-torch.
test-pytorch: $(BUILD)/vae-server $(BUILD)/vae-train
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

# the build step runs one compiler per CPU (JOBS); the suites after it run one at a time
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	@tests/install-deps.sh fuzz
	@$(MAKE) --no-print-directory -j$(JOBS) all $(UNIT_BIN) $(BENCH_BIN)
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

# The server built with ThreadSanitizer (clang) in build/tsan, then the HTTP suite against TSan
# servers and wrk over the endpoint mix against one; any TSan report fails it (tests/hardening/tsan.sh).
test-tsan: deps
	@tests/install-deps.sh tsan
	@tests/hardening/tsan.sh $(MNIST)

# Mutation testing, by hand (not in CI: 20-30 minutes): every one-line mutant of
# tests/mutation/mutants.txt applied to a scratch copy of the tree, then the tests; prints caught/total.
mutation: deps
	@tests/install-deps.sh fuzz
	@MNIST=$(MNIST) tests/mutation/run.sh $(MUTANTS)

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

# Live reload under load: wrk over the endpoint mix while the weights file is replaced and reloaded
# 50 times (good and broken files, the repository API and SIGHUP); no failed request, every reply
# from one complete model, memory flat.
reload-test: deps
	@tests/install-deps.sh hardening
	@$(MAKE) --no-print-directory all
	@VAE_TEST_MNIST=$(MNIST) tests/hardening/reload.py $(BUILD) 50

soak: deps
	@tests/install-deps.sh hardening
	@$(MAKE) --no-print-directory all
	@VAE_TEST_MNIST=$(MNIST) tests/hardening/soak.sh $(BUILD) $(SOAK_REQUESTS)

# make bench: every endpoint under wrk beside /health and the machine's compute ceiling (an FMA probe
# per ISA, cross-checked with OpenBLAS), vae-server with batching on and off and FastAPI + PyTorch on the
# same weights under the same load, for the shipped model and for the canonical 784-400-20 (trained here
# once, 10 epochs); then vae-train against PyTorch's training loop, side by side (10 epochs each).
BENCH_CANONICAL := $(BUILD)/bench/mnist-400-20.safetensors
# built by make test as well, so that a library change cannot leave the benchmarks uncompilable
BENCH_BIN := $(BUILD)/bench/peak_flops $(BUILD)/bench/bench_decode $(BUILD)/bench/bench_prepare
BENCH_SECONDS ?= 5
$(BUILD)/bench/peak_flops: tests/bench/peak_flops.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)
$(BUILD)/bench/bench_decode: tests/bench/bench_decode.c $(LIBVAE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBVAE) $(LDLIBS)
$(BENCH_CANONICAL): $(BUILD)/vae-train
	@mkdir -p $(dir $@)
	$(BUILD)/vae-train --data $(MNIST) --out $@ --epochs 10 --threads 2 --quiet
# the shape of the mnist model shipped before (784-512-256-32), for what the bigger one costs per request
BENCH_SMALLER := $(BUILD)/bench/mnist-512-256-32.safetensors
$(BENCH_SMALLER): $(BUILD)/vae-train
	@mkdir -p $(dir $@)
	$(BUILD)/vae-train --data $(MNIST) --out $@ --hidden 512,256 --latent 32 --shift 1 --epochs 10 --threads 2 --quiet
# the same stored as F16 (a one-row decode then reads half the bytes)
BENCH_SMALLER_F16 := $(BUILD)/bench/mnist-512-256-32-f16.safetensors
$(BENCH_SMALLER_F16): $(BENCH_SMALLER)
	$(BUILD)/vae-train --annotate $< --data $(MNIST) --dtype f16 --out $@ --threads 2 --quiet

bench:
	@tests/install-deps.sh build bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/peak_flops $(BUILD)/bench/bench_decode $(BENCH_CANONICAL) \
	    $(BENCH_SMALLER) $(BENCH_SMALLER_F16)
	@for w in model/weights/mnist.safetensors $(BENCH_SMALLER) $(BENCH_SMALLER_F16); do \
	    printf "%s: " $$w; $(BUILD)/bench/bench_decode $$w | tr '\n' ' '; echo; done
	@BENCH_SECONDS=$(BENCH_SECONDS) tests/bench/bench_http.py $(BUILD) --peer \
	    --variant "batching on=" --variant "batching off=,--batching=off"
	@echo
	@BENCH_SECONDS=$(BENCH_SECONDS) tests/bench/bench_http.py $(BUILD) --model mnist400=$(BENCH_CANONICAL) --peer \
	    --variant "batching on=" --variant "batching off=,--batching=off"
	@echo
	@BENCH_SECONDS=$(BENCH_SECONDS) tests/bench/bench_http.py $(BUILD) --rounds 1 \
	    --variant "784-1024-512-64 (shipped)=,--model=mnist=model/weights/mnist.safetensors" \
	    --variant "784-512-256-32 (shipped before)=,--model=mnist=$(BENCH_SMALLER)" \
	    --variant "784-512-256-32 stored as F16=,--model=mnist=$(BENCH_SMALLER_F16)"
	@echo
	@VAE_TEST_MNIST=$(MNIST) tests/bench/bench_oip.py $(BUILD)
	@echo
	@$(MAKE) --no-print-directory bench-prepare
	@echo
	@EPOCHS=10 tests/bench/bench_train.sh $(BUILD)/vae-train $(MNIST) $(BUILD)/bench/peak_flops

# The server at another commit (BEFORE, default the one before the request pipeline) against this
# one, side by side in one run, and the newly batched model calls with batching on and off.
BEFORE ?= fe8c6df
bench-pipeline:
	@tests/install-deps.sh build bench
	@$(MAKE) --no-print-directory all
	@rm -rf $(BUILD)/bench/before && mkdir -p $(BUILD)/bench && git worktree prune && \
	    git worktree add --detach -f $(BUILD)/bench/before $(BEFORE) >/dev/null && \
	    $(MAKE) --no-print-directory -C $(BUILD)/bench/before all >/dev/null
	@tests/bench/bench_pipeline.py --variant "$(BEFORE)=$(BUILD)/bench/before/build/vae-server" \
	    --variant "this tree=$(BUILD)/vae-server" --variant "batching off=$(BUILD)/vae-server,--batching=off"
	@git worktree remove --force $(BUILD)/bench/before

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
	@$(MAKE) --no-print-directory $(BUILD)/vae-train $(BUILD)/bench/peak_flops
	@tests/bench/bench_train.sh $(BUILD)/vae-train $(MNIST) $(BUILD)/bench/peak_flops

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/vae/weights
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 model/weights/*.safetensors $(DESTDIR)$(PREFIX)/share/vae/weights/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
