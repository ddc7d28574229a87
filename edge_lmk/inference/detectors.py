"""Face detectors for ``FaceLandmarker``: a tiny protocol, an offline default, and recipes for others.

Protocol
--------
A detector is any object with ``detect(rgb) -> list[(box, score)]`` where ``rgb`` is an
HxWx3 uint8 RGB array, ``box = (x0, y0, x1, y1)`` in that array's pixels (continuous
coordinates) and ``score`` in [0, 1]. Optional attributes: ``name`` (str) and
``box_mapping`` (a ``BoxMapping``, how its boxes relate to the landmark-bbox square the
landmark models were trained on; identity-like if absent). Fit a mapping for your own
detector with ``python -m edge_lmk.detector_train fit-box --detector pkg.module:Factory``.

Default: ``BlazeFaceDetector``
------------------------------
MediaPipe's BlazeFace full-range model (Apache-2.0, vendored with its provenance in
``edge_lmk/weights/blazeface/``, run in the pinned ``ai-edge-litert``; decoding in
``edge_lmk.inference.blazeface``, shared with the Android golden fixtures) over a pyramid of
overlapping 192 px tiles (``edge_lmk.inference.tiles``) down to ``min_face`` = 40 px faces.
``make_detector("blazeface_short")`` is the short-range model on the whole frame (selfie video,
what the Android app runs). Measured on composed multi-face photos: ``docs/detection/README.md``.

Fallback: ``FhogFaceDetector``
------------------------------
A dlib-style FHOG + linear SVM sliding-window detector trained here on the 300-W training
faces (``edge_lmk/weights/face_fhog.npz``, about 13 kB; ``python -m edge_lmk.detector_train
train`` regenerates it); frontal/near-frontal only, like dlib's HOG detector
(``--detector fhog``). The pinned OpenCV has no ``CascadeClassifier`` or Haar files.

Recipes for other detectors (not bundled, not tested here)
----------------------------------------------------------
* OpenCV YuNet (user-supplied ``face_detection_yunet_2023mar.onnx`` from opencv_zoo)::

      class YuNet:
          name = "yunet"
          def __init__(self, model_path, score=0.6):
              self.net = cv2.FaceDetectorYN.create(model_path, "", (320, 320), score)
          def detect(self, rgb):
              h, w = rgb.shape[:2]
              self.net.setInputSize((w, h))
              _, faces = self.net.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # YuNet wants BGR
              return [((f[0], f[1], f[0] + f[2], f[1] + f[3]), float(f[-1])) for f in (faces if faces is not None else [])]

* dlib HOG: ``det = dlib.get_frontal_face_detector(); rects, scores, _ = det.run(rgb, 1, 0)``
  -> ``[((r.left(), r.top(), r.right() + 1, r.bottom() + 1), 1 / (1 + exp(-s))) ...]``.

Whatever the detector, run ``fit-box`` once: boxes of different detectors sit at different
offsets and scales relative to the landmarks, and the landmark model is sensitive to that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .fhog import fhog, score_map
from ..preprocess import FaceSquare, shrink_integer

Box = tuple[float, float, float, float]
WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "face_fhog.npz"  # edge_lmk/weights/


@runtime_checkable
class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        """HxWx3 uint8 RGB -> [(x0, y0, x1, y1), score in [0,1]] in image pixels."""


@dataclass(frozen=True)
class BoxMapping:
    """Detector box -> landmark-bbox square: centre = box centre + (dx, dy) * size, extent = k * size.

    ``size`` is the box's geometric-mean side sqrt(w*h). The landmark crop is then
    ``crop_scale * extent`` wide (the model's contract), exactly as for ground-truth crops.
    """

    dx: float = 0.0
    dy: float = 0.0
    k: float = 1.0

    def square(self, box: Box, crop_scale: float) -> FaceSquare:
        x0, y0, x1, y1 = box
        size = math.sqrt(max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6))
        cx, cy = (x0 + x1) / 2 + self.dx * size, (y0 + y1) / 2 + self.dy * size
        return FaceSquare(cx, cy, crop_scale * self.k * size)


# Fitted with `python -m edge_lmk.detector_train fit-box` on the 300-W training faces: medians
# over 1621 detected of 1665 crops, each zoomed out by U(0.75, 1) and shifted at random (photos
# of the evaluation sample excluded); MAD dx 0.029, dy 0.024, k 0.047. The detector was trained
# on windows 1.2x the landmark extent (k = 0.833); over its pyramid it picks slightly smaller ones.
FHOG_BOX_MAPPING = BoxMapping(dx=0.0033, dy=0.0066, k=0.8534)


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: list[Box], scores: list[float], iou: float = 0.3) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best first.

    Also drops a box whose centre lies inside a kept, higher-scoring box of similar size (the
    usual duplicate at a neighbouring pyramid level), and a box that lies mostly (> 70%)
    inside a kept box (a face part - an eye, the mouth - firing inside a face found at a
    coarser level: faces do not nest).
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep: list[int] = []
    for i in order:
        bi = boxes[i]
        cx, cy = (bi[0] + bi[2]) / 2, (bi[1] + bi[3]) / 2
        dup = False
        for j in keep:
            bj = boxes[j]
            if box_iou(bi, bj) > iou:
                dup = True
                break
            inside = bj[0] <= cx <= bj[2] and bj[1] <= cy <= bj[3]
            ratio = (bi[2] - bi[0]) / max(bj[2] - bj[0], 1e-6)
            if inside and 0.5 < ratio < 2.0:
                dup = True
                break
            ix = max(0.0, min(bi[2], bj[2]) - max(bi[0], bj[0]))
            iy = max(0.0, min(bi[3], bj[3]) - max(bi[1], bj[1]))
            if ix * iy > 0.7 * (bi[2] - bi[0]) * (bi[3] - bi[1]):
                dup = True
                break
        if not dup:
            keep.append(int(i))
    return keep


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def resize_level(gray: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Rescale by ``scale`` with the crop rule's anti-aliasing (integer box pre-shrink, then bilinear).

    Returns (image, sx, sy): the exact per-axis factors, so level coords = image coords * (sx, sy).
    """
    H, W = gray.shape[:2]
    k = int(math.floor(1.0 / scale)) if scale <= 0.5 else 1
    src = shrink_integer(gray, k) if k > 1 else gray
    nw, nh = max(1, int(round(W * scale))), max(1, int(round(H * scale)))
    # shrink_integer crops to a multiple of k; its pixel i still covers source [k*i, k*i+k)
    out = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != src.shape[1::-1] else src
    sx = nw / (src.shape[1] * k) if k > 1 else nw / W
    sy = nh / (src.shape[0] * k) if k > 1 else nh / H
    return out, sx, sy


@dataclass
class FhogModel:
    template: np.ndarray  # (th, tw, 31) float32
    bias: float
    cell: int
    threshold: float  # default decision threshold on the raw margin
    platt: tuple[float, float]  # score = sigmoid(a * margin + b)
    meta: dict

    @property
    def window(self) -> int:
        return self.template.shape[0] * self.cell

    @classmethod
    def load(cls, path: str | Path = WEIGHTS) -> "FhogModel":
        import json

        z = np.load(path, allow_pickle=False)
        return cls(z["template"].astype(np.float32), float(z["bias"]), int(z["cell"]), float(z["threshold"]),
                   (float(z["platt"][0]), float(z["platt"][1])), json.loads(str(z["meta"])))

    def save(self, path: str | Path) -> None:
        import io
        import json

        from ..files import atomic_write_bytes

        buf = io.BytesIO()
        np.savez_compressed(buf, template=self.template.astype(np.float32), bias=np.float64(self.bias),
                            cell=np.int64(self.cell), threshold=np.float64(self.threshold),
                            platt=np.asarray(self.platt, np.float64), meta=np.asarray(json.dumps(self.meta)))
        atomic_write_bytes(path, buf.getvalue())


class FhogFaceDetector:
    """Sliding-window FHOG + linear SVM over an image pyramid (offline, ~13 kB of weights).

    ``max_side``: the finest pyramid level has its long side at most this many pixels (huge
    photos are therefore scanned at reduced resolution; boxes are returned in original
    pixels). ``min_face``: smallest detection window in original pixels at that level, but
    never upsampling beyond ``max_upsample``. ``step``: pyramid ratio between levels.
    ``threshold``: raw SVM margin to accept a window (default: the trained one).
    """

    name = "fhog"
    box_mapping = FHOG_BOX_MAPPING

    def __init__(self, weights: str | Path | FhogModel = WEIGHTS, max_side: int = 640, max_upsample: float = 2.0,
                 step: float = 2 ** 0.2, threshold: float | None = None, nms_iou: float = 0.3):
        self.model = weights if isinstance(weights, FhogModel) else FhogModel.load(weights)
        self.max_side, self.max_upsample, self.step = max_side, max_upsample, step
        self.threshold = self.model.threshold if threshold is None else threshold
        self.nms_iou = nms_iou

    def scales(self, h: int, w: int) -> list[float]:
        """Pyramid scales, finest first; window covers ``window / s`` original pixels at scale s."""
        win = self.model.window + 2 * self.model.cell  # the map needs one cell of context all round
        s = min(self.max_side / max(h, w), self.max_upsample)
        out = []
        while min(h, w) * s >= win:
            out.append(s)
            s /= self.step
        return out

    def windows(self, gray: np.ndarray, threshold: float) -> tuple[list[Box], list[float]]:
        """All windows scoring above ``threshold`` (raw margin), before NMS, in ``gray``'s pixels."""
        m = self.model
        boxes, margins = [], []
        scales = self.scales(*gray.shape[:2])
        if not scales:
            return boxes, margins
        # shrink a big photo once; coarser levels are resampled from this base (same rule)
        base, bx, by = resize_level(gray, scales[0]) if scales[0] < 1.0 else (gray, 1.0, 1.0)
        for s in scales:
            level, sx, sy = resize_level(base, s / bx) if s < 1.0 else resize_level(gray, s)
            if s < 1.0:
                sx, sy = sx * bx, sy * by
            sm = score_map(fhog(level, m.cell), m.template) + m.bias
            ys, xs = np.nonzero(sm > threshold)
            for y, x in zip(ys, xs):
                x0, y0 = (x + 1) * m.cell, (y + 1) * m.cell
                boxes.append((x0 / sx, y0 / sy, (x0 + m.window) / sx, (y0 + m.window) / sy))
                margins.append(float(sm[y, x]))
        return boxes, margins

    def settings(self) -> dict:
        return {"weights": WEIGHTS.name if self.model.meta is not None else None, "max_side": self.max_side,
                "max_upsample": self.max_upsample, "step": self.step, "threshold": self.threshold,
                "nms_iou": self.nms_iou, "box_mapping": vars(self.box_mapping)}

    def detect_margins(self, rgb: np.ndarray, threshold: float | None = None) -> list[tuple[Box, float]]:
        """Like ``detect`` but with raw SVM margins (for training and threshold studies)."""
        boxes, margins = self.windows(to_gray(rgb), self.threshold if threshold is None else threshold)
        return [(boxes[i], margins[i]) for i in nms(boxes, margins, self.nms_iou)]

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        a, b = self.model.platt
        return [(box, 1.0 / (1.0 + math.exp(-(a * mg + b)))) for box, mg in self.detect_margins(rgb)]


# Fitted with `python -m edge_lmk.detector_train fit-box --detector edge_lmk.inference.detectors:blazeface_full`
# (`:blazeface_short`) on the 300-W training faces, the same protocol as FHOG_BOX_MAPPING:
# full range 1662 of 1665 crops detected, MAD dx 0.056 (the box follows the head, not the
# landmarks, on turned faces: the refine pass absorbs it), dy 0.018, k 0.043.
BLAZEFACE_FULL_BOX_MAPPING = BoxMapping(dx=0.0094, dy=0.093, k=0.8953)
BLAZEFACE_SHORT_BOX_MAPPING = BoxMapping(dx=0.0023, dy=0.0584, k=0.9469)  # 1665 of 1665 detected
BLAZEFACE_BOX_MAPPINGS = {"full": BLAZEFACE_FULL_BOX_MAPPING, "short": BLAZEFACE_SHORT_BOX_MAPPING}


class BlazeFaceDetector:
    """MediaPipe BlazeFace (vendored, run in ``ai_edge_litert``) over a pyramid of tiles.

    ``model``: ``"full"`` (full range, 192 px input, photos and far faces; the default) or
    ``"short"`` (short range, 128 px, selfie video: one face near the camera). ``min_face``:
    smallest face (landmark extent, photo pixels) the tile pyramid looks for (``None``: only
    the whole photo, letterboxed); ``target``: input pixels such a face gets at the finest
    level; ``overlap``: input pixels shared by neighbouring tiles; ``zoom_out``: also run on
    the photo placed in a square twice its size (faces filling the frame). ``min_score``,
    ``nms_iou``: the MediaPipe graph's values unless given. Tile detections that touch a
    tile side inside the photo are cut faces and are dropped (a neighbour sees them whole);
    the rest are merged across tiles and levels by the same weighted NMS.
    """

    def __init__(self, model: str = "full", min_face: float | None = 40.0, target: float = 24.0,
                 overlap: int = 64, zoom_out: bool = True, min_score: float | None = None,
                 nms_iou: float | None = None, threads: int = 1):
        from .blazeface import MODELS, BlazeFaceRunner

        if model not in MODELS:
            raise ValueError(f"BlazeFace model must be one of {sorted(MODELS)}, got {model!r}")
        self.spec = MODELS[model]
        self.runner = BlazeFaceRunner(self.spec, threads=threads)
        self.name = f"blazeface_{model}"
        self.box_mapping = BLAZEFACE_BOX_MAPPINGS[model]
        self.min_face, self.target, self.overlap, self.zoom_out = min_face, target, overlap, zoom_out
        self.min_score = self.spec.min_score if min_score is None else float(min_score)
        self.nms_iou = self.spec.nms_iou if nms_iou is None else float(nms_iou)
        self.passes = 0  # detector invocations on the last photo

    def settings(self) -> dict:
        return {"model": self.spec.file, "sha256": self.spec.sha256, "input_size": self.spec.input_size,
                "min_face": self.min_face, "target": self.target, "overlap": self.overlap,
                "zoom_out": self.zoom_out, "min_score": self.min_score, "nms_iou": self.nms_iou,
                "box_mapping": vars(self.box_mapping)}

    def detect_full(self, rgb: np.ndarray):
        """HxWx3 uint8 RGB -> [blazeface.Detection] (box, score, 6 keypoints) in photo pixels, best first."""
        from .blazeface import Detection, decode_raw, to_photo, weighted_nms
        from .tiles import tiles

        S, m = self.spec.input_size, 1.0  # a box within m input px of an inner tile side is cut
        all_s, all_b, all_k = [], [], []
        self.passes = 0
        for crop, tile in tiles(rgb, S, self.min_face, self.target, self.overlap, self.zoom_out):
            reg, cls = self.runner.run((crop / np.float32(127.5) - np.float32(1.0))[None])
            self.passes += 1
            sc, bx, kp = decode_raw(reg, cls, self.spec, self.min_score)
            if not len(sc):
                continue
            sc, bx, kp = weighted_nms(sc, bx, kp, self.nms_iou)
            left, top, right, bottom = tile.inner
            cut = ((left & (bx[:, 0] < m)) | (top & (bx[:, 1] < m)) | (right & (bx[:, 2] > S - m))
                   | (bottom & (bx[:, 3] > S - m)))
            bx, kp = to_photo(bx[~cut], kp[~cut], tile.A)
            all_s.append(sc[~cut])
            all_b.append(bx)
            all_k.append(kp)
        if not all_s:
            return []
        sc, bx, kp = weighted_nms(np.concatenate(all_s), np.concatenate(all_b), np.concatenate(all_k), self.nms_iou)
        return [Detection(float(s), tuple(float(v) for v in b), k) for s, b, k in zip(sc, bx, kp)]

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        return [(d.box, d.score) for d in self.detect_full(rgb)]


DETECTORS = ("blazeface", "blazeface_short", "fhog")


def make_detector(name: str = "blazeface", **kw) -> FaceDetector:
    """Detector by CLI name: ``blazeface`` (full range, tiled; default), ``blazeface_short`` (short
    range, whole frame: selfie video) or ``fhog`` (the offline FHOG fallback). ``kw`` go to the class."""
    if name == "blazeface":
        return BlazeFaceDetector("full", **kw)
    if name == "blazeface_short":
        return BlazeFaceDetector("short", **({"min_face": None, "zoom_out": False} | kw))
    if name == "fhog":
        return FhogFaceDetector(**kw)
    raise ValueError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")


def blazeface_full() -> BlazeFaceDetector:
    return make_detector("blazeface")


def blazeface_short() -> BlazeFaceDetector:
    return make_detector("blazeface_short")


def default_detector() -> FaceDetector:
    return make_detector("blazeface")
