"""PyTorch eager predictor for registry names and ``.pt`` checkpoints."""
from __future__ import annotations

import numpy as np
import torch

from ..models.registry import resolve
from .base import Predictor


class TorchPredictor(Predictor):
    runtime = "pytorch"
    batch_size = 256

    def __init__(self, name_or_path, threads: int | None = None):
        if isinstance(name_or_path, torch.nn.Module):
            raise TypeError("use TorchPredictor.from_model for in-memory models")
        self.model, self.spec = resolve(str(name_or_path))
        self.contract = self.spec.contract
        self.source = str(name_or_path)
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def from_model(cls, model, spec) -> "TorchPredictor":
        self = cls.__new__(cls)
        self.model, self.spec, self.contract, self.source = model.eval(), spec, spec.contract, spec.name
        return self

    @torch.no_grad()
    def _run(self, x: np.ndarray):
        lm, sc = self.model(torch.from_numpy(x))
        return lm.numpy(), sc.numpy()
