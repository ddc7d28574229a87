"""MediaPipe BlazeFace: anchors, box decoding and weighted NMS (the one implementation).

Used by ``BlazeFaceDetector`` (``edge_lmk.inference.detectors``: the Python API and ``python -m
edge_lmk.detect``) and by ``android_demo/tools/blazeface_fixture.py``, which writes the golden
detections the Android app's Kotlin decoder (``edgelmk.core.BlazeFace``) is tested against.

It is a re-reading of MediaPipe's face_detection graphs (``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator``, ``NonMaxSuppressionCalculator`` with the WEIGHTED
algorithm) for the two vendored models (``edge_lmk/weights/blazeface/``, with licence and
provenance):

* anchors: fixed size, offset 0.5, one per cell per layer of a given stride, layers that
  share a stride stacked per cell (2 anchors each: aspect ratio 1 plus the interpolated one);
  full range: stride 4 on 192 px (48x48x1 = 2,304), short range: strides 8,16,16,16 on
  128 px (16x16x2 + 8x8x6 = 896);
* box: ``centre = anchor + reg[0:2] / S``, ``size = reg[2:4] / S`` (S = input size, the
  graphs' x/y/w/h_scale), keypoints ``anchor + reg[4+2k : 6+2k] / S``; score =
  sigmoid(clip(logit, +-100));
* weighted NMS: best first, every remaining box with IoU > threshold with it (itself
  included) is merged into one detection whose box and keypoints are the score-weighted
  mean of the group and whose score is the best one's.

Coordinates: everything is returned in photo pixels (continuous, pixel ``i`` spans
``[i, i+1)``) through the 2x3 affine ``A`` that maps model-input pixels to photo pixels
(``edge_lmk.preprocess.crop_face`` convention).
"""
from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..preprocess import FaceSquare, apply_affine, crop_face

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "blazeface"  # edge_lmk/weights/
SCORE_CLIP = 100.0
NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion


@dataclass(frozen=True)
class BlazeFaceModel:
    """One vendored BlazeFace variant and the settings of its MediaPipe graph."""

    name: str
    file: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int  # 1 + (interpolated_scale_aspect_ratio > 0) in the graph's SsdAnchorsCalculator
    min_score: float  # the graph's min_score_thresh
    nms_iou: float  # the graph's min_suppression_threshold
    sha256: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file

    @property
    def num_anchors(self) -> int:
        return len(self.anchors())

    def anchors(self) -> np.ndarray:
        return anchors(self.input_size, self.strides, self.anchors_per_layer)


FULL_RANGE = BlazeFaceModel("full", "face_detection_full_range_sparse.tflite", 192, (4,), 1, 0.6, 0.3,
                            "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1")
SHORT_RANGE = BlazeFaceModel("short", "face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5, 0.3,
                             "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8")
MODELS = {m.name: m for m in (FULL_RANGE, SHORT_RANGE)}


@dataclass(frozen=True)
class Detection:
    """One decoded face: ``box`` (x0, y0, x1, y1) and ``keypoints`` (6, 2) in photo pixels."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray

    def to_fixture(self) -> dict:
        """The golden-fixture form the Kotlin tests read: box as [x, y, w, h], keypoints flat."""
        x0, y0, x1, y1 = self.box
        return {"score": float(self.score), "box": [x0, y0, x1 - x0, y1 - y0],
                "keypoints": np.asarray(self.keypoints, np.float64).reshape(-1).tolist()}


@functools.lru_cache(maxsize=8)
def anchors(input_size: int, strides: tuple[int, ...], per_layer: int) -> np.ndarray:
    """(N, 2) anchor centres, normalised to [0, 1], in MediaPipe's order.

    Consecutive layers with the same stride share one grid; each contributes ``per_layer``
    anchors per cell (fixed anchor size, so only the centres matter).
    """
    out: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = per_layer * (last - layer)
        fm = math.ceil(input_size / strides[layer])
        for y in range(fm):
            for x in range(fm):
                out += [((x + 0.5) / fm, (y + 0.5) / fm)] * per_cell
        layer = last
    a = np.array(out, np.float64)
    a.flags.writeable = False  # cached: shared by every caller
    return a


def letterbox(rgb: np.ndarray, size: int, region: FaceSquare | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Photo (or a square ``region`` of it) -> model input (1, size, size, 3) float32 in [-1, 1], and A.

    The default region is the square of side max(H, W) centred on the photo (letterbox, zeros
    = -1 outside), sampled by the crop rule (integer box pre-shrink, then bilinear), so big
    photos are anti-aliased. ``A`` (2x3) maps input pixels to photo pixels.
    """
    h, w = rgb.shape[:2]
    sq = region or FaceSquare(w / 2.0, h / 2.0, float(max(w, h)))
    if region is None:
        crop, A = crop_face(rgb, sq, size)
    else:
        from .landmarker import crop_region  # same pixels as crop_face, on the needed part only

        crop, A = crop_region(rgb, sq, size)
    return (crop / np.float32(127.5) - np.float32(1.0)).astype(np.float32)[None], A


