#!/usr/bin/python3
"""Redo build/bin/interop_hessian's second derivatives in PyTorch and compare.

Reads the hessian.json interop_hessian wrote (see tools/interop_hessian.c
for its format). Each record is a small MLP: it is rebuilt in float64 torch
tensors (h = act(h @ W + b) per layer, the activations as
tools/torch_ops.py maps agrad's ops: softplus is the exact
torch.logaddexp(x, 0)), its loss compared with agrad's, and for every wrt
(x and each parameter, the others held fixed) agrad's
  hvp   (ag_hvp, for agrad's v)          against torch.autograd.functional.hvp,
  rev   (ag_hessian, reverse/reverse)    against torch.autograd.functional.hessian,
  fwd   (ag_hessian_fwd, forward/reverse) against the same,
the Hessian [n, n] row-major over wrt flattened row-major.

Tolerance (relative 1e-10, norm-relative): an element passes when
    |agrad - torch| <= rtol * s,   s = max_j |torch_j| over that Hessian or
                                       HVP (s = 1 when torch's is all zeros),
so each element is held to the scale of its tensor (a Hessian entry that
cancels to about 0 is not failed for a last-bit difference), and a Hessian
that is exactly zero (the loss linear in wrt) must be zero to 1e-10. The
loss is held to the same rule (s = |torch loss|). The relative error reported
is max_i |agrad_i - torch_i| / s.

Prints the worst relative error per quantity, any failure, and the summary
line "hessian interop: K MLPs, F failures, max rel err E"; exit status 1 on
any failure (or when the file holds no networks).

Usage: /usr/bin/python3 tools/torch_compare_hessian.py build/interop/hessian.json [rtol=1e-10]
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no tools/__pycache__ in the tree
import torch_ops  # noqa: E402


def tensor(record):
    return torch.tensor([float(v) for v in record["values"]], dtype=torch.float64).reshape(record["shape"])


def relative_error(agrad, expected):
    """max |agrad - expected| / s, s = max |expected| (1 when that is 0);
    inf for a NaN or an infinity on either side."""
    a = torch.tensor([float(v) for v in agrad], dtype=torch.float64)
    t = expected.detach().reshape(-1)
    if a.numel() != t.numel():
        raise ValueError(f"agrad has {a.numel()} elements, torch {t.numel()}")
    if not (torch.isfinite(a).all() and torch.isfinite(t).all()):
        return math.inf
    scale = t.abs().max().item() if t.numel() else 0.0
    if scale == 0.0:
        scale = 1.0
    return (a - t).abs().max().item() / scale if a.numel() else 0.0


def activation(name, z):
    if name == "none":
        return z
    return torch_ops.torch_op(name, [z], "", list(z.shape))


class Network:
    """One record of hessian.json rebuilt in torch."""

    def __init__(self, record):
        self.record = record
        self.x = tensor(record["x"])
        self.target = tensor(record["target"])
        self.params = {p["name"]: tensor(p) for p in record["params"]}
        self.layers = record["layers"]
        self.loss_kind = record["loss"]
        if self.loss_kind not in ("mean_square", "weighted_sum"):
            raise ValueError(f"unknown loss {self.loss_kind!r}")

    def loss(self, values):
        """The loss with `values` (name -> tensor; "x" and the parameters)."""
        h = values["x"]
        for l, layer in enumerate(self.layers, start=1):
            h = activation(layer["act"], torch.matmul(h, values[f"W{l}"]) + values[f"b{l}"])
        if self.loss_kind == "mean_square":
            d = h - self.target
            return (d * d).mean()
        return (h * self.target).sum()

    def loss_of(self, name):
        """The loss as a function of one tensor, the others held fixed."""
        fixed = dict(self.params, x=self.x)

        def f(t):
            return self.loss(dict(fixed, **{name: t}))
        return f

    def value(self, name):
        return self.x if name == "x" else self.params[name]

    def label(self):
        r = self.record
        acts = ",".join(layer["act"] for layer in self.layers)
        return f"MLP {r['mlp']} (widths {r['widths']}, batch {r['batch']}, {acts}, {r['loss']})"

    def compare(self):
        """[(quantity, wrt, relative error)]: the loss, then hvp, rev and fwd per wrt."""
        loss = self.loss(dict(self.params, x=self.x)).detach()
        results = [("loss", "-", relative_error([self.record["loss_value"]], loss))]
        for d in self.record["wrt"]:
            name = d["name"]
            p = self.value(name)
            n = p.numel()
            if d["n"] != n:
                raise ValueError(f"wrt {name}: agrad has {d['n']} elements, the rebuilt tensor {n}")
            f = self.loss_of(name)
            v = torch.tensor([float(e) for e in d["v"]], dtype=torch.float64).reshape(p.shape)
            _, hv = torch.autograd.functional.hvp(f, p, v)
            H = torch.autograd.functional.hessian(f, p).reshape(n, n)
            results.append(("hvp", name, relative_error(d["hvp"], hv)))
            results.append(("rev", name, relative_error(d["rev"], H)))
            results.append(("fwd", name, relative_error(d["fwd"], H)))
        return results


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    path = sys.argv[1]
    rtol = float(sys.argv[2]) if len(sys.argv) == 3 else 1e-10
    with open(path) as f:
        data = json.load(f)
    if data.get("format") != "agrad-interop-hessian 1":
        sys.exit(f"{path}: not an interop_hessian file (format {data.get('format')!r})")
    torch.set_num_threads(1)  # tiny tensors; the machines are shared

    failures = []
    worst = {}  # quantity -> (relative error, where)
    n_wrt = 0
    for record in data["mlps"]:
        try:
            net = Network(record)
            results = net.compare()
        except Exception as e:  # a malformed record, torch refusing
            failures.append(f"MLP {record.get('mlp')}: {type(e).__name__}: {e}")
            continue
        n_wrt += len(record["wrt"])
        for quantity, name, err in results:
            where = f"MLP {record['mlp']} wrt {name}"
            if quantity not in worst or err > worst[quantity][0]:
                worst[quantity] = (err, where)
            if not err <= rtol:
                failures.append(f"{net.label()}: {quantity} wrt {name}: relative error {err:.3g} > {rtol:g}")

    n_mlps = len(data["mlps"])
    if n_mlps == 0:
        failures.append(f"{path}: no networks")
    print(f"PyTorch {torch.__version__} vs agrad, float64, second derivatives of {n_mlps} random smooth "
          f"MLPs w.r.t. x and each parameter ({n_wrt} in all; relative tolerance {rtol:g}, scaled by "
          f"each tensor's largest |torch value|)")
    labels = {"loss": "loss value", "hvp": "ag_hvp vs functional.hvp",
              "rev": "ag_hessian vs functional.hessian", "fwd": "ag_hessian_fwd vs functional.hessian"}
    for quantity in ("loss", "hvp", "rev", "fwd"):
        if quantity in worst:
            err, where = worst[quantity]
            print(f"  {labels[quantity]:38s} worst {err:9.2g} ({where})")
    for line in failures:
        print(f"FAIL {line}")
    overall = max((w[0] for w in worst.values()), default=math.nan)
    print(f"hessian interop: {n_mlps} MLPs, {len(failures)} failures, max rel err {overall:.2g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
