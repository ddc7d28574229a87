"""MIL op name -> torch implementation, for ``mil_interpreter``.

Each handler takes an ``OpArgs`` (float tensors arrive in fp32 holding values of their
declared dtype) and returns the op's result(s); the interpreter rounds every result to the
dtype the program declares and checks its shape. Semantics follow the coremltools 9 MIL op
docs (``coremltools/converters/mil/mil/ops/defs``). Where those docs leave a detail open it
is marked ASSUMED here; such ops are not used by the shipped models.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .mil_interpreter import _TORCH_DTYPES, MILEmulationError, OpArgs, UnsupportedMILOp, compute_dtype

OPS: dict[str, Callable[[OpArgs], object]] = {}


def op(*names: str):
    def reg(fn):
        for n in names:
            OPS[n] = fn
        return fn

    return reg


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _round16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def sum_fp16(x: torch.Tensor, dim: int, mode: str) -> torch.Tensor:
    """Sum over ``dim`` rounding partial sums to fp16: a ``pairwise`` tree or ``sequential``ly.

    Terms are expected in fp32 (products of fp16 values are exact there).
    """
    x = x.movedim(dim, -1)
    if mode == "pairwise":
        while x.shape[-1] > 1:
            if x.shape[-1] % 2:
                x = torch.cat([x, torch.zeros_like(x[..., :1])], -1)
            x = _round16(x[..., 0::2] + x[..., 1::2])
        return _round16(x[..., 0])
    if mode == "sequential":
        acc = torch.zeros_like(x[..., 0])
        for i in range(x.shape[-1]):
            acc = _round16(acc + x[..., i])
        return acc
    raise MILEmulationError(f"unknown fp16 accumulation mode {mode!r}")


# ------------------------------------------------------------------------------------------
# casts and identity
# ------------------------------------------------------------------------------------------

@op("identity")
def _identity(a: OpArgs):
    return a.tensor("x")


@op("cast")
def _cast(a: OpArgs):
    name = a.value("dtype")
    if name not in _TORCH_DTYPES:
        raise MILEmulationError(f"cast {a.op.name!r}: unknown dtype {name!r}")
    # The rounding itself happens when the interpreter stores the result at the declared
    # dtype (which type inference sets to ``dtype``); casting here too keeps the handler honest
    # for float -> int (truncation toward zero, as numpy/coremltools value inference do).
    target = _TORCH_DTYPES[name]
    return a.tensor("x").to(target).to(compute_dtype(target))


# ------------------------------------------------------------------------------------------
# elementwise
# ------------------------------------------------------------------------------------------

def _binary(fn):
    return lambda a: fn(a.tensor("x"), a.tensor("y"))


for _name, _fn in {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul,
    "real_div": lambda x, y: torch.div(x.to(torch.float32) if not x.is_floating_point() else x,
                                       y.to(torch.float32) if not y.is_floating_point() else y),
    "floor_div": lambda x, y: torch.div(x, y, rounding_mode="floor"),
    "mod": torch.remainder, "maximum": torch.maximum, "minimum": torch.minimum, "pow": torch.pow,
    "equal": torch.eq, "not_equal": torch.ne, "greater": torch.gt, "greater_equal": torch.ge,
    "less": torch.lt, "less_equal": torch.le,
    "logical_and": torch.logical_and, "logical_or": torch.logical_or, "logical_xor": torch.logical_xor,
}.items():
    OPS[_name] = _binary(_fn)


def _unary(fn):
    return lambda a: fn(a.tensor("x"))


for _name, _fn in {
    "abs": torch.abs, "exp": torch.exp, "exp2": torch.exp2, "sqrt": torch.sqrt, "square": torch.square,
    "sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,  # round: half to even
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "sinh": torch.sinh,
    "cosh": torch.cosh, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "atanh": torch.atanh,
    "erf": torch.erf, "sigmoid": torch.sigmoid, "relu": torch.relu, "silu": F.silu, "softsign": F.softsign,
    "relu6": lambda x: torch.clamp(x, 0, 6), "logical_not": torch.logical_not,
    "softplus": F.softplus,
}.items():
    OPS[_name] = _unary(_fn)


@op("log")
def _log(a: OpArgs):
    return torch.log(a.tensor("x") + a.value("epsilon", 1e-45))


@op("rsqrt")
def _rsqrt(a: OpArgs):
    return torch.rsqrt(a.tensor("x") + a.value("epsilon", 1e-12))


@op("inverse")
def _inverse(a: OpArgs):
    return 1.0 / (a.tensor("x") + a.value("epsilon", 1e-4))


@op("leaky_relu")
def _leaky_relu(a: OpArgs):
    x = a.tensor("x")
    return torch.where(x >= 0, x, x * a.value("alpha", 0.01))


@op("elu")
def _elu(a: OpArgs):
    x = a.tensor("x")
    return torch.where(x > 0, x, a.value("alpha", 1.0) * torch.expm1(x))


@op("clip")
def _clip(a: OpArgs):
    return torch.clamp(a.tensor("x"), a.value("alpha"), a.value("beta"))


@op("threshold")
def _threshold(a: OpArgs):
    return torch.clamp(a.tensor("x"), min=a.value("alpha"))


@op("linear_activation")
def _linear_activation(a: OpArgs):
    return a.tensor("x") * a.value("alpha") + a.value("beta", 0.0)


@op("sigmoid_hard")
def _sigmoid_hard(a: OpArgs):
    return torch.clamp(a.tensor("x") * a.value("alpha", 0.2) + a.value("beta", 0.5), 0, 1)


@op("gelu")
def _gelu(a: OpArgs):
    x, mode = a.tensor("x"), a.value("mode", "EXACT")
    if mode == "EXACT":
        return F.gelu(x)
    if mode == "TANH_APPROXIMATION":
        return F.gelu(x, approximate="tanh")
    if mode == "SIGMOID_APPROXIMATION":
        return x * torch.sigmoid(1.702 * x)
    raise MILEmulationError(f"gelu {a.op.name!r}: unknown mode {mode!r}")


@op("prelu")
def _prelu(a: OpArgs):
    x, alpha = a.tensor("x"), a.tensor("alpha")
    alpha = alpha.reshape((1, -1) + (1,) * (x.dim() - 2))
    return torch.where(x >= 0, x, x * alpha)


@op("select")
def _select(a: OpArgs):
    return torch.where(a.tensor("cond").bool(), a.tensor("a"), a.tensor("b"))


# ------------------------------------------------------------------------------------------
# convolution, linear algebra, normalisation
# ------------------------------------------------------------------------------------------

def _spatial_pads(a: OpArgs, in_sizes, kernel, strides, dilations) -> list[tuple[int, int]]:
    """(before, after) padding per spatial dim for a conv/pool's ``pad_type``."""
    pad_type = a.value("pad_type", "valid").lower()
    n = len(in_sizes)
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type == "custom":
        pad = a.value("pad", [0] * 2 * n)
        return [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(n)]
    if pad_type in ("same", "same_lower"):
        pads = []
        for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
            eff = (k - 1) * d + 1
            total = max((math.ceil(size / s) - 1) * s + eff - size, 0)
            # ASSUMED split, as in ONNX SAME_UPPER / SAME_LOWER: "same" puts the odd pixel after.
            before = total // 2 if pad_type == "same" else total - total // 2
            pads.append((before, total - before))
        return pads
    raise MILEmulationError(f"{a.op.op_type} {a.op.name!r}: unknown pad_type {pad_type!r}")


