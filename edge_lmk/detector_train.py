"""Train the offline FHOG face detector and fit detector-box -> landmark-square mappings.

    python -m edge_lmk.detector_train train      # -> edge_lmk/weights/face_fhog.npz (~40 min on 2 busy cores)
    python -m edge_lmk.detector_train calibrate  # threshold + score calibration only (a minute)
    python -m edge_lmk.detector_train fit-box  # prints the BoxMapping constants for detectors.py
    python -m edge_lmk.detector_train fit-box --detector my_pkg.my_module:make_detector

Data: the 300-W training folders (``../shared/data/300w/train``): 192x192 crops with the face
in the central half (landmark extent 96 px). Photos that appear in the evaluation sample
(``../shared/data/300w/originals_sample``) are left out of both commands so the detection
numbers of ``edge_lmk.detect_eval`` are on unseen photos.

Training (dlib-style): positive windows are ``WINDOW_SCALE x`` the landmark extent, centred
on the landmark box, with flips and small rotation/scale/shift jitter; negatives are windows
of the same crops that overlap the face box by IoU < 0.3, first random, then mined from the
detector's own false alarms (two rounds); a linear SVM (scikit-learn ``LinearSVC``) on the
31-channel FHOG map is the template. The decision threshold keeps 97.5% of held-out faces;
scores are mapped to [0, 1] with a logistic (Platt) fit on held-out windows.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import read_image, scan_folder
from .inference.detectors import WEIGHTS, Box, BoxMapping, FhogFaceDetector, FhogModel, box_iou, to_gray
from .inference.fhog import fhog
from .paths import shared_data_dir
from .preprocess import FaceSquare, apply_affine, crop_face, invert_affine, landmark_box

WINDOW_SCALE = 1.2  # positive window side / landmark extent
TEMPLATE_CELLS = 10
CELL = 8
SEED = 0
VAL_RECALL = 0.975  # the default threshold keeps this fraction of held-out faces


def default_train_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        raise SystemExit("300-W training folders not found (../shared/data/300w/train or $EDGE_LMK_DATA)")
    return d / "300w" / "train"


def default_originals_dir() -> Path | None:
    d = shared_data_dir()
    return d / "300w" / "originals_sample" if d else None


def photo_key(stem: str) -> str:
    """HELEN crops of one photo are PHOTOID_1, PHOTOID_2...; LFPW/AFW names are one per photo."""
    head, _, tail = stem.rpartition("_")
    return head if head.isdigit() and tail.isdigit() else stem


def held_out_keys(originals: Path | None) -> set[str]:
    if originals is None or not originals.is_dir():
        return set()
    return {photo_key(p.stem) for p in originals.glob("*.pts")}


def load_faces(train_dir: Path, exclude: set[str]) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Grey training crops, (N,68,2) landmarks, names; faces of excluded photos dropped."""
    grays, pts, names = [], [], []
    for r in tqdm(scan_folder(train_dir), desc="reading faces", unit="face", leave=False):
        if photo_key(r.pts.stem) in exclude:
            continue
        grays.append(to_gray(read_image(r.image)))
        pts.append(r.landmarks())
        names.append(f"{r.subset}/{r.pts.stem}")
    return grays, np.stack(pts), names


