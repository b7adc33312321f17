#!/bin/sh
# resume_check.sh [BIN] -- fashion-cnn's --resume continues bit for bit.
# Trains 3 quick epochs straight through, then the same run stopped after
# epoch 1 (--stop-after 1) and resumed from its checkpoint, and compares:
# the epoch lines (loss and accuracies, the times left out), the final
# accuracies, and every tensor of the two final checkpoints byte for byte
# (weights, batch-norm statistics, Adam's moments; the history's seconds
# column apart) with the metadata (step count, iterator and generator states).
# Run by `make fashion-cnn-resume-check`; exit 0 when all agree. RESUME_CHECK_ARGS
# adds options to all three runs (augmentation: its generator is checkpointed).
set -eu
bin=${1:-build/bin/fashion-cnn}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args="--limit 1200 --epochs 3 ${RESUME_CHECK_ARGS:-}" # e.g. RESUME_CHECK_ARGS="--shift 2 --flip 1"
mkdir -p "$dir/straight" "$dir/resumed"
"$bin" $args --out "$dir/straight" > "$dir/straight.txt"
"$bin" $args --stop-after 1 --out "$dir/resumed" > /dev/null
"$bin" $args --resume "$dir/resumed/fashion-cnn.safetensors" --out "$dir/resumed" > "$dir/resumed.txt"
# "epoch  2/3  loss ...  val acc 71.00%  1.2 s (...)": keep up to the accuracy
strip() { grep -E '^(epoch|validation)' "$1" | sed 's/%  [0-9.]* s (.*$/%/'; }
strip "$dir/straight.txt" > "$dir/straight.lines"
strip "$dir/resumed.txt" > "$dir/resumed.lines"
if ! diff "$dir/straight.lines" "$dir/resumed.lines"; then
    echo "resume_check: the resumed run printed other numbers" >&2
    exit 1
fi
/usr/bin/python3 - "$dir/straight/fashion-cnn.safetensors" "$dir/resumed/fashion-cnn.safetensors" <<'PY'
import json, struct, sys

def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    return meta, {k: (v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}

(meta_a, a), (meta_b, b) = read(sys.argv[1]), read(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if k != "history" and a.get(k) != b.get(k)]
rows = lambda t: [struct.unpack_from("<4d", t[1], 32 * r)[:3] for r in range(3)]  # loss, train, val
if rows(a["history"]) != rows(b["history"]):
    bad.append("history")
if meta_a != meta_b:
    bad.append("__metadata__")
if bad:
    sys.exit("resume_check: the checkpoints differ in " + ", ".join(bad))
print(f"resume_check: straight and resumed runs agree bit for bit ({len(a)} tensors, metadata)")
PY
