"""One interface for every way of running a model: PyTorch, ExecuTorch, LiteRT, ONNX Runtime, Core ML.

A predictor takes (N,3,S,S) float32 crops made by ``edge_lmk.preprocess`` and returns
landmarks (N,K,2) in crop pixels and scale (N,K). Runtimes that only accept batch 1 are
looped here, so callers never care.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..contract import PreprocessContract


class ArtifactError(ValueError):
    """An artifact that cannot be loaded or run; the message names the file."""


class Predictor(ABC):
    runtime: str = "?"
    contract: PreprocessContract
    batch_size: int | None = 1  # None = any batch

    @abstractmethod
    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (B,3,S,S) float32 with B allowed by ``batch_size``."""

    def check_input(self, x: np.ndarray) -> np.ndarray:
        s = self.contract.input_size
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != (3, s, s):
            raise ValueError(f"{self.runtime}: expected input of shape (N, 3, {s}, {s}), got {tuple(x.shape)}")
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self.check_input(x)
        step = len(x) if self.batch_size is None else self.batch_size
        outs = [self._run(x[i:i + step]) for i in range(0, len(x), max(step, 1))]
        lm = np.concatenate([o[0] for o in outs]).astype(np.float32)
        sc = np.concatenate([o[1] for o in outs]).astype(np.float32)
        return lm.reshape(len(x), -1, 2), sc.reshape(len(x), -1)
