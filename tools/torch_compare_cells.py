#!/usr/bin/python3
"""Redo build/bin/interop_cells's recurrent cells and layers in PyTorch and compare.

Reads the cells.json interop_cells wrote (see tools/interop_cells.c for its
format). Each case is rebuilt as the torch.nn module it stands for, in
float64, with agrad's weights copied in:
  lstm_cell  torch.nn.LSTMCell(I, H, bias)   weight_ih, weight_hh, bias_ih, bias_hh
  gru_cell   torch.nn.GRUCell(I, H, bias)
  lstm       torch.nn.LSTM(I, H, bias=bias)  weight_ih_l0, ... (time-major;
             h0, c0 as [1, N, H], or not given: zeros)
  gru        torch.nn.GRU(I, H, bias=bias)
Its results (h', c' or h_n, c_n, and a layer's outputs) are compared with
agrad's, then the backward root sum(seed * result) over the results is
backpropagated and every input's gradient (x, the initial state, the
weights and the biases) compared with agrad's.

Tolerance (relative 1e-10, norm-relative): an element passes when
    |agrad - torch| <= rtol * s,   s = max_j |torch_j| over that tensor
                                       (s = 1 when torch's is all zeros).

Prints the worst relative error per quantity, any failure, and the summary
line "cells interop: K cases, F failures, max rel err E"; exit status 1 on
any failure (or when the file holds no cases).

Usage: /usr/bin/python3 tools/torch_compare_cells.py build/interop/cells.json [rtol=1e-10]
"""
import json
import math
import sys

import torch

sys.dont_write_bytecode = True  # no tools/__pycache__ in the tree
from torch_compare_hessian import relative_error  # noqa: E402  # max |a - t| / max |t|, inf on NaN or Inf

MODULES = {
    "lstm_cell": lambda I, H, bias: torch.nn.LSTMCell(I, H, bias=bias),
    "gru_cell": lambda I, H, bias: torch.nn.GRUCell(I, H, bias=bias),
    "lstm": lambda I, H, bias: torch.nn.LSTM(I, H, bias=bias),
    "gru": lambda I, H, bias: torch.nn.GRU(I, H, bias=bias),
}
WEIGHTS = ["w_ih", "w_hh", "b_ih", "b_hh"]
TORCH_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


def tensor(record):
    return torch.tensor([float(v) for v in record["values"]], dtype=torch.float64).reshape(record["shape"])


def run_case(case):
    """[(quantity, relative error)]: each result, then each input's gradient."""
    kind, layer = case["kind"], case["kind"] in ("lstm", "gru")
    module = MODULES[kind](case["I"], case["H"], case["bias"]).double()
    inputs = {name: tensor(rec).requires_grad_(True) for name, rec in case["inputs"].items()}
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name in WEIGHTS:
            if name in inputs:
                params[TORCH_NAMES[name] + ("_l0" if layer else "")].copy_(inputs[name])
    # the module's parameters stand for agrad's weights: their gradients are those
    weights = {name: params[TORCH_NAMES[name] + ("_l0" if layer else "")] for name in WEIGHTS if name in inputs}
    x, lstm = inputs["x"], kind.startswith("lstm")
    results = {}
    if kind == "lstm_cell":
        results["h"], results["c"] = module(x, (inputs["h0"], inputs["c0"]))
    elif kind == "gru_cell":
        results["h"] = module(x, inputs["h0"])
    else:
        if case["initial"]:
            state = (inputs["h0"][None], inputs["c0"][None]) if lstm else inputs["h0"][None]
            out, final = module(x, state)
        else:
            out, final = module(x)
        results["out"] = out
        if lstm:
            results["h"], results["c"] = final[0][0], final[1][0]
        else:
            results["h"] = final[0]
    compared = [(f"value {name}", relative_error(case["results"][name], results[name])) for name in results]
    root = sum((tensor(case["seeds"][name]) * results[name]).sum() for name in results)
    root.backward()
    for name in case["grads"]:
        leaf = weights[name] if name in weights else inputs[name]
        compared.append((f"grad {name}", relative_error(case["grads"][name], leaf.grad)))
    return compared


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rtol = float(sys.argv[2]) if len(sys.argv) == 3 else 1e-10
    with open(sys.argv[1]) as f:
        data = json.load(f)
    cases = data["cases"]
    if not cases:
        print("cells interop: the file holds no cases", file=sys.stderr)
        return 1
    torch.set_default_dtype(torch.float64)
    worst, failures = {}, []
    for case in cases:
        label = f"case {case['case']} ({case['kind']}, T={case['T']} N={case['N']} I={case['I']} H={case['H']}" \
                f"{'' if case['bias'] else ', no bias'}{'' if case['initial'] else ', zero state'})"
        for quantity, err in run_case(case):
            key = f"{case['kind']:9} {quantity}"
            if err > worst.get(key, (-1.0, ""))[0]:
                worst[key] = (err, label)
            if not err <= rtol:
                failures.append(f"{label}: {quantity}: relative error {err:.3g} > {rtol:g}")
    print(f"agrad's LSTM/GRU cells and layers against torch.nn.LSTMCell, GRUCell, LSTM, GRU "
          f"(float64, relative tolerance {rtol:g}, scaled by each tensor's largest element):")
    for key in sorted(worst):
        print(f"  {key:24} worst {worst[key][0]:.2e}  ({worst[key][1]})")
    for line in failures:
        print("FAIL " + line)
    overall = max(err for err, _ in worst.values())
    print(f"cells interop: {len(cases)} cases, {len(failures)} failures, max rel err {overall:.2g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
