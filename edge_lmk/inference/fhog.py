"""Felzenszwalb HOG ("FHOG", PAMI 2010) features and linear-template scoring, in numpy + OpenCV.

The pinned ``opencv-python-headless`` 5.x no longer ships ``CascadeClassifier``,
``HOGDescriptor`` or the Haar cascade files, so the offline face detector
(``edge_lmk.inference.detectors.FhogFaceDetector``) is a dlib-style FHOG + linear SVM built on these
two functions. Both are deterministic and used unchanged at training and detection time.

Feature map layout: ``fhog(gray, cell)`` of an ``H x W`` image has shape
``(H // cell - 2, W // cell - 2, 31)``; map cell ``(i, j)`` describes image pixels
``[(i + 1) * cell, (i + 2) * cell)`` (rows) x ``[(j + 1) * cell, (j + 2) * cell)`` (columns):
the outermost ring of cells only serves as normalisation context.
"""
from __future__ import annotations

import cv2
import numpy as np

N_ORIENT = 18  # contrast-sensitive orientation bins over 360 degrees
N_FEATURES = 31  # 18 signed + 9 unsigned + 4 texture (gradient energy per normaliser)
_CLIP = 0.2
_EPS = 1e-4


def _cell_histograms(gray: np.ndarray, cell: int) -> np.ndarray:
    """(H,W) float32 -> (H//cell, W//cell, 18) gradient-magnitude histograms.

    Orientation votes are split linearly between the two nearest bins; spatial binning is hard
    (each pixel votes in its own cell), which keeps this two ``bincount`` calls.
    """
    H, W = gray.shape
    hc, wc = H // cell, W // cell
    k = np.array([[-1.0, 0.0, 1.0]], np.float32)
    gx = cv2.filter2D(gray, cv2.CV_32F, k, borderType=cv2.BORDER_REPLICATE)[: hc * cell, : wc * cell]
    gy = cv2.filter2D(gray, cv2.CV_32F, k.T, borderType=cv2.BORDER_REPLICATE)[: hc * cell, : wc * cell]
    mag, ang = cv2.cartToPolar(np.ascontiguousarray(gx), np.ascontiguousarray(gy))  # ang in [0, 2*pi]
    ang *= np.float32(N_ORIENT / (2 * np.pi))
    b0 = ang.astype(np.int32)  # truncation = floor, angles are >= 0
    ang -= b0  # now the weight of the upper bin
    np.minimum(b0, N_ORIENT - 1, out=b0)
    cy = (np.arange(hc * cell, dtype=np.int32) // cell) * (wc * N_ORIENT)
    cx = (np.arange(wc * cell, dtype=np.int32) // cell) * N_ORIENT
    idx = cy[:, None] + cx[None, :]
    idx += b0
    m1 = mag * ang
    mag -= m1
    n = hc * wc * N_ORIENT
    hist = np.bincount(idx.ravel(), mag.ravel(), minlength=n)
    idx += 1
    idx[b0 == N_ORIENT - 1] -= N_ORIENT  # bin 17 wraps to bin 0
    hist += np.bincount(idx.ravel(), m1.ravel(), minlength=n)
    return hist.reshape(hc, wc, N_ORIENT).astype(np.float32)


def fhog(gray: np.ndarray, cell: int = 8) -> np.ndarray:
    """(H,W) grey image, values 0..255 (uint8 or float) -> (H//cell-2, W//cell-2, 31) float32 FHOG map."""
    g = np.asarray(gray, np.float32)
    if g.ndim != 2:
        raise ValueError(f"fhog expects a 2-D grey image, got shape {g.shape}")
    g = g * np.float32(1.0 / 255.0)
    h = _cell_histograms(g, cell)
    hc, wc = h.shape[:2]
    if hc < 3 or wc < 3:
        return np.zeros((max(hc - 2, 0), max(wc - 2, 0), N_FEATURES), np.float32)
    u = h[..., :9] + h[..., 9:]
    energy = (u * u).sum(-1)
    # 2x2 block energies; block (i,j) covers cells (i..i+1, j..j+1)
    blk = energy[:-1, :-1] + energy[1:, :-1] + energy[:-1, 1:] + energy[1:, 1:]
    inner = h[1:-1, 1:-1]
    inner_u = u[1:-1, 1:-1]
    signed = np.zeros(inner.shape, np.float32)
    unsigned = np.zeros(inner_u.shape, np.float32)
    texture = []
    # the four blocks that contain interior cell (i,j): offsets into blk
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        n = 1.0 / np.sqrt(blk[dy: dy + hc - 2, dx: dx + wc - 2] + _EPS)[..., None]
        s = np.minimum(inner * n, _CLIP)
        signed += s
        unsigned += np.minimum(inner_u * n, _CLIP)
        texture.append(s.sum(-1))
    tex = np.stack(texture, -1) * np.float32(0.2357)
    return np.concatenate([signed * 0.5, unsigned * 0.5, tex], -1).astype(np.float32)


def score_map(feat: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Linear template response: feat (Hm,Wm,D), template (th,tw,D) -> (Hm-th+1, Wm-tw+1).

    ``out[y, x] = sum(template * feat[y:y+th, x:x+tw])``; done as th*tw small matrix-vector
    products so no (positions x template) array is ever materialised.
    """
    th, tw, d = template.shape
    hm, wm = feat.shape[:2]
    oh, ow = hm - th + 1, wm - tw + 1
    if oh <= 0 or ow <= 0:
        return np.zeros((max(oh, 0), max(ow, 0)), np.float32)
    out = np.zeros((oh, ow), np.float32)
    for dy in range(th):
        rows = feat[dy: dy + oh]
        for dx in range(tw):
            out += rows[:, dx: dx + ow] @ template[dy, dx]
    return out