def _torch_pad(pads: list[tuple[int, int]]) -> list[int]:
    # F.pad lists the last dimension first.
    return [p for before_after in reversed(pads) for p in before_after]


@op("conv")
def _conv(a: OpArgs):
    x, w = a.tensor("x"), a.tensor("weight")
    n = x.dim() - 2
    strides = a.value("strides", [1] * n)
    dilations = a.value("dilations", [1] * n)
    groups = a.value("groups", 1)
    pads = _spatial_pads(a, x.shape[2:], w.shape[2:], strides, dilations)
    if any(p for pair in pads for p in pair):
        x = F.pad(x, _torch_pad(pads))
    bias = a.tensor("bias") if a.has("bias") else None
    mode = a.fp16_accumulation()
    if mode:
        return _conv2d_fp16_accumulate(a, x, w, bias, strides, dilations, groups, mode)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}.get(n)
    if conv is None:
        raise MILEmulationError(f"conv {a.op.name!r}: {n} spatial dims not supported")
    return conv(x, w, bias, stride=strides, dilation=dilations, groups=groups)


def _conv2d_fp16_accumulate(a: OpArgs, x, w, bias, strides, dilations, groups, mode):
    """conv2d as explicit products (exact in fp32) summed with fp16 partial sums, then + bias."""
    if x.dim() != 4 or groups != 1:
        raise UnsupportedMILOp(f"conv {a.op.name!r}: fp16 accumulation is emulated for 2-D, groups=1 convs only")
    n, _, h, wd = x.shape
    cout, cin, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), dilation=dilations, stride=strides)  # (N, K=cin*kh*kw, L)
    wk = w.reshape(cout, cin * kh * kw, 1)
    # Products for a few output channels at a time keep memory near 2**24 floats per step.
    step = max(1, (1 << 24) // max(1, n * cols.shape[1] * cols.shape[2]))
    out = torch.cat([sum_fp16(wk[c:c + step][None] * cols[:, None], 2, mode) for c in range(0, cout, step)], 1)
    if bias is not None:
        out = _round16(out + bias.reshape(1, -1, 1))
    oh, ow = a.out_shape()[2:]
    return out.reshape(n, cout, oh, ow)


@op("linear")
def _linear(a: OpArgs):
    x, w = a.tensor("x"), a.tensor("weight")
    bias = a.tensor("bias") if a.has("bias") else None
    mode = a.fp16_accumulation()
    if not mode:
        return F.linear(x, w, bias)
    out = sum_fp16(x[..., None, :] * w, -1, mode)
    return out if bias is None else _round16(out + bias)


@op("matmul")
def _matmul(a: OpArgs):
    x, y = a.tensor("x"), a.tensor("y")
    if a.value("transpose_x", False) and x.dim() > 1:
        x = x.transpose(-1, -2)
    if a.value("transpose_y", False) and y.dim() > 1:
        y = y.transpose(-1, -2)
    mode = a.fp16_accumulation()
    if not mode or x.dim() < 2 or y.dim() < 2:
        return torch.matmul(x, y)
    return sum_fp16(x[..., :, :, None] * y[..., None, :, :], -2, mode)


def _scale_shift(y: torch.Tensor, a: "OpArgs", shape: tuple | None = None) -> torch.Tensor:
    """The optional gamma/beta of the norm ops; ``shape`` broadcasts per-channel vectors."""
    if a.has("gamma"):
        g = a.tensor("gamma")
        y = y * (g.reshape(shape) if shape else g)
    if a.has("beta"):
        b = a.tensor("beta")
        y = y + (b.reshape(shape) if shape else b)
    return y


@op("batch_norm")
def _batch_norm(a: OpArgs):
    x = a.tensor("x")
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, var = a.tensor("mean").reshape(shape), a.tensor("variance").reshape(shape)
    y = (x - mean) / torch.sqrt(var + a.value("epsilon", 1e-5))
    return _scale_shift(y, a, shape)


@op("instance_norm")
def _instance_norm(a: OpArgs):
    x = a.tensor("x")
    dims = tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    y = (x - mean) / torch.sqrt(var + a.value("epsilon", 1e-5))
    return _scale_shift(y, a, shape)


@op("layer_norm")
def _layer_norm(a: OpArgs):
    x = a.tensor("x")
    axes = a.value("axes", None)
    dims = tuple(range(x.dim())) if axes is None else tuple(_axis(d, x.dim()) for d in axes)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    y = (x - mean) / torch.sqrt(var + a.value("epsilon", 1e-5))
    return _scale_shift(y, a)


# ------------------------------------------------------------------------------------------
# pooling and resampling
# ------------------------------------------------------------------------------------------

def _pool_geometry(a: OpArgs, x: torch.Tensor):
    n = x.dim() - 2
    kernel = a.value("kernel_sizes")
    strides = a.value("strides", [1] * n)
    pads = _spatial_pads(a, x.shape[2:], kernel, strides, [1] * n)
    out = a.out_shape()[2:]
    # ceil_mode (and any other rule) is honoured by padding the far edge up to the declared
    # output size; those extra cells never win a max and are excluded from averages.
    extra = [max((o - 1) * s + k - (size + b + e), 0)
             for o, s, k, size, (b, e) in zip(out, strides, kernel, x.shape[2:], pads)]
    pads = [(b, e + x_) for (b, e), x_ in zip(pads, extra)]
    return n, kernel, strides, pads, extra


@op("max_pool")
def _max_pool(a: OpArgs):
    x = a.tensor("x")
    n, kernel, strides, pads, _ = _pool_geometry(a, x)
    x = F.pad(x, _torch_pad(pads), value=-math.inf)
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
    return pool(x, kernel, strides)


@op("avg_pool")
def _avg_pool(a: OpArgs):
    x = a.tensor("x")
    n, kernel, strides, pads, extra = _pool_geometry(a, x)
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[n]
    exclude = a.value("exclude_padding_from_average", False)
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
    if exclude:
        counted = F.pad(ones, _torch_pad(pads))
    else:
        # Declared padding counts in the average; the ceil_mode overhang does not (ASSUMED,
        # as in PyTorch's ceil_mode behaviour).
        counted = F.pad(F.pad(ones, _torch_pad([(b, e - x_) for (b, e), x_ in zip(pads, extra)]), value=1.0),
                        _torch_pad([(0, x_) for x_ in extra]))
    xs = pool(F.pad(x, _torch_pad(pads)), kernel, strides)
    cs = pool(counted, kernel, strides)
    return xs / cs


@op("upsample_nearest_neighbor")
def _upsample_nearest(a: OpArgs):
    x = a.tensor("x")
    sh, sw = float(a.value("scale_factor_height", 1)), float(a.value("scale_factor_width", 1))
    h, w = x.shape[-2:]
    oh, ow = int(math.floor(h * sh)), int(math.floor(w * sw))
    # Source index floor(i / scale): exact for the integer factors the converter emits;
    # ASSUMED for fractional factors.
    iy = torch.clamp((torch.arange(oh, dtype=torch.float64) / sh).floor().long(), max=h - 1)
    ix = torch.clamp((torch.arange(ow, dtype=torch.float64) / sw).floor().long(), max=w - 1)
    return x[..., iy, :][..., ix]


@op("upsample_bilinear")
def _upsample_bilinear(a: OpArgs):
    x = a.tensor("x")
    sh, sw = float(a.value("scale_factor_height", 1)), float(a.value("scale_factor_width", 1))
    align = bool(a.value("align_corners", True))
    half_pixel = bool(a.value("half_pixel_centers", not align))
    h, w = x.shape[-2:]
    size = (int(math.floor(h * sh)), int(math.floor(w * sw)))
    if align:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    if half_pixel:
        # src = (dst + 0.5) / scale - 0.5, clamped at the border: PyTorch's align_corners=False, which is what
        # the converter maps upsample_bilinear2d(align_corners=False) to. fp16 programs interpolate in fp32 here
        # and are rounded once by the interpreter (ASSUMED: Core ML may round the two lerps separately).
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    raise UnsupportedMILOp("upsample_bilinear with align_corners=False and half_pixel_centers=False (legacy "
                           "TF sampling) has no emulation in edge_lmk.runtimes.mil_ops")


@op("resize_nearest_neighbor")
def _resize_nearest(a: OpArgs):
    x = a.tensor("x")
    oh, ow = int(a.value("target_size_height")), int(a.value("target_size_width"))
    h, w = x.shape[-2:]
    # ASSUMED: source index floor(i * in / out), as PyTorch "nearest".
    iy = torch.clamp((torch.arange(oh, dtype=torch.float64) * h / oh).floor().long(), max=h - 1)
    ix = torch.clamp((torch.arange(ow, dtype=torch.float64) * w / ow).floor().long(), max=w - 1)
    return x[..., iy, :][..., ix]


# ------------------------------------------------------------------------------------------
# softmax and reductions
# ------------------------------------------------------------------------------------------

@op("softmax")
def _softmax(a: OpArgs):
    x, axis = a.tensor("x"), a.value("axis", -1)
    mode = a.fp16_accumulation()
    if not mode:
        return torch.softmax(x, dim=axis)
    # exp of (x - max) stored in fp16, its sum accumulated in fp16, one rounding per division.
    e = _round16(torch.exp(x - x.amax(axis, keepdim=True)))
    return e / sum_fp16(e, _axis(axis, x.dim()), mode).unsqueeze(axis)


def _reduce_dims(a: OpArgs, x: torch.Tensor) -> tuple[int, ...]:
    axes = a.value("axes", None)
    return tuple(range(x.dim())) if axes is None else tuple(_axis(int(d), x.dim()) for d in axes)


def _prod(x: torch.Tensor, dims: tuple[int, ...], keep: bool) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        x = x.prod(d, keepdim=keep)
    return x


def _reduction(fn):
    def run(a: OpArgs):
        x = a.tensor("x")
        dims = _reduce_dims(a, x)
        keep = bool(a.value("keep_dims", False))
        if not dims:
            return x
        mode = a.fp16_accumulation()
        if mode and a.op.op_type in ("reduce_sum", "reduce_mean"):
            count = 1
            for d in sorted(dims, reverse=True):
                count *= x.shape[d]
                x = sum_fp16(x, d, mode)
                x = x.unsqueeze(d) if keep else x
            return x / count if a.op.op_type == "reduce_mean" else x
        return fn(x, dims, keep)

    return run


for _name, _fn in {
    "reduce_sum": lambda x, d, k: x.sum(d, keepdim=k),
    "reduce_mean": lambda x, d, k: x.mean(d, keepdim=k),
    "reduce_prod": lambda x, d, k: _prod(x, d, k),
    "reduce_max": lambda x, d, k: x.amax(d, keepdim=k),
    "reduce_min": lambda x, d, k: x.amin(d, keepdim=k),
    "reduce_sum_square": lambda x, d, k: (x * x).sum(d, keepdim=k),
    "reduce_l1_norm": lambda x, d, k: x.abs().sum(d, keepdim=k),
    "reduce_l2_norm": lambda x, d, k: (x * x).sum(d, keepdim=k).sqrt(),
    "reduce_log_sum": lambda x, d, k: x.sum(d, keepdim=k).log(),
    "reduce_log_sum_exp": lambda x, d, k: torch.logsumexp(x, d, keepdim=k),
}.items():
    OPS[_name] = _reduction(_fn)


@op("reduce_argmax", "reduce_argmin")
def _reduce_arg(a: OpArgs):
    x = a.tensor("x")
    fn = torch.argmax if a.op.op_type == "reduce_argmax" else torch.argmin
    return fn(x, dim=a.value("axis", -1), keepdim=bool(a.value("keep_dims", False)))


# ------------------------------------------------------------------------------------------
# shape and layout
# ------------------------------------------------------------------------------------------

@op("reshape")
def _reshape(a: OpArgs):
    x = a.tensor("x")
    shape = [int(s) for s in a.value("shape")]
    # 0 copies the matching input dim counted from the right (iOS17 rule; the same as iOS15
    # whenever len(shape) == rank(x), the only case iOS15/16 allow).
    for i, s in enumerate(shape):
        if s == 0:
            j = x.dim() - (len(shape) - i)
            shape[i] = x.shape[j] if j >= 0 else 1
    return x.reshape(shape)


@op("transpose")
def _transpose(a: OpArgs):
    return a.tensor("x").permute(*a.value("perm"))


@op("squeeze")
def _squeeze(a: OpArgs):
    x = a.tensor("x")
    axes = a.value("axes", None)
    if axes is None:
        return x.reshape([d for d in x.shape if d != 1])
    dims = {_axis(int(d), x.dim()) for d in axes}
    return x.reshape([d for i, d in enumerate(x.shape) if i not in dims])


@op("expand_dims")
def _expand_dims(a: OpArgs):
    x = a.tensor("x")
    axes = [int(d) for d in a.value("axes")]
    rank = x.dim() + len(axes)
    for d in sorted(_axis(d, rank) for d in axes):
        x = x.unsqueeze(d)
    return x


@op("flatten2d")
def _flatten2d(a: OpArgs):
    x = a.tensor("x")
    axis = _axis(a.value("axis", 1), x.dim())
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)


