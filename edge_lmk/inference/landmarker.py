"""From a photo to 68 landmarks per face: ``FaceLandmarker(model).detect(image) -> list[Face]``.

Pipeline per image: detect faces (pluggable, ``edge_lmk.inference.detectors``; the default, BlazeFace
full range, runs on the whole photo and on a pyramid of tiles down to 40 px faces), map each
detector box to the landmark-bbox square the model was trained on (``BoxMapping``), crop
every face with the shared crop rule (``preprocess.crop_face``) and run them through the predictor in one batch; with
``refine=1`` the faces are cropped again from the predicted landmarks' box and run once
more (one more batch). Landmarks are mapped back to original-image pixels (continuous
coordinates: pixel ``i`` spans ``[i, i+1)``).

Confidence: the model predicts, per point, the Laplace spread ``scale`` (expected absolute
error, crop pixels). ``confidence = exp(-scale / CONFIDENCE_S0)`` with ``CONFIDENCE_S0 = 2``
crop pixels (about 5% of the inter-ocular distance in an 80 px crop), so a point expected to
be off by 2 px gets 0.37, one expected to be off by 0.5 px gets 0.78. Face ``score`` is the
geometric mean of the detector score and the mean point confidence.

Calibrated confidence (when the model has a calibration: shipped models carry one in their
card, exported artifacts in their metadata; see ``edge_lmk.confidence``): ``expected_error``
is each point's expected error in percent of the inter-ocular distance (its mean is the
face's predicted NME), ``expected_error_px`` the same in image pixels (a radius to draw), and
``quality`` in [0, 1] the estimated probability that the face's NME is <= 8% (not a failure):
drop faces below about 0.5; non-face crops score near 0.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from ..data.images import MAX_IMAGE_PIXELS, ImageFileError, read_image, to_rgb_uint8
from .detectors import Box, BoxMapping, FaceDetector, box_iou
from ..preprocess import FaceSquare, crop_face, crop_to_photo, face_square, landmark_box, to_input

CONFIDENCE_S0 = 2.0
DEFAULT_MODEL = "laplacekl_w1_8"
# Refinement (re-crop from the first pass's landmarks) is kept because it helps: with BlazeFace
# on the composed multi-face set (docs/detection/README.md) end-to-end NME is 1.080x the
# ground-truth-crop NME without it, 1.052x with one pass. With FHOG and the shipped 1/8 model,
# NME from detector crops on the 12 photos of originals_sample is 5.82 without it, 5.55 with
# one pass, 5.48 with two (ground-truth crops: 5.35); on the 554 faces of 300-W test_common
# (192 px crops) 5.80 / 5.75 / 5.75 (ground-truth crops 5.58). One pass costs one more
# batched predictor call. Regenerate with
# `python -m edge_lmk.detect_eval [--data ../shared/data/300w/test_common]`.
DEFAULT_REFINE = 1
MAX_PIXELS = MAX_IMAGE_PIXELS  # larger images are refused with a clear error (files: from the header, before decoding)


@dataclass(frozen=True)
class Face:
    """One face. Coordinates are original-image pixels, continuous convention."""

    box: Box  # (x0, y0, x1, y1): detector box, or for refined/tracked faces the box the detector would give
    landmarks: np.ndarray  # (68, 2) float32 x, y
    confidence: np.ndarray  # (68,) float32 in (0, 1], exp(-scale / CONFIDENCE_S0)
    score: float  # sqrt(detector_score * mean(confidence))
    detector_score: float = 1.0
    scale: np.ndarray | None = field(default=None, repr=False)  # (68,) raw predicted spread, crop px
    track_id: int | None = None
    expected_error: np.ndarray | None = field(default=None, repr=False)  # (68,) % inter-ocular, calibrated
    expected_error_px: np.ndarray | None = field(default=None, repr=False)  # (68,) image pixels, calibrated
    quality: float | None = None  # estimated P(NME <= 8%) in [0, 1]; None without a calibration

    def replace(self, **kw) -> "Face":
        return replace(self, **kw)

    def to_dict(self, decimals: int = 2) -> dict:
        r = lambda v: round(float(v), decimals)  # noqa: E731
        d = {"box": [r(v) for v in self.box],
             "landmarks": [[r(x), r(y)] for x, y in np.asarray(self.landmarks)],
             "confidence": [float(f"{c:.4g}") for c in self.confidence],  # significant digits: tiny stays > 0
             "score": round(float(self.score), 4)}
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        if self.quality is not None:
            d["quality"] = round(float(self.quality), 4)
            d["expected_error"] = [round(float(v), 3) for v in self.expected_error]
            d["expected_error_px"] = [round(float(v), decimals) for v in self.expected_error_px]
        return d


def confidence_from_scale(scale: np.ndarray, s0: float = CONFIDENCE_S0) -> np.ndarray:
    """(...,68) predicted spread in crop pixels -> confidence in (0, 1]."""
    return np.exp(-np.maximum(np.asarray(scale, np.float32), 0.0) / np.float32(s0))


def calibrated_fields(cal, scale: np.ndarray, landmarks: np.ndarray, side: float, input_size: int) -> dict:
    """``Face`` fields from a calibration for one face: (68,) scale (crop px), (68,2) image landmarks,
    its crop square's ``side`` (image px) -> expected_error (% IOD), expected_error_px (image px), quality."""
    if cal is None:
        return {}
    from ..confidence import inter_ocular

    px_per_crop = side / input_size
    iod = inter_ocular(landmarks) / px_per_crop  # predicted inter-ocular distance in crop pixels
    return {"expected_error": cal.expected_error(scale, iod).astype(np.float32),
            "expected_error_px": (cal.expected_error(scale, unit="px") * px_per_crop).astype(np.float32),
            "quality": float(cal.quality(scale, iod))}


