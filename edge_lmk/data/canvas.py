"""Pre-cropped face canvases held in memory for fast, batched augmentation.

Each face is cut once from its photo as a square of ``CANVAS_SCALE`` x the landmark extent,
sampled to ``CANVAS_SIZE`` pixels with the shared crop (``preprocess.crop_face``); training
then crops the model input from the canvas on the fly. For the bundled 300-W crops (192 px,
face extent 96 px) the canvas equals the file, so training and inference see the same pixels.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..preprocess import FaceSquare, apply_affine, crop_face, invert_affine, landmark_box
from .dataset import FaceRecord, load_face

CANVAS_SCALE = 2.0
CANVAS_SIZE = 192
# Bump when what a canvas holds changes in a way the source hash below cannot see.
CACHE_VERSION = 2
# Modules whose code decides a canvas's pixels and landmarks: any edit to them invalidates the cache.
_CANVAS_CODE = ("canvas.py", "dataset.py", "images.py", "pts.py", "../preprocess.py")


def make_canvas(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (CANVAS_SIZE^2 x 3 uint8 canvas, (68,2) landmarks in canvas coordinates)."""
    cx, cy, extent = landmark_box(landmarks)
    canvas, A = crop_face(image, FaceSquare(cx, cy, CANVAS_SCALE * extent), CANVAS_SIZE)
    pts = apply_affine(invert_affine(A), landmarks)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), pts.astype(np.float32)


def load_canvases(records: list[FaceRecord], cache_dir: str | Path | None = None, desc: str = "faces"):
    """Load every face as a canvas; returns (N,S,S,3) uint8 and (N,68,2) float32.

    With ``cache_dir``, the arrays are cached in an .npz keyed on the files' contents (see ``content_key``):
    editing a ``.pts`` or replacing an image rebuilds the cache, and the superseded file is deleted.
    """
    cache = _cache_path(cache_dir, "canvas", [(r.image, r.pts) for r in records])
    cached = _read_cache(cache, len(records), ("images", "landmarks"))
    if cached is not None:
        return cached["images"], cached["landmarks"]
    images = np.zeros((len(records), CANVAS_SIZE, CANVAS_SIZE, 3), np.uint8)
    pts = np.zeros((len(records), 68, 2), np.float32)
    for i, r in enumerate(tqdm(records, desc=f"loading {desc}", unit="face", leave=False,
                          mininterval=1.0 if os.isatty(2) else 30.0)):
        img, lm = load_face(r)
        images[i], pts[i] = make_canvas(img, lm)
    if cache:
        _write_cache(cache, images=images, landmarks=pts)
    return images, pts


def load_unlabeled(files: list[Path], extent: float, cache_dir: str | Path | None = None, desc: str = "unlabeled"):
    """Unlabelled faces as canvases plus a nominal face box.

    Returns (N,S,S,3) uint8 and (N,2,2) float32 box corners in canvas pixels: a square of
    side ``extent * S`` centred in the image, standing in for the landmark box that the
    crop rule needs (scale augmentation then covers the spread of real face sizes).
    """
    from .images import read_image

    cache = _cache_path(cache_dir, "unlabeled", [(f,) for f in files])
    cached = _read_cache(cache, len(files), ("images",))
    if cached is not None:
        images = cached["images"]
    else:
        images = np.zeros((len(files), CANVAS_SIZE, CANVAS_SIZE, 3), np.uint8)
        for i, f in enumerate(tqdm(files, desc=f"loading {desc}", unit="face", leave=False,
                                   mininterval=1.0 if os.isatty(2) else 30.0)):
            img = read_image(f)
            side = float(max(img.shape[:2]))
            crop, _ = crop_face(img, FaceSquare(img.shape[1] / 2, img.shape[0] / 2, side), CANVAS_SIZE)
            images[i] = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
        if cache:
            _write_cache(cache, images=images)
    half = extent * CANVAS_SIZE / 2
    c = CANVAS_SIZE / 2
    box = np.array([[c - half, c - half], [c + half, c + half]], np.float32)
    return images, np.broadcast_to(box, (len(images), 2, 2)).copy()


# -- cache ------------------------------------------------------------------------------------
# File names: KIND_SIZE_<hash of the path list>_<hash of the contents>.npz. The first hash groups
# the caches of one file list, so a rebuild deletes the entry it supersedes instead of piling
# up 200 MB files; the second covers, per file, its size, mtime and SHA-1 of its bytes, plus the
# canvas code (_CANVAS_CODE), CACHE_VERSION, CANVAS_SIZE/SCALE and the OpenCV version (decoder).
# Hashing every file's bytes costs about 0.2 s for the 1,677 training faces, far less than a stale
# cache silently training on last week's labels. Delete the folder (runs/cache) to clear it all.


def code_version() -> str:
    """Hash of everything but the data that decides a cached canvas."""
    h = hashlib.sha1(f"v{CACHE_VERSION}|{CANVAS_SIZE}|{CANVAS_SCALE}|cv2 {cv2.__version__}".encode())
    here = Path(__file__).parent
    for name in _CANVAS_CODE:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def content_key(groups: list[tuple[Path, ...]]) -> str:
    """Hash of the files' paths, sizes, mtimes and bytes (in order), and of the canvas code."""
    h = hashlib.sha1(code_version().encode())
    for group in groups:
        for f in group:
            st = os.stat(f)
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}|".encode())
            h.update(hashlib.sha1(Path(f).read_bytes()).digest())
    return h.hexdigest()[:20]


def _cache_path(cache_dir, kind: str, groups: list[tuple[Path, ...]]) -> Path | None:
    if not cache_dir:
        return None
    names = hashlib.sha1("\n".join("|".join(map(str, g)) for g in groups).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{kind}_{CANVAS_SIZE}_{names}_{content_key(groups)}.npz"


def _read_cache(cache: Path | None, n: int, keys: tuple[str, ...]) -> dict | None:
    """The cached arrays, or None (absent, unreadable or the wrong length: then it is rebuilt)."""
    if cache is None or not cache.is_file():
        return None
    try:
        with np.load(cache) as z:
            out = {k: z[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        print(f"warning: {cache}: unreadable cache ({type(e).__name__}), rebuilding it", file=sys.stderr)
        return None
    return out if all(len(v) == n for v in out.values()) else None


def _write_cache(cache: Path, **arrays: np.ndarray) -> None:
    """Atomic write (unique temp file, then rename), then delete older caches of the same file list."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, cache)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    group = cache.name.rsplit("_", 1)[0]
    for old in cache.parent.glob(f"{group}_*.npz"):
        if old != cache:
            old.unlink(missing_ok=True)
