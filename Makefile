# agrad -- build, test and run the examples.
#   make            build build/libagrad.a and build/libagrad.so
#   make testnet    build and run examples/testnet (the seed's TestNet)
#   make newton     Newton's method (second derivatives) vs gradient descent
#   make char-lstm  a character-level LSTM on the fortunes (about 10 minutes)
#   make fashion-cnn  a CNN on Fashion-MNIST (about 11 minutes on 2 cores; FASHION_CNN_ARGS="--limit 3000 --epochs 1")
#   make classify   train on a labelled CSV (data/iris_labelled.csv), then predict
#                   its held-out rows from the checkpoint alone
#   make check      compile and run the docs' C snippets, then build and run
#                   every Check test (SAN=1: ASan + UBSan, SAN=thread: ThreadSanitizer)
#   make valgrind   run the TestNet example under valgrind --leak-check=full
#   make gradbench  agrad on GradBench beside its peers (mk/gradbench.mk)
# Missing Debian packages are installed by scripts/install-deps.sh.

CC      ?= cc
SAN     ?= 0
OPT     ?= -O2
WARN    := -std=c11 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?= $(OPT) -g -gdwarf-4
ALL_CFLAGS := $(WARN) $(CFLAGS) -fPIC -Iinclude -D_POSIX_C_SOURCE=200809L
LDLIBS  := -ljansson -lz -lm

# The sanitizer builds run several times slower than the plain one, and the
# machines are shared: each test gets four times Check's usual time limit
# there (CK_TIMEOUT_MULTIPLIER, unless set).
SAN_TEST_ENV := CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-4}
ifeq ($(SAN),1)
BUILD   := build/san
TEST_LAUNCHER := $(SAN_TEST_ENV)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),thread)
# ThreadSanitizer: the kernel thread pool and the work split over it. GCC 12's
# runtime cannot map its shadow memory on kernels with the most address-space
# randomisation (vm.mmap_rnd_bits 32), so the suite runs with it turned off
# where setarch can do that.
BUILD   := build/tsan
ALL_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
TEST_LAUNCHER := $(SAN_TEST_ENV) $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
else
BUILD   := build
endif

