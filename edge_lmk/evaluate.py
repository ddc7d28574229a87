"""Evaluate a model or exported artifact on any 300-W layout folder.

    python -m edge_lmk.evaluate --model laplacekl_w1_8 --data ../shared/data/300w/test_common --json out.json

``--model`` is a registry name, a ``.pt`` checkpoint, or an exported artifact
(``.pte``, ``.tflite``, ``.onnx``, ``.mlpackage``) run in its own runtime. Faces are cropped
from their ground-truth landmarks by the model's contract; NME is inter-ocular (36/45), in
percent, measured in photo pixels.

A face whose prediction is not finite counts as a failure (FR, AUC), is left out of the mean
NME and is reported (``n_nonfinite`` in the summary and the JSON; the exit status is then 1).
The JSON is always valid: non-finite numbers are written as ``null``, counted in
``nonfinite_values``. Data and model errors (missing folder, bad ``.pts`` or image, unreadable
model) print one line naming the file and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli import ArgumentParser, cli_main, writable_file
from .contract import PreprocessContract
from .data import FaceRecord, load_face, scan_folder
from .files import save_figure
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
    """NME figures. ``flip``: test-time horizontal flip (``edge_lmk.flip``); the result's ``runtime`` says
    ``+flip``. ``calibration``: also ``res["confidence"]`` (``confidence_metrics.calibration_report`` with the
    model's stored calibration; CalibrationError naming the model when it has none). The calibration was fitted
    on the plain model's errors, so the two options are not combined."""
    from .runtimes import load_predictor

    if flip and calibration:
        from .confidence import CalibrationError

        raise CalibrationError("--calibration describes the plain model's errors (what its table was fitted on); "
                               "run it without --flip")
    predictor = load_predictor(model)
    if flip:
        from .flip import FlipPredictor

        predictor = FlipPredictor(predictor)
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


def _summary_line(label: str, s: dict) -> str:
    nme = f"{s['nme']:.3f}" if math.isfinite(s["nme"]) else "n/a"
    bad = f"  non-finite {s['n_nonfinite']}" if s["n_nonfinite"] else ""
    return f"{label}NME {nme}  AUC@8 {s['auc8']:.4f}  FR@8 {100 * s['fr8']:.2f}%  n={s['n']}{bad}"


@cli_main
def main(argv=None):
    ap = ArgumentParser(prog="python -m edge_lmk.evaluate", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--data", default=None, help="300-W layout folder (default: shared test_common, else the sample)")
    ap.add_argument("--json", default=None, help="write results as JSON here")
    ap.add_argument("--ced", default=None, help="write a CED curve PNG here")
    ap.add_argument("--calibration", default=None, metavar="PNG",
                    help="print expected-error calibration and failure prediction, write the reliability diagram here")
    ap.add_argument("--flip", action="store_true",
                    help="test-time horizontal flip (twice the cost; reported as RUNTIME+flip, not a headline number)")
    args = ap.parse_args(argv)
    for flag, path in (("--json", args.json), ("--ced", args.ced), ("--calibration", args.calibration)):
        if path:
            writable_file(path, flag)  # before the evaluation, not after it
    data = args.data or default_test_dir()
    res = evaluate(args.model, data, flip=args.flip, calibration=bool(args.calibration))
    per_face = res.pop("per_face")
    print(_summary_line(f"{res['model']} [{res['runtime']}] on {data}: ", res))
    for k, v in res["subsets"].items():
        print(_summary_line(f"  {k:28s} ", v))
    if res["n_nonfinite"]:
        print(f"warning: {res['n_nonfinite']} of {res['n']} faces got a non-finite prediction: counted as failures "
              f"(FR, AUC), left out of the mean NME", file=sys.stderr)
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
        from .files import atomic_write_bytes

        res["per_face_nme"] = [round(float(v), 5) for v in per_face]
        out, nulls = json_safe(res)
        out["nonfinite_values"] = nulls
        atomic_write_bytes(args.json, json.dumps(out, indent=2, allow_nan=False).encode())
        print("results:", args.json)
    return res


def cli(argv=None) -> int:
    """``python -m edge_lmk.evaluate`` as an exit status: 0 ok, 1 if any prediction was non-finite, 2 for a
    data/model/argument error (``main``'s one line on stderr naming the file, via ``cli_main``)."""
    try:
        res = main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    return 1 if res["n_nonfinite"] else 0


if __name__ == "__main__":
    sys.exit(cli())
