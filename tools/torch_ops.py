#!/usr/bin/python3
"""Every agrad op as a PyTorch expression, for the per-op cross-check.

OPS maps an op's registry name (the name ag_node_op gives, the C function
without its "ag_") to an Op: a function fn(inputs, params, out_shape) that
returns the op's output as a torch tensor, the number of inputs (None: any
number, concat and stack) and the parameter keys it needs and may take.

  inputs     the op's operands as float64 torch tensors, in the order of
             the C function's arguments (ag_where(cond, a, b): cond, a, b;
             ag_scatter_add(a, axis, indices, src): a, indices, src);
             indices, labels and conditions are float64 too (agrad holds
             them as doubles) and are converted here, checked to be whole
             numbers in range.
  params     the op's print_params text parsed by parse_params: "key=value,
             key=value" -> dict; a value is a number (int or float, inf and
             nan included), a word, or a list of numbers "[2,0,1]".
  out_shape  agrad's output shape, a list: it defines the result of reshape
             and expand (their target), and is a consistency check for slice.

The semantics follow include/agrad.h (PyTorch's unless it says otherwise):
  - softplus is agrad's exact log(1 + e^x) = max(x, 0) + log1p(e^-|x|),
    written as torch.logaddexp(x, 0) (the same formula), NOT
    torch.nn.functional.softplus, which returns x itself for x > 20;
  - softmax and log_softmax: a vector (1-d, [C,1] or [1,C], or a scalar) is
    one distribution, an [N,C] matrix with N, C > 1 is N rows;
  - softmax_xent: cross-entropy, mean over the rows, one row per label (one
    sample: logits of any vector shape and one label; N labels: [N,C]);
  - slice follows Python's rules (negative bounds from the end, clipped,
    negative steps); torch has no negative step, so the positions are worked
    out here (slice_positions) and taken with index_select;
  - index_select, gather and scatter_add take indices counting from the end
    when negative (normalise_indices makes them torch's non-negative ones);
  - dropout takes a second input, the mask agrad drew as 1 (kept) or 0
    (dropped) per element (tools/interop_ops.c writes it as "kept",
    torch_compare_ops.py passes it on), since torch's generator draws other
    masks; the mapping is torch's own input * noise on that mask.

Parameter keys expected from the ops' print_params (src/ops/*.c):
  pow exponent | leaky_relu slope | clamp lo, hi | sum_axis, mean_axis,
  max_axis, min_axis, logsumexp_axis, prod_axis, index_select, gather,
  scatter_add, concat, stack: axis | index: flat | slice: axis, start, stop,
  step, and stop or count or both (with count, start is the first index the
  shape rule normalised to and the positions are start + i * step, i <
  count; without, Python's rules on start, stop, step) | permute: perm (a
  list of ndim axes) | reshape, expand: none, or shape (a list, -1 allowed;
  without it the target is agrad's output shape) | conv2d, conv1d: stride,
  padding | conv2d_input_grad: stride, padding, height, width |
  conv1d_input_grad: stride, padding, length | conv2d_weight_grad: stride,
  padding, kh, kw | conv1d_weight_grad: stride, padding, k | max_pool2d,
  avg_pool2d: kernel, stride | dropout: p | layer_norm: eps |
  batch_norm: momentum, eps, training (1 or 0), running (1: running
  statistics given; the mapping then takes them as its state, see Op).
The parsing is strict: an op missing from OPS, a key missing, or a key the
op does not know is an error (OpMappingError) that names the op.

  /usr/bin/python3 tools/torch_ops.py --self-test
checks the parser, the slice and index helpers and each mapping on small
cases worked out by hand (no agrad needed), and that every op declared in
include/agrad.h has a mapping.
"""
import math
import os
import re
import sys

import torch

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)


class OpMappingError(Exception):
    """An op, its parameters or its operands cannot be mapped to PyTorch."""


# ---- the print_params text ------------------------------------------------------------

_KEY = r"[a-z_][a-z0-9_]*"
_NUMBER = r"-?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|inf)|-?nan"
_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_LIST = r"\[(?:(?:%s)(?:,(?:%s))*)?\]" % (_NUMBER, _NUMBER)
_PAIR = re.compile(r"(%s)=(%s|%s|%s)" % (_KEY, _LIST, _NUMBER, _WORD))
_NUMBER_ONLY = re.compile(r"(?:%s)\Z" % _NUMBER)


def _number(text):
    """An int when written as one (%d, %zu), else a float (%.17g, inf, nan)."""
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return float(text)


def parse_params(text):
    """Parse "key=value, key=value" (print_params' format) into a dict.

    Pairs are joined by exactly ", "; a key is lower case [a-z_][a-z0-9_]*;
    a value is a number (-12, 0.5, 1e-300, inf, -inf, nan), a word (same)
    or a list of numbers without spaces ([2,0,1], []). "" is no parameters.
    Anything else, or a key given twice, raises ValueError.
    """
    params = {}
    if text == "":
        return params
    for piece in text.split(", "):
        m = _PAIR.fullmatch(piece)
        if not m:
            raise ValueError(f"cannot parse {piece!r} in params {text!r} as key=value "
                             f"(a number, a word or a list like [2,0,1])")
        key, value = m.group(1), m.group(2)
        if key in params:
            raise ValueError(f"key {key!r} given twice in params {text!r}")
        if value.startswith("["):
            params[key] = [_number(v) for v in value[1:-1].split(",") if v != ""]
        elif _NUMBER_ONLY.match(value):
            params[key] = _number(value)
        else:
            params[key] = value
    return params


# ---- helpers --------------------------------------------------------------------------------

def whole_numbers(t, what):
    """A float tensor of whole numbers as a list of Python ints."""
    values = t.detach().reshape(-1).tolist()
    for pos, v in enumerate(values):
        if not (math.isfinite(v) and v == math.floor(v)):
            raise OpMappingError(f"{what}: element {pos} is {v!r}, not a whole number")
    return [int(v) for v in values]


def normalise_indices(values, size, what):
    """Indices counting from the end when negative -> 0 .. size-1 (agrad's
    rule); one outside [-size, size) is an error."""
    out = []
    for pos, i in enumerate(values):
        if not -size <= i < size:
            raise OpMappingError(f"{what}: index {i} at position {pos} is out of range for size {size}")
        out.append(i + size if i < 0 else i)
    return out


