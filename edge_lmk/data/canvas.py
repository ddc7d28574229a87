"""Pre-cropped face canvases held in memory for fast, batched augmentation.

Each face is cut once from its photo as a square of ``CANVAS_SCALE`` x the landmark extent,
sampled to ``CANVAS_SIZE`` pixels with the shared crop (``preprocess.crop_face``); training
then crops the model input from the canvas on the fly. For the bundled 300-W crops (192 px,
face extent 96 px) the canvas equals the file, so training and inference see the same pixels.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..preprocess import FaceSquare, apply_affine, crop_face, invert_affine, landmark_box
from .dataset import FaceRecord, load_face

CANVAS_SCALE = 2.0
CANVAS_SIZE = 192


def make_canvas(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (CANVAS_SIZE^2 x 3 uint8 canvas, (68,2) landmarks in canvas coordinates)."""
    cx, cy, extent = landmark_box(landmarks)
    canvas, A = crop_face(image, FaceSquare(cx, cy, CANVAS_SCALE * extent), CANVAS_SIZE)
    pts = apply_affine(invert_affine(A), landmarks)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), pts.astype(np.float32)


def load_canvases(records: list[FaceRecord], cache_dir: str | Path | None = None, desc: str = "faces"):
    """Load every face as a canvas; returns (N,S,S,3) uint8 and (N,68,2) float32.

    With ``cache_dir``, the arrays are cached in an .npz keyed by the file list.
    """
    key = hashlib.sha1("\n".join(f"{r.image}|{r.pts}" for r in records).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"canvas_{CANVAS_SIZE}_{key}.npz" if cache_dir else None
    if cache and cache.exists():
        z = np.load(cache)
        return z["images"], z["landmarks"]
    images = np.zeros((len(records), CANVAS_SIZE, CANVAS_SIZE, 3), np.uint8)
    pts = np.zeros((len(records), 68, 2), np.float32)
    for i, r in enumerate(tqdm(records, desc=f"loading {desc}", unit="face", leave=False,
                          mininterval=1.0 if os.isatty(2) else 30.0)):
        img, lm = load_face(r)
        images[i], pts[i] = make_canvas(img, lm)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, landmarks=pts)
        tmp.replace(cache)
    return images, pts


def load_unlabeled(files: list[Path], extent: float, cache_dir: str | Path | None = None, desc: str = "unlabeled"):
    """Unlabelled faces as canvases plus a nominal face box.

    Returns (N,S,S,3) uint8 and (N,2,2) float32 box corners in canvas pixels: a square of
    side ``extent * S`` centred in the image, standing in for the landmark box that the
    crop rule needs (scale augmentation then covers the spread of real face sizes).
    """
    from .images import read_image

    key = hashlib.sha1("\n".join(map(str, files)).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"unlabeled_{CANVAS_SIZE}_{key}.npz" if cache_dir else None
    if cache and cache.exists():
        images = np.load(cache)["images"]
    else:
        images = np.zeros((len(files), CANVAS_SIZE, CANVAS_SIZE, 3), np.uint8)
        for i, f in enumerate(tqdm(files, desc=f"loading {desc}", unit="face", leave=False,
                                   mininterval=1.0 if os.isatty(2) else 30.0)):
            img = read_image(f)
            side = float(max(img.shape[:2]))
            crop, _ = crop_face(img, FaceSquare(img.shape[1] / 2, img.shape[0] / 2, side), CANVAS_SIZE)
            images[i] = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, images=images)
            tmp.replace(cache)
    half = extent * CANVAS_SIZE / 2
    c = CANVAS_SIZE / 2
    box = np.array([[c - half, c - half], [c + half, c + half]], np.float32)
    return images, np.broadcast_to(box, (len(images), 2, 2)).copy()
