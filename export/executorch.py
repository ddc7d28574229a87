"""PyTorch -> ExecuTorch ``.pte`` with the XNNPACK CPU delegate.

The stages of ``export.pipeline``: rewrite (``export.delegable``: nearest upsample and the soft-argmax
sums in ops XNNPACK runs, so the whole program is one delegate call) -> capture (``torch.export``) ->
quantize (int8 rows) -> lower: ``to_edge_transform_and_lower`` with ``XnnpackPartitioner`` ->
``to_executorch`` -> atomic save after a smoke run in ``executorch.runtime`` -> sidecar. The contract
JSON is embedded while lowering, as a constant method ``edge_lmk`` (a uint8 tensor), because a .pte has
no free-form metadata field.

``int8``: between capture and lowering, PT2E with the XNNPACK quantizer
(``edge_lmk.compress.quantize`` with ``Int8Config("xnnpack", per_channel=False)``): per-tensor int8 conv weights,
per-tensor int8 activations calibrated on training faces, LeakyReLU, max-pool and upsample
in int8 too, so the generator is one int8 region from the input quantize to the heatmap
logits; the soft-argmax head is not annotated and runs in fp32. The quantized graph is
re-exported and lowered like fp32; XNNPACK fuses each Q/DQ island into a QS8 kernel. The sidecar records which ops ran in what precision.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_lmk.models import ModelSpec

from .capture import example_input
from .delegable import delegable
from .pipeline import Backend, Job, run

FORMAT = "executorch"
SUFFIX = ".pte"
PRECISIONS = ("fp32", "int8")


def partitioner_configs() -> list:
    """ExecuTorch's XNNPACK partitioner configs, with LeakyReLU allowed in int8.

    The stock ``LeakyReLUConfig`` only offers fp32, although XNNPACK's ``leaky_relu`` node runs
    QS8 (``xnn_define_leaky_relu`` takes qint8 tensors with their own scales) and the visitor
    serializes the quantization of its input and output like any other op. Allowing it lets
    an annotated LeakyReLU (``edge_lmk.compress.pt2e``) stay int8 instead of a
    dequantize -> float -> quantize detour; the parity tests run the result in the runtime.
    """
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.generic_node_configs import LeakyReLUConfig
    from executorch.backends.xnnpack.partition.config.xnnpack_config import ConfigPrecisionType

    class QS8LeakyReLUConfig(LeakyReLUConfig):
        def supported_precision_types(self):
            return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]

    return [QS8LeakyReLUConfig if c is LeakyReLUConfig else c for c in ALL_PARTITIONER_CONFIGS]


def lower(program: torch.export.ExportedProgram, embedded: str, report: dict | None = None) -> bytes:
    """ExportedProgram -> serialized .pte; everything XNNPACK supports runs in its delegate.
    ``report``, when given, receives the per-op precision summary (``op_precision``)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    contract = torch.tensor(np.frombuffer(embedded.encode(), dtype=np.uint8).copy())
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner(configs=partitioner_configs())],
                                       constant_methods={"edge_lmk": contract})
    if report is not None:
        from edge_lmk.compress.op_precision import executorch_precision

        report["op_precision"] = executorch_precision(edge)
    # 16-byte segment alignment instead of 128: for the 1/16 model the padding of ~70 small
    # weight/scale segments is about a tenth of the file; XNNPACK copies weights when packing.
    return edge.to_executorch(ExecutorchBackendConfig(segment_alignment=16)).buffer


class ExecuTorchBackend(Backend):
    """The pipeline's stages for ``.pte``: the delegable rewrite, PT2E int8 on the captured program
    (re-captured for lowering), XNNPACK lowering with the contract as a constant method."""

    format, suffix, precisions, quantizes = FORMAT, SUFFIX, PRECISIONS, "program"

    def rewrite(self, model: torch.nn.Module, job: Job) -> torch.nn.Module:
        return delegable(model, job.spec.contract.input_size)

    def quantize(self, program, model: torch.nn.Module, job: Job) -> torch.export.ExportedProgram:
        """PT2E-quantize the captured program (XNNPACK quantizer) and re-capture it for ``lower``."""
        gm = super().quantize(program, model, job)
        with torch.no_grad():
            return torch.export.export(gm, (example_input(job.spec),), strict=False)

    def lower(self, program, model: torch.nn.Module, job: Job) -> bytes:
        # The contract goes in here, as a constant method: a .pte has no metadata slot to add it to later.
        return lower(program, job.embedded, job.report)

    def sidecar_extra(self, job: Job) -> dict:
        return {"delegate": "XnnpackBackend"}


BACKEND = ExecuTorchBackend()


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32", config=None) -> Path:
    """Write ``out/<name>_<precision>.pte`` (or ``out`` itself if it ends in .pte); returns its path.

    ``config`` overrides the precision's compression config (``edge_lmk.compress.config_for``),
    e.g. a smaller calibration set in tests."""
    return run(BACKEND, model, spec, out, precision, config)
