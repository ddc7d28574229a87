"""The one piece of pre- and post-processing shared by training, evaluation and every runtime.

Crop rule (part of every model's preprocessing contract, see ``edge_lmk.contract``):
the face square is centred on the centre of the landmarks' bounding box (or of a detector
box mapped onto it) with side ``crop_scale * max(box width, box height)``; it is sampled to
``input_size x input_size`` with bilinear interpolation at pixel centres, zeros outside the
photo. When the square is more than twice the output size, the photo is first shrunk by an
integer factor with an exact box filter so that bilinear sampling never skips pixels.
All coordinates are continuous: pixel ``i`` spans ``[i, i+1)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# iBUG 68-point left/right permutation for horizontal flips.
FLIP_PERMUTATION = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer mouth
    + [64, 63, 62, 61, 60, 67, 66, 65],  # inner mouth
    dtype=np.int64,
)


@dataclass(frozen=True)
class FaceSquare:
    """A square face region in photo coordinates."""

    cx: float
    cy: float
    side: float


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(68,2) landmarks -> (cx, cy, extent): bbox centre and larger bbox side."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    c = (lo + hi) / 2.0
    return float(c[0]), float(c[1]), float(max(hi - lo))


def face_square(landmarks: np.ndarray, crop_scale: float) -> FaceSquare:
    cx, cy, extent = landmark_box(landmarks)
    return FaceSquare(cx, cy, crop_scale * extent)


def crop_matrix(square: FaceSquare, out_size: int, angle_deg: float = 0.0, flip: bool = False) -> np.ndarray:
    """2x3 affine A mapping crop coordinates q (continuous, [0,out_size]^2) to photo coordinates.

    p = centre + R(angle) @ F @ (q - out_size/2) * side/out_size, F mirrors x when ``flip``.
    """
    s = square.side / out_size
    a = math.radians(angle_deg)
    R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    F = np.diag([-1.0 if flip else 1.0, 1.0])
    M = R @ F * s
    t = np.array([square.cx, square.cy]) - M @ np.array([out_size / 2.0, out_size / 2.0])
    return np.concatenate([M, t[:, None]], axis=1)


def invert_affine(A: np.ndarray) -> np.ndarray:
    M, t = A[:, :2], A[:, 2]
    Mi = np.linalg.inv(M)
    return np.concatenate([Mi, (-Mi @ t)[:, None]], axis=1)


def apply_affine(A: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply 2x3 affine to (..., 2) points."""
    return pts @ A[:, :2].T + A[:, 2]


def shrink_integer(image: np.ndarray, k: int) -> np.ndarray:
    """Exact k x k box-filter downscale: new pixel i covers old [k*i, k*i+k), so coordinates scale by 1/k."""
    if k <= 1:
        return image
    h, w = (image.shape[0] // k) * k, (image.shape[1] // k) * k
    if h == 0 or w == 0:
        return image
    return cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)


def sample_bilinear(image: np.ndarray, A: np.ndarray, out_size: int) -> np.ndarray:
    """Sample ``out_size``^2 pixels at photo points A @ (q + 0.5); zeros outside.

    Identical to ``torch.nn.functional.grid_sample(mode='bilinear', padding_mode='zeros',
    align_corners=False)`` so training-time augmentation and inference crop the same way.
    Returns float32 (out_size, out_size, C) in the image's value range.
    """
    img = image.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    H, W = img.shape[:2]
    g = np.arange(out_size, dtype=np.float64) + 0.5
    qx, qy = np.meshgrid(g, g)
    px = A[0, 0] * qx + A[0, 1] * qy + A[0, 2] - 0.5
    py = A[1, 0] * qx + A[1, 1] * qy + A[1, 2] - 0.5
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = (px - x0).astype(np.float32), (py - y0).astype(np.float32)
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    out = np.zeros((out_size, out_size, img.shape[2]), np.float32)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            w = (wx * wy * ok)[..., None]
            out += w * img[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]
    return out


def crop_face(
    image: np.ndarray, square: FaceSquare, out_size: int, angle_deg: float = 0.0, flip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a face square to ``out_size``^2 float32 RGB (0..255).

    Returns (crop, A) where A maps crop coordinates to photo coordinates.
    """
    A = crop_matrix(square, out_size, angle_deg, flip)
    scale = square.side / out_size
    k = int(math.floor(scale)) if scale >= 2.0 else 1  # leaves a bilinear step of 1x..2x
    if k > 1:
        small = shrink_integer(image, k)
        A_small = A.copy()
        A_small /= k  # photo coords -> shrunk photo coords is a pure 1/k scale
        crop = sample_bilinear(small, A_small, out_size)
    else:
        crop = sample_bilinear(image, A, out_size)
    return crop, A


def to_input(crops: np.ndarray, scale: float = 1.0 / 255.0) -> np.ndarray:
    """(N,H,W,3) or (H,W,3) float RGB 0..255 -> (N,3,H,W) float32 model input."""
    x = np.asarray(crops, np.float32)
    if x.ndim == 3:
        x = x[None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) * np.float32(scale))


def crop_to_photo(landmarks_crop: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Map (...,68,2) crop-pixel landmarks back to photo coordinates."""
    return apply_affine(A, landmarks_crop)
