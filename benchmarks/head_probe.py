"""Probe the head before building a family around it: the deployed soft-argmax alone, 2-D or separable.

    python -m benchmarks.head_probe [--sizes 80 40 20] [--rounds 30] [--out runs/head_probe] [--write FILE]

Two of the speed issue's levers change only what the head decodes, so their latency can be measured
before anything is trained:

- **coarser heatmaps** (``2d`` rows): the current head, K softmaxes over S x S bins, at S = 80 (the
  recombinator), 40 (the fast family) or 20;
- **separable marginal heads** (``marginal`` rows, SimCC-style): K x-logit rows and K y-logit rows of S
  bins, i.e. 2K softmaxes over S bins, then the same moments. Its input is (1, 2K, S) logits.

Both are exported with the lowering the real artifacts use (``.pte``: XNNPACK, the 2-D head as
``DelegableSoftArgmax``; ``.tflite``: litert-torch) and timed interleaved in one process, one thread,
batch 1. Landmarks are in crop pixels of an 80 px crop for every S (stride 80 / S). What a marginal
head costs in accuracy needs a trained model; this is the latency side only.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edge_lmk.cli import cli_main
from edge_lmk.codecs import DelegableSoftArgmax, DeployedHead, SoftArgmaxCodec, pixel_centres

CROP = 80
K = 68


class MarginalHead(nn.Module):
    """(B,2K,S) per-axis logits (x rows, then y rows) -> landmarks (B,K,2), scale (B,K), in the ops of
    ``DelegableSoftArgmax``'s moments (softmax, linear, sub, abs, mul), so XNNPACK takes it whole."""

    def __init__(self, size: int, stride: int):
        super().__init__()
        centres = pixel_centres(size, stride=stride)
        self.register_buffer("mean_row", centres.view(1, size))
        self.register_buffer("spread_row", torch.full((1, size), 0.5))  # the scale is the mean of two spreads
        self.register_buffer("ones_col", torch.ones(size, 1))
        self.register_buffer("centres", centres.view(1, 1, size))

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k2, _ = logits.shape
        k = k2 // 2
        marg = torch.softmax(logits, dim=-1)
        mean = F.linear(marg, self.mean_row)
        d = (self.centres - F.linear(mean, self.ones_col)).abs()
        spread = F.linear(marg * d, self.spread_row)
        return mean.view(b, 2, k).permute(0, 2, 1), (spread[:, :k] + spread[:, k:]).view(b, k)


def heads(size: int) -> dict[str, tuple[nn.Module, nn.Module, torch.Tensor]]:
    """kind -> (module for .pte, module for .tflite, example logits)."""
    codec = SoftArgmaxCodec(1.0, "laplace", stride=CROP // size)
    g = torch.Generator().manual_seed(0)
    marginal = MarginalHead(size, CROP // size).eval()
    return {"2d": (DelegableSoftArgmax(codec, size).eval(), DeployedHead(codec).eval(),
                   torch.randn(1, K, size, size, generator=g)),
            "marginal": (marginal, marginal, torch.randn(1, 2 * K, size, generator=g))}


def export_pte(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from export.executorch import partitioner_configs

    program = torch.export.export(module, (example,), strict=False)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner(configs=partitioner_configs())])
    path.write_bytes(edge.to_executorch().buffer)


def export_tflite(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    import litert_torch

    litert_torch.convert(module, (example,)).export(str(path))


def probe(sizes: list[int], out: Path, rounds: int = 30, calls: int = 50) -> list[dict]:
    """-> one row per (kind, S, format) with the median ms over ``rounds`` of ``calls`` calls."""
    from .layout_probe import interleaved_ms
    from .runners import open_runner

    rows, runners = [], []
    for size in sizes:
        if CROP % size:
            raise ValueError(f"size {size} does not divide the {CROP} px crop")
        for kind, (pte_mod, tfl_mod, example) in heads(size).items():
            for fmt, (module, export, suffix) in {"pte": (pte_mod, export_pte, ".pte"),
                                                  "tflite": (tfl_mod, export_tflite, ".tflite")}.items():
                path = out / f"head_{kind}_{size}{suffix}"
                with torch.no_grad():
                    export(module, example, path)
                    ref = [t.numpy() for t in module(example)]
                opened = open_runner(path, 1)
                got = opened.run(example.numpy())
                lm = [np.asarray(g) for g in got if np.asarray(g).ndim == 3][0]
                err = float(np.abs(lm - ref[0]).max())
                rows.append({"kind": kind, "size": size, "format": fmt, "bins": int(example[0].numel()),
                             "max_px": err})
                runners.append(lambda o=opened, x=example.numpy(): o.run(x))
    for r, ms in zip(rows, interleaved_ms(runners, rounds, calls)):
        r["ms"] = ms
    return rows


def table(rows: list[dict]) -> str:
    """Markdown; ``x 2-D 40`` is against the 2-D head at S = 40 (the fast family's) in the same format."""
    ref = {r["format"]: r["ms"] for r in rows if r["kind"] == "2d" and r["size"] == 40}
    lines = ["| head | S | logits per face | format | ms (1 thread) | x 2-D 40 | max px vs PyTorch |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        vs = f"{r['ms'] / ref[r['format']]:.2f}x" if r["format"] in ref else ""
        lines.append(f"| {r['kind']} | {r['size']} | {r['bins']:,} | {r['format']} | {r['ms']:.4f} | {vs} "
                     f"| {r['max_px']:.1e} |")
    return "\n".join(lines)


@cli_main
def main(argv=None) -> int:
    from edge_lmk.cli import ArgumentParser, positive_int, writable_dir

    ap = ArgumentParser(prog="python -m benchmarks.head_probe", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=positive_int, default=[80, 40, 20],
                    help="heatmap sides S (each must divide the 80 px crop)")
    ap.add_argument("--rounds", type=positive_int, default=30)
    ap.add_argument("--out", default="runs/head_probe", help="folder for the exported heads")
    ap.add_argument("--write", default=None, help="also write the Markdown table here")
    a = ap.parse_args(argv)
    bad = [s for s in a.sizes if CROP % s]
    if bad:
        ap.error(f"--sizes {' '.join(map(str, bad))}: must divide the {CROP} px crop")
    torch.set_num_threads(1)
    from .layout_probe import emit

    emit(table(probe(a.sizes, writable_dir(a.out, "--out"), a.rounds)), a.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
