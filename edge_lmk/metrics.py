"""NME (inter-ocular, outer eye corners 36 and 45), CED, AUC@8% and failure rate@8%."""
from __future__ import annotations

import numpy as np

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45


def nme_per_face(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,68,2) predictions and ground truth in the same coordinates -> (N,) NME in percent."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"expected matching (N,K,2) arrays, got {pred.shape} and {gt.shape}")
    iod = np.linalg.norm(gt[:, LEFT_EYE_OUTER] - gt[:, RIGHT_EYE_OUTER], axis=-1)
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    return 100.0 * err / iod


def ced(nmes: np.ndarray, max_nme: float = 8.0, steps: int = 801) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds (steps,) and fraction of faces at or below each."""
    t = np.linspace(0.0, max_nme, steps)
    nmes = np.sort(np.asarray(nmes, np.float64))
    frac = np.searchsorted(nmes, t, side="right") / max(len(nmes), 1)
    return t, frac


def auc(nmes: np.ndarray, max_nme: float = 8.0) -> float:
    t, frac = ced(nmes, max_nme)
    return float(np.trapezoid(frac, t) / max_nme)


def failure_rate(nmes: np.ndarray, threshold: float = 8.0) -> float:
    return float(np.mean(np.asarray(nmes) > threshold))


def summarize(nmes: np.ndarray, max_nme: float = 8.0) -> dict:
    nmes = np.asarray(nmes, np.float64)
    return {
        "nme": float(nmes.mean()),
        f"auc{int(max_nme)}": auc(nmes, max_nme),
        f"fr{int(max_nme)}": failure_rate(nmes, max_nme),
        "n": int(len(nmes)),
    }
