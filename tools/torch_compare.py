#!/usr/bin/python3
"""Redo an agrad step in PyTorch and compare the loss and every gradient.

Reads DIR/params.safetensors (agrad's MLP weights, W [in,out] and b [out]
per layer, names fc1.W, fc1.b, ...), DIR/batch.safetensors (X [N,D], y [N])
and DIR/grads.safetensors (agrad's gradients, same names, and "loss"),
builds the same network with torch.nn.Linear in float64 (weight = W^T),
computes cross-entropy (mean over the batch) and compares.

The safetensors files are read with a few lines of numpy, so only
python3-torch and python3-numpy (Debian) are needed.

Usage: /usr/bin/python3 tools/torch_compare.py DIR [tolerance=1e-12]
Exit status 1 when any difference exceeds the tolerance.
"""
import json
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    """name -> float64 numpy array, in file order."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F64", entry
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f8").reshape(entry["shape"])
    return tensors


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-12
    params = read_safetensors(f"{folder}/params.safetensors")
    batch = read_safetensors(f"{folder}/batch.safetensors")
    agrad = read_safetensors(f"{folder}/grads.safetensors")

    layers = sorted({name.split(".")[0] for name in params}, key=lambda s: int(s[2:]))
    activations = [torch.tanh, torch.relu] + [None] * (len(layers) - 2)
    linears = []
    for layer in layers:
        W = params[f"{layer}.W"]
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"{layer}.b"].copy()))
        linears.append(lin)

    h = torch.from_numpy(batch["X"].copy())
    for lin, act in zip(linears, activations):
        h = lin(h)
        if act is not None:
            h = act(h)
    loss = torch.nn.functional.cross_entropy(h, torch.from_numpy(batch["y"].astype(np.int64)))
    loss.backward()

    rows = [("loss", float(agrad["loss"]), float(loss.item()), abs(float(agrad["loss"]) - loss.item()))]
    for layer, lin in zip(layers, linears):
        torch_grads = {"W": lin.weight.grad.numpy().T, "b": lin.bias.grad.numpy()}
        for part in ("W", "b"):
            name = f"{layer}.{part}"
            diff = np.abs(agrad[name] - torch_grads[part])
            rows.append((f"d loss/d {name} {list(agrad[name].shape)}", float(np.abs(agrad[name]).max()),
                         float(np.abs(torch_grads[part]).max()), float(diff.max())))
    print(f"PyTorch {torch.__version__} vs agrad, float64, same weights and batch")
    print(f"  {'quantity':28s} {'agrad (max |.|)':>22s} {'torch (max |.|)':>22s} {'max |diff|':>11s}")
    worst = 0.0
    for name, a, t, d in rows:
        print(f"  {name:28s} {a:22.17g} {t:22.17g} {d:11.3g}")
        worst = max(worst, d)
    verdict = "PASS" if worst <= tol else "FAIL"
    print(f"largest difference {worst:.3g} (tolerance {tol:g}): {verdict}")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
