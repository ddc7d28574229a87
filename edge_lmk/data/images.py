"""Image loading with clear errors: always returns HxWx3 uint8 RGB, upright.

``read_image`` is the one image-file reader of the project (evaluate, train, detect, the
landmarker and the detector trainer all read through it). In order, it:

1. parses the header only (Pillow, lazily: nothing is decoded) for the size and the EXIF
   orientation, and refuses an image of more than ``MAX_IMAGE_PIXELS`` before any pixel is
   decoded;
2. decodes with OpenCV (``IMREAD_UNCHANGED``, so grey, alpha and 16-bit survive to
   ``to_rgb_uint8``; that flag also makes OpenCV ignore the EXIF orientation);
3. applies the EXIF orientation once, here, so a phone photo stored sideways with
   ``Orientation = 6`` comes out as it is displayed (and as its ``.pts`` was annotated).

Every failure is an ``ImageFileError`` whose message names the file.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Pillow formats the header parser may identify: those of IMAGE_EXTS, nothing else (less attack surface).
HEADER_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")
# Largest image (width x height) accepted, checked from the header before decoding: 200 MP covers
# the largest phone sensors (16320 x 12240) and still decodes in ~0.6 GB; larger files are refused.
MAX_IMAGE_PIXELS = 200_000_000
EXIF_ORIENTATION = 0x0112


class ImageFileError(ValueError):
    """An image that cannot be used; the message names the file."""


@dataclass(frozen=True)
class ImageHeader:
    width: int  # as stored, before the EXIF orientation
    height: int
    orientation: int  # EXIF 1-8; 1 = stored upright (also when the tag is absent or invalid)


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


def _pillow_header(data: bytes) -> Image.Image:
    """Pillow image with only its header parsed. Pillow's own decompression-bomb guard (an error
    above ~179 MP) is stricter than ``MAX_IMAGE_PIXELS``, so the format is opened through its
    registered factory, which parses the header without that check; our limit is applied next."""
    Image.init()
    prefix = data[:16]
    for fmt in HEADER_FORMATS:
        if fmt not in Image.OPEN:  # e.g. a Pillow built without WebP
            continue
        factory, accept = Image.OPEN[fmt]
        if accept is None or accept(prefix):
            return factory(io.BytesIO(data), None)
    raise ValueError("unknown format")


def read_header(data: bytes, source: str) -> ImageHeader:
    """Size and EXIF orientation from an encoded image's header, decoding no pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd-but-readable headers
            im = _pillow_header(data)
            w, h = im.size
            orientation = _orientation(im)
    except Exception:  # noqa: BLE001 - a third-party parser on untrusted bytes: any failure means unusable
        raise ImageFileError(f"{source}: cannot decode image (corrupt or unsupported format)") from None
    return ImageHeader(int(w), int(h), orientation)


def _orientation(im: Image.Image) -> int:
    """EXIF orientation from what the header parse already read (never forces a decode)."""
    if im.format == "TIFF":
        value = im.tag_v2.get(0x0112, 1)
    else:
        raw = im.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        value = exif.get(EXIF_ORIENTATION, 1)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1  # out-of-range tags are ignored, as viewers do


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """(H,W[,C]) as stored -> as displayed for EXIF ``orientation`` 1-8 (same maps as Pillow's exif_transpose)."""
    if orientation == 2:
        img = img[:, ::-1]
    elif orientation == 3:
        img = img[::-1, ::-1]
    elif orientation == 4:
        img = img[::-1]
    elif orientation == 5:
        img = img.swapaxes(0, 1)
    elif orientation == 6:
        img = np.rot90(img, -1)  # 90 degrees clockwise
    elif orientation == 7:
        img = img[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        img = np.rot90(img, 1)
    return np.ascontiguousarray(img)


def check_size(width: int, height: int, source: str, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageFileError(f"{source}: image too large ({width}x{height} = {width * height / 1e6:.0f} MP, limit "
                             f"{max_pixels / 1e6:.0f} MP); downscale it first")


def read_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, EXIF orientation applied (grey and RGBA are converted).

    Images of more than ``max_pixels`` are refused from their header, before decoding."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: image file not found")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageFileError(f"{path}: cannot read image file ({e.strerror or e})") from None
    if not data:
        raise ImageFileError(f"{path}: image file is empty")
    header = read_header(data, str(path))
    check_size(header.width, header.height, str(path), max_pixels)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.shape[:2] != (header.height, header.width):
        raise ImageFileError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return apply_orientation(to_rgb_uint8(img, str(path), bgr=img.ndim == 3), header.orientation)


def find_image(stem: Path) -> Path | None:
    """Return the image beside a ``.pts`` stem (any common extension, any case). The extension is
    appended, not swapped: ``a.jpg.chip`` (from ``a.jpg.chip.pts``) looks for ``a.jpg.chip.jpg``."""
    for ext in IMAGE_EXTS:
        for cand in (stem.with_name(stem.name + ext), stem.with_name(stem.name + ext.upper())):
            if cand.is_file():
                return cand
    return None
