"""Fit a model's confidence calibration (predicted scale -> expected error, face quality) and report it.

    python -m edge_lmk.calibrate --model laplacekl_w1_8 [--write-card] [--out docs/confidence]
    python -m edge_lmk.calibrate --model all --write-card --out docs/confidence

Fitting faces: the validation split that ``edge_lmk.train`` holds out of the training folders
(``--val-fraction 0.1``, the same hash split, so the faces were never trained on), or the
folders given with ``--fit-data``; test folders are refused. The fitted table is written into
the model card (``edge_lmk/weights/NAME.json``, key ``calibration``) with ``--write-card``,
together with the figures on ``--test`` (default: 300-W common when present), the report
``confidence_test`` (ECE, failure AUC, rejection gains, non-face quality). See
``edge_lmk.confidence`` for what the numbers mean.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from .confidence import Calibration, fit_calibration, inter_ocular
from .confidence_metrics import (calibration_report, face_errors, format_report, markdown_table, plot_reliability,
                                 separation_auc)
from .data import scan_folder, scan_folders, split_train_val
from .files import atomic_write_bytes
from .evaluation import prepare_crops
from .nonface import nonface_inputs
from .paths import SAMPLE_DIR, default_test_dir, default_train_dirs, shared_data_dir

NONFACE_PER_PHOTO = 20
MIN_FIT_FACES = 20  # fewer gives per-region maps from a handful of points: refuse rather than ship noise
# Folder names of benchmark faces (``extra_udacity/val`` is a validation set and allowed).
TEST_FOLDERS = ("test_common", "test", "testset")


def fit_records(dirs: list[Path] | None, val_fraction: float | None):
    """Faces to fit on: the training split's validation part (or all of ``dirs`` with ``val_fraction`` None)."""
    dirs = [Path(d) for d in dirs] if dirs else default_train_dirs()
    for d in dirs:
        bad = {p.lower() for p in d.resolve().parts}.intersection(TEST_FOLDERS)
        if bad:
            raise ValueError(f"{d}: calibration must be fitted on training/validation faces, not a test folder")
    records = scan_folders(dirs)
    if val_fraction:
        records = split_train_val(records, val_fraction, seed=0)[1]
    if len(records) < MIN_FIT_FACES:
        raise ValueError(f"only {len(records)} fitting faces in {', '.join(map(str, dirs))}"
                         f"{f' (validation split {val_fraction:g})' if val_fraction else ''}; need at least "
                         f"{MIN_FIT_FACES} (give more --fit-data, or --val-fraction 0 to fit on all of it)")
    return dirs, records


def default_originals() -> Path:
    d = shared_data_dir()
    return d / "300w" / "originals_sample" if d else SAMPLE_DIR / "originals"


def nonface_quality(predictor, cal: Calibration, originals: Path, per_photo: int = NONFACE_PER_PHOTO) -> dict:
    """Quality of background crops (no face) and of face crops shifted by half and a whole side."""
    out = {}
    recs = scan_folder(originals)
    for name, kw in (("background", {"per_photo": per_photo}), ("shift_0.5", {"per_photo": 0, "shift": 0.5}),
                     ("shift_1.0", {"per_photo": 0, "shift": 1.0})):
        x = nonface_inputs(recs, predictor.contract, seed=0, **kw)
        lm, sc = predictor.predict(x)
        q = cal.quality(sc, inter_ocular(lm))
        out[name] = {"n": int(len(q)), "quality": q}
    return out