def index_tensor(t, size, what):
    """agrad's float indices -> a LongTensor of t's shape, normalised."""
    return torch.tensor(normalise_indices(whole_numbers(t, what), size, what),
                        dtype=torch.long).reshape(t.shape)


def slice_positions(size, start, stop, step):
    """The positions Python's a[start:stop:step] takes from a sequence of
    `size` elements (bounds counted from the end when negative, clipped when
    out of range; INT_MAX / INT_MIN are open ends). Step 0 or an empty
    result is an error, as in agrad."""
    if step == 0:
        raise OpMappingError("slice: step 0")
    positions = list(range(size))[start:stop:step]
    if not positions:
        raise OpMappingError(f"slice: start {start}, stop {stop}, step {step} of {size} elements is empty")
    return positions


def _axis(params, ndim, op):
    axis = params["axis"]
    if not isinstance(axis, int) or not -ndim <= axis < max(ndim, 1):
        raise OpMappingError(f"{op}: axis {axis!r} for a {ndim}-d operand")
    return axis


def _rows_rule(x, fn):
    """agrad's softmax rows: [N,C] with N, C > 1 is N rows; anything else
    (a scalar, 1-d, [C,1], [1,C]) is one distribution."""
    if x.dim() == 2 and x.shape[0] > 1 and x.shape[1] > 1:
        return fn(x, dim=1)
    if x.dim() > 2:
        raise OpMappingError(f"softmax rows: agrad takes a vector or an [N,C] matrix, not {list(x.shape)}")
    return fn(x.reshape(-1), dim=0).reshape(x.shape)


# ---- convolution ----------------------------------------------------------------------------
# conv2d and conv1d are F.conv2d and F.conv1d (a bias optional: 2 or 3 inputs). Their
# derivative ops are PyTorch's own gradients of those, taken with create_graph so they
# can be differentiated again: conv*_input_grad(gy, w) is d<gy, conv(x, w)>/dx for an x
# of the size given (height, width or length), conv*_weight_grad(x, gy) is
# d<gy, conv(x, w)>/dw for a kernel of the size given (kh, kw or k).

_CONV = {2: torch.nn.functional.conv2d, 1: torch.nn.functional.conv1d}


def _conv(spatial):
    def fn(x, p, s):
        if len(x) not in (2, 3):
            raise OpMappingError(f"conv{spatial}d: x, w and an optional bias, not {len(x)} inputs")
        bias = x[2] if len(x) == 3 else None
        return _CONV[spatial](x[0], x[1], bias, stride=p["stride"], padding=p["padding"])
    return Op(fn, None, ["stride", "padding"])


def _conv_input_grad(spatial):
    keys = ["height", "width"] if spatial == 2 else ["length"]

    def fn(x, p, s):
        gy, w = x
        x_shape = [gy.shape[0], w.shape[1]] + [p[k] for k in keys]
        x0 = torch.zeros(x_shape, dtype=torch.float64, requires_grad=True)
        y = _CONV[spatial](x0, w, None, stride=p["stride"], padding=p["padding"])
        return torch.autograd.grad(y, x0, gy, create_graph=True)[0]
    return Op(fn, 2, ["stride", "padding"] + keys)


def _conv_weight_grad(spatial):
    keys = ["kh", "kw"] if spatial == 2 else ["k"]

    def fn(x, p, s):
        xs, gy = x
        w_shape = [gy.shape[1], xs.shape[1]] + [p[k] for k in keys]
        w0 = torch.zeros(w_shape, dtype=torch.float64, requires_grad=True)
        y = _CONV[spatial](xs, w0, None, stride=p["stride"], padding=p["padding"])
        return torch.autograd.grad(y, w0, gy, create_graph=True)[0]
    return Op(fn, 2, ["stride", "padding"] + keys)


# ---- the ops --------------------------------------------------------------------------------

class Op:
    """stateful: fn takes a fourth argument, the op's state (batch_norm's
    running statistics, {"mean": tensor, "var": tensor}, changed in place)."""

    def __init__(self, fn, arity, keys=(), optional=(), stateful=False):
        self.fn, self.arity, self.keys, self.optional = fn, arity, set(keys), set(optional)
        self.stateful = stateful


def _elementwise(f):
    return Op(lambda x, p, s: f(x[0]), 1)


def _binary(f):
    return Op(lambda x, p, s: f(x[0], x[1]), 2)


def _axis_op(f):
    return Op(lambda x, p, s: f(x[0], _axis(p, x[0].dim(), "axis op")), 1, ["axis"])


def _lstm_sequence(gates_x, w_hh, h, c):
    """[2,T,N,H]: the h and c after each step t of gates = gates_x[t] + h w_hh^T (i, f, g, o).
    gates_x is [T, N, 4H] or its rows [T N, 4H] (N from h), as agrad takes it."""
    if gates_x.dim() == 2:
        gates_x = gates_x.reshape(-1, h.shape[0], gates_x.shape[1])
    hs, cs = [], []
    for t in range(gates_x.shape[0]):
        i, f, g, o = (gates_x[t] + h @ w_hh.T).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    return torch.stack([torch.stack(hs), torch.stack(cs)])


def _linear(x, p, s):
    """a @ b + bias: a bias [M,N], [N], [1,N], [M,1], [], [1] or [1,1]
    broadcasts over the [M,N] product by torch's rules as by agrad's."""
    a, b, bias = x
    return torch.matmul(a, b) + bias


def _layer_norm(x, p, s):
    """F.layer_norm over the last axis; gamma and beta [D] (agrad records a
    constant 1 and 0 for the ones not given)."""
    a, gamma, beta = x
    return torch.nn.functional.layer_norm(a, [a.shape[-1]], gamma, beta, float(p["eps"]))


def _batch_norm(x, p, s, state):
    """F.batch_norm; running=1: the running statistics in `state` (updated in
    place when training, read in eval mode)."""
    a, gamma, beta = x
    training = p["training"] == 1
    if p["running"] == 1 and state is None:
        raise OpMappingError("batch_norm: running=1 and no running statistics given")
    mean, var = (state["mean"], state["var"]) if p["running"] == 1 else (None, None)
    return torch.nn.functional.batch_norm(a, mean, var, gamma, beta, training, float(p["momentum"]),
                                          float(p["eps"]))


