#!/usr/bin/python3
"""PyTorch's conv2d forward + backward, the peer of `agrad_bench conv`
(bench/bench_conv.c): 3x3 kernels, padding 1, stride 1, batch 64, float64,
on the Fashion CNN's layers conv(1->32) on 28x28 and conv(32->64) on 14x14
and the narrower conv(1->16) on 28x28 and conv(16->32) on 14x14; x, w and b
all take gradients, and one step is F.conv2d then autograd.grad of <seed, y>
(no .grad to reset). GFLOP/s counts 6 N O C 9 H W per step, as agrad's
figure does. Timed at 1 and 2 threads (torch.set_num_threads).

Prints `name: median unit (min X max Y n=reps)` lines.
Usage: /usr/bin/python3 bench/conv_torch.py [--reps 7]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

BATCH = 64
LAYERS = [("conv_1x28_to_32", 1, 32, 28), ("conv_32x14_to_64", 32, 64, 14),
          ("conv_1x28_to_16", 1, 16, 28), ("conv_16x14_to_32", 16, 32, 14)]


def report(name, values, unit, extra=""):
    values = sorted(values)
    tail = f", {extra}" if extra else ""
    print(f"{name}: {statistics.median(values):.4g} {unit} (min {values[0]:.4g} max {values[-1]:.4g} "
          f"n={len(values)}{tail})")


def bench_layer(name, C, O, H, threads, reps):
    torch.manual_seed(0)
    x = torch.randn(BATCH, C, H, H, dtype=torch.float64, requires_grad=True)
    w = torch.randn(O, C, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(O, dtype=torch.float64, requires_grad=True)
    seed = torch.randn(BATCH, O, H, H, dtype=torch.float64)

    def step():
        y = F.conv2d(x, w, b, stride=1, padding=1)
        torch.autograd.grad(y, (x, w, b), seed)

    step()
    t0 = time.perf_counter()
    step()
    steps = int(0.15 / (time.perf_counter() - t0)) + 1
    flop = 6.0 * BATCH * O * C * 9 * H * H
    ms, gf = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        s = (time.perf_counter() - t0) / steps
        ms.append(s * 1e3)
        gf.append(flop / s * 1e-9)
    report(f"{name}_torch_{threads}t_fwd_bwd_ms", ms, "ms", f"steps/rep={steps}")
    report(f"{name}_torch_{threads}t_fwd_bwd", gf, "GFLOP/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    print(f"# PyTorch {torch.__version__}, float64, batch {BATCH}, conv2d 3x3 padding 1, forward + backward")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, C, O, H in LAYERS:
            bench_layer(name, C, O, H, threads, args.reps)


if __name__ == "__main__":
    main()
