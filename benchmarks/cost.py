"""Cost model: work per inference for each width, and this CPU's measured fp32 peak.

    python -m benchmarks.cost [--json]                 # params and ops per registered width
    python -m benchmarks.cost --peak THREADS [--quick]  # GEMM micro-benchmark; one JSON line

Work is counted on the PyTorch model at batch 1:
- ``conv_macs``: multiply-accumulates of every convolution, from
  ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs / 2; biases not counted);
- ``generator_other_ops``: elements touched (the larger of an op's floating inputs and
  outputs) by every other non-view op in the generator (batch norm, LeakyReLU, max-pool,
  nearest upsampling, concatenation); batch norm folds into the convolutions at export,
  so artifacts do less of this;
- ``head_ops``: the same count for the soft-argmax head (softmax over 80x80 per landmark,
  marginals, moments). One op per element, so a lower bound for softmax's exp/max/sum.

Achieved GFLOP/s of a row = 2 * conv_macs / median latency: the GEMM-like work, comparable
with the GEMM peak. The peak is measured, not looked up: ``torch.mm`` on 512x512 fp32
matrices with a fixed thread count, best of repeated calls (1.5 s, at least 20), in a
fresh process per count.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from fractions import Fraction

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from edge_lmk.models import REGISTRY, WIDTHS, count_params
from edge_lmk.models.registry import width_tag


def _float_elements(*trees) -> int:
    return sum(t.numel() for t in tree_leaves(trees) if isinstance(t, torch.Tensor) and t.is_floating_point())


class ElementCounter(TorchDispatchMode):
    """Elements touched per aten op (the larger of its floating inputs and outputs), skipping views and
    the ops FlopCounterMode already counts."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view and func.overloadpacket not in flop_registry:
            # A reduction reads many elements to write few: count the larger side of the op.
            n = max(_float_elements(args, kwargs), _float_elements(out))
            if n:
                self.counts[func.overloadpacket.__name__] += n
        return out


def width_cost(width: Fraction, loss: str = "laplacekl") -> dict:
    """Params and per-inference work of one width (weights do not matter, only shapes)."""
    spec = REGISTRY[f"{loss}_{width_tag(width)}"]
    model = spec.build().eval()
    s = spec.contract.input_size
    x = torch.rand(1, 3, s, s)
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            logits = model.generator(x)
        with ElementCounter() as gen_ops:
            model.generator(x)
        with ElementCounter() as head_ops:
            model.head(logits)
    return {"width": str(width), "model": spec.name, "shipped": spec.shipped, "params": count_params(model),
            "conv_macs": fc.get_total_flops() // 2, "generator_other_ops": sum(gen_ops.counts.values()),
            "head_ops": sum(head_ops.counts.values()), "head_ops_by_op": dict(head_ops.counts),
            "generator_other_ops_by_op": dict(gen_ops.counts)}


def all_widths() -> list[dict]:
    return [width_cost(w) for w in WIDTHS]


def gemm_peak(threads: int, n: int = 512, seconds: float = 1.5, min_calls: int = 20) -> dict:
    """fp32 GEMM GFLOP/s with ``threads`` threads: best and median over calls repeated for ``seconds``."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    c = torch.empty(n, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    times = []
    start = time.perf_counter()
    # 512^3 is large enough for the BLAS to reach its peak and short enough (a few ms) that the
    # best of many calls is one no other process interrupted.
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    times.sort()
    flop = 2.0 * n ** 3
    return {"threads": threads, "threads_applied": torch.get_num_threads(), "method": f"torch.mm fp32 {n}x{n}",
            "gflops": flop / times[0] / 1e9, "gflops_median": flop / times[len(times) // 2] / 1e9,
            "calls": len(times)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peak", type=int, metavar="THREADS", help="run the GEMM micro-benchmark at this thread count")
    ap.add_argument("--quick", action="store_true", help="smaller, shorter GEMM (for tests)")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)
    if args.peak is not None:
        res = gemm_peak(args.peak, n=256, seconds=0.2, min_calls=5) if args.quick else gemm_peak(args.peak)
        print(json.dumps(res))
        return 0
    rows = all_widths()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'width':>6s} {'shipped':>7s} {'params':>9s} {'conv MMACs':>11s} {'gen other Mops':>15s} "
          f"{'head Mops':>10s}")
    for r in rows:
        print(f"{r['width']:>6s} {str(r['shipped']):>7s} {r['params']:9d} {r['conv_macs'] / 1e6:11.2f} "
              f"{r['generator_other_ops'] / 1e6:15.2f} {r['head_ops'] / 1e6:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
