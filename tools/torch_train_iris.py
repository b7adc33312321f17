#!/usr/bin/env python3
"""Train a small MLP on data/iris.csv in PyTorch and save it as .safetensors
in F32 and in BF16, written by hand (8-byte little-endian header length,
JSON header, raw little-endian data; no `safetensors` package needed), with
PyTorch's weight layout (nn.Linear weight [out, in]), plus the classes the
model predicts for every row, for tools/iris_predict.c to match.

    torch_train_iris.py data/iris.csv OUTDIR

Writes OUTDIR/iris_f32.safetensors, OUTDIR/iris_bf16.safetensors and
OUTDIR/iris_{f32,bf16}_classes.txt (one class a line). The model:
standardise with the data's mean and std (stored as "norm.mean" and
"norm.std"), nn.Linear(4, 16), ReLU, nn.Linear(16, 3) ("0.weight",
"0.bias", "2.weight", "2.bias": nn.Sequential's state_dict names). The
BF16 classes are those of the same model with every tensor rounded to
BF16 (and computed in float32), which is what the BF16 file holds."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn


def safetensors_bytes(tensors, dtype):
    """The file's bytes: tensors (name -> float32 tensor) stored as dtype
    ('F32' or 'BF16'), in the order given."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if dtype == "F32":
            raw = t.to(torch.float32).numpy().astype("<f4").tobytes()
        else:  # BF16: the bit pattern, viewed as int16 (numpy has no bfloat16)
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def predict(tensors, x):
    """Classes from the stored tensors (float32 arithmetic, as PyTorch's)."""
    z = (x - tensors["norm.mean"]) / tensors["norm.std"]
    h = torch.relu(z @ tensors["0.weight"].T + tensors["0.bias"])
    return (h @ tensors["2.weight"].T + tensors["2.bias"]).argmax(dim=1)


def main():
    csv, out = sys.argv[1], sys.argv[2]
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    x = torch.tensor(data[:, :4], dtype=torch.float32)
    y = torch.tensor(data[:, 4], dtype=torch.long)
    mean, std = x.mean(dim=0), x.std(dim=0, unbiased=False)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model((x - mean) / std), y)
        loss.backward()
        opt.step()
    tensors = {"norm.mean": mean, "norm.std": std}
    tensors.update({k: v.detach() for k, v in model.state_dict().items()})
    for dtype in ("F32", "BF16"):
        stored = {k: v.to(torch.bfloat16).to(torch.float32) if dtype == "BF16" else v
                  for k, v in tensors.items()}
        with torch.no_grad():
            classes = predict(stored, x)
        tag = dtype.lower()
        with open(f"{out}/iris_{tag}.safetensors", "wb") as f:
            f.write(safetensors_bytes(tensors, dtype))
        with open(f"{out}/iris_{tag}_classes.txt", "w") as f:
            f.write("".join(f"{int(c)}\n" for c in classes))
        acc = (classes == y).double().mean().item()
        print(f"torch_train_iris: {dtype} model, loss {loss.item():.4f}, accuracy {100 * acc:.1f}% "
              f"on the 150 rows: {out}/iris_{tag}.safetensors")


if __name__ == "__main__":
    main()
