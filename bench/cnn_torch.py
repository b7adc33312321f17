#!/usr/bin/python3
"""The Fashion-MNIST CNN's training step in PyTorch eager (CPU), float64: the model of
examples/fashion-cnn (cnn.h; the same nn.Module as examples/fashion-cnn/torch_search.py),
batch 64 of [1,28,28] images, softmax cross-entropy, forward + backward + Adam step
(optimizer.zero_grad(set_to_none=True)), in training mode (batch statistics, dropout).
agrad's figure for the same step is bench/bench_cnn.c's `cnn_agrad_ms_per_step`.

Thread configurations, each in its own child process (torch.set_num_threads does not
reach OpenBLAS, which does the float64 products of this Debian build, so both are set):
  t1 : everything 1 thread
  t2 : torch.set_num_threads(2), OMP_NUM_THREADS=2, OPENBLAS_NUM_THREADS=2

Usage: /usr/bin/python3 cnn_torch.py [--configs t1,t2] [--channels 16,32] [--hidden 128]
       [--dropout 0.25] [--steps 10] [--warmup 3] [--reps 7]
Prints `cnn_torch_f64_<config>_ms_per_step: median ms (min max n)` and the best of them.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    "t1": (1, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}),
    "t2": (2, {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}),
}
BATCH = 64


def child(a):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(HERE, "..", "examples", "fashion-cnn"))
    from torch_search import Net

    torch.set_num_threads(CONFIGS[a.config][0])
    c1, c2 = (int(v) for v in a.channels.split(","))
    torch.manual_seed(0)
    net = Net(c1, c2, a.hidden, a.dropout, True).double().train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(BATCH, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (BATCH,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    ms = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        ms.append((time.perf_counter() - t0) * 1e3 / a.steps)
    print(f"# child: torch {torch.__version__} threads={torch.get_num_threads()} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} "
          f"loadavg {open('/proc/loadavg').read().split()[:3]}")
    print(f"cnn_torch_f64_{a.config}_ms_per_step: {statistics.median(ms):.2f} ms "
          f"(min {min(ms):.2f} max {max(ms):.2f} n={len(ms)} steps/rep={a.steps})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="t1,t2")
    ap.add_argument("--config", default="t1")
    ap.add_argument("--channels", default="16,32")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    print(f"# CNN (examples/fashion-cnn) channels {a.channels} hidden {a.hidden} dropout "
          f"{a.dropout}, batch {BATCH}, float64, forward + backward + Adam")
    best = None
    for c in a.configs.split(","):
        # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines for old OpenBLAS
        # builds) would hold PyTorch to a slower kernel: a fair peer runs without them.
        drop = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(CONFIGS[c][1])
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--config", c,
               "--channels", a.channels, "--hidden", str(a.hidden), "--dropout", str(a.dropout),
               "--steps", str(a.steps), "--warmup", str(a.warmup), "--reps", str(a.reps)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        sys.stdout.write(out)
        for line in out.splitlines():
            if line.startswith("cnn_torch_f64_"):
                ms = float(line.split(":")[1].split()[0])
                best = ms if best is None else min(best, ms)
    print(f"cnn_torch_f64_best_ms_per_step: {best:.2f} ms (the faster thread setting)")


if __name__ == "__main__":
    main()