def run(model: str, fit_dirs=None, val_fraction: float | None = 0.1, test: Path | None = None,
        originals: Path | None = None, crops_cache: dict | None = None) -> dict:
    """Fit on the fitting faces, report on them and on ``test`` -> {calibration, fit, test, nonface}."""
    from .runtimes import load_predictor

    predictor = load_predictor(model)
    cache = {} if crops_cache is None else crops_cache
    dirs, recs = fit_records(fit_dirs, val_fraction)

    def crops(key, records):
        k = (key, predictor.contract.to_json())
        if k not in cache:
            cache[k] = prepare_crops(records, predictor.contract)
        return cache[k]

    fit = face_errors(predictor, crops(("fit", tuple(map(str, dirs)), val_fraction), recs))
    info = {"fit_data": [str(d) for d in dirs] if not val_fraction else
            f"validation split ({val_fraction:g}, seed 0, as edge_lmk.train) of {', '.join(map(str, dirs))}",
            "fit_faces": len(recs), "model": str(model), "fit": "isotonic regression per region (scikit-learn), "
            "16 quantile breakpoints; quality = P(NME <= 8%) under log(NME/expected NME) ~ N(mu, sigma)"}
    cal = fit_calibration(fit["scale"], fit["iod"], fit["err_iod"], fit["err_px"], info=info)
    res = {"model": str(model), "calibration": cal, "fit": calibration_report(cal, fit)}
    if test is not None:
        t = face_errors(predictor, crops(("test", str(test)), scan_folder(test)))
        res["test"] = calibration_report(cal, t)
        res["test"]["data"] = str(test)
        res["test_quality"] = cal.quality(t["scale"], t["iod"])
    if originals is not None:
        nf = nonface_quality(predictor, cal, originals)
        faces_q = res.get("test_quality", cal.quality(fit["scale"], fit["iod"]))
        res["nonface"] = {k: {"n": v["n"], "median_quality": float(np.median(v["quality"])),
                              "max_quality": float(v["quality"].max()) if v["n"] else None,
                              "auc_vs_faces": separation_auc(faces_q, v["quality"]) if v["n"] else None}
                          for k, v in nf.items()}
        res["nonface"]["data"] = str(originals)
    return res


def card_summary(res: dict, command: str) -> dict:
    """The figures that go into the model card next to the table (no per-bin lists)."""
    t = res.get("test")
    if t is None:
        return {}
    keep = ("n", "nme", "fr8", "mean_point_error_iod", "ece_iod", "ece_rel", "ece_px_rel", "face_ece_rel",
            "failure_auc", "rejection", "mean_quality", "success_rate", "data")
    return {**{k: t[k] for k in keep}, "nonface": res.get("nonface"), "command": command}


def write_card(model: str, res: dict, command: str) -> Path:
    from .models.registry import REGISTRY

    spec = REGISTRY.get(model)
    if spec is None or not spec.card_path.is_file():
        raise ValueError(f"{model}: --write-card needs a shipped registry model with a card")
    card = json.loads(spec.card_path.read_text())
    card["calibration"] = res["calibration"].to_dict()
    summary = card_summary(res, command)
    if summary:
        card["confidence_test"] = summary
    atomic_write_bytes(spec.card_path, (card_json(card) + "\n").encode())
    return spec.card_path


def card_json(card: dict) -> str:
    """``json.dumps(card, indent=2)`` with number lists of 5+ entries (the breakpoint tables) on one line,
    so a calibration adds tens of lines to a card, not hundreds; shorter lists keep the card's old layout."""
    text = json.dumps(card, indent=2)

    def join(m: re.Match) -> str:
        items = [v.strip() for v in m.group(1).split(",")]
        return "[" + ", ".join(items) + "]" if len(items) >= 5 else m.group(0)

    return re.sub(r"\[\s*((?:-?[0-9.eE+]+\s*,\s*)+-?[0-9.eE+]+)\s*\]", join, text)


