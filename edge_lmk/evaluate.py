"""Evaluate a model or exported artifact on any 300-W layout folder.

    python -m edge_lmk.evaluate --model laplacekl_w1_8 --data ../shared/data/300w/test_common --json out.json

``--model`` is a registry name, a ``.pt`` checkpoint, or an exported artifact
(``.pte``, ``.tflite``, ``.onnx``, ``.mlpackage``) run in its own runtime. Faces are cropped
from their ground-truth landmarks by the model's contract; NME is inter-ocular (36/45), in
percent, measured in photo pixels.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .contract import PreprocessContract
from .data import FaceRecord, load_face, scan_folder
from .metrics import ced, nme_per_face, summarize
from .paths import default_test_dir
from .preprocess import crop_face, crop_to_photo, face_square, to_input


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
        ax.plot(t, frac, label=f"{label} (NME {np.mean(nmes):.2f})")
    ax.set_xlabel("NME (% inter-ocular)")
    ax.set_ylabel("fraction of faces")
    ax.set_xlim(0, 8)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def evaluate(model: str, data: str | Path, batch: int | None = None, calibration: bool = False) -> dict:
    """NME figures; with ``calibration`` also ``res["confidence"]`` (``confidence_metrics.calibration_report``
    with the model's stored calibration; CalibrationError naming the model when it has none)."""
    from .runtimes import load_predictor

    predictor = load_predictor(model)
    crops = prepare_crops(scan_folder(data), predictor.contract)
    pred, scale = predict_photo(predictor, crops)
    res = score(pred, crops)
    res.update({"model": str(model), "runtime": predictor.runtime, "data": str(data),
                "mean_scale": float(scale.mean())})
    if calibration:
        from .confidence import CalibrationError, calibration_for
        from .confidence_metrics import calibration_report, errors_from_predictions

        cal = calibration_for(predictor)
        if cal is None:
            raise CalibrationError(f"{model}: no confidence calibration in its card or metadata (fit one with "
                             f"python -m edge_lmk.calibrate --model NAME --write-card)")
        res["confidence"] = calibration_report(cal, errors_from_predictions(pred, scale, crops))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--data", default=None, help="300-W layout folder (default: shared test_common, else the sample)")
    ap.add_argument("--json", default=None, help="write results as JSON here")
    ap.add_argument("--ced", default=None, help="write a CED curve PNG here")
    ap.add_argument("--calibration", default=None, metavar="PNG",
                    help="print expected-error calibration and failure prediction, write the reliability diagram here")
    args = ap.parse_args(argv)
    data = args.data or default_test_dir()
    from .confidence import CalibrationError
    from .data import DatasetError
    from .data.images import ImageFileError
    from .models.registry import ModelLoadError
    from .runtimes import ArtifactError

    try:
        res = evaluate(args.model, data, calibration=bool(args.calibration))
    except (CalibrationError, DatasetError, ImageFileError, ModelLoadError, ArtifactError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    per_face = res.pop("per_face")
    print(f"{res['model']} [{res['runtime']}] on {data}: NME {res['nme']:.3f}  AUC@8 {res['auc8']:.4f}  "
          f"FR@8 {100 * res['fr8']:.2f}%  n={res['n']}")
    for k, v in res["subsets"].items():
        print(f"  {k:28s} NME {v['nme']:.3f}  AUC@8 {v['auc8']:.4f}  FR@8 {100 * v['fr8']:.2f}%  n={v['n']}")
    if args.ced:
        plot_ced({Path(str(args.model)).name: per_face}, args.ced, f"CED on {Path(data).name}")
        print("CED curve:", args.ced)
    if args.calibration:
        from .confidence_metrics import format_report, plot_reliability

        conf = res["confidence"]
        for line in format_report(conf):
            print(line)
        plot_reliability({f"{Path(data).name} (ECE {100 * conf['ece_rel']:.1f}%)": conf["reliability"]},
                         args.calibration, f"{Path(str(args.model)).name}: per-point expected error")
        print("reliability diagram:", args.calibration)
    if args.json:
        from .data.pts import atomic_write_bytes

        res["per_face_nme"] = [round(float(v), 5) for v in per_face]
        atomic_write_bytes(args.json, json.dumps(res, indent=2).encode())
        print("results:", args.json)
    return res


if __name__ == "__main__":
    main()
