# libFuzzer targets, built with clang (Debian's clang + libclang-rt-14-dev) and ASan + UBSan into
# their own tree. Run from the repository root:  make -f tests/fuzz/fuzz.mk [-j2]
# The library and the server (all of server/ but main.c, with the real http.c) are compiled with
# -fsanitize=fuzzer-no-link so libFuzzer's coverage sees them; tests/fuzz/harness.c builds requests
# and drives the server's own pipeline (server/pipeline.c) and batcher, without libmicrohttpd.

CLANG      ?= clang
FUZZ_BUILD ?= build/fuzz

.DEFAULT_GOAL := all
include packages.mk

SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(SAN) -fsanitize=fuzzer-no-link -fno-math-errno -std=c11 -D_GNU_SOURCE \
               -Wall -Wextra -Iinclude -Iserver $(PKG_CFLAGS) -MMD -MP
FUZZ_LDFLAGS := $(SAN) -fsanitize=fuzzer

TARGETS    := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

LIB_OBJ    := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard model/*.c))
SERVER_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out server/main.c,$(wildcard server/*.c))) \
              $(FUZZ_BUILD)/obj/server/embed.o
HARNESS_OBJ := $(FUZZ_BUILD)/obj/tests/fuzz/harness.o

.PHONY: all
.SECONDARY:
all: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c | pkg-check
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

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