def _softmax_xent(x, p, s):
    """Cross-entropy, mean over the rows: one row per label (one label: the
    logits, of any vector shape, are one sample; N labels: [N,C] logits)."""
    logits, labels = x
    rows = labels.numel()
    if rows == 1:
        z = logits.reshape(1, -1)
    elif logits.dim() == 2 and logits.shape[0] == rows:
        z = logits
    else:
        raise OpMappingError(f"softmax_xent: {rows} labels for logits {list(logits.shape)}")
    y = torch.tensor(whole_numbers(labels, "softmax_xent labels"), dtype=torch.long)
    for r, c in enumerate(y.tolist()):
        if not 0 <= c < z.shape[1]:
            raise OpMappingError(f"softmax_xent: label {c} of row {r} is not in [0, {z.shape[1]})")
    return torch.nn.functional.cross_entropy(z, y, reduction="mean")


def _slice(x, p, s):
    a = x[0]
    axis = _axis(p, a.dim(), "slice")
    size = a.shape[axis]
    if "count" in p:
        start, step, count = p["start"], p["step"], p["count"]
        positions = [start + i * step for i in range(count)]
        if count < 1 or step == 0 or not all(0 <= q < size for q in positions):
            raise OpMappingError(f"slice: start={start}, step={step}, count={count} leave the "
                                 f"{size} elements of axis {axis}")
    elif "stop" in p:
        positions = slice_positions(size, p["start"], p["stop"], p["step"])
    else:
        raise OpMappingError(f"slice: params {p} have neither stop nor count")
    if len(s) != a.dim() or s[axis] != len(positions):
        raise OpMappingError(f"slice: params {p} take {len(positions)} elements, agrad's result is {s}")
    return torch.index_select(a, axis, torch.tensor(positions, dtype=torch.long))


def _index(x, p, s):
    a, flat = x[0], p["flat"]
    if not isinstance(flat, int) or not 0 <= flat < a.numel():
        raise OpMappingError(f"index: flat={flat!r} for {a.numel()} elements")
    return a.reshape(-1)[flat]


def _index_select(x, p, s):
    a, indices = x
    axis = _axis(p, a.dim(), "index_select")
    return torch.index_select(a, axis, index_tensor(indices, a.shape[axis], "index_select indices"))


def _gather(x, p, s):
    a, indices = x
    axis = _axis(p, a.dim(), "gather")
    return torch.gather(a, axis, index_tensor(indices, a.shape[axis], "gather indices"))


def _scatter_add(x, p, s):
    a, indices, src = x
    axis = _axis(p, a.dim(), "scatter_add")
    return torch.scatter_add(a, axis, index_tensor(indices, a.shape[axis], "scatter_add indices"), src)


def _permute(x, p, s):
    a, perm = x[0], p["perm"]
    if not isinstance(perm, list) or sorted(perm) != list(range(a.dim())):
        raise OpMappingError(f"permute: perm={perm!r} for a {a.dim()}-d operand")
    return a.permute(perm)


def _dropout(x, p, s):
    """PyTorch's dropout in training, input * noise with noise = bernoulli(1 - p)
    / (1 - p), on the mask agrad drew (x[1]: 1 kept, 0 dropped; torch's own
    generator would draw another); p = 1 multiplies by 0, as torch."""
    a, kept = x
    if not all(k in (0.0, 1.0) for k in kept.reshape(-1).tolist()):
        raise OpMappingError("dropout: the kept flags must be 0 or 1")
    if p["p"] == 1:
        return a * torch.zeros_like(a)
    return a * (kept / (1.0 - p["p"]))


def _variadic_axis(f, name):
    def fn(x, p, s):
        ndim = x[0].dim() + (1 if name == "stack" else 0)
        return f(list(x), dim=_axis(p, ndim, name))
    return Op(fn, None, ["axis"])


