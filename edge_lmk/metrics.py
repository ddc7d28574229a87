"""NME (inter-ocular, outer eye corners 36 and 45), CED, AUC@8% and failure rate@8%.

A face whose prediction is not finite (NaN/inf NME) is a failure at every threshold: it counts
against FR and AUC, is left out of the mean NME (which would otherwise be NaN), and is counted
in ``summarize``'s ``n_nonfinite`` so that it is always reported.
"""
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
    """Cumulative error distribution: thresholds (steps,) and fraction of faces at or below each.

    Non-finite NMEs are never at or below a threshold (NaN sorts last and compares false)."""
    t = np.linspace(0.0, max_nme, steps)
    nmes = np.sort(np.asarray(nmes, np.float64))
    frac = np.searchsorted(nmes, t, side="right") / max(len(nmes), 1)
    return t, frac


def auc(nmes: np.ndarray, max_nme: float = 8.0) -> float:
    t, frac = ced(nmes, max_nme)
    return float(np.trapezoid(frac, t) / max_nme)


def failure_rate(nmes: np.ndarray, threshold: float = 8.0) -> float:
    """Fraction of faces above ``threshold`` or non-finite (``NaN > t`` is False, hence ``not <=``)."""
    return float(np.mean(~(np.asarray(nmes, np.float64) <= threshold)))


def summarize(nmes: np.ndarray, max_nme: float = 8.0) -> dict:
    """(N,) NMEs -> mean NME over the finite ones (NaN if none), AUC, FR, n and n_nonfinite."""
    nmes = np.asarray(nmes, np.float64)
    finite = np.isfinite(nmes)
    return {
        "nme": float(nmes[finite].mean()) if finite.any() else float("nan"),
        f"auc{int(max_nme)}": auc(nmes, max_nme),
        f"fr{int(max_nme)}": failure_rate(nmes, max_nme),
        "n": int(len(nmes)),
        "n_nonfinite": int((~finite).sum()),
    }
