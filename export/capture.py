"""Stage 1 of every exporter: fold BatchNorm and capture the graph once with ``torch.export``.

All targets lower the same ``ExportedProgram``, so a difference between two formats is a
difference in their lowering, never in what was traced.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from edge_lmk.models import ModelSpec, fold_batchnorm

INPUT_NAME = "image"
OUTPUT_NAMES = ("landmarks", "scale")


class NamedIO(nn.Module):
    """Gives the traced input the contract's name: ``image`` (1,3,S,S) -> (landmarks (1,K,2), scale (1,K))."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        landmarks, scale = self.model(image)
        return landmarks, scale


def example_input(spec: ModelSpec) -> torch.Tensor:
    """(1,3,S,S) float32 in [0,1]; only its shape and dtype matter for tracing (the graph has no branches)."""
    s = spec.contract.input_size
    return torch.linspace(0.0, 1.0, 3 * s * s, dtype=torch.float32).reshape(1, 3, s, s)


def fold(model: nn.Module) -> nn.Module:
    """Eval-mode copy with every Conv->BN pair folded; the caller's model is untouched."""
    return fold_batchnorm(copy.deepcopy(model)).eval()


def capture(model: nn.Module, spec: ModelSpec, named_input: bool = True) -> torch.export.ExportedProgram:
    """Folded model -> ExportedProgram with a static (1,3,S,S) input named ``image``.

    Batch 1 is static because that is what the contract promises and what the mobile
    runtimes plan memory for; the ``Predictor`` base loops larger batches. ``named_input=False``
    skips the ``NamedIO`` wrapper for a converter that names the input itself (Core ML): the wrapper's
    attribute would prefix every weight name in the converted program (~540 bytes of a 1/16 package).
    """
    with torch.no_grad():
        return torch.export.export(NamedIO(fold(model)) if named_input else fold(model), (example_input(spec),),
                                   strict=False)
