"""Pyramid of overlapping tiles so a fixed-input detector sees small faces at its working scale.

A detector with an ``S x S`` input (BlazeFace full range: 192) finds faces whose extent is
roughly 0.1-0.5 of its input (measured: ``docs/detection/README.md``). One letterboxed pass over
a 4000 px photo shrinks a 40 px face to 2 px, so the photo is also scanned as a pyramid: level
``j`` is the photo resized by ``s_j`` (doubling from level to level, never above 1) and cut
into ``S x S`` windows that overlap by ``overlap`` input pixels. The finest level puts a face
of ``min_face`` photo pixels at ``target`` input pixels. A face smaller than the overlap lies
wholly inside at least one window of its level; bigger ones are the business of the coarser
levels (where they are half as big), and the coarsest level is the whole photo, letterboxed,
plus optionally a zoomed-out copy (the photo in a square twice its size) for faces that fill
the frame.

Each ``Tile`` carries the 2x3 affine from its input pixels to photo pixels and which of its
sides are inside the photo (a detection touching such a side is a face cut by the window:
the neighbouring window sees it whole).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..preprocess import FaceSquare, crop_face, shrink_integer


@dataclass(frozen=True)
class Tile:
    level: int  # -1 zoomed out, 0 whole photo, 1.. finer
    A: np.ndarray  # (2, 3) input pixels -> photo pixels
    inner: tuple[bool, bool, bool, bool]  # left, top, right, bottom side lies inside the photo (cut faces)


def level_scales(h: int, w: int, size: int, min_face: float, target: float) -> list[float]:
    """Scales of the tiled levels, coarsest first (the whole-photo level is not included).

    The whole photo is seen at ``size / max(h, w)``; finer levels double that until a face of
    ``min_face`` photo pixels spans ``target`` input pixels (capped at scale 1: no upsampling).
    """
    s0 = size / max(h, w)
    finest = min(1.0, target / max(min_face, 1e-6))
    out, s = [], s0
    while s < finest * (1 - 1e-9):
        s = min(2 * s, finest)
        out.append(s)
    return out


def windows(n: int, size: int, overlap: int) -> list[int]:
    """Start offsets of ``size`` windows covering [0, n) with at least ``overlap`` shared pixels."""
    if n <= size:
        return [0]
    step = size - overlap
    k = math.ceil((n - size) / step)
    return [round(i * (n - size) / k) for i in range(k + 1)]  # spread evenly, last one flush with the edge


def plan(h: int, w: int, size: int, min_face: float = 40.0, target: float = 24.0,
         overlap: int = 64) -> list[tuple[float, list[tuple[int, int]]]]:
    """[(scale, [(x0, y0) window origins in the scaled level])] for every tiled level, coarsest first."""
    out = []
    for s in level_scales(h, w, size, min_face, target):
        lw, lh = max(1, round(w * s)), max(1, round(h * s))
        out.append((s, [(x, y) for y in windows(lh, size, overlap) for x in windows(lw, size, overlap)]))
    return out


def resize_level(rgb: np.ndarray, s: float) -> tuple[np.ndarray, float, float]:
    """Photo scaled by ``s`` with the crop rule's anti-aliasing; returns (image, sx, sy) exact factors."""
    H, W = rgb.shape[:2]
    nw, nh = max(1, round(W * s)), max(1, round(H * s))
    if (nw, nh) == (W, H):
        return rgb, 1.0, 1.0
    k = int(math.floor(1.0 / s)) if s <= 0.5 else 1
    src = shrink_integer(rgb, k) if k > 1 else rgb
    # shrink_integer drops the last W % k columns: scale from what is left so pixels stay exact
    sx, sy = nw / (src.shape[1] * k), nh / (src.shape[0] * k)
    return cv2.resize(src, (nw, nh), interpolation=cv2.INTER_LINEAR), sx, sy


def tiles(rgb: np.ndarray, size: int, min_face: float | None = 40.0, target: float = 24.0, overlap: int = 64,
          zoom_out: bool = True):
    """Yield (input (size, size, 3) float32 RGB 0..255, Tile), coarsest level first.

    ``min_face=None``: no tiled levels (the whole photo, and the zoomed-out copy if asked).
    """
    H, W = rgb.shape[:2]
    whole = FaceSquare(W / 2.0, H / 2.0, float(max(W, H)))
    if zoom_out:
        crop, A = crop_face(rgb, FaceSquare(whole.cx, whole.cy, 2 * whole.side), size)
        yield crop, Tile(-1, A, (False,) * 4)
    crop, A = crop_face(rgb, whole, size)
    yield crop, Tile(0, A, (False,) * 4)
    levels = plan(H, W, size, min_face, target, overlap) if min_face else []
    for j, (s, origins) in enumerate(levels, start=1):
        level, sx, sy = resize_level(rgb, s)
        lh, lw = level.shape[:2]
        for x0, y0 in origins:
            win = np.zeros((size, size, 3), np.float32)
            part = level[y0:y0 + size, x0:x0 + size]
            win[:part.shape[0], :part.shape[1]] = part
            A = np.array([[1.0 / sx, 0.0, x0 / sx], [0.0, 1.0 / sy, y0 / sy]])
            inner = (x0 > 0, y0 > 0, x0 + size < lw, y0 + size < lh)
            yield win, Tile(j, A, inner)


def count(h: int, w: int, size: int, min_face: float | None = 40.0, target: float = 24.0, overlap: int = 64,
          zoom_out: bool = True) -> int:
    """How many detector passes ``tiles`` makes on an h x w photo."""
    levels = plan(h, w, size, min_face, target, overlap) if min_face else []
    return 1 + int(zoom_out) + sum(len(o) for _, o in levels)