OPS = {
    # elementwise, broadcasting
    "add": _binary(torch.add),
    "sub": _binary(torch.sub),
    "mul": _binary(torch.mul),
    "div": _binary(torch.div),
    "maximum": _binary(torch.maximum),  # ties: half the gradient to each (as agrad)
    "minimum": _binary(torch.minimum),
    "where": Op(lambda x, p, s: torch.where(x[0] != 0, x[1], x[2]), 3),
    # comparisons: 1.0 / 0.0 as doubles (a NaN on either side: 0.0, as torch's
    # False); not in agrad's registry (they pass no gradient), mapped for the
    # header's list
    "eq": _binary(lambda a, b: torch.eq(a, b).to(torch.float64)),
    "gt": _binary(lambda a, b: torch.gt(a, b).to(torch.float64)),
    "ge": _binary(lambda a, b: torch.ge(a, b).to(torch.float64)),
    "lt": _binary(lambda a, b: torch.lt(a, b).to(torch.float64)),
    "le": _binary(lambda a, b: torch.le(a, b).to(torch.float64)),
    # elementwise unary
    "neg": _elementwise(torch.neg),
    "exp": _elementwise(torch.exp),
    "log": _elementwise(torch.log),
    "tanh": _elementwise(torch.tanh),
    "relu": _elementwise(torch.relu),
    "sigmoid": _elementwise(torch.sigmoid),
    "sqrt": _elementwise(torch.sqrt),
    "abs": _elementwise(torch.abs),
    "sin": _elementwise(torch.sin),
    "cos": _elementwise(torch.cos),
    "log1p": _elementwise(torch.log1p),
    "expm1": _elementwise(torch.expm1),
    # exact: max(x,0) + log1p(exp(-|x|)); F.softplus would return x for x > 20
    "softplus": _elementwise(lambda a: torch.logaddexp(a, torch.zeros_like(a))),
    "gelu": _elementwise(lambda a: torch.nn.functional.gelu(a, approximate="none")),
    "normal_cdf": _elementwise(torch.special.ndtr),
    "pow": Op(lambda x, p, s: torch.pow(x[0], float(p["exponent"])), 1, ["exponent"]),
    "leaky_relu": Op(lambda x, p, s: torch.nn.functional.leaky_relu(x[0], negative_slope=float(p["slope"])),
                     1, ["slope"]),
    "clamp": Op(lambda x, p, s: torch.clamp(x[0], min=float(p["lo"]), max=float(p["hi"])), 1, ["lo", "hi"]),
    # products
    "matmul": _binary(torch.matmul),
    "linear": Op(_linear, 3),
    # reductions
    "sum": _elementwise(torch.sum),
    "mean": _elementwise(torch.mean),
    "max": _elementwise(torch.amax),  # over every dimension; ties share the gradient
    "min": _elementwise(torch.amin),
    "sum_axis": _axis_op(lambda a, d: torch.sum(a, dim=d)),
    "mean_axis": _axis_op(lambda a, d: torch.mean(a, dim=d)),
    "max_axis": _axis_op(lambda a, d: torch.amax(a, dim=d)),
    "min_axis": _axis_op(lambda a, d: torch.amin(a, dim=d)),
    "logsumexp_axis": _axis_op(lambda a, d: torch.logsumexp(a, dim=d)),
    "prod_axis": _axis_op(lambda a, d: torch.prod(a, dim=d)),
    # softmax and losses
    "softmax": _elementwise(lambda a: _rows_rule(a, torch.softmax)),
    "log_softmax": _elementwise(lambda a: _rows_rule(a, torch.log_softmax)),
    "softmax_xent": Op(_softmax_xent, 2),
    "mse": _binary(lambda a, b: torch.mean((a - b) ** 2)),
    # shapes
    # normalisation
    "layer_norm": Op(_layer_norm, 3, ["eps"]),
    "batch_norm": Op(_batch_norm, 3, ["momentum", "eps", "training", "running"], stateful=True),
    # the LSTM step's pointwise half: gates [N,4H] in torch.nn.LSTMCell's order i, f, g, o
    "lstm_state": _binary(lambda a, c: torch.sigmoid(a.chunk(4, 1)[1]) * c
                          + torch.sigmoid(a.chunk(4, 1)[0]) * torch.tanh(a.chunk(4, 1)[2])),
    "lstm_output": _binary(lambda a, c: torch.sigmoid(a.chunk(4, 1)[3]) * torch.tanh(c)),
    "lstm_sequence": Op(lambda x, p, s: _lstm_sequence(*x), 4),
    "transpose": _elementwise(lambda a: torch.transpose(a, 0, 1)),
    "reshape": Op(lambda x, p, s: x[0].reshape(p.get("shape", s)), 1, optional=["shape"]),
    # element types: the registry's recipe casts float64 to float64 (a copy)
    "cast": Op(lambda x, p, s: x[0].to({"float64": torch.float64, "float32": torch.float32}[p["to"]]), 1, ["to"]),
    "expand": Op(lambda x, p, s: x[0].expand(p.get("shape", s)), 1, optional=["shape"]),
    "permute": Op(_permute, 1, ["perm"]),
    # indexing and joining
    "index": Op(_index, 1, ["flat"]),
    "slice": Op(_slice, 1, ["axis", "start", "step"], optional=["stop", "count"]),
    "index_select": Op(_index_select, 2, ["axis"]),
    "gather": Op(_gather, 2, ["axis"]),
    "scatter_add": Op(_scatter_add, 3, ["axis"]),
    "concat": _variadic_axis(torch.cat, "concat"),
    "stack": _variadic_axis(torch.stack, "stack"),
    # convolution
    "conv2d": _conv(2),
    "conv1d": _conv(1),
    "conv2d_input_grad": _conv_input_grad(2),
    "conv1d_input_grad": _conv_input_grad(1),
    "conv2d_weight_grad": _conv_weight_grad(2),
    "conv1d_weight_grad": _conv_weight_grad(1),
    # pooling ([N,C,H,W], no padding) and dropout
    "max_pool2d": Op(lambda x, p, s: torch.nn.functional.max_pool2d(x[0], p["kernel"], p["stride"]), 1,
                     ["kernel", "stride"]),
    "avg_pool2d": Op(lambda x, p, s: torch.nn.functional.avg_pool2d(x[0], p["kernel"], p["stride"]), 1,
                     ["kernel", "stride"]),
    "dropout": Op(_dropout, 2, ["p"]),
}


def torch_op(name, inputs, params_text, out_shape, state=None):
    """agrad op `name` on `inputs` (torch tensors) with print_params text
    `params_text`, redone in torch; OpMappingError when it cannot be. state:
    a stateful op's state (Op), changed in place."""
    if name not in OPS:
        raise OpMappingError(f"op {name!r} has no PyTorch mapping in tools/torch_ops.py (every registry "
                             f"op needs one)")
    op = OPS[name]
    try:
        params = parse_params(params_text)
    except ValueError as e:
        raise OpMappingError(f"{name}: {e}") from None
    missing = op.keys - params.keys()
    unknown = params.keys() - op.keys - op.optional
    if missing or unknown:
        raise OpMappingError(f"{name}: params {params_text!r}: "
                             + (f"missing {sorted(missing)} " if missing else "")
                             + (f"unknown {sorted(unknown)} " if unknown else "")
                             + f"(tools/torch_ops.py expects {sorted(op.keys)}"
                             + (f", optionally {sorted(op.optional)})" if op.optional else ")"))
    if op.arity is not None and len(inputs) != op.arity:
        raise OpMappingError(f"{name}: {len(inputs)} inputs, the mapping takes {op.arity}")
    if op.arity is None and not inputs:
        raise OpMappingError(f"{name}: no inputs")
    if op.stateful:
        return op.fn(inputs, params, list(out_shape), state)
    if state is not None:
        raise OpMappingError(f"{name}: given a state, the op has none")
    return op.fn(inputs, params, list(out_shape))


# ---- self-test (no agrad needed) -------------------------------------------------------------

def _declared_ops(header):
    """Names of the ops include/agrad.h declares: the `ag_node *ag_NAME(ag_node *`
    functions, less leaves, layers and wrappers that record another op."""
    text = open(header).read()
    names = set(re.findall(r"^ag_node \*ag_(\w+)\((?:size_t n, )?ag_node \*", text, re.M))
    # gru_cell is a composition of other ops (nn/recurrent.c), compared with
    # torch.nn.GRUCell by tools/torch_compare_cells.py
    not_ops = {"activate", "mlp_forward", "node_set_name", "softmax_xent_label", "gru_cell"}
    return names - not_ops