def print_result(res: dict) -> None:
    c = res["calibration"]
    print(f"{res['model']}: fitted on {c.info['fit_faces']} faces ({c.info['fit_data']}); quality model mu "
          f"{c.mu:.3f} sigma {c.sigma:.3f}")
    for key in ("fit", "test"):
        if key in res:
            print(f"  [{key}{' ' + res[key].get('data', '') if key == 'test' else ''}]")
            for line in format_report(res[key]):
                print("   ", line)
    for k, v in res.get("nonface", {}).items():
        if k != "data" and v["n"]:
            print(f"  non-face {k:10s} n={v['n']:3d} median quality {v['median_quality']:.3f} max "
                  f"{v['max_quality']:.3f}  face-vs-non-face AUC {v['auc_vs_faces']:.3f}")


def main(argv=None):
    from .models.registry import ModelLoadError, list_models
    from .runtimes import ArtifactError

    ap = argparse.ArgumentParser(prog="python -m edge_lmk.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, nargs="+", help="registry names (or 'all' shipped models)")
    ap.add_argument("--fit-data", nargs="+", default=None, help="training folders (default: shared 300-W train)")
    ap.add_argument("--val-fraction", type=float, default=0.1,
                    help="fit on this held-out split of --fit-data (0: fit on all of it)")
    ap.add_argument("--test", default=None, help="report on this folder (default: 300-W common when present)")
    ap.add_argument("--originals", default=None, help="full photos for non-face crops (default: originals_sample)")
    ap.add_argument("--write-card", action="store_true", help="store the calibration in the model card")
    ap.add_argument("--out", default=None, help="write MODEL_reliability.png and results.json here")
    ap.add_argument("--peers", action="store_true",
                    help="also score MediaPipe's face presence on the same crops (needs its face_landmark.tflite "
                         "in third_party/mediapipe/ or $EDGE_LMK_MEDIAPIPE_TFLITE)")
    args = ap.parse_args(argv)
    names = [s.name for s in list_models()] if args.model == ["all"] else args.model
    test = Path(args.test) if args.test else (default_test_dir() if shared_data_dir() else None)
    originals = Path(args.originals) if args.originals else default_originals()
    cache: dict = {}
    results = {}
    for name in names:
        try:
            res = run(name, args.fit_data, args.val_fraction or None, test, originals, cache)
        except (ValueError, OSError, ModelLoadError, ArtifactError) as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        print_result(res)
        command = f"python -m edge_lmk.calibrate --model {name} --write-card"
        if args.write_card:
            print("  card:", write_card(name, res, command))
        if args.out:
            out = Path(args.out)
            curves = {f"{k} (ECE {100 * res[k]['ece_rel']:.1f}%)": res[k]["reliability"] for k in ("fit", "test")
                      if k in res}
            plot_reliability(curves, out / f"{name}_reliability.png", f"{name}: per-point expected error")
            print("  reliability diagram:", out / f"{name}_reliability.png")
        results[name] = {"calibration": res["calibration"].to_dict(), "fit": res["fit"], "test": res.get("test"),
                         "nonface": res.get("nonface"), "command": command}
    if args.peers:
        from .peer_presence import find_model, presence_report

        mp = find_model()
        if mp is None or test is None:
            print("peers: MediaPipe face_landmark.tflite not found (see benchmarks/README.md) or no test folder; "
                  "skipped", file=sys.stderr)
        else:
            rep = presence_report(mp, test, originals)
            results["peers"] = {"mediapipe_presence": rep}
            print(f"MediaPipe face presence: faces median {rep['faces']['median']:.3f}; " + "; ".join(
                f"{k} median {v['median_quality']:.3f} AUC {v['auc_vs_faces']:.3f}" for k, v in rep.items()
                if isinstance(v, dict) and "auc_vs_faces" in v))
    if args.out:
        path = Path(args.out) / "results.json"
        old = json.loads(path.read_text()) if path.is_file() else {}
        merged = {**old, **results}
        atomic_write_bytes(path, (json.dumps(merged, indent=1) + "\n").encode())
        atomic_write_bytes(path.with_name("table.md"), ("\n".join(markdown_table(merged)) + "\n").encode())
        print("results:", path, "and", path.with_name("table.md"))
    return results


if __name__ == "__main__":
    main()
