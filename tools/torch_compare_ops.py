#!/usr/bin/python3
"""Redo every case of build/bin/interop_ops in PyTorch and compare.

Reads the ops.json interop_ops wrote (see tools/interop_ops.c for its
format). For each case: the inputs become float64 torch tensors (requiring
grad where agrad's input takes a gradient; a repeated operand is one
tensor), the op is redone with tools/torch_ops.py's expression, its value
compared with agrad's, and the gradients of the inputs for agrad's seed u
(torch.autograd.grad with grad_outputs u) compared with agrad's. A case
with running statistics (batch_norm) starts torch's from agrad's before
the step and compares them after it.

Tolerance (relative 1e-12, norm-relative): an element passes when
    |agrad - torch| <= rtol * s,   s = max_j |torch_j| over that tensor,
i.e. each element is held to the scale of its tensor, so a value that
cancels to about 0 (a sum, a product's entry, a gradient summed over a
broadcast) is not failed for a last-bit difference. Equal values pass (two
NaN, the same infinity, a tensor of zeros). The relative difference
reported is max_i |agrad_i - torch_i| / s. Shapes must match exactly.

A case also fails when its op has no mapping, its parameters do not parse
or lack a key (tools/torch_ops.py is strict), or torch raises; every op of
agrad's registry must have cases.

Prints one line per op (cases, worst relative difference, where) and a
summary line; exit status 1 on any failure.

Usage: /usr/bin/python3 tools/torch_compare_ops.py build/interop/ops.json [rtol=1e-12]
"""
import json
import math
import os
import sys
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no tools/__pycache__ in the tree
import torch_ops  # noqa: E402


def doubles(values):
    """JSON numbers, with "nan", "inf" and "-inf" for the values JSON lacks."""
    return [float(v) for v in values]


def tensor(values, shape):
    return torch.tensor(doubles(values), dtype=torch.float64).reshape(shape)


def relative_difference(agrad, expected):
    """max |agrad - expected| / s with s = max |expected| (see the docstring);
    0 when equal, inf for a mismatch that the rule cannot scale (a NaN on one
    side only, different infinities, a non-zero against zeros)."""
    a, t = agrad.reshape(-1).tolist(), expected.reshape(-1).tolist()
    finite = [abs(v) for v in t if math.isfinite(v)]
    scale = max(finite, default=0.0)
    worst = 0.0
    for x, y in zip(a, t):
        if x == y or (math.isnan(x) and math.isnan(y)):
            continue
        if not (math.isfinite(x) and math.isfinite(y)) or scale == 0.0:
            return math.inf
        worst = max(worst, abs(x - y) / scale)
    return worst