def _t(values, shape=None):
    t = torch.tensor(values, dtype=torch.float64)
    return t.reshape(shape) if shape is not None else t


def _close(got, want, what, tol=1e-15):
    want = _t(want) if not isinstance(want, torch.Tensor) else want
    assert list(got.shape) == list(want.shape), f"{what}: shape {list(got.shape)}, expected {list(want.shape)}"
    assert torch.allclose(got.detach(), want, rtol=tol, atol=tol), f"{what}: {got.tolist()}, expected {want.tolist()}"


def _grad(name, inputs, params, out_shape, seed=None):
    """The op's value and the gradients of every input given a seed (ones)."""
    xs = [x.clone().requires_grad_(True) for x in inputs]
    y = torch_op(name, xs, params, out_shape)
    y.backward(torch.ones_like(y) if seed is None else seed)
    return y, [x.grad for x in xs]


def _raises(fn, fragment):
    try:
        fn()
    except (OpMappingError, ValueError) as e:
        assert fragment in str(e), f"error {e!r} lacks {fragment!r}"
        return
    raise AssertionError(f"no error (expected one with {fragment!r})")


def self_test():
    # the parser: what %d, %zu, %.17g and words print, and what it refuses
    assert parse_params("") == {}
    assert parse_params("axis=1") == {"axis": 1}
    assert parse_params("lo=-0.5, hi=2") == {"lo": -0.5, "hi": 2}
    assert parse_params("exponent=-1.5") == {"exponent": -1.5}
    assert parse_params("x=1e+20, y=2.5e-300") == {"x": 1e20, "y": 2.5e-300}
    p = parse_params("lo=-inf, hi=inf, z=nan")
    assert p["lo"] == -math.inf and p["hi"] == math.inf and math.isnan(p["z"])
    assert parse_params("perm=[2,0,1]") == {"perm": [2, 0, 1]}
    assert parse_params("perm=[]") == {"perm": []}
    assert parse_params("bias=row, rows=3") == {"bias": "row", "rows": 3}
    assert parse_params("exponent=0.10000000000000001")["exponent"] == 0.1
    assert math.isnan(parse_params("z=-nan")["z"])
    p = parse_params("flat=18446744073709551615, bias=info, x=1.")
    assert p == {"flat": 2**64 - 1, "bias": "info", "x": 1.0}, p
    # the same texts tests/test_interop_format.c refuses (its C parser follows this one)
    for bad in ["axis", "axis=", "=1", "axis=1,stop=2", "axis=1;stop=2", "axis = 1", "axis=1, axis=2",
                "perm=[2, 0]", "perm=[2,0", "perm=[2,]", "Axis=1", "axis=1, ", "x=0x10", "x=1_0",
                "x=.5", "x=1e", "x=--1", "x=[a]", "x=1 ", " x=1", "x=1,, y=2"]:
        _raises(lambda: parse_params(bad), "")

    # slice positions: Python's rules, worked out by hand on 5 elements
    assert slice_positions(5, INT_MAX, INT_MIN, -1) == [4, 3, 2, 1, 0]  # a[::-1]
    assert slice_positions(5, 1, -1, 1) == [1, 2, 3]
    assert slice_positions(5, -2, INT_MAX, 1) == [3, 4]
    assert slice_positions(5, 10, 0, -2) == [4, 2]  # start clipped to 4
    assert slice_positions(5, 0, 5, 2) == [0, 2, 4]
    assert slice_positions(5, -100, 2, 1) == [0, 1]
    assert slice_positions(5, 3, -100, -1) == [3, 2, 1, 0]
    _raises(lambda: slice_positions(5, 0, 5, 0), "step 0")
    _raises(lambda: slice_positions(5, 3, 3, 1), "empty")
    _raises(lambda: slice_positions(5, 1, 3, -1), "empty")
    # indices: negative from the end; out of range and fractions refused
    assert normalise_indices([0, -1, 2, -3], 3, "t") == [0, 2, 2, 0]
    _raises(lambda: normalise_indices([3], 3, "t"), "index 3 at position 0")
    _raises(lambda: normalise_indices([0, -4], 3, "t"), "index -4 at position 1")
    _raises(lambda: whole_numbers(_t([1.0, 0.5]), "t"), "element 1 is 0.5")
    _raises(lambda: whole_numbers(_t([math.nan]), "t"), "element 0 is nan")

    # strictness: an unknown op, a missing key, an unknown key, the arity
    x = _t([1.0, 2.0])
    _raises(lambda: torch_op("frobnicate", [x], "", [2]), "no PyTorch mapping")
    _raises(lambda: torch_op("pow", [x], "", [2]), "missing ['exponent']")
    _raises(lambda: torch_op("sum_axis", [x], "dim=0", []), "unknown ['dim']")
    _raises(lambda: torch_op("add", [x], "", [2]), "1 inputs, the mapping takes 2")

    # elementwise, by hand
    _close(torch_op("softplus", [_t([0.0, 30.0, -30.0])], "", [3]),
           [math.log(2.0), 30.0 + math.exp(-30.0), math.exp(-30.0)], "softplus exact")
    assert torch_op("softplus", [_t([30.0])], "", [1]).item() != 30.0  # F.softplus gives 30
    _close(torch_op("leaky_relu", [_t([-2.0, 3.0])], "slope=0.25", [2]), [-0.5, 3.0], "leaky_relu")
    _, (g,) = _grad("leaky_relu", [_t([-2.0, 0.0, 3.0])], "slope=0.25", [3])
    _close(g, [0.25, 0.25, 1.0], "leaky_relu gradient (slope at 0)")
    # gelu(1) = Phi(1) = (1 + erf(1/sqrt 2)) / 2; gelu(-1) = -(1 - Phi(1))
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    _close(torch_op("gelu", [_t([1.0, -1.0])], "", [2]), [phi1, -(1 - phi1)], "gelu")
    _close(torch_op("normal_cdf", [_t([1.0, 0.0])], "", [2]), [phi1, 0.5], "normal_cdf")
    _, (g,) = _grad("clamp", [_t([-2.0, -1.0, 0.5, 1.0, 2.0])], "lo=-1, hi=1", [5])
    _close(g, [0.0, 1.0, 1.0, 1.0, 0.0], "clamp gradient (bounds included)")
    _close(torch_op("clamp", [_t([-3.0, 3.0])], "lo=-inf, hi=2", [2]), [-3.0, 2.0], "clamp open")
    y, (ga, gb) = _grad("maximum", [_t([1.0, 5.0, 2.0]), _t([3.0, 4.0, 2.0])], "", [3])
    _close(y, [3.0, 5.0, 2.0], "maximum")
    _close(ga, [0.0, 1.0, 0.5], "maximum gradient of a (tie split)")
    _close(gb, [1.0, 0.0, 0.5], "maximum gradient of b")
    y, (gc, ga, gb) = _grad("where", [_t([1.0, 0.0, -2.0]), _t([1.0, 2.0, 3.0]), _t([10.0])], "", [3])
    _close(y, [1.0, 10.0, 3.0], "where (cond != 0)")
    _close(gb, [1.0], "where gradient of the broadcast b")
    _close(torch_op("sqrt", [_t([4.0])], "", [1]), [2.0], "sqrt")
    _close(torch_op("expm1", [_t([1e-20])], "", [1]), [1e-20], "expm1 near 0")

    # reductions
    m = _t([1.0, 5.0, 3.0, 2.0, 4.0, 6.0], [2, 3])
    _close(torch_op("max", [m], "", []), _t(6.0), "max")
    _close(torch_op("min_axis", [m], "axis=1", [2]), [1.0, 2.0], "min_axis")
    _close(torch_op("max_axis", [m], "axis=0", [3]), [2.0, 5.0, 6.0], "max_axis")
    _, (g,) = _grad("max", [_t([1.0, 3.0, 3.0])], "", [])
    _close(g, [0.0, 0.5, 0.5], "max gradient (tie split)")
    _close(torch_op("prod_axis", [m], "axis=1", [2]), [15.0, 48.0], "prod_axis")
    _, (g,) = _grad("prod_axis", [_t([2.0, 0.0, 3.0])], "axis=0", [])
    _close(g, [0.0, 6.0, 0.0], "prod_axis gradient at a zero")
    # logsumexp([0, ln 3]) = ln(1 + 3) = 2 ln 2
    _close(torch_op("logsumexp_axis", [_t([0.0, math.log(3.0)], [1, 2])], "axis=-1", [1]),
           [2 * math.log(2.0)], "logsumexp_axis")

    # softmax rows: [2,2] is two rows, [1,2] / [2,1] / [2] one distribution
    e = math.exp(1.0)
    _close(torch_op("softmax", [_t([0.0, 1.0, 0.0, 0.0], [2, 2])], "", [2, 2]),
           _t([1 / (1 + e), e / (1 + e), 0.5, 0.5], [2, 2]), "softmax rows")
    _close(torch_op("softmax", [_t([0.0, 1.0], [2, 1])], "", [2, 1]),
           _t([1 / (1 + e), e / (1 + e)], [2, 1]), "softmax column vector")
    _close(torch_op("log_softmax", [_t([0.0, 0.0], [1, 2])], "", [1, 2]),
           _t([-math.log(2.0)] * 2, [1, 2]), "log_softmax row vector")
    # cross-entropy of [0, 0] for class 1: log 2; of rows [0, 0], [0, ln 3]
    # with classes 0 and 1: (log 2 + log(4/3)) / 2
    _close(torch_op("softmax_xent", [_t([0.0, 0.0], [2, 1]), _t([1.0])], "", []),
           _t(math.log(2.0)), "softmax_xent one sample")
    _close(torch_op("softmax_xent", [_t([0.0, 0.0, 0.0, math.log(3.0)], [2, 2]), _t([0.0, 1.0])],
                    "", []), _t((math.log(2.0) + math.log(4 / 3)) / 2), "softmax_xent rows")
    _raises(lambda: torch_op("softmax_xent", [_t([0.0, 0.0]), _t([2.0])], "", []), "label 2")
    _close(torch_op("mse", [_t([1.0, 2.0]), _t([0.0, 4.0])], "", []), _t(2.5), "mse")

    # linear: each bias kind on [[1,2],[3,4]] @ I
    a, eye = _t([1.0, 2.0, 3.0, 4.0], [2, 2]), torch.eye(2, dtype=torch.float64)
    _close(torch_op("linear", [a, eye, _t([10.0, 20.0])], "", [2, 2]),
           _t([11.0, 22.0, 13.0, 24.0], [2, 2]), "linear row bias")
    _close(torch_op("linear", [a, eye, _t([10.0, 20.0], [2, 1])], "", [2, 2]),
           _t([11.0, 12.0, 23.0, 24.0], [2, 2]), "linear column bias")
    _close(torch_op("linear", [a, eye, _t([1.0], [1, 1])], "", [2, 2]),
           _t([2.0, 3.0, 4.0, 5.0], [2, 2]), "linear scalar bias")
    _close(torch_op("matmul", [_t([1.0, 2.0]), _t([3.0, 4.0])], "", []), _t(11.0), "matmul vectors")

    # shapes, indexing, joining
    v = _t([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [2, 3])
    _close(torch_op("index", [v], "flat=4", []), _t(4.0), "index")
    _close(torch_op("slice", [v], f"axis=1, start={INT_MAX}, stop={INT_MIN}, step=-1", [2, 3]),
           _t([2.0, 1.0, 0.0, 5.0, 4.0, 3.0], [2, 3]), "slice reversed")
    _close(torch_op("slice", [v], "axis=-1, start=-1, stop=0, step=-2", [2, 1]),
           _t([2.0, 5.0], [2, 1]), "slice negative start and step")
    _close(torch_op("slice", [v], "axis=1, start=2, stop=-1, step=-2, count=2", [2, 2]),
           _t([2.0, 0.0, 5.0, 3.0], [2, 2]), "slice normalised (count)")
    _close(torch_op("slice", [v], "axis=0, start=1, step=1, count=1", [1, 3]),
           _t([3.0, 4.0, 5.0], [1, 3]), "slice by count alone")
    _raises(lambda: torch_op("slice", [v], "axis=1, start=0, stop=3, step=1", [2, 2]), "agrad's result")
    _raises(lambda: torch_op("slice", [v], "axis=1, start=0, step=1", [2, 3]), "neither stop nor count")
    _, (g,) = _grad("slice", [_t([1.0, 2.0, 3.0])], "axis=0, start=2, stop=-100, step=-2", [2])
    _close(g, [1.0, 0.0, 1.0], "slice gradient")
    y, (g, _) = _grad("index_select", [v, _t([-1.0, 0.0, -1.0])], "axis=0", [3, 3])
    _close(y, _t([3.0, 4.0, 5.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [3, 3]), "index_select")
    _close(g, _t([1.0, 1.0, 1.0, 2.0, 2.0, 2.0], [2, 3]), "index_select gradient (repeats add)")
    _raises(lambda: torch_op("index_select", [v, _t([2.0])], "axis=0", [1, 3]), "index 2")
    # torch.gather's documented example: [[1,2],[3,4]] along 1 at [[0,0],[1,0]] -> [[1,1],[4,3]]
    t2 = _t([1.0, 2.0, 3.0, 4.0], [2, 2])
    _close(torch_op("gather", [t2, _t([0.0, 0.0, -1.0, 0.0], [2, 2])], "axis=1", [2, 2]),
           _t([1.0, 1.0, 4.0, 3.0], [2, 2]), "gather")
    # scatter_add along 0: zeros [2,2] + src [[1,2],[3,4]] at rows [[1,0],[1,1]]:
    # out[1][0] = 1 + 3, out[0][1] = 2, out[1][1] = 4 -> [[0,2],[4,4]]; the
    # gradient of src[i][j] is the seed at [rows[i][j]][j]
    y, (ga, gi, gs) = _grad("scatter_add", [torch.zeros(2, 2, dtype=torch.float64),
                                           _t([1.0, -2.0, -1.0, 1.0], [2, 2]), t2], "axis=0", [2, 2],
                            seed=_t([1.0, 10.0, 100.0, 1000.0], [2, 2]))
    _close(y, _t([0.0, 2.0, 4.0, 4.0], [2, 2]), "scatter_add")
    _close(gs, _t([100.0, 10.0, 100.0, 1000.0], [2, 2]), "scatter_add gradient of src")
    _close(ga, _t([1.0, 10.0, 100.0, 1000.0], [2, 2]), "scatter_add gradient of a")
    _close(torch_op("concat", [t2, _t([5.0, 6.0], [2, 1])], "axis=-1", [2, 3]),
           _t([1.0, 2.0, 5.0, 3.0, 4.0, 6.0], [2, 3]), "concat")
    _close(torch_op("stack", [_t([1.0, 2.0]), _t([3.0, 4.0])], "axis=1", [2, 2]),
           _t([1.0, 3.0, 2.0, 4.0], [2, 2]), "stack on a new last axis")
    _close(torch_op("stack", [_t([1.0, 2.0]), _t([3.0, 4.0])], "axis=-1", [2, 2]),
           _t([1.0, 3.0, 2.0, 4.0], [2, 2]), "stack, axis -1 (the new last)")
    p3 = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    y = torch_op("permute", [p3], "perm=[2,0,1]", [4, 2, 3])
    assert list(y.shape) == [4, 2, 3] and y[3, 1, 2].item() == p3[1, 2, 3].item(), "permute"
    _raises(lambda: torch_op("permute", [p3], "perm=[2,0,1,3]", [4, 2, 3]), "perm=[2, 0, 1, 3]")
    y, (g,) = _grad("expand", [_t([1.0, 2.0], [2, 1])], "", [3, 2, 4])
    assert list(y.shape) == [3, 2, 4], "expand shape"
    _close(g, _t([12.0, 12.0], [2, 1]), "expand gradient summed back")
    _close(torch_op("reshape", [v], "", [3, 2]), _t([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [3, 2]), "reshape")
    _close(torch_op("reshape", [v], "shape=[-1,2]", [3, 2]), _t([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [3, 2]),
           "reshape with a printed shape")
    y = torch_op("expand", [_t([1.0, 2.0], [2, 1])], "shape=[3,-1,4]", [3, 2, 4])
    assert list(y.shape) == [3, 2, 4] and y[2, 1, 3].item() == 2.0, "expand, -1 keeping a size"
    _close(torch_op("transpose", [v], "", [3, 2]), v.t(), "transpose")

    # comparisons by hand: 1.0 where the relation holds, 0.0 where not or at a NaN
    a, b = _t([1.0, 2.0, 3.0, math.nan]), _t([2.0, 2.0, 2.0, 2.0])
    for name, want in (("eq", [0, 1, 0, 0]), ("gt", [0, 0, 1, 0]), ("ge", [0, 1, 1, 0]),
                       ("lt", [1, 0, 0, 0]), ("le", [1, 1, 0, 0])):
        y = torch_op(name, [a, b], "", [4])
        assert y.dtype == torch.float64, f"{name}: {y.dtype}"
        _close(y, [float(w) for w in want], f"{name} with a NaN")

    # convolution, the cases of tests/test_ops_conv.c worked out by hand
    x9, w4 = _t([1.0, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]), _t([1.0, 2, 3, 4], [1, 1, 2, 2])
    y, (gx, gw, gb) = _grad("conv2d", [x9, w4, _t([10.0])], "stride=1, padding=0", [1, 1, 2, 2])
    _close(y, _t([47.0, 57, 77, 87], [1, 1, 2, 2]), "conv2d")
    _close(gx, _t([1.0, 3, 2, 4, 10, 6, 3, 7, 4], [1, 1, 3, 3]), "conv2d gx")
    _close(gw, _t([12.0, 16, 24, 28], [1, 1, 2, 2]), "conv2d gw")
    _close(gb, _t([4.0]), "conv2d gb")
    y = torch_op("conv2d", [x9, w4], "stride=2, padding=1", [1, 1, 2, 2])
    _close(y, _t([4.0, 18, 36, 77], [1, 1, 2, 2]), "conv2d strided, padded")
    x4, w2, ones5 = _t([1.0, 2, 3, 4], [1, 1, 4]), _t([2.0, -1], [1, 1, 2]), torch.ones(1, 1, 5)
    _close(torch_op("conv1d", [x4, w2, _t([1.0])], "stride=1, padding=1", [1, 1, 5]),
           _t([0.0, 1, 2, 3, 9], [1, 1, 5]), "conv1d")
    _close(torch_op("conv1d_input_grad", [ones5, w2], "stride=1, padding=1, length=4", [1, 1, 4]),
           torch.ones(1, 1, 4), "conv1d_input_grad")
    _close(torch_op("conv1d_weight_grad", [x4, ones5], "stride=1, padding=1, k=2", [1, 1, 2]),
           _t([10.0, 10], [1, 1, 2]), "conv1d_weight_grad")
    _close(torch_op("conv2d_weight_grad", [x9, torch.ones(1, 1, 2, 2)], "stride=2, padding=1, kh=2, kw=2",
                    [1, 1, 2, 2]), _t([5.0, 10, 10, 20], [1, 1, 2, 2]), "conv2d_weight_grad")
    _close(torch_op("conv2d_input_grad", [torch.ones(1, 1, 2, 2), w4], "stride=2, padding=1, height=3, width=3",
                    [1, 1, 3, 3]), _t([4.0, 3, 4, 2, 1, 2, 4, 3, 4], [1, 1, 3, 3]), "conv2d_input_grad")
    # pooling by hand: [[1 5 0 -1] [3 2 4 7] [8 6 -3 -4] [-2 9 -5 -6]], 2x2 windows
    # stride 2: maxima 5, 7, 9, -3; means 11/4, 10/4, 21/4, -18/4
    x4 = _t([1.0, 5, 0, -1, 3, 2, 4, 7, 8, 6, -3, -4, -2, 9, -5, -6], [1, 1, 4, 4])
    _close(torch_op("max_pool2d", [x4], "kernel=2, stride=2", [1, 1, 2, 2]), _t([5.0, 7, 9, -3], [1, 1, 2, 2]),
           "max_pool2d")
    _close(torch_op("avg_pool2d", [x4], "kernel=2, stride=2", [1, 1, 2, 2]),
           _t([2.75, 2.5, 5.25, -4.5], [1, 1, 2, 2]), "avg_pool2d")
    # dropout p = 0.75 on a given mask: kept elements times 4, dropped ones 0;
    # the gradient of the sum is the mask, 4 or 0
    y, (g, _) = _grad("dropout", [_t([1.0, 2.0, 3.0]), _t([1.0, 0.0, 1.0])], "p=0.75", [3])
    _close(y, _t([4.0, 0.0, 12.0]), "dropout")
    _close(g, _t([4.0, 0.0, 4.0]), "dropout gradient")
    _raises(lambda: torch_op("dropout", [_t([1.0]), _t([0.5])], "p=0.5", [1]), "kept flags")
    # layer_norm on [[0,2],[5,7]], eps 3: each row (mean m, var 1) normalises
    # to (x - m) / sqrt(1 + 3) = [-1/2, 1/2]; gamma [2,3], beta [10,20]
    rows = _t([0.0, 2.0, 5.0, 7.0], [2, 2])
    _close(torch_op("layer_norm", [rows, _t([2.0, 3.0]), _t([10.0, 20.0])], "eps=3", [2, 2]),
           _t([9.0, 21.5, 9.0, 21.5], [2, 2]), "layer_norm by hand")
    # batch_norm on [[1,10],[3,12]], eps 3: channels [1,3] and [10,12], var 1;
    # running stats from 0 and 1 with momentum 0.1: mean 0.1 [2,11], var
    # 0.9 + 0.1 * 2 (the unbiased variance of two values 1 apart)
    state = {"mean": _t([0.0, 0.0]), "var": _t([1.0, 1.0])}
    y = torch_op("batch_norm", [_t([1.0, 10.0, 3.0, 12.0], [2, 2]), _t([2.0, 3.0]), _t([10.0, 20.0])],
                 "momentum=0.1, eps=3, training=1, running=1", [2, 2], state)
    _close(y, _t([9.0, 18.5, 11.0, 21.5], [2, 2]), "batch_norm by hand")
    _close(state["mean"], _t([0.2, 1.1]), "batch_norm running mean", 1e-15)
    _close(state["var"], _t([1.1, 1.1]), "batch_norm running var", 1e-15)
    _raises(lambda: torch_op("batch_norm", [rows, _t([1.0, 1.0]), _t([0.0, 0.0])],
                             "momentum=0.1, eps=3, training=0, running=1", [2, 2]), "no running")

    # lstm_sequence by hand: zero gates and w_hh give i = f = o = 1/2, g = 0,
    # so each step halves c (c0 = [1, 2], N = 2, H = 1) and h = tanh(c) / 2;
    # gates_x as [T, N, 4H] and as its rows [T N, 4H] give the same [2, T, N, H]
    c1, c2 = [0.5, 1.0], [0.25, 0.5]
    want = _t([math.tanh(v) / 2 for v in c1 + c2] + c1 + c2, [2, 2, 2, 1])
    for gates_x in (torch.zeros(2, 2, 4), torch.zeros(4, 4)):
        y = torch_op("lstm_sequence", [gates_x, torch.zeros(4, 1), torch.zeros(2, 1), _t([[1.0], [2.0]])], "",
                     [2, 2, 2, 1])
        _close(y, want, f"lstm_sequence by hand, gates_x {list(gates_x.shape)}")

    # every op the header declares has a mapping
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "agrad.h")
    declared = _declared_ops(header)
    assert len(declared) >= 40, f"only {len(declared)} ops found in {header}: the pattern is stale"
    unmapped = sorted(declared - OPS.keys())
    assert not unmapped, f"ops declared in include/agrad.h without a mapping: {unmapped}"
    print(f"torch_ops self-test: parser, slice and index rules, {len(OPS)} mappings "
          f"({len(declared)} ops declared in agrad.h): OK")


if __name__ == "__main__":
    if sys.argv[1:] != ["--self-test"]:
        sys.exit("usage: /usr/bin/python3 tools/torch_ops.py --self-test")
    torch.set_default_dtype(torch.float64)
    self_test()
