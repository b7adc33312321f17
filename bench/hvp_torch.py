#!/usr/bin/python3
"""PyTorch's Hessian-vector product beside its gradient, the peer of
`agrad_bench second` (bench/bench_testnet.c, bench_mlp.c): the same two
networks, the same two steps, timed in one run so the ratio is fair.

  gradient  forward + loss + backward (torch.autograd.grad of the loss w.r.t.
            every parameter: no .grad accumulation to reset)
  HVP       forward + loss + the gradient w.r.t. W1 with create_graph=True,
            then the gradient of <g, v> w.r.t. W1 (double backward: PyTorch's
            reverse over reverse, what torch.autograd.functional.hvp does)

Networks (float64, one thread as agrad's TestNet figures; the MLP on the
process's default threads):
  TestNet  3 -> 4 (ReLU) -> 2, softmax cross-entropy, one sample
  MLP      784 -> 1024 -> 1024 -> 10 (ReLU), softmax cross-entropy, batch 256

Prints `name: median unit (min .. max n=reps)` lines and the ratios.
Usage: /usr/bin/python3 bench/hvp_torch.py [--reps 7] [--testnet-iters 5000] [--mlp-iters 3]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def testnet(dtype):
    torch.manual_seed(0)
    W1 = (0.5 * torch.randn(4, 3, dtype=dtype)).requires_grad_()
    b1 = torch.zeros(4, dtype=dtype, requires_grad=True)
    W2 = (0.5 * torch.randn(2, 4, dtype=dtype)).requires_grad_()
    b2 = torch.zeros(2, dtype=dtype, requires_grad=True)
    x = torch.randn(1, 3, dtype=dtype)
    y = torch.tensor([1])
    v = torch.randn(4, 3, dtype=dtype)
    params = (W1, b1, W2, b2)

    def loss():
        return F.cross_entropy(F.linear(F.relu(F.linear(x, W1, b1)), W2, b2), y)

    return params, loss, W1, v


def mlp(dtype):
    torch.manual_seed(0)
    sizes = [784, 1024, 1024, 10]
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        params.append((torch.randn(fan_out, fan_in, dtype=dtype) / fan_in ** 0.5).requires_grad_())
        params.append(torch.zeros(fan_out, dtype=dtype, requires_grad=True))
    x = torch.randn(256, 784, dtype=dtype)
    y = torch.randint(0, 10, (256,))
    v = torch.randn(1024, 784, dtype=dtype)

    def loss():
        h = x
        for k in range(0, len(params), 2):
            h = F.linear(h, params[k], params[k + 1])
            if k + 2 < len(params):
                h = F.relu(h)
        return F.cross_entropy(h, y)

    return params, loss, params[0], v


def gradient_step(params, loss):
    return torch.autograd.grad(loss(), params)


def hvp_step(loss, wrt, v):
    (g,) = torch.autograd.grad(loss(), wrt, create_graph=True)
    (hv,) = torch.autograd.grad(g, wrt, grad_outputs=v)
    return hv


def timed(step, iters, reps):
    """median, min, max seconds per call over reps repetitions of iters calls"""
    for _ in range(max(1, iters // 10)):
        step()
    per = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        per.append((time.perf_counter() - t0) / iters)
    return statistics.median(per), min(per), max(per)


def report(name, net, iters, reps, scale, unit):
    params, loss, wrt, v = net
    # interleaved: gradient, HVP, gradient, HVP, ... so noise hits both alike
    grads, hvps = [], []
    for _ in range(reps):
        grads.append(timed(lambda: gradient_step(params, loss), iters, 1)[0])
        hvps.append(timed(lambda: hvp_step(loss, wrt, v), iters, 1)[0])
    g, h = statistics.median(grads), statistics.median(hvps)
    print(f"torch_{name}_gradient_{unit}: {g * scale:.2f} {unit} (min {min(grads) * scale:.2f} max {max(grads) * scale:.2f} n={reps})")
    print(f"torch_{name}_hvp_w1_{unit}: {h * scale:.2f} {unit} (min {min(hvps) * scale:.2f} max {max(hvps) * scale:.2f} n={reps})")
    print(f"torch_{name}_ratio_hvp_over_gradient: {h / g:.2f} x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--testnet-iters", type=int, default=5000)
    ap.add_argument("--mlp-iters", type=int, default=3)
    a = ap.parse_args()
    print(f"# torch {torch.__version__}, float64, {torch.get_num_threads()} threads")
    torch.set_num_threads(1)
    report("testnet", testnet(torch.float64), a.testnet_iters, a.reps, 1e9, "ns")
    torch.set_num_threads(2)
    report("mlp", mlp(torch.float64), a.mlp_iters, a.reps, 1e3, "ms")


if __name__ == "__main__":
    main()