def is_val(name: str, fraction: float = 0.15) -> bool:
    h = hashlib.sha1(f"det:{name}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def face_window(landmarks: np.ndarray) -> Box:
    cx, cy, e = landmark_box(landmarks)
    h = WINDOW_SCALE * e / 2
    return (cx - h, cy - h, cx + h, cy + h)


def window_features(gray: np.ndarray, cx: float, cy: float, side: float, angle: float = 0.0,
                    flip: bool = False) -> np.ndarray:
    """FHOG of one window (side in image px, centred at cx,cy) -> (cells, cells, 31), as the pyramid sees it."""
    n = (TEMPLATE_CELLS + 2) * CELL  # one context cell all round
    crop, _ = crop_face(gray, FaceSquare(cx, cy, side * n / (TEMPLATE_CELLS * CELL)), n, angle, flip)
    return fhog(crop[..., 0], CELL)


def positives(grays, pts, rng: np.random.Generator, jitter: int = 2) -> np.ndarray:
    feats = []
    for g, p in zip(grays, pts):
        cx, cy, e = landmark_box(p)
        side = WINDOW_SCALE * e
        for flip in (False, True):
            feats.append(window_features(g, cx, cy, side, 0.0, flip))
            for _ in range(jitter):
                s = side * math.exp(rng.uniform(-0.07, 0.07))
                feats.append(window_features(g, cx + rng.uniform(-0.05, 0.05) * side,
                                             cy + rng.uniform(-0.05, 0.05) * side, s,
                                             rng.uniform(-10, 10), flip))
    return np.stack(feats).reshape(len(feats), -1)


def random_negatives(grays, pts, rng: np.random.Generator, per_face: int = 8) -> np.ndarray:
    """Random windows overlapping the face box by IoU < 0.3 (any window when ``pts`` entry is None)."""
    feats = []
    for g, p in zip(grays, pts):
        H, W = g.shape
        fw = face_window(p) if p is not None else (0.0, 0.0, 0.0, 0.0)
        got = tries = 0
        while got < per_face and tries < 50 * per_face:
            tries += 1
            side = math.exp(rng.uniform(math.log(32), math.log(min(H, W) / 1.2)))
            cx, cy = rng.uniform(side / 2, W - side / 2), rng.uniform(side / 2, H - side / 2)
            if box_iou((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), fw) >= 0.3:
                continue
            feats.append(window_features(g, cx, cy, side, 0.0, bool(rng.integers(2))))
            got += 1
    return np.stack(feats).reshape(len(feats), -1)


def fit_svm(pos: np.ndarray, neg: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    from sklearn.svm import LinearSVC

    X = np.concatenate([pos, neg]).astype(np.float32)
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    svm = LinearSVC(C=C, class_weight="balanced", loss="hinge", dual=True, max_iter=20000, random_state=SEED)
    svm.fit(X, y)
    return svm.coef_[0].astype(np.float32), float(svm.intercept_[0])


def make_model(w: np.ndarray, b: float, threshold: float = 0.0, platt=(1.0, 0.0), meta=None) -> FhogModel:
    return FhogModel(w.reshape(TEMPLATE_CELLS, TEMPLATE_CELLS, -1), b, CELL, threshold, platt, meta or {})


def scan(det: FhogFaceDetector, grays, pts, threshold: float):
    """Per face: best margin of a window matching the face (IoU >= 0.5, or -inf) and false-alarm windows."""
    best, alarms = [], []
    for g, p in zip(grays, pts):
        fw = face_window(p) if p is not None else (0.0, 0.0, 0.0, 0.0)
        boxes, margins = det.windows(g, threshold)
        m_best = -np.inf
        fa = []
        for bx, mg in zip(boxes, margins):
            v = box_iou(bx, fw)
            if v >= 0.5:
                m_best = max(m_best, mg)
            elif v < 0.3:
                fa.append((mg, bx))
        best.append(m_best)
        alarms.append(sorted(fa, key=lambda t: -t[0]))
    return np.array(best), alarms


def rotated(grays: list[np.ndarray]) -> list[np.ndarray]:
    """Each crop turned by 90, 180 or 270 degrees (cycling), as a face-free negative image."""
    return [np.ascontiguousarray(np.rot90(g, 1 + i % 3)) for i, g in enumerate(grays)]


def mined_negatives(grays, alarms, per_face: int) -> np.ndarray:
    feats = []
    for g, fa in zip(grays, alarms):
        for mg, (x0, y0, x1, y1) in fa[:per_face]:
            feats.append(window_features(g, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0))
    return np.stack(feats).reshape(len(feats), -1) if feats else np.zeros((0, 1))


def train(args) -> None:
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    exclude = held_out_keys(Path(args.originals) if args.originals else default_originals_dir())
    grays, pts, names = load_faces(Path(args.data) if args.data else default_train_dir(), exclude)
    val = np.array([is_val(n) for n in names])
    tr_g = [g for g, v in zip(grays, val) if not v]
    va_g = [g for g, v in zip(grays, val) if v]
    tr_p, va_p = pts[~val], pts[val]
    print(f"{len(tr_g)} training faces, {len(va_g)} held out; {len(exclude)} evaluation photos excluded")
    # The crops hold little besides the face, so each is also used rotated by 90/180/270
    # degrees as a face-free image: real hair, skin, clothes and backgrounds in other
    # orientations (an upright-face detector should reject rotated faces anyway).
    tr_r, va_r = rotated(tr_g), rotated(va_g)
    neg_g, neg_p = tr_g + tr_r, list(tr_p) + [None] * len(tr_r)
    pos = positives(tr_g, tr_p, rng)
    neg = random_negatives(neg_g, neg_p, rng)
    print(f"positives {len(pos)}  random negatives {len(neg)}")
    w, b = fit_svm(pos, neg, args.C)
    for rnd in range(args.rounds):
        det = FhogFaceDetector(make_model(w, b), max_side=10_000)
        _, alarms = scan(det, neg_g, neg_p, -1.0)
        hard = mined_negatives(neg_g, alarms, args.mine_per_face)
        neg = np.concatenate([neg, hard])
        w, b = fit_svm(pos, neg, args.C)
        print(f"round {rnd + 1}: +{len(hard)} mined negatives -> {len(neg)}")
    meta = {"command": "python -m edge_lmk.detector_train train", "window_scale": WINDOW_SCALE,
            "train_faces": len(tr_g), "val_faces": len(va_g), "negatives": int(len(neg)), "C": args.C,
            "excluded_photos": sorted(exclude), "train_seconds": round(time.time() - t0, 1)}
    model = calibrate(make_model(w, b, meta=meta), va_g, va_p)
    model.save(args.out)
    print(json.dumps(model.meta | {"threshold": model.threshold, "platt": model.platt}, indent=1))
    print("wrote", args.out)


def calibrate(model: FhogModel, va_g, va_p) -> FhogModel:
    """Decision threshold and Platt scaling from held-out faces and their rotated copies.

    Threshold: keeps ``VAL_RECALL`` of held-out faces (a face counts when a window with
    IoU >= 0.5 scores above it). Platt: logistic fit of "is a face" on the margins of the
    held-out faces' best windows vs every window left after NMS that is not a face.
    """
    from sklearn.linear_model import LogisticRegression

    det = FhogFaceDetector(model, max_side=10_000)
    best, _ = scan(det, va_g, va_p, -1.5)
    va_r = rotated(va_g)
    fa = []
    for g, p in zip(list(va_g) + va_r, list(va_p) + [None] * len(va_r)):
        fw = face_window(p) if p is not None else (0.0, 0.0, 0.0, 0.0)
        fa += [m for bx, m in det.detect_margins(g, -1.5) if box_iou(bx, fw) < 0.3]
    fa = np.array(fa)
    found = np.isfinite(best)
    thr = float(np.quantile(best[found], 1.0 - VAL_RECALL)) if found.any() else 0.0
    xm = np.concatenate([best[found], fa])[:, None]
    ym = np.concatenate([np.ones(found.sum()), np.zeros(len(fa))])
    lr = LogisticRegression(C=100.0).fit(xm, ym)
    meta = {k: v for k, v in model.meta.items() if k not in ("val_recall", "val_false_alarms_per_image")}
    meta.update(val_faces=len(va_g), val_recall=float(np.mean(best >= thr)),
                val_false_alarms_per_image=float(np.sum(fa >= thr) / (2 * len(va_g))),
                calibrate_command="python -m edge_lmk.detector_train calibrate")
    return FhogModel(model.template, model.bias, model.cell, thr,
                     (float(lr.coef_[0, 0]), float(lr.intercept_[0])), meta)


def recalibrate(args) -> None:
    exclude = held_out_keys(Path(args.originals) if args.originals else default_originals_dir())
    grays, pts, names = load_faces(Path(args.data) if args.data else default_train_dir(), exclude)
    val = [i for i, n in enumerate(names) if is_val(n)]
    model = calibrate(FhogModel.load(args.out), [grays[i] for i in val], pts[val])
    model.save(args.out)
    print(json.dumps(model.meta | {"threshold": model.threshold, "platt": model.platt}, indent=1))
    print("wrote", args.out)


def load_detector(spec: str | None):
    if not spec:
        return FhogFaceDetector()
    mod, _, attr = spec.partition(":")
    return getattr(importlib.import_module(mod), attr or "make_detector")()


def zoomed(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator, min_zoom: float = 0.75):
    """Same-size view of a training crop, zoomed out by U(min_zoom, 1) and shifted at random.

    Every training crop shows its face at the same place and size, so a detector (whose boxes
    are quantised by its pyramid and stride) would give the same box on all of them; the random
    zoom spreads faces over two pyramid steps of scale and over the stride in position. Zooming
    out (zeros beyond the crop, far from the face) keeps the face window plus its context cell
    well inside the image, so no detector window size is cut off by the image border.
    """
    H, W = img.shape[:2]
    z = rng.uniform(min_zoom, 1.0)
    side = min(H, W) / z
    cx, cy, e = landmark_box(pts)
    free = max(side - 1.2 * WINDOW_SCALE * e, 0.0) / 2  # window + one context cell each side
    sq = FaceSquare(cx + rng.uniform(-free, free), cy + rng.uniform(-free, free), side)
    out, A = crop_face(img, sq, min(H, W))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), apply_affine(invert_affine(A), pts)


def fit_box(args) -> BoxMapping:
    """Median offset/scale from detector boxes to the landmark-bbox square over the training faces."""
    det = load_detector(args.detector)
    exclude = held_out_keys(Path(args.originals) if args.originals else default_originals_dir())
    rng = np.random.default_rng(SEED)
    rows, missed = [], 0
    for r in tqdm(scan_folder(Path(args.data) if args.data else default_train_dir()), desc="fit-box",
                  unit="face", leave=False):
        if photo_key(r.pts.stem) in exclude:
            continue
        img, p = zoomed(read_image(r.image), r.landmarks(), rng)
        cx, cy, e = landmark_box(p)
        lbox = (cx - e / 2, cy - e / 2, cx + e / 2, cy + e / 2)
        match = [(box_iou(b, lbox), b) for b, _ in det.detect(img)]
        match = [m for m in match if m[0] >= 0.3]
        if not match:
            missed += 1
            continue
        _, (x0, y0, x1, y1) = max(match)
        size = math.sqrt((x1 - x0) * (y1 - y0))
        rows.append(((cx - (x0 + x1) / 2) / size, (cy - (y0 + y1) / 2) / size, e / size))
    a = np.array(rows)
    med = np.median(a, axis=0)
    mad = np.median(np.abs(a - med), axis=0)
    bm = BoxMapping(*(round(float(v), 4) for v in med))
    print(f"{len(rows)} faces matched, {missed} missed")
    print(f"median dx {med[0]:.4f} dy {med[1]:.4f} k {med[2]:.4f}   (MAD {mad[0]:.4f} {mad[1]:.4f} {mad[2]:.4f})")
    print(f"{getattr(det, 'name', 'detector').upper()}_BOX_MAPPING = {bm!r}")
    return bm


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.detector_train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "calibrate", "fit-box"):
        sp = sub.add_parser(name)
        sp.add_argument("--data", default=None, help="300-W training folder (default ../shared/data/300w/train)")
        sp.add_argument("--originals", default=None, help="evaluation photos whose faces are left out")
    t = sub.choices["train"]
    t.add_argument("--out", default=str(WEIGHTS))
    sub.choices["calibrate"].add_argument("--out", default=str(WEIGHTS), help="model to recalibrate in place")
    t.add_argument("--C", type=float, default=0.01)
    t.add_argument("--rounds", type=int, default=2)
    t.add_argument("--mine-per-face", type=int, default=6)
    sub.choices["fit-box"].add_argument("--detector", default=None,
                                        help="module:factory returning a detector (default: the FHOG detector)")
    args = ap.parse_args(argv)
    {"train": train, "calibrate": recalibrate, "fit-box": fit_box}[args.cmd](args)


if __name__ == "__main__":
    main()
