"""PyTorch -> ExecuTorch ``.pte`` with the XNNPACK CPU delegate.

Stages: rewrite (``export.delegable``: nearest upsample and the soft-argmax sums in ops
XNNPACK runs, so the whole program is one delegate call) -> capture (``torch.export``) ->
``to_edge_transform_and_lower`` with ``XnnpackPartitioner`` -> ``to_executorch`` -> atomic
save after a smoke run in ``executorch.runtime`` -> sidecar. The contract JSON is also embedded as a constant method
``edge_lmk`` (a uint8 tensor) because a .pte has no free-form metadata field.

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

from .artifact import contract_json, resolve_out, save_bytes, seal, write_sidecar
from .capture import capture, example_input
from .compression import describe
from .delegable import delegable
from .smoke import smoke_run

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


def quantized_program(model: torch.nn.Module, spec: ModelSpec, config) -> torch.export.ExportedProgram:
    """Capture, PT2E-quantize (XNNPACK quantizer), re-capture: what ``lower`` takes for int8."""
    from edge_lmk.compress import quantize

    gm = quantize(capture(model, spec), config, spec, model=model)
    with torch.no_grad():
        return torch.export.export(gm, (example_input(spec),), strict=False)


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32", config=None) -> Path:
    """Write ``out/<name>_<precision>.pte`` (or ``out`` itself if it ends in .pte); returns its path.

    ``config`` overrides the precision's compression config (``edge_lmk.compress.config_for``),
    e.g. a smaller calibration set in tests.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"executorch: precision {precision!r} not supported here (have {', '.join(PRECISIONS)})")
    from edge_lmk.compress import config_for, for_model

    path = resolve_out(out, spec, precision, SUFFIX)
    model = delegable(model, spec.contract.input_size)
    config = config or config_for(FORMAT, precision)
    config = config if config is None else for_model(config, model)  # what the sidecar records is what ran
    program = quantized_program(model, spec, config) if config is not None else capture(model, spec)
    report: dict = {}
    data = seal(lower(program, contract_json(spec, FORMAT, precision), report))
    save_bytes(path, data, check=lambda tmp: smoke_run(tmp, spec))
    extra = {"runtime": "executorch", "delegate": "XnnpackBackend", **report}
    if config is not None:
        extra["compression"] = describe(config)
    write_sidecar(path, spec, FORMAT, precision, extra)
    return path
