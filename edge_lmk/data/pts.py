"""Read and write iBUG ``.pts`` landmark files.

Files store Matlab-convention coordinates (centre of the top-left pixel is (1, 1)).
Everything inside edge-lmk uses continuous coordinates, in which pixel ``i`` spans
``[i, i+1)``; the 0.5 shift happens here and nowhere else.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes

N_POINTS = 68
MATLAB_OFFSET = 0.5
# A face is refused on reading when it could only give a wrong number later (a singular crop
# transform, NME divided by zero, float32 overflow). Real 300-W faces have an inter-ocular
# distance of 23 px or more and every coordinate below 1,100 px.
MAX_ABS_COORD = 1e6  # px: far beyond any photo the image reader accepts (MAX_IMAGE_PIXELS)
MIN_EXTENT = 1.0  # px: larger side of the landmarks' bounding box
MIN_IOD = 1.0  # px: outer eye corners 36 and 45 (the NME normaliser), 68-point faces only
EYE_CORNERS = (36, 45)


class LandmarkFileError(ValueError):
    """A ``.pts`` file that cannot be used; the message names the file."""


def read_pts(path: str | os.PathLike, n_points: int = N_POINTS) -> np.ndarray:
    """Return (n_points, 2) float64 landmarks in continuous coordinates.

    Accepts the iBUG header (``version``/``n_points``/``{``...``}``) or bare ``x y`` lines.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise LandmarkFileError(f"{path}: landmark file not found") from None
    except (UnicodeDecodeError, OSError) as e:
        raise LandmarkFileError(f"{path}: cannot read landmark file ({e})") from None
    declared = None
    rows: list[tuple[float, float]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line in "{}" or line.lower().startswith("version"):
            continue
        if line.lower().startswith("n_points"):
            try:
                declared = int(line.split(":", 1)[1])
            except (IndexError, ValueError):
                raise LandmarkFileError(f"{path}:{lineno}: bad n_points line {raw!r}") from None
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise LandmarkFileError(f"{path}:{lineno}: expected 'x y', got {raw!r}")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise LandmarkFileError(f"{path}:{lineno}: non-numeric coordinate in {raw!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise LandmarkFileError(f"{path}:{lineno}: non-finite coordinate in {raw!r}")
        rows.append((x, y))
    if declared is not None and declared != len(rows):
        raise LandmarkFileError(f"{path}: header says n_points {declared} but file has {len(rows)} points")
    if len(rows) != n_points:
        raise LandmarkFileError(f"{path}: expected {n_points} points, found {len(rows)}")
    pts = np.asarray(rows, dtype=np.float64) - MATLAB_OFFSET
    check_face(pts, str(path))
    return pts


def check_face(pts: np.ndarray, source: str) -> None:
    """Refuse (K,2) landmarks that no real face has; raises ``LandmarkFileError`` naming ``source``."""
    if not np.isfinite(pts).all():
        raise LandmarkFileError(f"{source}: non-finite landmark coordinate")
    big = float(np.abs(pts).max(initial=0.0))
    if big > MAX_ABS_COORD:
        raise LandmarkFileError(f"{source}: landmark coordinate {big:.3g} px is absurd (limit {MAX_ABS_COORD:.0e} px)")
    extent = float((pts.max(0) - pts.min(0)).max()) if len(pts) else 0.0
    if extent < MIN_EXTENT:
        raise LandmarkFileError(f"{source}: degenerate face, all landmarks within {extent:.3g} px "
                                f"(need an extent of at least {MIN_EXTENT:g} px)")
    if len(pts) == N_POINTS:
        iod = float(np.linalg.norm(pts[EYE_CORNERS[0]] - pts[EYE_CORNERS[1]]))
        if iod < MIN_IOD:
            raise LandmarkFileError(f"{source}: degenerate face, inter-ocular distance (points 36-45) {iod:.3g} px "
                                    f"(need at least {MIN_IOD:g} px)")


def write_pts(path: str | os.PathLike, landmarks: np.ndarray) -> None:
    """Write continuous-coordinate landmarks as an iBUG ``.pts`` file, atomically."""
    pts = np.asarray(landmarks, dtype=np.float64) + MATLAB_OFFSET
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
    text = f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n"
    atomic_write_bytes(path, text.encode())
