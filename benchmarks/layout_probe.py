"""Probe a layout before training it: int8 bytes and 1-thread latency of registry models, interleaved.

    python -m benchmarks.layout_probe --models laplacekl_w1_8_fast laplacekl_w1_8_fdw [--rounds 30] \
        [--out runs/layout_probe] [--against DIR] [--write FILE]

Latency is set by the layout, not by the weights, so a family's candidate can be timed and sized
before any training: shipped models are exported with their weights, the others with their
initial weights (seed 0). Each model goes through the real export pipeline to int8 ``.tflite`` and
``.pte``, and the artifacts are timed in rounds that interleave all of them in one process (one
thread, batch 1, the runtime's own call), so the ratios between rows are measured under the same
load. The first model is the reference of the ratio column. ``--against DIR`` also times the same
models' int8 artifacts found in DIR (e.g. written by ``export.all`` at an earlier commit) in the same
rounds, as rows labelled with DIR's name: an exporter change measured before and after under one
load. This is a screening tool; the numbers people compare are the benchmark report's
(``python -m benchmarks.run``).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from edge_lmk.cli import cli_main

FORMATS = {"tflite": "export.tflite", "pte": "export.executorch"}


def probe(models: list[str], out: Path, rounds: int = 30, calls: int = 20, threads: int = 1,
          against: Path | None = None) -> list[dict]:
    """-> one row per (model, format): bytes, params, median ms over ``rounds`` of ``calls`` calls; with
    ``against``, also one per artifact ``<model>_int8.<format>`` present there (``label``: the folder's name)."""
    import importlib

    import torch

    from edge_lmk.models import REGISTRY, count_params

    from .runners import open_runner

    rows, runners = [], {}
    for name in models:
        spec = REGISTRY[name]
        if spec.shipped:
            model = spec.load()
        else:
            torch.manual_seed(0)
            model = spec.build().eval()
        for fmt, module in FORMATS.items():
            path = importlib.import_module(module).export(model, spec, out, "int8")
            paths = [(name, path)]
            earlier = against / path.name if against is not None else None
            if earlier is not None and earlier.is_file():
                paths.append((f"{name} ({against.name})", earlier))
            for label, p in paths:
                rows.append({"model": name, "label": label, "format": fmt, "trained": spec.shipped,
                             "params": count_params(model), "bytes": p.stat().st_size})
                runners[len(rows) - 1] = open_runner(p, threads)
    x = np.random.default_rng(0).random((1, 3, 80, 80), dtype=np.float32)
    ms = interleaved_ms([lambda o=o: o.run(x) for o in runners.values()], rounds, calls)
    for i, m in zip(runners, ms):
        rows[i]["ms"] = m
    return rows


def interleaved_ms(fns: list, rounds: int, calls: int) -> list[float]:
    """Median ms per call of each zero-argument callable, timed in ``rounds`` that interleave all of them
    (``calls`` calls each per round), so every ratio between them is measured under the same load."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, t_list in zip(fns, times):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            t_list.append((time.perf_counter() - t) / calls * 1e3)
    return [statistics.median(t) for t in times]


def emit(text: str, write: str | None) -> None:
    """Print the Markdown table and, with ``write``, also write it there atomically."""
    print(text)
    if write:
        from edge_lmk.files import atomic_write_bytes

        atomic_write_bytes(write, (text + "\n").encode())


def table(rows: list[dict]) -> str:
    """Markdown rows; ``x first row`` is against the first model in the same format, ``.pte / .tflite``
    against the same model's int8 ``.tflite`` (the speed issue's 1.2x bound for the recombinator ladder)."""
    label = [r.get("label", r["model"]) for r in rows]
    ref = {r["format"]: r for r, lb in zip(rows, label) if lb == label[0]}
    tfl = {lb: r for r, lb in zip(rows, label) if r["format"] == "tflite"}
    lines = ["| model | weights | params | format | int8 bytes | ms (1 thread) | x first row | .pte / .tflite |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r, lb in zip(rows, label):
        vs = f"{r['ms'] / tfl[lb]['ms']:.2f}x" if r["format"] == "pte" and lb in tfl else ""
        name = f"`{r['model']}`" + lb[len(r["model"]):]
        lines.append(f"| {name} | {'trained' if r['trained'] else 'initial'} | {r['params']:,} | {r['format']} "
                     f"| {r['bytes']:,} | {r['ms']:.3f} | {r['ms'] / ref[r['format']]['ms']:.2f}x | {vs} |")
    return "\n".join(lines)


@cli_main
def main(argv=None) -> int:
    from edge_lmk.cli import ArgumentParser, positive_int, writable_dir
    from edge_lmk.models import REGISTRY

    ap = ArgumentParser(prog="python -m benchmarks.layout_probe", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True, help="registry names; the first is the ratio reference")
    ap.add_argument("--rounds", type=positive_int, default=30)
    ap.add_argument("--out", default="runs/layout_probe", help="folder for the int8 artifacts")
    ap.add_argument("--against", default=None,
                    help="folder of earlier int8 artifacts of the same models, timed in the same rounds")
    ap.add_argument("--write", default=None, help="also write the Markdown table here")
    a = ap.parse_args(argv)
    unknown = [m for m in a.models if m not in REGISTRY]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}")
    against = Path(a.against) if a.against else None
    if against is not None and not against.is_dir():
        ap.error(f"--against {a.against}: not a folder")
    rows = probe(a.models, writable_dir(a.out, "--out"), a.rounds, against=against)
    emit(table(rows), a.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
