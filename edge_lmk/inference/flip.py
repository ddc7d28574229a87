"""Test-time horizontal flip for any predictor (PyTorch or an exported artifact in its runtime).

The crop is also run mirrored; the mirrored prediction is mapped back (x -> S - x in continuous
coordinates, where pixel i spans [i, i+1), and left/right points swapped by the iBUG permutation) and
averaged with the plain one. It doubles the cost, so it is an option (``evaluate --flip``,
``FaceLandmarker(flip=True)``) and every number measured with it is reported as such, never folded into
a headline number.
"""
from __future__ import annotations

import numpy as np

from ..preprocess import FLIP_PERMUTATION


def unflip_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N,68,2) landmarks predicted on mirrored (N,3,S,S) crops -> landmarks on the original crops."""
    out = landmarks[:, FLIP_PERMUTATION].copy()
    out[..., 0] = size - out[..., 0]
    return out


def flip_average(predictor, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,3,S,S) crops -> (landmarks (N,68,2), scale (N,68)): the mean of the plain and mirrored passes."""
    size = inputs.shape[-1]
    lm, scale = predictor.predict(inputs)
    lm_f, scale_f = predictor.predict(np.ascontiguousarray(inputs[..., ::-1]))
    return 0.5 * (lm + unflip_landmarks(lm_f, size)), 0.5 * (scale + scale_f[:, FLIP_PERMUTATION])


class FlipPredictor:
    """A predictor wrapped with test-time flip; same ``predict`` interface, ``runtime`` gains ``+flip``."""

    def __init__(self, predictor):
        self.inner = predictor
        self.contract = predictor.contract
        self.runtime = f"{predictor.runtime}+flip"

    def predict(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return flip_average(self.inner, inputs)