def crop_region(image: np.ndarray, square: FaceSquare, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``preprocess.crop_face`` computed on just the part of the photo the square needs.

    Bit-identical to ``crop_face(image, square, out_size)``: the cut is aligned to the integer
    pre-shrink factor and covers the whole sampling footprint, so a 50 MP photo costs the same
    as a small one.
    """
    scale = square.side / out_size
    k = int(math.floor(scale)) if scale >= 2.0 else 1
    H, W = image.shape[:2]
    half = square.side / 2 + 2 * k + 2  # footprint + bilinear/box-filter margin
    x0 = max(0, int(math.floor((square.cx - half) / k)) * k)
    y0 = max(0, int(math.floor((square.cy - half) / k)) * k)
    x1 = min(W, int(math.ceil(square.cx + half)))
    y1 = min(H, int(math.ceil(square.cy + half)))
    if x1 <= x0 or y1 <= y0:  # square entirely outside the photo (all zeros): nothing to save
        return crop_face(image, square, out_size)
    if x1 < W:  # keep whole k-blocks so the box filter sees exactly what it sees on the full photo
        x1 = min(W, x0 + int(math.ceil((x1 - x0) / k)) * k)
    if y1 < H:
        y1 = min(H, y0 + int(math.ceil((y1 - y0) / k)) * k)
    crop, A = crop_face(image[y0:y1, x0:x1], FaceSquare(square.cx - x0, square.cy - y0, square.side), out_size)
    A = A.copy()
    A[:, 2] += (x0, y0)
    return crop, A


class FaceLandmarker:
    """Detect faces and their 68 landmarks in photos of any size.

    ``model``: registry name (``laplacekl_w1_8``), ``.pt`` checkpoint, or an exported artifact
    (``.pte``, ``.tflite``, ``.onnx``, ``.mlpackage``) run by ``edge_lmk.runtimes.load_predictor``;
    or an already loaded predictor. ``detector``: any object with ``detect(rgb) -> [(box,
    score)]`` (default ``BlazeFaceDetector``: BlazeFace full range over a tile pyramid;
    ``FhogFaceDetector`` is the offline fallback; ``detectors.make_detector(name)``).
    ``box_mapping``: detector box -> landmark square (default: the detector's own
    ``box_mapping`` attribute, else identity). ``refine``: number of re-crop passes from
    predicted landmarks. ``min_score``: drop faces scoring below it (default 0: every detection
    is returned with its score; the CLI uses 0.4, ``detect.DEFAULT_MIN_SCORE``: with the 1/8
    model and BlazeFace it keeps every found face of a composed validation set and cuts false
    positives from 0.35 to 0.05 per photo, ``docs/detection/README.md``. With FHOG, faces
    score about 0.55-0.7 and detector false alarms below 0.4 - but
    the value depends on the model's confidence calibration, so it is not the default).
    """

    def __init__(self, model=DEFAULT_MODEL, detector: FaceDetector | None = None,
                 box_mapping: BoxMapping | None = None, refine: int = DEFAULT_REFINE,
                 min_score: float = 0.0, max_pixels: int = MAX_PIXELS, min_quality: float = 0.0,
                 flip: bool = False):
        if isinstance(model, (str, os.PathLike)):
            from ..runtimes import load_predictor

            self.predictor = load_predictor(str(model))
        else:
            self.predictor = model
        self.model_name = str(getattr(self.predictor, "source", model))
        self.contract = self.predictor.contract
        if detector is None:
            from .detectors import default_detector

            detector = default_detector()
        self.detector = detector
        self.box_mapping = box_mapping or getattr(detector, "box_mapping", None) or BoxMapping()
        self.refine = int(refine)
        self.min_score = min_score
        self.max_pixels = max_pixels
        # test-time horizontal flip (edge_lmk/inference/flip.py): twice the landmark cost, averaged plain + mirrored pass
        self.flip = bool(flip)
        from ..confidence import calibration_for

        self.calibration = calibration_for(self.predictor)  # None: faces carry no expected error / quality
        if not 0.0 <= min_quality <= 1.0:
            raise ValueError(f"min_quality must be in [0, 1] (a probability), got {min_quality}")
        if min_quality > 0 and self.calibration is None:
            # Filtering on a quality the model cannot give would silently drop nothing (or everything).
            raise ValueError(f"{self.model_name}: min_quality needs a calibrated model (its card or artifact "
                             f"sidecar has no calibration; python -m edge_lmk.calibrate fits one)")
        self.min_quality = float(min_quality)

    def keeps(self, face: Face) -> bool:
        """Whether ``face`` passes the ``min_score`` and ``min_quality`` filters."""
        return face.score >= self.min_score and (self.min_quality <= 0 or (face.quality or 0.0) >= self.min_quality)

    # -- input ------------------------------------------------------------------------------
    def load(self, image, color: str = "RGB") -> tuple[np.ndarray, str]:
        """Path or array -> (HxWx3 uint8 RGB, name for messages). Errors name the file."""
        if color.upper() not in ("RGB", "BGR"):
            raise ValueError(f"color must be 'RGB' or 'BGR', got {color!r}")
        if isinstance(image, (str, os.PathLike)):
            src = str(image)
            rgb = read_image(image, max_pixels=self.max_pixels)
        else:
            src = "image array"
            if not isinstance(image, np.ndarray):
                raise ImageFileError(f"{src}: expected a numpy array or a path, got {type(image).__name__}")
            rgb = to_rgb_uint8(image, src, bgr=color.upper() == "BGR" and image.ndim == 3)
        h, w = rgb.shape[:2]
        if h * w > self.max_pixels:
            raise ImageFileError(f"{src}: image too large ({w}x{h} = {w * h / 1e6:.0f} MP, limit "
                                 f"{self.max_pixels / 1e6:.0f} MP); downscale it first")
        return rgb, src

    # -- stages -----------------------------------------------------------------------------
    def run_detector(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        return [(tuple(float(v) for v in b), float(s)) for b, s in self.detector.detect(rgb)]

    def predict_squares(self, rgb: np.ndarray, squares: Sequence[FaceSquare]) -> tuple[np.ndarray, np.ndarray]:
        """One predictor call for all squares -> landmarks (N,68,2) in image pixels, scale (N,68) crop px."""
        c = self.contract
        if not squares:
            return np.zeros((0, c.num_landmarks, 2), np.float32), np.zeros((0, c.num_landmarks), np.float32)
        crops, As = zip(*(crop_region(rgb, sq, c.input_size) for sq in squares))
        x = np.concatenate([to_input(cr, c.pixel_scale) for cr in crops])
        if self.flip:
            from .flip import flip_average

            lm, scale = flip_average(self.predictor, x)
        else:
            lm, scale = self.predictor.predict(x)
        photo = np.stack([crop_to_photo(l, A) for l, A in zip(lm, As)]).astype(np.float32)
        return photo, scale

    def faces_from_squares(self, rgb: np.ndarray, squares: Sequence[FaceSquare], det_scores: Sequence[float],
                           refine: int | None = None) -> list[Face]:
        """Landmarks for given crop squares (+ ``refine`` re-crop passes), unsorted, one Face per square."""
        refine = self.refine if refine is None else refine
        cs = self.contract.crop_scale
        lm, scale = self.predict_squares(rgb, squares)
        for _ in range(refine):
            squares = [face_square(p, cs) for p in lm]
            lm, scale = self.predict_squares(rgb, squares)
        faces = []
        for p, sc, ds, sq in zip(lm, scale, det_scores, squares):
            conf = confidence_from_scale(sc)
            faces.append(Face(self.landmark_to_box(p), p, conf, math.sqrt(max(ds, 0.0) * float(conf.mean())),
                              float(ds), sc.astype(np.float32),
                              **calibrated_fields(self.calibration, sc, p, sq.side, self.contract.input_size)))
        return faces

    def landmark_to_box(self, landmarks: np.ndarray) -> Box:
        """The detector-style box whose mapped square is the landmarks' square (inverse ``BoxMapping``)."""
        m = self.box_mapping
        cx, cy, extent = landmark_box(landmarks)
        size = extent / m.k
        bx, by = cx - m.dx * size, cy - m.dy * size
        return (bx - size / 2, by - size / 2, bx + size / 2, by + size / 2)

    # -- public -----------------------------------------------------------------------------
    def detect(self, image, color: str = "RGB") -> list[Face]:
        """Every face in ``image`` (path, or HxW / HxWx3 / HxWx4 array in ``color`` order), best first.

        No face -> empty list. Unreadable, empty or unsupported images raise ``ImageFileError``
        naming the file.
        """
        return self.detect_timed(image, color)[0]

    def detect_timed(self, image, color: str = "RGB") -> tuple[list[Face], dict]:
        """``detect`` plus wall-clock milliseconds of its two stages: {"detector_ms", "landmarks_ms"}."""
        rgb, _ = self.load(image, color)
        t0 = time.perf_counter()
        dets = self.run_detector(rgb)
        t1 = time.perf_counter()
        cs = self.contract.crop_scale
        squares = [self.box_mapping.square(b, cs) for b, _ in dets]
        faces = self.faces_from_squares(rgb, squares, [s for _, s in dets])
        # keep the detector's own box for faces straight from it; refined ones carry the inverse-mapped box
        if self.refine == 0:
            faces = [f.replace(box=b) for f, (b, _) in zip(faces, dets)]
        faces.sort(key=lambda f: -f.score)
        out: list[Face] = []
        for f in faces:  # two detections that converged on one face after refinement
            if self.keeps(f) and all(box_iou(f.box, g.box) <= 0.5 for g in out):
                out.append(f)
        t2 = time.perf_counter()
        return out, {"detector_ms": round(1000 * (t1 - t0), 3), "landmarks_ms": round(1000 * (t2 - t1), 3)}

    def detect_squares(self, image, squares: Sequence[FaceSquare], color: str = "RGB",
                       refine: int = 0) -> list[Face]:
        """Landmarks for faces whose crop squares are known (e.g. from ground truth), no detector."""
        rgb, _ = self.load(image, color)
        return self.faces_from_squares(rgb, list(squares), [1.0] * len(squares), refine)


def gt_square(landmarks: np.ndarray, crop_scale: float) -> FaceSquare:
    """The crop square ``edge_lmk.evaluate`` uses for a face with known landmarks."""
    return face_square(np.asarray(landmarks, np.float64), crop_scale)


__all__ = ["CONFIDENCE_S0", "Face", "FaceLandmarker", "calibrated_fields", "confidence_from_scale", "crop_region", "gt_square"]