VERSION := $(shell sed -n 's/^\#define AGRAD_VERSION "\(.*\)"/\1/p' include/agrad.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

LIB_SRC  := $(sort $(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# the GradBench tool's evals (mk/gradbench.mk), tested without the kit
GB_SRC   := $(filter-out tools/gradbench/main.c,$(sort $(wildcard tools/gradbench/*.c)))
TEST_SRC := $(sort $(wildcard tests/*.c)) examples/testnet/testnet_hand.c examples/testnet/testnet_model.c \
            examples/newton/newton.c examples/fashion-cnn/augment.c $(GB_SRC)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS  := $(wildcard include/*.h src/*.h src/*/*.h examples/*/*.h tools/*/*.h)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all deps testnet scaling iris newton classify fashion char-lstm fashion-cnn fashion-cnn-resume-check check valgrind clean install uninstall install-check interop docs
all: $(BUILD)/libagrad.a $(BUILD)/libagrad.so

deps:
	@sh scripts/install-deps.sh

$(BUILD)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(HEADERS) tests/helpers.h tests/suites.def | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Iexamples/testnet -Iexamples/newton -Iexamples/fashion-cnn -Itools/gradbench $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/libagrad.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libagrad.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libagrad.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- examples ----------------------------------------------------------------
.SECONDEXPANSION:
# Each example is examples/NAME/*.c plus the shared examples/common/*.c
# (training curves as SVG).
EXAMPLE_COMMON := $(wildcard examples/common/*.c examples/common/*.h)
$(BUILD)/bin/%: $$(wildcard examples/$$*/*.c examples/$$*/*.h) $(EXAMPLE_COMMON) $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iexamples/common $(LDFLAGS) $(filter %.c,$^) $(BUILD)/libagrad.a -o $@ $(LDLIBS)

testnet: $(BUILD)/bin/testnet
	@sh scripts/install-deps.sh graphviz || echo "(no graphviz: the .dot file is written, not rendered)"
	./$(BUILD)/bin/testnet $(BUILD)
	@if command -v dot >/dev/null 2>&1; then \
	    dot -Tsvg $(BUILD)/testnet.dot -o $(BUILD)/testnet.svg && echo "rendered $(BUILD)/testnet.svg"; fi

scaling: $(BUILD)/bin/scaling
	./$(BUILD)/bin/scaling

iris: $(BUILD)/bin/iris
	./$(BUILD)/bin/iris data/iris.csv

newton: $(BUILD)/bin/newton
	./$(BUILD)/bin/newton data/iris.csv

# examples/classify: two programs, one trains (best checkpoint kept), the
# other predicts from that file alone (CLASSIFY_CSV, CLASSIFY_LABEL: your data)
CLASSIFY_CSV ?= data/iris_labelled.csv
CLASSIFY_LABEL ?=
$(BUILD)/bin/classify-%: examples/classify/%.c $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(BUILD)/libagrad.a -o $@ $(LDLIBS)
classify: $(BUILD)/bin/classify-train $(BUILD)/bin/classify-predict
	@mkdir -p $(BUILD)/classify
	./$(BUILD)/bin/classify-train $(CLASSIFY_CSV) $(BUILD)/classify $(CLASSIFY_LABEL)
	./$(BUILD)/bin/classify-predict $(BUILD)/classify/model.safetensors $(BUILD)/classify/test.csv

FASHION_ARGS ?=
fashion: $(BUILD)/bin/fashion-mnist
	@sh scripts/install-deps.sh dataset-fashion-mnist
	./$(BUILD)/bin/fashion-mnist --out $(BUILD) $(FASHION_ARGS)

# A character-level LSTM on the fortunes of Debian's fortunes package,
# about 10 minutes (CHAR_LSTM_ARGS="--minutes 1" for a short run).
CHAR_LSTM_ARGS ?=
char-lstm: $(BUILD)/bin/char-lstm
	@sh scripts/install-deps.sh fortunes
	./$(BUILD)/bin/char-lstm --out $(BUILD) $(CHAR_LSTM_ARGS)
FASHION_CNN_ARGS ?=
fashion-cnn: $(BUILD)/bin/fashion-cnn
	@sh scripts/install-deps.sh dataset-fashion-mnist
	./$(BUILD)/bin/fashion-cnn --out $(BUILD) $(FASHION_CNN_ARGS)

# 3 quick epochs straight against 1 + resume + 2: the same bits (a minute)
fashion-cnn-resume-check: $(BUILD)/bin/fashion-cnn
	@sh scripts/install-deps.sh dataset-fashion-mnist
	sh examples/fashion-cnn/resume_check.sh ./$(BUILD)/bin/fashion-cnn

# Every example under valgrind, on small sizes: any memory error or lost byte
# fails (still-reachable blocks are listed, not counted).
VALGRIND = valgrind -q --leak-check=full --show-leak-kinds=all \
           --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1
valgrind: $(BUILD)/bin/testnet $(BUILD)/bin/scaling $(BUILD)/bin/iris $(BUILD)/bin/newton $(BUILD)/bin/fashion-mnist \
          $(BUILD)/bin/fashion-cnn $(BUILD)/bin/char-lstm $(BUILD)/bin/classify-train $(BUILD)/bin/classify-predict \
          $(BUILD)/bin/interop_export $(BUILD)/bin/interop_hessian $(BUILD)/bin/agrad-gradbench
	@sh scripts/install-deps.sh valgrind
	$(VALGRIND) ./$(BUILD)/bin/testnet $(BUILD) >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/scaling >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/iris data/iris.csv >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/newton data/iris.csv >/dev/null
	@mkdir -p $(BUILD)/valgrind/classify
	$(VALGRIND) ./$(BUILD)/bin/classify-train data/iris_labelled.csv $(BUILD)/valgrind/classify >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/classify-predict $(BUILD)/valgrind/classify/model.safetensors \
	    $(BUILD)/valgrind/classify/test.csv >/dev/null
	@mkdir -p $(BUILD)/interop $(BUILD)/valgrind
	$(VALGRIND) ./$(BUILD)/bin/interop_export $(BUILD)/interop >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/interop_hessian $(BUILD)/interop 5 >/dev/null
	$(VALGRIND) ./$(BUILD)/bin/agrad-gradbench < tests/data/gradbench_session.jsonl >/dev/null
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	    echo "$(VALGRIND) ./$(BUILD)/bin/fashion-mnist --limit 1200 --epochs 1"; \
	    $(VALGRIND) ./$(BUILD)/bin/fashion-mnist --limit 1200 --epochs 1 --out $(BUILD)/valgrind >/dev/null; \
	else echo "fashion-mnist: dataset not installed, not run under valgrind"; fi
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	    echo "$(VALGRIND) ./$(BUILD)/bin/fashion-cnn --limit 384 --epochs 1 --channels 4,8 --hidden 16 --float32"; \
	    $(VALGRIND) ./$(BUILD)/bin/fashion-cnn --limit 384 --epochs 1 --channels 4,8 --hidden 16 --float32 \
	        --out $(BUILD)/valgrind >/dev/null; \
	else echo "fashion-cnn: dataset not installed, not run under valgrind"; fi
	@# char-lstm on a generated text (2400 numbered lines: the fortunes are slow to read under valgrind)
	@mkdir -p $(BUILD)/valgrind/fortunes
	@awk 'BEGIN { for (i = 0; i < 2400; i++) printf "Fortune %d: the chain rule multiplies the local slopes.\n%%\n", i }' \
	    > $(BUILD)/valgrind/fortunes/chain
	$(VALGRIND) ./$(BUILD)/bin/char-lstm --steps 3 --hidden 16 --embed 8 --batch 4 --seq 8 --eval-chars 200 \
	    --sample 20 --data $(BUILD)/valgrind/fortunes --out $(BUILD)/valgrind >/dev/null
	@echo "valgrind: every example ran clean"

# ---- tests ---------------------------------------------------------------------
$(BUILD)/tests/run_tests: $(TEST_OBJ) $(BUILD)/libagrad.a
	$(CC) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/libagrad.a -o $@ $(CHECK_LIBS) $(LDLIBS)

# The C in README.md and docs/*.md, compiled and run (the convention: the
# top of scripts/check-doc-snippets.sh), and the checker failing the broken
# pages of tests/data/doc-snippets; then the Check suites, whose summary
# line ends the output.
DOC_SNIPPETS = $(TEST_LAUNCHER) env CC="$(CC)" CFLAGS="$(ALL_CFLAGS)" LDFLAGS="$(LDFLAGS)" LDLIBS="$(LDLIBS)" \
               LIB=$(BUILD)/libagrad.a OUT=$(BUILD)/doc-snippets sh scripts/check-doc-snippets.sh
check: $(BUILD)/tests/run_tests
	@sh scripts/install-deps.sh graphviz || echo "(without Graphviz the graph-picture test fails)"
	@$(DOC_SNIPPETS)
	@$(DOC_SNIPPETS) --expect-failure $(filter-out %/README.md,$(wildcard tests/data/doc-snippets/*.md))
	$(TEST_LAUNCHER) ./$(BUILD)/tests/run_tests

clean:
	rm -rf build

# ---- PyTorch interop: agrad's values and gradients redone in PyTorch (float64) ----
#   the MLP step:  interop_export writes one training step of an MLP, and
#                  tools/torch_compare.py redoes it with torch.nn.Linear;
#   every op:      interop_ops runs each registry op's test recipe on random
#                  operands with a random backward seed, and
#                  tools/torch_compare_ops.py redoes each case with the torch
#                  expression of tools/torch_ops.py (relative 1e-12);
#   Hessians:      interop_hessian draws random smooth MLPs (tanh, sigmoid,
#                  softplus) and writes ag_hvp, ag_hessian and ag_hessian_fwd
#                  w.r.t. x and each parameter, and
#                  tools/torch_compare_hessian.py redoes them with
#                  torch.autograd.functional.hvp / hessian (relative 1e-10);
#   a model:       tools/torch_train_iris.py trains an MLP on data/iris.csv
#                  in PyTorch and saves it as F32 and BF16 .safetensors
#                  (nn.Linear's [out, in] weights); iris_predict loads each
#                  (transposing into ag_dense's [in, out]) and must predict
#                  PyTorch's class on every row.
#   recurrent:     interop_cells runs ag_lstm_cell, ag_gru_cell, ag_lstm and
#                  ag_gru on random sizes, weights and seeds, and
#                  tools/torch_compare_cells.py redoes them with
#                  torch.nn.LSTMCell / GRUCell / LSTM / GRU loaded with the
#                  same weights: values and every gradient (relative 1e-10).
# Without PyTorch in /usr/bin/python3 the comparisons are skipped, except on
# CI (CI=true), where that is a failure.
INTEROP_PYTHON := /usr/bin/python3
INTEROP_OPS_OBJ := $(BUILD)/tools/interop_ops.o $(BUILD)/tests/helpers.o \
                   $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/recipes*.c)))

$(BUILD)/bin/interop_export: tools/interop_export.c $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(BUILD)/libagrad.a -o $@ $(LDLIBS)

$(BUILD)/bin/interop_hessian: tools/interop_hessian.c $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(BUILD)/libagrad.a -o $@ $(LDLIBS)

$(BUILD)/bin/iris_predict: tools/iris_predict.c $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(BUILD)/libagrad.a -o $@ $(LDLIBS)

$(BUILD)/bin/interop_cells: tools/interop_cells.c $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(BUILD)/libagrad.a -o $@ $(LDLIBS)

$(BUILD)/tools/interop_ops.o: tools/interop_ops.c $(HEADERS) tests/helpers.h tests/suites.def | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests $(CHECK_CFLAGS) -c $< -o $@

$(BUILD)/bin/interop_ops: $(INTEROP_OPS_OBJ) $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(INTEROP_OPS_OBJ) $(BUILD)/libagrad.a -o $@ $(CHECK_LIBS) $(LDLIBS)

interop: $(BUILD)/bin/interop_export $(BUILD)/bin/interop_ops $(BUILD)/bin/interop_hessian $(BUILD)/bin/iris_predict \
         $(BUILD)/bin/interop_cells
	@mkdir -p $(BUILD)/interop
	./$(BUILD)/bin/interop_export $(BUILD)/interop
	./$(BUILD)/bin/interop_ops $(BUILD)/interop
	./$(BUILD)/bin/interop_hessian $(BUILD)/interop
	./$(BUILD)/bin/interop_cells $(BUILD)/interop
	@if $(INTEROP_PYTHON) -c 'import torch, numpy' 2>/dev/null; then \
	    status=0; \
	    $(INTEROP_PYTHON) tools/torch_compare.py $(BUILD)/interop || status=1; \
	    $(INTEROP_PYTHON) tools/torch_ops.py --self-test || status=1; \
	    $(INTEROP_PYTHON) tools/torch_compare_ops.py $(BUILD)/interop/ops.json || status=1; \
	    $(INTEROP_PYTHON) tools/torch_compare_hessian.py $(BUILD)/interop/hessian.json || status=1; \
	    $(INTEROP_PYTHON) tools/torch_train_iris.py data/iris.csv $(BUILD)/interop || status=1; \
	    for dt in f32 bf16; do ./$(BUILD)/bin/iris_predict $(BUILD)/interop/iris_$$dt.safetensors \
	        data/iris.csv $(BUILD)/interop/iris_$${dt}_classes.txt || status=1; done; \
	    $(INTEROP_PYTHON) tools/torch_compare_cells.py $(BUILD)/interop/cells.json || status=1; \
	    exit $$status; \
	elif [ "$${CI:-}" = true ]; then \
	    echo "PyTorch is not importable by $(INTEROP_PYTHON) on CI (CI=true): .ci/run installs python3-torch; failing." >&2; \
	    exit 1; \
	else \
	    echo "PyTorch is not installed (Debian: apt-get install python3-torch): comparisons NOT run."; \
	fi

# ---- API reference from the header comments (Doxygen) ---------------------------
docs:
	@sh scripts/install-deps.sh doxygen
	doxygen docs/Doxyfile
	@echo "API reference: build/docs/html/index.html"

# ---- install -------------------------------------------------------------------
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PUBLIC_HEADERS := include/agrad.h include/agrad_io.h

# agrad.pc is written for this PREFIX on every install (never a stale one)
install: all
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|; s|@PRIVATE_LIBS@|$(strip $(LDFLAGS) $(LDLIBS))|' agrad.pc.in > $(BUILD)/agrad.pc
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(BUILD)/libagrad.a $(DESTDIR)$(LIBDIR)/libagrad.a
	install -m 755 $(BUILD)/libagrad.so $(DESTDIR)$(LIBDIR)/libagrad.so.$(VERSION)
	ln -sf libagrad.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libagrad.so.$(SOMAJOR)
	ln -sf libagrad.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libagrad.so
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/agrad.pc $(DESTDIR)$(LIBDIR)/pkgconfig/agrad.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libagrad.a $(DESTDIR)$(LIBDIR)/libagrad.so \
	    $(DESTDIR)$(LIBDIR)/libagrad.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libagrad.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/agrad.pc $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(PUBLIC_HEADERS)))

# Install into a temporary prefix and build tests/install/prog.c outside the
# tree with nothing but pkg-config, then run it (what CI does).
install-check:
	@tmp=$$(mktemp -d) && \
	$(MAKE) --no-print-directory install PREFIX=$$tmp >/dev/null && \
	cp tests/install/prog.c $$tmp/ && cd $$tmp && \
	echo "cc prog.c \$$(pkg-config --cflags --libs agrad)" && \
	cc prog.c $$(PKG_CONFIG_PATH=$$tmp/lib/pkgconfig pkg-config --cflags --libs agrad) -o prog && \
	LD_LIBRARY_PATH=$$tmp/lib ./prog && \
	$(MAKE) --no-print-directory -C $(CURDIR) uninstall PREFIX=$$tmp >/dev/null && \
	test -z "$$(find $$tmp -type f -name 'libagrad*')" && echo "install-check: OK (installed, linked, ran, uninstalled)" && \
	rm -rf $$tmp

# Fragments owned by their areas: benchmarks, fuzzing, docs, install.
-include $(wildcard mk/*.mk)
