# bench.mk -- kernel build flags, the BLAS option and the benchmarks.
#   make bench              build bench/ and print every figure (medians)
#   make BLAS=openblas ...  matmul through cblas_dgemm, ag_gemm_f32 through
#                           cblas_sgemm (libopenblas-dev);
#                           switching back and forth rebuilds the kernel
# The library's own kernels need nothing beyond a C11 compiler and pthreads.

# the kernel thread pool (src/kernels/parallel.c)
ALL_CFLAGS += -pthread
LDLIBS += -pthread

# Every function starts on a 64-byte line. A TestNet step is a few dozen
# short functions, and where they fall against cache lines and the decoded
# instruction cache moved its time by 10 % (same instruction count) when
# unrelated code grew; aligned, the step keeps its speed whatever precedes it.
ALL_CFLAGS += -falign-functions=64

# The register tile relies on a*b+c becoming one fused multiply-add; GCC does
# that in ISO C mode (-std=c11) only when told.
$(BUILD)/src/kernels/gemm.o: ALL_CFLAGS += -ffp-contract=fast

# The elementwise loops (src/ops/elementwise.c, and elementwise_f32.c's float32 twins) vectorise once GCC uses its
# full cost model instead of -O2's "very cheap" one, and relu's conditional
# becomes a select instead of a mispredicted branch once floating-point
# operations may be evaluated speculatively (-fno-trapping-math: no value
# changes, only which exception flags may be raised; agrad reads none).
CC_IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -qi clang && echo 1)
$(BUILD)/src/ops/elementwise.o $(BUILD)/src/ops/elementwise_f32.o: ALL_CFLAGS += -fno-trapping-math \
    $(if $(CC_IS_CLANG),,-fvect-cost-model=dynamic)
# The same for the largest/smallest element's passes (src/ops/reduce_extreme.c):
# the tie count and the gradient's masked add over a contiguous slice.
$(BUILD)/src/ops/reduce_extreme.o: ALL_CFLAGS += -fno-trapping-math \
    $(if $(CC_IS_CLANG),,-fvect-cost-model=dynamic)
# The same for the LSTM gates' sigmoid and tanh rows (src/ops/lstm_math.h),
# in the cell (lstm.c) and the sequence op (lstm_sequence.c; without these
# flags its gate loop stayed scalar).
$(BUILD)/src/ops/lstm.o $(BUILD)/src/ops/lstm_sequence.o: ALL_CFLAGS += -fno-trapping-math \
    $(if $(CC_IS_CLANG),,-fvect-cost-model=dynamic)
# The same cost model for the optimisers' update loops (src/nn/optim.c): at
# -O2 they stay scalar (SGD alone was a fifteenth of an MLP step), and Adam's
# sqrt vectorises only when it need not set errno (agrad reads none; its
# argument is never negative).
$(BUILD)/src/nn/optim.o: ALL_CFLAGS += -fno-math-errno $(if $(CC_IS_CLANG),,-fvect-cost-model=dynamic)

# ---- BLAS=openblas -------------------------------------------------------------
BLAS ?=
OPENBLAS_CFLAGS = $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
OPENBLAS_LIBS = $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
ifeq ($(BLAS),openblas)
ALL_CFLAGS += -DAG_USE_CBLAS $(OPENBLAS_CFLAGS)
LDLIBS += $(OPENBLAS_LIBS)
else ifneq ($(BLAS),)
$(error BLAS=$(BLAS): only BLAS=openblas is supported)
endif

# a stamp per BLAS choice, so that changing it recompiles the kernel
BLAS_STAMP := $(BUILD)/.blas-$(or $(BLAS),own)
$(BUILD)/src/kernels/gemm.o: $(BLAS_STAMP)
$(BLAS_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(BUILD)/.blas-*
	@touch $@

# ---- make bench ------------------------------------------------------------------
# The bench links OpenBLAS (when installed) to time cblas_dgemm and
# cblas_sgemm beside agrad.
# bench_cnn.c times examples/fashion-cnn's model, built from its own source
BENCH_SRC := $(sort $(wildcard bench/*.c)) examples/fashion-cnn/cnn.c
BENCH_HAVE_OPENBLAS := $(shell pkg-config --exists openblas 2>/dev/null && echo 1)
ifeq ($(BENCH_HAVE_OPENBLAS),1)
BENCH_CFLAGS = -DBENCH_OPENBLAS $(OPENBLAS_CFLAGS)
BENCH_LIBS = $(OPENBLAS_LIBS)
endif

# `make bench` installs libopenblas-dev first (Debian then points libblas.so.3,
# which PyTorch's matmuls go through, at OpenBLAS too: the peers get their
# fast kernels), then runs in a fresh make that sees it.
.PHONY: bench bench-run
$(BUILD)/bench/agrad_bench: $(BENCH_SRC) $(wildcard bench/*.h) examples/fashion-cnn/cnn.h $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Iexamples/fashion-cnn $(BENCH_CFLAGS) $(LDFLAGS) $(BENCH_SRC) $(BUILD)/libagrad.a \
	    -o $@ $(LDLIBS) $(BENCH_LIBS)

bench:
	@sh scripts/install-deps.sh libopenblas-dev || echo "(no OpenBLAS: the dgemm comparison is left out)"
	@$(MAKE) --no-print-directory bench-run

bench-run: $(BUILD)/bench/agrad_bench
	./$(BUILD)/bench/agrad_bench

# instructions per TestNet step under callgrind (needs valgrind)
.PHONY: bench-instructions
bench-instructions: $(BUILD)/bench/agrad_bench
	bench/instructions.sh ./$(BUILD)/bench/agrad_bench
