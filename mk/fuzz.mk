# fuzz.mk -- libFuzzer harnesses for the file loaders (fuzz/fuzz_<name>.c).
#   make fuzz                   build each harness and run it FUZZ_SECONDS (30) s
#   make fuzz FUZZ_SECONDS=120  longer runs
#   make fuzz-build             only build them (build/fuzz/fuzz_<name>)
# Each harness runs on build/fuzz/corpus/<name>/, which starts as a copy of
# the seeds in fuzz/corpus/<name>/ (if any) and keeps what the fuzzer finds
# between runs, with the dictionary fuzz/<name>.dict when there is one. A
# crash (sanitizer report, leak, abort) stops make with an error and leaves
# its input in build/fuzz/artifacts/<name>/. The library is compiled again
# under build/fuzz/obj/ with clang, coverage and ASan + UBSan.

FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = $(ALL_CFLAGS) $(FUZZ_SAN) -O1
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

.PHONY: fuzz fuzz-build
# the objects are made by a pattern rule only: keep them between runs
.SECONDARY: $(FUZZ_LIB_OBJ)

$(FUZZ_BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJ) -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@set -e; for name in $(FUZZ_NAMES); do \
	    corpus=$(FUZZ_BUILD)/corpus/$$name; artifacts=$(FUZZ_BUILD)/artifacts/$$name; \
	    mkdir -p $$corpus $$artifacts; \
	    if [ -d fuzz/corpus/$$name ]; then cp fuzz/corpus/$$name/* $$corpus/; fi; \
	    dict=; if [ -f fuzz/$$name.dict ]; then dict=-dict=fuzz/$$name.dict; fi; \
	    echo "fuzz_$$name: $(FUZZ_SECONDS) s on $$corpus"; \
	    ./$(FUZZ_BUILD)/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	        -artifact_prefix=$$artifacts/ $$corpus 2>$(FUZZ_BUILD)/fuzz_$$name.log \
	      || { tail -n 60 $(FUZZ_BUILD)/fuzz_$$name.log; echo "fuzz_$$name: crash, see $$artifacts/"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_BUILD)/fuzz_$$name.log || true; \
	done
