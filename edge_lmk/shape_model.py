"""Add Merget et al.'s PCA shape model to a trained model: ``python -m edge_lmk.shape_model``.

    python -m edge_lmk.shape_model --run runs/lg_w1_8 --fit-data ../shared/data/300w/train \\
        --val-data ../shared/data/extra_udacity/val --out runs/lg_w1_8_pca

Fits the shape model's PCA (``models/stages/shape_model.py``: 12 modes, +-3 SD) on the ground-truth
shapes of ``--fit-data``, chooses the outlier threshold on ``--val-data`` (the model's predictions,
the lowest mean NME over a grid; "off" stays a candidate, so the layer can only help validation),
and writes ``OUT/best.pt``: the run's weights with the ``shape`` stage appended (name ``..._pca``),
which ``python -m edge_lmk.ship --run OUT`` ships like any run.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .cli import ArgumentParser, UserError, cli_main, writable_dir
from .data import scan_folders
from .data.pts import read_pts
from .evaluation import prepare_crops
from .metrics import nme_per_face
from .models.registry import load_checkpoint, save_checkpoint
from .models.stages import stage_suffix
from .models.stages.shape_model import ShapeModel, fit
from .preprocess import crop_to_photo

THRESHOLDS = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, float("inf"))


@torch.no_grad()
def choose_threshold(model, layer: ShapeModel, crops) -> tuple[float, dict[str, float]]:
    """-> (threshold with the lowest mean NME on ``crops``, {threshold: NME})."""
    x = torch.from_numpy(crops.inputs)
    lm, sc = model(x)
    table = {}
    for thr in THRESHOLDS:
        layer.threshold.fill_(thr)
        out, _ = layer(x, lm, sc)
        photo = np.stack([crop_to_photo(p, A) for p, A in zip(out.numpy(), crops.transforms)])
        table[str(thr)] = float(nme_per_face(photo, crops.landmarks).mean())
    best = min(THRESHOLDS, key=lambda t: table[str(t)])
    layer.threshold.fill_(best)
    return best, table


@cli_main
def main(argv=None):
    ap = ArgumentParser(prog="python -m edge_lmk.shape_model", description=__doc__)
    ap.add_argument("--run", required=True, help="training run folder with best.pt (its model is the first stage)")
    ap.add_argument("--fit-data", nargs="+", required=True, help="300-W layout folders whose shapes the PCA fits")
    ap.add_argument("--val-data", nargs="+", required=True, help="folders the outlier threshold is chosen on")
    ap.add_argument("--out", required=True, help="folder for best.pt (ship it with python -m edge_lmk.ship --run OUT)")
    args = ap.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    model, spec, ckpt = load_checkpoint(run / "best.pt")
    if "shape" in spec.stages:
        raise UserError(f"{run / 'best.pt'}: {spec.name} already ends in a shape model")
    writable_dir(out, "--out")
    shapes = np.stack([read_pts(r.pts) for r in scan_folders([Path(d) for d in args.fit_data])])
    new = replace(spec, name=spec.name + stage_suffix(("shape",)), stages=spec.stages + ("shape",))
    full = new.build()
    missing, unexpected = full.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(f"stages.{len(spec.stages)}.") for k in missing), (missing, unexpected)
    layer = full.stages[-1]
    stats = fit(layer, shapes)
    crops = prepare_crops(scan_folders([Path(d) for d in args.val_data]), spec.contract, "validation faces")
    thr, table = choose_threshold(model.eval(), layer, crops)
    full.eval()
    command = "python -m edge_lmk.shape_model " + " ".join(
        ["--run", str(run), "--fit-data", *args.fit_data, "--val-data", *args.val_data, "--out", str(out)])
    info = {**stats, "threshold": thr, "val_nme_by_threshold": table, "val_nme_without": table["inf"],
            "fit_data": list(args.fit_data), "val_data": list(args.val_data), "command": command}
    save_checkpoint(out / "best.pt", full, new, {"epoch": ckpt.get("epoch"), "val_nme": table[str(thr)],
                                                 "train_args": ckpt.get("train_args", {}), "shape_model": info})
    if (run / "log.json").is_file():
        shutil.copyfile(run / "log.json", out / "log.json")
    print(json.dumps({k: v for k, v in info.items() if k != "command"}, indent=1))
    print(f"{new.name}: validation NME {table['inf']:.3f} -> {table[str(thr)]:.3f} (threshold {thr}) -> {out / 'best.pt'}")


if __name__ == "__main__":
    sys.exit(main())
