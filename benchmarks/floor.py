"""The soft-argmax head alone, exported and timed like a model: the latency floor of every width.

Every width ends in the same head: a softmax over 80x80 bins for each of the 68 landmarks
(435,200 exponentials) and the marginal moments. Its cost does not shrink with the width,
so it bounds how fast the smallest models can be. The run exports the head by itself
(input: the (1,K,S,S) heatmap logits the shipped model produces for the benchmark face)
with the same lowering as the real artifacts and times it in each runtime as a ``floor`` row.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from edge_lmk.codecs import DeployedHead, SoftArgmaxCodec
from edge_lmk.models import ModelSpec

from edge_lmk.files import size_on_disk
from edge_lmk.runtimes.table import BY_FORMAT
from .plan import Job

FLOOR_MODEL = "softargmax_head"


def head_and_logits(spec: ModelSpec, x: np.ndarray) -> tuple[SoftArgmaxCodec, np.ndarray]:
    """The shipped model's head (its beta and scale kind come from the checkpoint, not the registry
    defaults) and its heatmap logits for input ``x`` (1,3,S,S) -> (1,K,S,S) float32."""
    model = spec.load()
    with torch.inference_mode():
        return model.head, model.generator(torch.from_numpy(x)).numpy().astype(np.float32)


def _export_pte(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """The head as the .pte exporter rewrites it (``export.delegable``), so it is one delegate."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from edge_lmk.codecs import DelegableSoftArgmax
    from export.executorch import partitioner_configs

    head = DelegableSoftArgmax(module.codec, example.shape[-1]).eval()
    program = torch.export.export(head, (example,), strict=False)
    partitioner = XnnpackPartitioner(configs=partitioner_configs())
    path.write_bytes(to_edge_transform_and_lower(program, partitioner=[partitioner]).to_executorch().buffer)


def _export_tflite(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    import litert_torch

    litert_torch.convert(module, (example,)).export(str(path))


def _export_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(module, (example,), str(path), input_names=["logits"], output_names=["landmarks", "scale"],
                      opset_version=18, dynamo=True, external_data=False, verbose=False)


# format -> exporter of the bare head; the same lowering paths as export/ (XNNPACK, litert-torch, dynamo
# ONNX). Suffix and runtime come from the one runtime table.
EXPORTERS = {"executorch": _export_pte, "tflite": _export_tflite, "onnx": _export_onnx}


def floor_jobs(head: SoftArgmaxCodec, logits: np.ndarray, folder: Path,
               formats: tuple[str, ...] = tuple(EXPORTERS)) -> tuple[list[Job], list[str]]:
    """Export ``head`` into ``folder`` for ``formats``; -> (jobs, errors of formats that failed)."""
    module = DeployedHead(head).eval()
    example = torch.from_numpy(logits)
    jobs, errors = [], []
    for fmt in formats:
        export, row = EXPORTERS[fmt], BY_FORMAT[fmt]
        suffix, runtime = row.suffix, row.name
        path = folder / f"{FLOOR_MODEL}{suffix}"
        try:
            with torch.no_grad():
                export(module, example, path)
        except Exception as e:  # a missing converter drops that floor row only
            errors.append(f"{fmt}: {type(e).__name__}: {e}")
            continue
        jobs.append(Job(f"{FLOOR_MODEL}/{fmt}/fp32", "floor", FLOOR_MODEL, None, fmt, "fp32", runtime, str(path),
                        size_on_disk(path)))
    return jobs, errors