@op("concat")
def _concat(a: OpArgs):
    xs = a.tensors("values")
    axis = _axis(int(a.value("axis")), xs[0].dim())
    if a.value("interleave", False):
        # interleave: take one slice of each input in turn along the axis.
        return torch.stack(xs, axis + 1).flatten(axis, axis + 1)
    return torch.cat(xs, axis)


@op("stack")
def _stack(a: OpArgs):
    xs = a.tensors("values")
    return torch.stack(xs, _axis(int(a.value("axis", 0)), xs[0].dim() + 1))


@op("split")
def _split(a: OpArgs):
    x = a.tensor("x")
    axis = _axis(int(a.value("axis")), x.dim())
    sizes = a.value("split_sizes", None)
    if sizes is None:
        num = int(a.value("num_splits"))
        sizes = [x.shape[axis] // num] * num
    return tuple(torch.split(x, [int(s) for s in sizes], axis))


@op("tile")
def _tile(a: OpArgs):
    return a.tensor("x").repeat(*a.value("reps"))


@op("pad")
def _pad(a: OpArgs):
    x = a.tensor("x")
    pad = [int(p) for p in a.value("pad")]
    mode = a.value("mode", "constant")
    k = len(pad) // 2  # pads the last k dims, first pair for dim rank-k
    pads = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)]
    if mode == "constant":
        return F.pad(x, _torch_pad(pads), value=float(a.value("constant_val", 0.0)))
    if mode in ("reflect", "replicate"):
        return F.pad(x, _torch_pad(pads), mode=mode)
    raise MILEmulationError(f"pad {a.op.name!r}: unknown mode {mode!r}")


