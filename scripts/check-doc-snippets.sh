#!/bin/sh
# check-doc-snippets.sh -- compile and run the C in the documentation, so a
# snippet that no longer compiles, or fails, fails `make check`.
#
#   sh scripts/check-doc-snippets.sh [FILE.md ...]      (default: README.md docs/*.md)
#   sh scripts/check-doc-snippets.sh --expect-failure FILE.md ...
#       (the checker's own test: each file must fail, alone, with the text
#       of its line <!-- expect: TEXT --> in the report)
#
# The convention, for whoever writes the docs. Every ```c block of a
# Markdown file is checked; the blocks of one file, in order, make programs:
#   1. A program starts at the file's first ```c block, and again at a
#      block preceded by the line <!-- snippet: new program -->.
#   2. When one of a program's blocks defines main (a line starting with
#      "int main("), the program is its blocks joined as they stand, a
#      complete C file. Otherwise the blocks are statements: joined in order
#      into the body of `int main(void)`, after #include <agrad.h>,
#      <math.h>, <stdio.h>, <stdlib.h> and <string.h>, ending with
#      `return 0;`. A name one block declares is in scope in the later ones
#      (and cannot be declared again).
#   3. <!-- snippet: quotes PATH --> before a block: an excerpt of the file
#      PATH (from the repository root), not compiled; every line of the
#      block but "..." must be a line of PATH (leading and trailing blanks
#      aside; a line may be part of a longer one), so the excerpt stays true.
#   4. <!-- snippet: not compiled: REASON --> before a block: skipped, the
#      reason printed. For what cannot run on its own (rare: say why).
# The marker is the last non-blank line before the block's ``` line; any
# other <!-- snippet: ... --> is an error. Programs are compiled with the
# build's flags (warnings are errors, unused names allowed), -Iinclude -Isrc
# -Isrc/ops, linked with the library, and run with a time limit in a scratch
# directory that shows the repository's top-level entries (data/, examples/,
# ...; build/ aside) through symbolic links: paths are relative to the
# repository root, as from there, and a file a snippet writes stays out of
# the tree. A compiler message or a failure names the Markdown file and line
# (the program carries #line).
#
# Environment (the Makefile's check target sets them): CC, CFLAGS, LDFLAGS,
# LDLIBS, LIB (the static library), OUT (a directory for the programs),
# SNIPPET_TIMEOUT (seconds per program, default 300).
set -u

CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -g -D_POSIX_C_SOURCE=200809L"}
LDFLAGS=${LDFLAGS:-}
LDLIBS=${LDLIBS:-"-ljansson -lz -lm -pthread"}
LIB=${LIB:-build/libagrad.a}
OUT=${OUT:-build/doc-snippets}
SNIPPET_TIMEOUT=${SNIPPET_TIMEOUT:-300}
SNIPPET_CFLAGS="$CFLAGS -Iinclude -Isrc -Isrc/ops -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-function -Wno-unused-parameter"
# a sanitizer build: a short program that does not free what it shows is no leak to report
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export ASAN_OPTIONS

expect_failure=false
if [ "${1:-}" = --expect-failure ]; then
    expect_failure=true
    shift
