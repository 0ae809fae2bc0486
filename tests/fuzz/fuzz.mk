# libFuzzer targets, built with clang (Debian's clang + libclang-rt-14-dev) and ASan + UBSan into
# their own tree. Run from the repository root:  make -f tests/fuzz/fuzz.mk [-j2]
# The library and the server (all of server/ but main.c, with the real http.c) are compiled with
# -fsanitize=fuzzer-no-link so libFuzzer's coverage sees them; tests/fuzz/harness.c builds requests
# and drives the server's own pipeline (server/pipeline.c) and batcher, without libmicrohttpd.

CLANG      ?= clang
FUZZ_BUILD ?= build/fuzz

.DEFAULT_GOAL := all
include packages.mk

COMMA      := ,
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(SAN) -fsanitize=fuzzer-no-link -fno-math-errno -std=c11 -D_GNU_SOURCE \
               -Wall -Wextra -Iinclude -Iserver $(PKG_CFLAGS) -MMD -MP
FUZZ_LDFLAGS := $(SAN) -fsanitize=fuzzer

TARGETS    := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# The trainer (model/trainer.c and its kernels) is reachable from no target: it is left out, and a
# target that came to need it would fail to link.
LIB_OBJ    := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out model/trainer.c model/kernels_train.c,$(wildcard model/*.c)))
SERVER_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out server/main.c,$(wildcard server/*.c))) \
              $(FUZZ_BUILD)/obj/server/embed.o
HARNESS_OBJ := $(FUZZ_BUILD)/obj/tests/fuzz/harness.o

.PHONY: all
.SECONDARY:
all: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c | pkg-check
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

# The inference kernels get ASan without UBSan: with both, clang 14 takes about 8 minutes over
# model/kernels.c's inlined SIMD blocks (23 s with ASan alone). UBSan checks them in make test-asan
# (gcc, test_kernels among the unit tests).
$(FUZZ_BUILD)/obj/model/kernels.o: FUZZ_CFLAGS := $(filter-out -fsanitize=address$(COMMA)undefined,$(FUZZ_CFLAGS)) \
                                                  -fsanitize=address

$(FUZZ_BUILD)/obj/server/embed.o: server/embed.S openapi.yaml
	@mkdir -p $(dir $@)
	$(CLANG) -c $< -o $@

$(FUZZ_BUILD)/libvae.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/libvae-server.a: $(SERVER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(HARNESS_OBJ) $(FUZZ_BUILD)/libvae-server.a $(FUZZ_BUILD)/libvae.a
	$(CLANG) $(FUZZ_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -lpthread

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