@op("slice_by_index")
def _slice_by_index(a: OpArgs):
    x = a.tensor("x")
    r = x.dim()
    begin = a.value("begin")
    end = a.value("end")
    stride = a.value("stride", [1] * r)
    bmask = a.value("begin_mask", [False] * r)
    emask = a.value("end_mask", [False] * r)
    smask = a.value("squeeze_mask", [False] * r)
    arr = x.numpy()  # numpy handles negative strides, torch does not
    index = []
    for i in range(r):
        if smask[i]:
            index.append(slice(begin[i], begin[i] + 1 if begin[i] != -1 else None, 1))
        else:
            index.append(slice(None if bmask[i] else begin[i], None if emask[i] else end[i], stride[i]))
    out = np.ascontiguousarray(arr[tuple(index)])
    keep = [d for i, d in enumerate(out.shape) if not smask[i]]
    return torch.from_numpy(out.reshape(keep))


@op("slice_by_size")
def _slice_by_size(a: OpArgs):
    x = a.tensor("x")
    begin, size = a.value("begin"), a.value("size")
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))
    return x[index]


@op("gather")
def _gather(a: OpArgs):
    x, idx = a.tensor("x"), a.tensor("indices").long()
    if int(a.value("batch_dims", 0)) != 0:
        raise UnsupportedMILOp(f"gather {a.op.name!r}: batch_dims != 0 has no emulation")
    axis = _axis(int(a.value("axis", 0)), x.dim())
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))


