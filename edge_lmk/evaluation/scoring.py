"""Scoring landmark models on 300-W layout folders: ground-truth crops, photo-space predictions, NME
figures, CED plots. The library behind ``python -m edge_lmk.evaluate`` (the CLI only parses and prints)
and what the exporters' parity checks, the benchmarks, calibration and the ablation score with."""
from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..contract import PreprocessContract
from ..data import FaceRecord, load_face, scan_folder
from ..files import save_figure
from ..metrics import ced, nme_per_face, summarize
from ..preprocess import crop_face, crop_to_photo, face_square, to_input


@dataclass
class CropSet:
    """Model inputs for a list of faces, with what is needed to score them."""

    records: list[FaceRecord]
    inputs: np.ndarray  # (N,3,S,S) float32
    transforms: np.ndarray  # (N,2,3) crop -> photo
    landmarks: np.ndarray  # (N,68,2) ground truth, photo coordinates


def prepare_crops(records: list[FaceRecord], contract: PreprocessContract, desc: str = "cropping") -> CropSet:
    xs, As, gts = [], [], []
    for r in tqdm(records, desc=desc, unit="face", leave=False, mininterval=1.0 if os.isatty(2) else 30.0):
        img, pts = load_face(r)
        crop, A = crop_face(img, face_square(pts, contract.crop_scale), contract.input_size)
        xs.append(to_input(crop, contract.pixel_scale)[0])
        As.append(A)
        gts.append(pts)
    return CropSet(records, np.stack(xs), np.stack(As), np.stack(gts))


def predict_photo(predictor, crops: CropSet) -> tuple[np.ndarray, np.ndarray]:
    """Run a predictor on prepared crops -> (landmarks in photo pixels (N,68,2), scale (N,68) crop px)."""
    lm, scale = predictor.predict(crops.inputs)
    photo = np.stack([crop_to_photo(l, A) for l, A in zip(lm, crops.transforms)])
    return photo, scale


def score(pred_photo: np.ndarray, crops: CropSet) -> dict:
    nmes = nme_per_face(pred_photo, crops.landmarks)
    out = summarize(nmes)
    groups = defaultdict(list)
    for r, v in zip(crops.records, nmes):
        groups[r.subset].append(v)
    out["subsets"] = {k: summarize(np.array(v)) for k, v in sorted(groups.items())}
    out["per_face"] = nmes
    return out


def plot_ced(curves: dict[str, np.ndarray], path: str | Path, title: str = "CED") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    for label, nmes in curves.items():
        t, frac = ced(nmes)
        ax.plot(t, frac, label=f"{label} (NME {summarize(nmes)['nme']:.2f})")
    ax.set_xlabel("NME (% inter-ocular)")
    ax.set_ylabel("fraction of faces")
    ax.set_xlim(0, 8)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def evaluate(model: str, data: str | Path, batch: int | None = None, flip: bool = False,
             calibration: bool = False) -> dict:
    """NME figures. ``flip``: test-time horizontal flip (``edge_lmk.inference.flip``); the result's ``runtime`` says
    ``+flip``. ``calibration``: also ``res["confidence"]`` (``confidence_metrics.calibration_report`` with the
    model's stored calibration; CalibrationError naming the model when it has none). The calibration was fitted
    on the plain model's errors, so the two options are not combined."""
    from ..runtimes import load_predictor

    if flip and calibration:
        from ..confidence import CalibrationError

        raise CalibrationError("--calibration describes the plain model's errors (what its table was fitted on); "
                               "run it without --flip")
    predictor = load_predictor(model)
    if flip:
        from ..inference.flip import FlipPredictor

        predictor = FlipPredictor(predictor)
    crops = prepare_crops(scan_folder(data), predictor.contract)
    pred, scale = predict_photo(predictor, crops)
    res = score(pred, crops)
    res.update({"model": str(model), "runtime": predictor.runtime, "data": str(data),
                "mean_scale": float(scale.mean())})
    if calibration:
        from ..confidence import CalibrationError, calibration_for
        from ..confidence_metrics import calibration_report, errors_from_predictions

        cal = calibration_for(predictor)
        if cal is None:
            raise CalibrationError(f"{model}: no confidence calibration in its card or metadata (fit one with "
                             f"python -m edge_lmk.calibrate --model NAME --write-card)")
        res["confidence"] = calibration_report(cal, errors_from_predictions(pred, scale, crops))
    return res


def json_safe(obj):
    """-> (copy with every non-finite float replaced by None, number replaced): strict JSON has no NaN."""
    count = 0

    def walk(v):
        nonlocal count
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, np.ndarray)):
            return [walk(x) for x in v]
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(v):
                count += 1
                return None
            return float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v

    return walk(obj), count
