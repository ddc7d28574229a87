"""Crops that are not faces, for checking that the face quality score flags detector false positives.

``background_squares`` picks squares of a photo that do not touch any annotated face (the
landmarks' box grown by ``margin``); ``shifted_squares`` moves the face's own crop square by a
multiple of its side (half a face, or the neighbouring region). Both are deterministic given
the ``numpy.random.Generator``.
"""
from __future__ import annotations

import numpy as np

from .preprocess import FaceSquare, face_square


def _overlaps(sq: FaceSquare, boxes: np.ndarray) -> bool:
    h = sq.side / 2
    return bool(np.any((sq.cx + h > boxes[:, 0]) & (sq.cx - h < boxes[:, 2]) &
                       (sq.cy + h > boxes[:, 1]) & (sq.cy - h < boxes[:, 3])))


def face_boxes(faces: list[np.ndarray], margin: float = 0.25) -> np.ndarray:
    """(F,) list of (68,2) landmarks -> (F,4) boxes x0,y0,x1,y1 grown by ``margin`` x the larger side."""
    out = []
    for p in faces:
        lo, hi = p.min(0), p.max(0)
        m = margin * float(max(hi - lo))
        out.append([lo[0] - m, lo[1] - m, hi[0] + m, hi[1] + m])
    return np.array(out, np.float64).reshape(-1, 4)


def background_squares(shape: tuple[int, int], faces: list[np.ndarray], crop_scale: float, n: int,
                       rng: np.random.Generator, tries: int = 1000) -> list[FaceSquare]:
    """Up to ``n`` squares inside an HxW photo, none touching a face; sides 0.25x .. 1x the largest face's
    crop square (a detector false alarm is face-sized; smaller ones fit beside big faces)."""
    H, W = shape[:2]
    boxes = face_boxes(faces)
    ref = max(face_square(p, crop_scale).side for p in faces) if faces else min(H, W) / 3
    out: list[FaceSquare] = []
    for _ in range(tries):
        if len(out) >= n:
            break
        side = float(min(rng.uniform(0.25, 1.0) * ref, min(H, W)))
        cx, cy = rng.uniform(side / 2, W - side / 2), rng.uniform(side / 2, H - side / 2)
        sq = FaceSquare(float(cx), float(cy), side)
        if not _overlaps(sq, boxes):
            out.append(sq)
    return out


def shifted_squares(landmarks: np.ndarray, crop_scale: float, shift: float) -> list[FaceSquare]:
    """The face's crop square moved by ``shift`` x its side left, right, up and down (4 squares)."""
    sq = face_square(landmarks, crop_scale)
    d = shift * sq.side
    return [FaceSquare(sq.cx + dx, sq.cy + dy, sq.side) for dx, dy in ((-d, 0), (d, 0), (0, -d), (0, d))]


def nonface_inputs(records, contract, per_photo: int, seed: int = 0, shift: float | None = None) -> np.ndarray:
    """(M,3,S,S) model inputs of non-face crops from the photos of ``records`` (300-W layout, one face
    per ``.pts``; HELEN stores each annotated face of a photo as its own copy ``NAME_1.jpg``, ``NAME_2.jpg``,
    so files differing only in that suffix are one photo): ``per_photo`` background squares each, or with
    ``shift`` the faces' squares shifted by that many sides."""
    import re
    from collections import defaultdict

    from .data import load_face
    from .preprocess import crop_face, to_input

    by_image: dict = defaultdict(list)
    for r in records:
        by_image[str(r.image.parent / re.sub(r"_\d+$", "", r.image.stem))].append(r)
    rng = np.random.default_rng(seed)
    xs = []
    for image in sorted(by_image):
        faces = [load_face(r) for r in by_image[image]]
        img = faces[0][0]
        pts = [p for im, p in faces if im.shape == img.shape]
        squares = ([s for p in pts for s in shifted_squares(p, contract.crop_scale, shift)] if shift is not None
                   else background_squares(img.shape, pts, contract.crop_scale, per_photo, rng))
        xs += [to_input(crop_face(img, sq, contract.input_size)[0], contract.pixel_scale)[0] for sq in squares]
    s = contract.input_size
    return np.stack(xs) if xs else np.zeros((0, 3, s, s), np.float32)
