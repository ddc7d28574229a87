"""PyTorch -> ExecuTorch ``.pte`` with the XNNPACK CPU delegate.

Stages: capture (``torch.export``) -> ``to_edge_transform_and_lower`` with
``XnnpackPartitioner`` -> ``to_executorch`` -> atomic save after a smoke run in
``executorch.runtime`` -> sidecar. The contract JSON is also embedded as a constant method
``edge_lmk`` (a uint8 tensor) because a .pte has no free-form metadata field.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_lmk.models import ModelSpec

from .artifact import contract_json, resolve_out, save_bytes, write_sidecar
from .capture import capture
from .smoke import smoke_run

FORMAT = "executorch"
SUFFIX = ".pte"
PRECISIONS = ("fp32",)


def lower(program: torch.export.ExportedProgram, embedded: str) -> bytes:
    """ExportedProgram -> serialized .pte; everything XNNPACK supports runs in its delegate."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    contract = torch.tensor(np.frombuffer(embedded.encode(), dtype=np.uint8).copy())
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                       constant_methods={"edge_lmk": contract})
    return edge.to_executorch().buffer


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32") -> Path:
    """Write ``out/<name>_<precision>.pte`` (or ``out`` itself if it ends in .pte); returns its path."""
    if precision not in PRECISIONS:
        raise ValueError(f"executorch: precision {precision!r} not supported here (have {', '.join(PRECISIONS)})")
    path = resolve_out(out, spec, precision, SUFFIX)
    program = capture(model, spec)
    data = lower(program, contract_json(spec, FORMAT, precision))
    save_bytes(path, data, check=lambda tmp: smoke_run(tmp, spec))
    write_sidecar(path, spec, FORMAT, precision, {"runtime": "executorch", "delegate": "XnnpackBackend"})
    return path
