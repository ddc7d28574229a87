"""Draw faces on an image: box, 68 points coloured by confidence, optional iBUG 68-point mesh."""
from __future__ import annotations

import cv2
import numpy as np

# iBUG 68 mesh: (first, last, closed) index runs
MESH = (
    (0, 16, False),  # jaw
    (17, 21, False),  # right brow (subject's right, image left)
    (22, 26, False),  # left brow
    (27, 30, False),  # nose bridge
    (31, 35, False),  # nostrils
    (36, 41, True),  # right eye
    (42, 47, True),  # left eye
    (48, 59, True),  # outer lips
    (60, 67, True),  # inner lips
)
_SHIFT = 4  # sub-pixel drawing: OpenCV fixed-point with 4 fractional bits


def _fx(p: np.ndarray) -> np.ndarray:
    # continuous coords -> OpenCV pixel-centre coords (pixel i has its centre at i + 0.5 continuous)
    return np.round((np.asarray(p, np.float64) - 0.5) * (1 << _SHIFT)).astype(np.int32)


def mesh_lines(landmarks: np.ndarray) -> list[np.ndarray]:
    """(68,2) -> list of (n,2) polylines (closed runs repeat their first point)."""
    out = []
    for a, b, closed in MESH:
        run = landmarks[a: b + 1]
        out.append(np.concatenate([run, run[:1]]) if closed else run)
    return out


def draw_faces(rgb: np.ndarray, faces, mesh: bool = False) -> np.ndarray:
    """Return an annotated copy of an HxWx3 uint8 RGB image (faces: ``landmarker.Face`` list)."""
    img = np.ascontiguousarray(rgb.copy())
    size = max(img.shape[:2])
    thick = max(1, round(size / 500))
    for f in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in f.box)
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), (60, 200, 255), thick, cv2.LINE_AA)
        label = f"{f.score:.2f}" + (f" #{f.track_id}" if f.track_id is not None else "")
        cv2.putText(img, label, (x0, max(y0 - 4 * thick, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick,
                    (60, 200, 255), thick, cv2.LINE_AA)
        lm = np.asarray(f.landmarks)
        extent = float(np.ptp(lm, axis=0).max()) if len(lm) else 0.0
        r = max(1.0, extent / 90)
        if mesh:
            for line in mesh_lines(lm):
                cv2.polylines(img, [_fx(line)], False, (255, 255, 255), max(1, int(r / 2)), cv2.LINE_AA, _SHIFT)
        for p, c in zip(lm, np.asarray(f.confidence)):
            col = (int(255 * (1 - c)), int(255 * c), 0)  # red = unsure, green = confident
            cv2.circle(img, tuple(_fx(p)), int(r * (1 << _SHIFT)), col, -1, cv2.LINE_AA, _SHIFT)
    return img