fi
[ $# -gt 0 ] || set -- README.md docs/*.md

# Split FILE.md into the programs, quotes and skips of its manifest ($2):
# lines "program<TAB>C file<TAB>md<TAB>line", "quote<TAB>excerpt file<TAB>md<TAB>line<TAB>path",
# "skip<TAB>md<TAB>line<TAB>reason"; exit 2 on a malformed marker or block.
split_file() {
    awk -v outdir="$OUT" -v manifest="$2" -v slug="$(echo "$1" | tr '/.' '__')" '
    function fail(why) { printf "%s:%d: %s\n", FILENAME, FNR, why > "/dev/stderr"; bad = 1; exit 2 }
    function flush(   f, i) {
        if (nblocks == 0) return
        nprog++
        f = outdir "/" slug "-" nprog ".c"
        if (!has_main) {
            print "/* " FILENAME ", program " nprog ": its blocks as the body of main */" > f
            print "#include <agrad.h>\n#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>" > f
            print "int main(void)\n{" > f
        }
        for (i = 1; i <= nblocks; i++) printf "#line %d \"%s\"\n%s", start[i], FILENAME, text[i] > f
        if (!has_main) print "    return 0;\n}" > f
        close(f)
        printf "program\t%s\t%s\t%d\n", f, FILENAME, start[1] >> manifest
        nblocks = 0
        has_main = 0
    }
    {
        line = $0
        if (mode == "") {
            if (line ~ /^ *```c[ \t]*$/) {
                indent = index(line, "`") - 1
                if (marker == "") marker = "-"
                if (marker == "new program") flush()
                if (marker == "-" || marker == "new program") {
                    mode = "code"
                    nblocks++
                    start[nblocks] = FNR + 1
                    text[nblocks] = ""
                } else if (marker ~ /^quotes [^ ]+$/) {
                    mode = "quote"
                    nquote++
                    qfile = outdir "/" slug "-quote-" nquote ".txt"
                    printf "" > qfile
                    printf "quote\t%s\t%s\t%d\t%s\n", qfile, FILENAME, FNR + 1, substr(marker, 8) >> manifest
                } else if (marker ~ /^not compiled: ./) {
                    mode = "skip"
                    printf "skip\t%s\t%d\t%s\n", FILENAME, FNR + 1, substr(marker, 15) >> manifest
                } else {
                    fail("unknown snippet marker \"" marker "\" (new program | quotes PATH | not compiled: REASON)")
                }
                marker = ""
                next
            }
            if (line ~ /^[ \t]*$/) next
            marker = ""
            if (line ~ /^<!-- snippet: .* -->[ \t]*$/) {
                marker = line
                sub(/^<!-- snippet: /, "", marker)
                sub(/ -->[ \t]*$/, "", marker)
            } else if (line ~ /<!-- snippet:/) {
                fail("a snippet marker is a line of its own: <!-- snippet: ... -->")
            }
            next
        }
        if (line ~ /^ *```[ \t]*$/) {
            if (mode == "quote") close(qfile)
            mode = ""
            next
        }
        if (indent > 0 && substr(line, 1, indent) ~ /^ *$/) line = substr(line, indent + 1)
        if (mode == "code") {
            text[nblocks] = text[nblocks] line "\n"
            if (line ~ /^int main\(/) has_main = 1
        } else if (mode == "quote") {
            print line > qfile
        }
    }
    END {
        if (bad) exit 2
        if (mode != "") { FNR = start[nblocks]; fail("a ```c block is never closed") }
        flush()
    }' "$1"
}

# Every line of the excerpt $1 but "..." is a line of $2 (blanks at the ends aside).
quote_holds() {
    trimmed="$OUT/quoted-file.txt"
    sed 's/^[ \t]*//; s/[ \t]*$//' "$2" > "$trimmed" || return 1
    held=0
    while IFS= read -r q; do
        q=$(printf '%s' "$q" | sed 's/^[ \t]*//; s/[ \t]*$//')
        [ -z "$q" ] || [ "$q" = "..." ] && continue
        if ! grep -Fq -- "$q" "$trimmed"; then
            echo "    not in $2: $q"
            held=1
        fi
    done < "$1"
    return $held
}

# Check one Markdown file: 0 when every program compiles and runs and
# every quote holds; prints one line per failure (and its messages).
check_file() {
    md=$1
    manifest="$OUT/$(echo "$md" | tr '/.' '__').manifest"
    : > "$manifest"
    split_file "$md" "$manifest" || return 1
    failed=0
    while IFS='	' read -r kind a b c d; do
        case $kind in
        program)
            exe="${a%.c}"
            # shellcheck disable=SC2086
            if ! $CC $SNIPPET_CFLAGS $LDFLAGS "$a" "$LIB" -o "$exe" $LDLIBS > "$exe.log" 2>&1; then
                echo "doc snippets: $b: the program from line $c does not compile ($a):"
                sed 's/^/    /' "$exe.log" | head -40
                failed=1
            else
                (cd "$run_dir" && timeout "$SNIPPET_TIMEOUT" "$exe") > "$exe.out" 2>&1
                ran=$?
                if [ $ran != 0 ]; then
                    echo "doc snippets: $b: the program from line $c fails (exit status $ran; $a):"
                    tail -n 20 "$exe.out" | sed 's/^/    /'
                    failed=1
                else
                    programs=$((programs + 1))
                fi
            fi
            ;;
        quote)
            if [ ! -f "$d" ]; then
                echo "doc snippets: $b:$c: quotes $d, which does not exist"
                failed=1
            elif ! quote_holds "$a" "$d"; then
                echo "doc snippets: $b:$c: the excerpt is no longer in $d (lines above)"
                failed=1
            else
                quotes=$((quotes + 1))
            fi
            ;;
        skip)
            skipped="$skipped
    $a:$b not compiled: $c"
            ;;
        esac
    done < "$manifest"
    return $failed
}

mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
root=$(pwd)
run_dir="$OUT/run"
rm -rf "$run_dir" && mkdir -p "$run_dir" || exit 1
for entry in "$root"/*; do
    [ "$entry" = "$root/build" ] || ln -s "$entry" "$run_dir/"
done
[ -f "$LIB" ] || { echo "doc snippets: $LIB is missing (run make first)" >&2; exit 1; }
programs=0 quotes=0 skipped="" status=0
for md in "$@"; do
    if $expect_failure; then
        # the page says why it must fail: a line <!-- expect: TEXT --> whose
        # TEXT the checker's report must contain
        expected=$(sed -n 's/^<!-- expect: \(.*\) -->$/\1/p' "$md")
        log="$OUT/expected-failure.log"
        if [ -z "$expected" ]; then
            echo "doc snippets: $md has no <!-- expect: ... --> line" >&2
            status=1
        elif check_file "$md" > "$log" 2>&1; then
            echo "doc snippets: $md should fail the check, and passed" >&2
            status=1
        elif ! grep -Fq -- "$expected" "$log"; then
            echo "doc snippets: $md failed, but not with \"$expected\":" >&2
            sed 's/^/    /' "$log" >&2
            status=1
        fi
    elif ! check_file "$md"; then
        status=1
    fi
done
if $expect_failure; then
    [ $status = 0 ] && echo "doc snippets: the checker fails each of the $# broken examples, as it should"
    exit $status
fi
if [ $status = 0 ]; then
    echo "doc snippets: $programs programs compiled and ran, $quotes excerpts found in their files ($*)${skipped:+; skipped:}$skipped"
else
    echo "doc snippets: FAILED (the convention is at the top of scripts/check-doc-snippets.sh)" >&2
fi
exit $status
