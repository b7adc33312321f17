#!/bin/sh
# instructions.sh -- instructions per TestNet step, counted by callgrind
# (machine noise does not move them). Each way runs N and then 2N steps;
# the difference over N is one step, start-up and recording cancelling.
#   bench/instructions.sh [path/to/agrad_bench] [N]     (make bench-instructions)
set -eu
BENCH=${1:-build/bench/agrad_bench}
N=${2:-1000}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "instructions.sh: valgrind not found (Debian: apt-get install valgrind)" >&2
    exit 1
fi
count() { # instructions for $2 steps of way $1
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BENCH" testnet-steps "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : *//p'
}
for way in hand replay rebuild linear-replay linear-rebuild hvp linear-hvp; do
    one=$(count "$way" "$N")
    two=$(count "$way" $((2 * N)))
    per=$(( (two - one) / N ))
    eval "per_$(echo "$way" | tr - _)=$per"
    echo "testnet_${way}_instructions_per_step: $per" | tr - _
done
# an HVP (record, ag_hvp w.r.t. W1) against a gradient (the rebuild step)
awk -v a="$per_hvp" -v b="$per_rebuild" -v c="$per_linear_hvp" -v d="$per_linear_rebuild" 'BEGIN {
    printf "testnet_hvp_over_gradient_instructions: %.2f x (matmul + add), %.2f x (linear)\n", a / b, c / d }'