class Case:
    """One record of ops.json redone in torch."""

    def __init__(self, record):
        self.op = record["op"]
        self.trial = record["trial"]
        self.params = record["params"]
        self.record = record

    def label(self):
        return f"{self.op} case {self.trial} (params {self.params!r})"

    def run(self):
        """[(what, relative difference)] for the value and each gradient;
        raises on a mapping error or a shape mismatch."""
        rec = self.record
        inputs = []
        for k, x in enumerate(rec["inputs"]):
            if "same_as" in x:
                inputs.append(inputs[x["same_as"]])
                continue
            t = tensor(x["values"], x["shape"])
            if x["grad"] is not None:
                t.requires_grad_(True)
            inputs.append(t)
        out_shape = rec["out"]["shape"]
        if "kept" in rec:  # dropout: the mask agrad drew, as the mapping's last input
            inputs.append(tensor(rec["kept"], out_shape))
        state = None
        if "running" in rec:  # the running statistics before the step, changed by it
            size = [len(rec["running"]["mean"])]
            state = {"mean": tensor(rec["running"]["mean"], size), "var": tensor(rec["running"]["var"], size)}
        y = torch_ops.torch_op(self.op, inputs, self.params, out_shape, state)
        if not isinstance(y, torch.Tensor) or y.dtype != torch.float64:
            raise torch_ops.OpMappingError(f"{self.op}: the mapping returned {type(y).__name__} "
                                           f"{getattr(y, 'dtype', '')}, not a float64 tensor")
        if list(y.shape) != list(out_shape):
            raise torch_ops.OpMappingError(f"value shape: agrad {out_shape}, torch {list(y.shape)}")
        results = [("value", relative_difference(tensor(rec["out"]["values"], out_shape), y.detach()))]
        if state is not None:
            for key in ("mean", "var"):
                after = tensor(rec["running"][key + "_after"], list(state[key].shape))
                results.append((f"running_{key} after the step", relative_difference(after, state[key])))

        wrt = [k for k, x in enumerate(rec["inputs"]) if x["grad"] is not None and "same_as" not in x]
        if wrt:
            if not y.requires_grad:
                raise torch_ops.OpMappingError("agrad sends gradients to the inputs, torch's result "
                                               "does not depend on them")
            seed = tensor(rec["seed"], out_shape)
            grads = torch.autograd.grad(y, [inputs[k] for k in wrt], grad_outputs=seed, allow_unused=True)
            by_input = dict(zip(wrt, grads))
            for k, x in enumerate(rec["inputs"]):
                if x["grad"] is None:
                    continue
                g = by_input[x.get("same_as", k)]
                if g is None:
                    g = torch.zeros(x["shape"], dtype=torch.float64)
                if list(g.shape) != list(x["shape"]):
                    raise torch_ops.OpMappingError(f"gradient of input {k}: agrad {x['shape']}, "
                                                   f"torch {list(g.shape)}")
                results.append((f"gradient of input {k}", relative_difference(tensor(x["grad"], x["shape"]), g)))
        return results


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    path = sys.argv[1]
    rtol = float(sys.argv[2]) if len(sys.argv) == 3 else 1e-12
    with open(path) as f:
        data = json.load(f)
    if data.get("format") != "agrad-interop-ops 1":
        sys.exit(f"{path}: not an interop_ops file (format {data.get('format')!r})")
    torch.set_num_threads(1)  # tiny tensors; the machines are shared

    by_op = {name: [] for name in data["registry"]}
    failures = []
    for record in data["cases"]:
        case = Case(record)
        if case.op not in by_op:
            failures.append(f"{case.label()}: op not in the registry list")
            continue
        try:
            results = case.run()
        except Exception as e:  # a mapping error, a shape mismatch, torch refusing
            detail = str(e) if isinstance(e, torch_ops.OpMappingError) else traceback.format_exc(limit=3)
            failures.append(f"{case.label()}: {detail.strip()}")
            by_op[case.op].append(None)
            continue
        worst = max(results, key=lambda r: r[1])
        by_op[case.op].append(worst)
        for what, diff in results:
            if not diff <= rtol:
                failures.append(f"{case.label()}: {what}: relative difference {diff:.3g} > {rtol:g}")

    print(f"PyTorch {torch.__version__} vs agrad, float64, every op on random operands "
          f"(relative tolerance {rtol:g}, scaled by each tensor's largest |value|)")
    overall = (0.0, None)
    n_cases = 0
    for name, worsts in by_op.items():
        if not worsts:
            failures.append(f"{name}: no cases in {path}")
            print(f"  {name:16s} no cases  FAIL")
            continue
        n_cases += len(worsts)
        done = [w for w in worsts if w is not None]
        errors = len(worsts) - len(done)
        worst = max(done, key=lambda w: w[1], default=("", math.nan))
        if done and (overall[1] is None or worst[1] > overall[0]):
            overall = (worst[1], name)
        note = f", {errors} not run" if errors else ""
        where = f" ({worst[0]})" if done else ""
        print(f"  {name:16s} {len(worsts):3d} cases  worst {worst[1]:9.2g}{where}{note}")
    unused = sorted(set(torch_ops.OPS) - set(by_op))
    if unused:
        print(f"  (mapped in tools/torch_ops.py, not in this build's registry: {', '.join(unused)})")
    for line in failures:
        print(f"FAIL {line}")
    worst_text = f"{overall[0]:.2g} ({overall[1]})" if overall[1] else "none"
    print(f"interop ops: {len(by_op)} ops, {n_cases} cases, worst relative difference {worst_text}, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
