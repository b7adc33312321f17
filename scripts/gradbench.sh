#!/bin/sh
# gradbench.sh TOOL DEST -- agrad on GradBench beside the peers, in one sitting.
# Sets up the GradBench kit from $GRADBENCH_KIT in DEST (its setup.sh copies
# it, installs the Debian packages its evals and peers need, and builds the
# hand-written `manual` tool and the ADOL-C peer), then runs each eval of
# $GRADBENCH_EVALS with compare.py: agrad (replay: the graph recorded once,
# untimed, and replayed every run), agrad-rebuild (define-by-run: recorded
# inside every timed run) and the peers that support the eval (manual,
# adol-c, pytorch), $GRADBENCH_ROUNDS rounds, $GRADBENCH_ARGS passed to every
# eval (its defaults are GradBench's nightly sizes). Writes each eval's table
# to DEST/results-EVAL.txt and all of them, with the machine, to
# DEST/results.md. Exits 1 if any agrad evaluation was invalid.
set -eu
TOOL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
DEST=$2
KIT=${GRADBENCH_KIT:-../shared/gradbench}
EVALS=${GRADBENCH_EVALS:-hello lse llsq det ode gmm lstm kmeans particle saddle}
ROUNDS=${GRADBENCH_ROUNDS:-3}
ARGS=${GRADBENCH_ARGS:-}

if [ ! -f "$KIT/setup.sh" ] || [ ! -f "$KIT/compare.py" ]; then
    echo "gradbench: no GradBench kit at '$KIT' (a folder with setup.sh, run_eval.py and compare.py)." >&2
    echo "gradbench: point GRADBENCH_KIT at one: make gradbench GRADBENCH_KIT=/path/to/gradbench" >&2
    exit 1
fi
sh "$KIT/setup.sh" "$DEST"
DEST=$(cd "$DEST" && pwd)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
flags=$(grep -m1 -o 'avx512f' /proc/cpuinfo || echo "no AVX-512")
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')

failed=0
for e in $EVALS; do
    echo "== gradbench: $e ($(date +%T))"
    out="$DEST/results-$e.txt"
    echo "# $e: $(date -u '+%Y-%m-%d %H:%M UTC'), agrad $commit, $ROUNDS round(s), eval arguments: ${ARGS:-(defaults)}" > "$out"
    # shellcheck disable=SC2086 # ARGS is a list of words
    if ! (cd "$DEST" && /usr/bin/python3 ./compare.py "$e" --tool agrad="$TOOL" --tool agrad-rebuild="$TOOL --rebuild" \
            --rounds "$ROUNDS" -- $ARGS) >> "$out" 2>&1; then
        echo "FAILED" >> "$out"
        failed=1
    fi
    cat "$out"
done

# results.md: every eval's latest table (a run of a few evals keeps the others'
# tables from earlier runs, each headed with when and how it was measured)
ALL="hello lse llsq det ode gmm lstm kmeans particle saddle"
summary=""
for e in $ALL; do
    [ -f "$DEST/results-$e.txt" ] || continue
    verdict=$(grep -E '^([0-9]+ passed|FAILED)' "$DEST/results-$e.txt" | tail -n 1)
    summary="$summary| $e | ${verdict:-(no verdict)} | $(head -n 1 "$DEST/results-$e.txt" | sed 's/^# [a-z]*: //') |
"
done

{
    echo "# agrad on GradBench"
    echo
    echo "- machine: $cpu, $(nproc) cores, $mem, $flags; $(uname -sr)"
    echo "- agrad commit $commit; GradBench kit: $KIT"
    echo "- this run: started $started, finished $(date -u '+%H:%M UTC'); each table says when, with how many rounds and which eval arguments it was measured"
    echo "- tools: agrad (replay), agrad-rebuild (define-by-run), and the peers that support each eval:"
    echo "  manual (hand-written C++ derivatives), adol-c (ADOL-C 2.7), pytorch (Debian's PyTorch, eager)"
    echo "- times: each tool's own median time of one run, median over the rounds; ratios: agrad / peer"
    echo
    echo "| eval | agrad's evaluations | measured |"
    echo "|---|---|---|"
    printf '%s' "$summary"
    for e in $ALL; do
        [ -f "$DEST/results-$e.txt" ] || continue
        echo
        echo "## $e"
        echo
        echo '```'
        cat "$DEST/results-$e.txt"
        echo '```'
    done
} > "$DEST/results.md"

echo
printf '%s' "$summary"
echo "gradbench: tables in $DEST/results.md"
exit $failed
