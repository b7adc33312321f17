# gradbench.mk -- agrad as a GradBench tool (tools/gradbench/).
#   make build/bin/agrad-gradbench   the tool (GradBench messages on stdin)
#   make gradbench                   every eval with agrad beside the peers
#                                    (manual, ADOL-C, PyTorch): the kit from
#                                    GRADBENCH_KIT is set up in build/gradbench,
#                                    the tables go to build/gradbench/results.md
# GRADBENCH_EVALS, GRADBENCH_ROUNDS (3) and GRADBENCH_ARGS (passed to every
# eval, e.g. --min-seconds 0.2) narrow a run.

# GB_SRC (every file but main.c) is set in the Makefile: the tests link it too.
GB_OBJ := $(GB_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/bin/agrad-gradbench: $(BUILD)/tools/gradbench/main.o $(GB_OBJ) $(BUILD)/libagrad.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

GRADBENCH_KIT    ?= ../shared/gradbench
GRADBENCH_EVALS  ?= hello lse llsq det ode gmm lstm kmeans particle saddle
GRADBENCH_ROUNDS ?= 3
GRADBENCH_ARGS   ?=

.PHONY: gradbench
gradbench: $(BUILD)/bin/agrad-gradbench
	@GRADBENCH_KIT="$(GRADBENCH_KIT)" GRADBENCH_EVALS="$(GRADBENCH_EVALS)" \
	  GRADBENCH_ROUNDS="$(GRADBENCH_ROUNDS)" GRADBENCH_ARGS="$(GRADBENCH_ARGS)" \
	  sh scripts/gradbench.sh $(BUILD)/bin/agrad-gradbench build/gradbench

# The protocol fuzzer (fuzz/fuzz_gradbench.c) links the tool's files too,
# compiled as the library is for fuzzing (mk/fuzz.mk).
$(FUZZ_BUILD)/fuzz_gradbench: fuzz/fuzz_gradbench.c $(FUZZ_LIB_OBJ) \
                               $(GB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itools/gradbench -fsanitize=fuzzer $< $(filter %.o,$^) -o $@ $(LDLIBS)
