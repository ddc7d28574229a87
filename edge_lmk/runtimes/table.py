"""The one runtime table: every way an edge-lmk model runs, one row each.

Evaluation (``load_predictor``), the exporters' smoke runs, the export inventory, the benchmark
runners and their thread control, and Android packaging all read these rows; a new runtime is a
new row here plus its predictor module (and, for timing, its opener in ``benchmarks.runners``).

Columns: ``name`` (what results.json and reports call it), ``format`` (the export target family in
``export/targets.py``; ``pytorch`` for checkpoints), ``suffix`` of its files, ``predictor``
(``module:Class`` of its ``Predictor``, imported only when used), ``imports`` (the module a fresh
process must import to run it; a benchmark worker's import cost), ``platform`` (where it can run at
all; None = anywhere), ``android`` (the demo app embeds this format).
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str
    format: str
    suffix: str
    predictor: str
    imports: str
    platform: str | None = None
    android: bool = False

    @property
    def predictor_module(self) -> str:
        return self.predictor.split(":")[0]

    def predictor_class(self):
        return getattr(importlib.import_module(self.predictor_module), self.predictor.split(":")[1])

    @property
    def runnable_here(self) -> bool:
        return self.platform is None or sys.platform == self.platform


RUNTIMES: tuple[Runtime, ...] = (
    Runtime("pytorch", "pytorch", ".pt", "edge_lmk.runtimes.torch_runtime:TorchPredictor", "torch"),
    Runtime("executorch", "executorch", ".pte", "edge_lmk.runtimes.executorch_runtime:ExecuTorchPredictor",
            "executorch.runtime", android=True),
    Runtime("litert", "tflite", ".tflite", "edge_lmk.runtimes.litert_runtime:LiteRTPredictor",
            "ai_edge_litert.interpreter", android=True),
    Runtime("onnxruntime", "onnx", ".onnx", "edge_lmk.runtimes.onnx_runtime:OnnxPredictor", "onnxruntime"),
    # Core ML predicts only on Apple platforms; elsewhere CoreMLPredictor runs the package's MIL program in
    # the project's emulator (parity), but nothing can time it.
    Runtime("coreml", "coreml", ".mlpackage", "edge_lmk.runtimes.coreml_runtime:CoreMLPredictor", "coremltools",
            platform="darwin"),
)

BY_SUFFIX: dict[str, Runtime] = {r.suffix: r for r in RUNTIMES}
BY_NAME: dict[str, Runtime] = {r.name: r for r in RUNTIMES}
BY_FORMAT: dict[str, Runtime] = {r.format: r for r in RUNTIMES}
ARTIFACT_SUFFIXES: tuple[str, ...] = tuple(r.suffix for r in RUNTIMES if r.format != "pytorch")
ANDROID_SUFFIXES: tuple[str, ...] = tuple(r.suffix for r in RUNTIMES if r.android)


def for_suffix(suffix: str) -> Runtime | None:
    return BY_SUFFIX.get(suffix.lower())
