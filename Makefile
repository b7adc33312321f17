# agrad -- build, test and run the examples.
#   make            build build/libagrad.a and build/libagrad.so
#   make testnet    build and run examples/testnet (the seed's TestNet)
#   make check      build and run every Check test (SAN=1: ASan + UBSan)
#   make valgrind   run the TestNet example under valgrind --leak-check=full
# Missing Debian packages are installed by scripts/install-deps.sh.

CC      ?= cc
SAN     ?= 0
OPT     ?= -O2
WARN    := -std=c11 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?= $(OPT) -g -gdwarf-4
ALL_CFLAGS := $(WARN) $(CFLAGS) -fPIC -Iinclude -D_POSIX_C_SOURCE=200809L
LDLIBS  := -ljansson -lz -lm

ifeq ($(SAN),1)
BUILD   := build/san
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

VERSION := $(shell sed -n 's/^\#define AGRAD_VERSION "\(.*\)"/\1/p' include/agrad.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

LIB_SRC  := $(sort $(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c)) examples/testnet/testnet_hand.c examples/testnet/testnet_model.c
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS  := $(wildcard include/*.h src/*.h src/*/*.h)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all deps testnet scaling check valgrind clean
all: $(BUILD)/libagrad.a $(BUILD)/libagrad.so

deps:
	@sh scripts/install-deps.sh

$(BUILD)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(HEADERS) tests/helpers.h tests/suites.def | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Iexamples/testnet $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/libagrad.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libagrad.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libagrad.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- examples ----------------------------------------------------------------
.SECONDEXPANSION:
$(BUILD)/bin/%: $$(wildcard examples/$$*/*.c examples/$$*/*.h) $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(filter %.c,$^) $(BUILD)/libagrad.a -o $@ $(LDLIBS)

testnet: $(BUILD)/bin/testnet
	@sh scripts/install-deps.sh graphviz || echo "(no graphviz: the .dot file is written, not rendered)"
	./$(BUILD)/bin/testnet $(BUILD)
	@if command -v dot >/dev/null 2>&1; then \
	    dot -Tsvg $(BUILD)/testnet.dot -o $(BUILD)/testnet.svg && echo "rendered $(BUILD)/testnet.svg"; fi

scaling: $(BUILD)/bin/scaling
	./$(BUILD)/bin/scaling

valgrind: $(BUILD)/bin/testnet
	@sh scripts/install-deps.sh valgrind
	valgrind --leak-check=full --errors-for-leak-kinds=all --error-exitcode=1 \
	    ./$(BUILD)/bin/testnet $(BUILD) >/dev/null

# ---- tests ---------------------------------------------------------------------
$(BUILD)/tests/run_tests: $(TEST_OBJ) $(BUILD)/libagrad.a
	$(CC) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/libagrad.a -o $@ $(CHECK_LIBS) $(LDLIBS)

check: $(BUILD)/tests/run_tests
	./$(BUILD)/tests/run_tests

clean:
	rm -rf build

# Fragments owned by their areas: benchmarks, fuzzing, docs, install.
-include $(wildcard mk/*.mk)