@op("gather_along_axis")
def _gather_along_axis(a: OpArgs):
    x, idx = a.tensor("x"), a.tensor("indices").long()
    axis = _axis(int(a.value("axis", 0)), x.dim())
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    return torch.gather(x, axis, idx)


@op("shape")
def _shape(a: OpArgs):
    return torch.tensor(tuple(a.tensor("x").shape), dtype=torch.int32)


# ------------------------------------------------------------------------------------------
# Compressed weights (coremltools.optimize, iOS16 ops): expanded to dense fp32 at load by Core
# ML; here on every run, which costs microseconds for these models.
# ------------------------------------------------------------------------------------------

def _along(v: torch.Tensor, axis: int, rank: int) -> torch.Tensor:
    """Per-channel vector -> broadcastable along ``axis`` of a rank-``rank`` tensor; scalars pass."""
    if v.dim() == 0 or v.numel() == 1:
        return v.reshape(())
    shape = [1] * rank
    shape[_axis(axis, rank)] = -1
    return v.reshape(shape)


@op("constexpr_affine_dequantize")
def _constexpr_affine_dequantize(a: OpArgs):
    """output = (quantized_data - zero_point) * scale, zero_point/scale per ``axis`` or scalar."""
    q = a.tensor("quantized_data").to(torch.float32)
    axis = int(a.value("axis"))
    zp = torch.as_tensor(a.value("zero_point"), dtype=torch.float32)
    scale = torch.as_tensor(a.value("scale"), dtype=torch.float32)
    return (q - _along(zp, axis, q.dim())) * _along(scale, axis, q.dim())


@op("constexpr_lut_to_dense")
def _constexpr_lut_to_dense(a: OpArgs):
    """output[i] = lut[index_i], indices packed nbits = log2(len(lut)) each, least significant bit first."""
    lut = a.tensor("lut").to(torch.float32).reshape(-1)
    shape = [int(s) for s in a.value("shape")]
    n = int(np.prod(shape))
    nbits = int(round(math.log2(lut.numel())))
    packed = a.tensor("indices").to(torch.uint8).numpy().reshape(-1)
    bits = np.unpackbits(packed, bitorder="little")[: n * nbits].reshape(n, nbits).astype(np.int64)
    idx = torch.from_numpy(bits @ (1 << np.arange(nbits, dtype=np.int64)))
    return lut[idx].reshape(shape)
