"""Image loading with clear errors: always returns HxWx3 uint8 RGB."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageFileError(ValueError):
    """An image that cannot be used; the message names the file."""


def to_rgb_uint8(img: np.ndarray, source: str = "image", bgr: bool = False) -> np.ndarray:
    """Normalise grey, RGBA, 16-bit or float arrays to HxWx3 uint8 RGB."""
    if img is None or not isinstance(img, np.ndarray) or img.size == 0:
        raise ImageFileError(f"{source}: empty image")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ImageFileError(f"{source}: unsupported image shape {img.shape}")
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and np.nanmax(img) <= 1.0:
            img = img * 255.0
        img = np.clip(np.nan_to_num(img), 0, 255).round().astype(np.uint8)
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if bgr:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey and RGBA are converted)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageFileError(f"{path}: image file is empty")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageFileError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return to_rgb_uint8(img, str(path), bgr=img.ndim == 3)


def find_image(stem: Path) -> Path | None:
    """Return the image beside a ``.pts`` stem (any common extension, any case)."""
    for ext in IMAGE_EXTS:
        for cand in (stem.with_suffix(ext), stem.with_suffix(ext.upper())):
            if cand.is_file():
                return cand
    return None
