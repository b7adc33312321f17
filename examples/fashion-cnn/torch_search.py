#!/usr/bin/python3
"""torch_search.py -- the architecture search behind examples/fashion-cnn, in PyTorch.

Trains one candidate CNN on Fashion-MNIST (Debian's dataset-fashion-mnist) with the
first 55000 training images and reports its accuracy on the last 5000 (the
validation split the hyper-parameters were chosen on); --test also reports the test
set, which the choice never looked at. float32, one thread by default: a quick
stand-in for the float64 agrad run, to pick channels, epochs and the schedule.

  torch_search.py [--c1 16] [--c2 32] [--hidden 0] [--drop 0.25] [--epochs 6]
                  [--lr 2e-3] [--schedule cosine|step|none] [--bn 1] [--flip] [--shift 0] [--test]

--flip mirrors each training image left-right with probability 1/2 (clothes are
nearly symmetric; the validation and test images are never flipped). --shift K
translates each training image by (dx, dy), each uniform in [-K, K], blank pixels
shifted in (after the mirror): examples/fashion-cnn/augment.c's augmentation, with
torch's generator instead of agrad's.
"""
import argparse
import gzip
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Net(nn.Module):
    """conv3x3(1->c1,pad1)-BN-maxpool2-ReLU -> conv3x3(c1->c2,pad1)-BN-maxpool2-ReLU
    -> dropout -> [linear(c2*49 -> hidden)-ReLU-dropout] -> linear(10): cnn.h's model
    (convolutions without bias when batch norm follows)."""

    def __init__(self, c1, c2, hidden, drop, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, bias=not bn)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(c1) if bn else nn.Identity()
        self.bn2 = nn.BatchNorm2d(c2) if bn else nn.Identity()
        self.drop = nn.Dropout(drop)
        flat = c2 * 7 * 7
        self.fc1 = nn.Linear(flat, hidden) if hidden else None
        self.fc2 = nn.Linear(hidden if hidden else flat, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.bn1(self.conv1(x)), 2))
        x = F.relu(F.max_pool2d(self.bn2(self.conv2(x)), 2))
        x = self.drop(x.flatten(1))
        if self.fc1 is not None:
            x = self.drop(F.relu(self.fc1(x)))
        return self.fc2(x)


def shift(bx, k, blank):
    """bx [B,1,28,28] -> out[b][y][x] = bx[b][y - dy][x - dx], blank outside; dx, dy
    uniform in [-k, k] per image: a crop of bx padded by k, at (k - dy, k - dx)."""
    padded = F.pad(bx, (k, k, k, k), value=blank)
    d = torch.randint(-k, k + 1, (len(bx), 2))
    return torch.stack([padded[b, :, k - dy:k - dy + 28, k - dx:k - dx + 28]
                        for b, (dx, dy) in enumerate(d.tolist())])


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        correct = sum((net(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                      for i in range(0, len(y), 1000))
    net.train()
    return correct / len(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--c1", type=int, default=16)
    ap.add_argument("--c2", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--drop", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--bn", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--test", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    images = idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64)
    train_x, val_x = images[:55000], images[55000:]
    mean, std = train_x.mean(), train_x.std()
    norm = lambda v: torch.from_numpy((v - mean) / std).reshape(-1, 1, 28, 28)
    tx, vx = norm(train_x), norm(val_x)
    blank = float(-mean / std)  # a raw 0 pixel, standardised
    ty, vy = torch.from_numpy(labels[:55000]), torch.from_numpy(labels[55000:])

    net = Net(a.c1, a.c2, a.hidden, a.drop, a.bn)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps = len(ty) // a.batch
    print(f"c1 {a.c1} c2 {a.c2} hidden {a.hidden} drop {a.drop} bn {a.bn} lr {a.lr} "
          f"{a.schedule} epochs {a.epochs} flip {a.flip} shift {a.shift}: {params} parameters", flush=True)
    start = time.time()
    for e in range(a.epochs):
        if a.schedule == "cosine":   # per epoch, CosineAnnealingLR(T_max=epochs), eta_min 0
            lr = a.lr * (1 + math.cos(math.pi * e / a.epochs)) / 2
        elif a.schedule == "step":   # halve every 2 epochs
            lr = a.lr * 0.5 ** (e // 2)
        else:
            lr = a.lr
        for g in opt.param_groups:
            g["lr"] = lr
        perm = torch.randperm(len(ty))
        total = 0.0
        for s in range(steps):
            i = perm[s * a.batch:(s + 1) * a.batch]
            bx = tx[i]
            if a.flip:
                mirror = torch.rand(len(i)) < 0.5
                bx[mirror] = bx[mirror].flip(-1)
            if a.shift:
                bx = shift(bx, a.shift, blank)
            loss = F.cross_entropy(net(bx), ty[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {e + 1} lr {lr:.2e} loss {total / steps:.4f} val {100 * accuracy(net, vx, vy):.2f}% "
              f"{time.time() - start:.0f} s", flush=True)
    if a.test:
        test_x = idx(f"{DATA}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
        test_y = torch.from_numpy(idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
        print(f"test {100 * accuracy(net, norm(test_x), test_y):.2f}%")


if __name__ == "__main__":
    main()
