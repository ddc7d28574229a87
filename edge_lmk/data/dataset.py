"""300-W layout folders: ``NAME.jpg|png`` + ``NAME.pts``, recursively, any image size."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images import IMAGE_EXTS, ImageFileError, find_image, read_image
from .pts import LandmarkFileError, read_pts


class DatasetError(ValueError):
    """A data folder that cannot be used; the message names the folder or file."""


@dataclass(frozen=True)
class FaceRecord:
    image: Path
    pts: Path
    subset: str  # folder relative to the scanned root, for per-subfolder breakdowns

    def landmarks(self) -> np.ndarray:
        return read_pts(self.pts)


def scan_folder(root: str | os.PathLike) -> list[FaceRecord]:
    """All labelled faces under ``root`` in sorted order. Errors name the offending file."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: data folder not found")
    if root.is_file():
        raise DatasetError(f"{root}: expected a folder in the 300-W layout, got a file")
    records = []
    for pts in sorted(root.rglob("*.pts")):
        img = find_image(pts.with_suffix(""))
        if img is None:
            raise ImageFileError(f"{pts}: no image beside it (looked for {', '.join(IMAGE_EXTS)})")
        rel = pts.parent.relative_to(root).as_posix()
        records.append(FaceRecord(img, pts, rel if rel != "." else root.name))
    if not records:
        raise DatasetError(f"{root}: no .pts files found (expected NAME.jpg + NAME.pts pairs)")
    return records


def scan_folders(roots) -> list[FaceRecord]:
    out = []
    for r in roots:
        out.extend(scan_folder(r))
    return out


def split_train_val(records: list[FaceRecord], val_fraction: float, seed: int = 0):
    """Deterministic split by a hash of the file name, so it is stable as folders grow."""
    def key(r: FaceRecord) -> float:
        h = hashlib.sha1(f"{seed}:{r.pts.name}:{r.subset}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    val = [r for r in records if key(r) < val_fraction]
    train = [r for r in records if key(r) >= val_fraction]
    return train, val


def scan_unlabeled(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (no landmarks), for semi-supervised training."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: unlabeled image folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DatasetError(f"{root}: no images found")
    return files


def load_face(record: FaceRecord) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image, (68,2) continuous landmarks); landmarks are read first so a bad .pts fails fast."""
    pts = record.landmarks()
    img = read_image(record.image)
    h, w = img.shape[:2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    if x1 < 0 or y1 < 0 or x0 > w or y0 > h:  # a .pts for another photo (or another scale): no face to crop
        raise LandmarkFileError(f"{record.pts}: landmarks ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) lie outside "
                                f"the {w}x{h} image {record.image.name}")
    return img, pts
