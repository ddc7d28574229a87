"""Parity: an artifact in its own runtime against the fp32 PyTorch model, on the same real face crops.

Both sides go through ``edge_lmk.evaluate``'s ``predict_photo`` and ``score``, so crops,
coordinate mapping and NME are exactly what users get from the evaluate CLI.
``max_px`` is the largest distance, in photo pixels, between any artifact landmark and the
PyTorch landmark for the same face and point.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge_lmk.evaluation import CropSet, predict_photo, score
from edge_lmk.models import ModelSpec
from edge_lmk.runtimes import Predictor, load_predictor
from edge_lmk.runtimes.torch_runtime import TorchPredictor

from .targets import Tolerance


@dataclass
class Reference:
    """PyTorch fp32 predictions on a crop set: landmarks (N,K,2) in photo pixels and their NME."""

    photo: np.ndarray
    nme: float


def reference(model: torch.nn.Module, spec: ModelSpec, crops: CropSet) -> Reference:
    photo, _ = predict_photo(TorchPredictor.from_model(model, spec), crops)
    return Reference(photo, float(score(photo, crops)["nme"]))


def compare(predictor: Predictor, crops: CropSet, ref: Reference) -> dict:
    """-> {runtime, n, nme_torch, nme_artifact, delta_nme, max_px}; delta = artifact - torch."""
    photo, _ = predict_photo(predictor, crops)
    nme = float(score(photo, crops)["nme"])
    return {"runtime": predictor.runtime, "n": int(len(photo)), "nme_torch": ref.nme, "nme_artifact": nme,
            "delta_nme": nme - ref.nme, "max_px": float(np.linalg.norm(photo - ref.photo, axis=-1).max())}


def check_artifact(path: Path, crops: CropSet, ref: Reference) -> dict:
    return compare(load_predictor(str(path)), crops, ref)


def within(parity: dict, tol: Tolerance, width: str = "") -> list[str]:
    """Reasons the parity result breaks ``tol`` for a model of ``width`` (empty list when it passes)."""
    problems = []
    rel = tol.rel_for(width)
    if rel is not None and parity["delta_nme"] > rel * parity["nme_torch"]:
        problems.append(f"delta NME {parity['delta_nme']:+.4f} > {rel:.0%} of fp32 NME {parity['nme_torch']:.3f}")
    if not np.isfinite(parity["nme_artifact"]):
        problems.append("non-finite NME")
    if tol.delta_nme is not None and abs(parity["delta_nme"]) > tol.delta_nme:
        problems.append(f"|delta NME| {abs(parity['delta_nme']):.4f} > {tol.delta_nme}")
    if tol.max_px is not None and parity["max_px"] > tol.max_px:
        problems.append(f"max px {parity['max_px']:.4f} > {tol.max_px}")
    return problems