def decode_raw(reg: np.ndarray, cls: np.ndarray, model: BlazeFaceModel,
               min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> candidates above ``min_score``, in input pixels.

    reg (N, 16), cls (N,) or (N, 1) -> scores (M,), boxes (M, 4) x0 y0 x1 y1, keypoints (M, 6, 2).
    """
    anc = model.anchors()
    reg = np.asarray(reg, np.float64).reshape(len(anc), -1)
    logit = np.clip(np.asarray(cls, np.float64).reshape(len(anc)), -SCORE_CLIP, SCORE_CLIP)
    score = 1.0 / (1.0 + np.exp(-logit))
    idx = np.nonzero(score >= min_score)[0]
    S = float(model.input_size)
    r, a = reg[idx], anc[idx]
    c = (r[:, 0:2] / S + a) * S
    half = r[:, 2:4] / 2.0
    boxes = np.concatenate([c - half, c + half], axis=1)
    kps = (r[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) / S + a[:, None, :]) * S
    return score[idx], boxes, kps


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, 4) x (K, 4) x0 y0 x1 y1 -> (M, K) intersection over union (0 where the union is empty)."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, kps: np.ndarray,
                 iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    scores (M,), boxes (M, 4), kps (M, K, 2) -> the same, one row per merged face, best first.
    """
    order = np.argsort(-scores, kind="stable")
    s, b, k = scores[order], boxes[order], kps[order]
    out_s, out_b, out_k = [], [], []
    alive = np.ones(len(s), bool)
    for i in range(len(s)):
        if not alive[i]:
            continue
        rest = np.nonzero(alive)[0]
        group = rest[iou_matrix(b[i:i + 1], b[rest])[0] > iou]
        group = np.union1d(group, [i])
        w = s[group]
        out_s.append(s[i])
        out_b.append((b[group] * w[:, None]).sum(0) / w.sum())
        out_k.append((k[group] * w[:, None, None]).sum(0) / w.sum())
        alive[group] = False
    n = len(out_s)
    return (np.array(out_s, np.float64), np.array(out_b, np.float64).reshape(n, 4),
            np.array(out_k, np.float64).reshape(n, kps.shape[1], 2))


def to_photo(boxes: np.ndarray, kps: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input-pixel boxes (M, 4) and keypoints (M, K, 2) -> photo pixels through A (scale + shift)."""
    p0, p1 = apply_affine(A, boxes[:, 0:2]), apply_affine(A, boxes[:, 2:4])
    return np.concatenate([np.minimum(p0, p1), np.maximum(p0, p1)], axis=1), apply_affine(A, kps)


def decode(reg: np.ndarray, cls: np.ndarray, A: np.ndarray, model: BlazeFaceModel = SHORT_RANGE,
           min_score: float | None = None, iou: float | None = None) -> list[Detection]:
    """Raw model outputs of one input -> detections in photo pixels, best first (the graph's decode)."""
    s, b, k = decode_raw(reg, cls, model, model.min_score if min_score is None else min_score)
    s, b, k = weighted_nms(s, b, k, model.nms_iou if iou is None else iou)
    b, k = to_photo(b, k, A)
    return [Detection(float(si), tuple(float(v) for v in bi), ki) for si, bi, ki in zip(s, b, k)]


class BlazeFaceModelError(ValueError):
    """A BlazeFace model file that is missing or not the vendored one; the message names the file."""


class BlazeFaceRunner:
    """The .tflite model in ``ai_edge_litert`` (one thread by default): (1,S,S,3) -> (reg (N,16), cls (N,))."""

    def __init__(self, model: BlazeFaceModel = FULL_RANGE, path: str | Path | None = None, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.model = model
        self.path = Path(path) if path else model.path
        if not self.path.is_file():
            raise BlazeFaceModelError(f"{self.path}: BlazeFace model not found")
        data = self.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != model.sha256:  # the decoding constants belong to this exact model
            raise BlazeFaceModelError(f"{self.path}: sha256 {digest[:12]}... is not the vendored "
                                      f"{model.file} ({model.sha256[:12]}...)")
        self._it = Interpreter(model_content=data, num_threads=threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        outs = {int(d["shape"][-1]): d["index"] for d in self._it.get_output_details()}
        self._reg, self._cls = outs[16], outs[1]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._it.set_tensor(self._in, np.ascontiguousarray(x, np.float32))
        self._it.invoke()
        return self._it.get_tensor(self._reg)[0].copy(), self._it.get_tensor(self._cls)[0, :, 0].copy()


__all__ = ["BlazeFaceModel", "BlazeFaceRunner", "Detection", "FULL_RANGE", "MODELS", "SHORT_RANGE", "anchors",
           "decode", "decode_raw", "iou_matrix", "letterbox", "to_photo", "weighted_nms"]
