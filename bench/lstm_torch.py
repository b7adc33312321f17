#!/usr/bin/python3
"""PyTorch's char-LSTM training step, the peer of `agrad_bench lstm`
(bench/bench_lstm.c): the model of examples/char-lstm at its sizes, float64.

  step  nn.Embedding(V, E) -> nn.LSTM(E, H) (time-major, the state carried
        in as a given (h0, c0)) -> nn.Linear(H, V) -> F.cross_entropy (mean),
        backward, Adam (lr 2e-3); zero_grad(set_to_none=True) first

Sizes: V 97, E 64, H 256 (--hidden), batch N 32 (--batch; the example's
defaults since 2026-12-03, H 128 and N 16 before), sequence T 64. Thread settings as ../shared/peers/mlp_torch.py's, each in a
child process (torch.set_num_threads does not reach OpenBLAS, which does
the products in Debian's build, so both are set):
  t1        everything 1 thread
  t1blas2   torch 1 thread, OPENBLAS_NUM_THREADS=2
  t2passive torch 2 threads, OpenBLAS 2, OMP_WAIT_POLICY=passive
  t2        torch 2 threads, OpenBLAS 2 (idle OpenMP workers spin)
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped (OpenBLAS picks its own
kernel). Prints `name: median ms (min .. max n=reps)` per setting, then
lstm_torch_step_best: the fastest setting's median.

Usage: /usr/bin/python3 bench/lstm_torch.py [--hidden 256] [--batch 32] [--configs t1,t1blas2,t2passive,t2] [--reps 5] [--steps 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

CONFIGS = {  # name: (torch threads, env)
    "t1": (1, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}),
    "t1blas2": (1, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2"}),
    "t2passive": (2, {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "OMP_WAIT_POLICY": "passive"}),
    "t2": (2, {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}),
}

V, E, T = 97, 64, 64


def model(H, N):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    embed = torch.nn.Embedding(V, E).double()
    lstm = torch.nn.LSTM(E, H).double()
    head = torch.nn.Linear(H, V).double()
    params = list(embed.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    inputs = torch.randint(0, V, (T, N))
    targets = torch.randint(0, V, (T, N))
    h0 = torch.zeros(1, N, H, dtype=torch.float64)
    c0 = torch.zeros(1, N, H, dtype=torch.float64)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(embed(inputs), (h0, c0))
        loss = F.cross_entropy(head(out.reshape(T * N, H)), targets.reshape(T * N))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def time_steps(step, reps, steps):
    step()  # warm up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps * 1e3)
    return sorted(times)


def child(a):
    import torch

    torch.set_num_threads(CONFIGS[a.config][0])
    times = time_steps(model(a.hidden, a.batch), a.reps, a.steps)
    print(f"lstm_torch_step_{a.config}: {statistics.median(times):.2f} ms (min {times[0]:.2f} max {times[-1]:.2f} "
          f"n={len(times)} steps/rep={a.steps})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="t1,t1blas2,t2passive,t2")
    ap.add_argument("--config", default="t1")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    import torch

    print(f"# PyTorch {torch.__version__}, float64, char-LSTM V={V} E={E} H={a.hidden} N={a.batch} T={T}: "
          f"embedding, LSTM, linear, cross-entropy, backward, Adam; load {open('/proc/loadavg').read().split()[:3]}",
          flush=True)
    best = None
    for c in a.configs.split(","):
        drop = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(CONFIGS[c][1])
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--config", c, "--reps", str(a.reps),
               "--steps", str(a.steps), "--hidden", str(a.hidden), "--batch", str(a.batch)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        print(out, end="", flush=True)
        ms = float(out.split(":")[1].split()[0])
        if best is None or ms < best[0]:
            best = (ms, c)
    print(f"lstm_torch_step_best: {best[0]:.2f} ms (setting {best[1]})", flush=True)


if __name__ == "__main__":
    main()
