"""Video mode: One Euro smoothing and landmark-driven face tracking.

``OneEuroFilter`` (Casiez, Roussel and Vogel, "1 Euro filter: a simple speed-based low-pass
filter for noisy input in interactive systems", CHI 2012) is a first-order low-pass filter
whose cutoff rises with the signal's speed: ``cutoff = min_cutoff + beta * |dx/dt|``. Still
points get a low cutoff (jitter removed), moving points a high one (little lag).

* ``min_cutoff`` (Hz): cutoff at rest. Lower = smoother but more lag on slow motion.
* ``beta`` (1 / signal unit): how fast the cutoff grows with speed. Higher = less lag on
  fast motion, more jitter let through while moving.
* ``d_cutoff`` (Hz): cutoff of the low-pass on the speed estimate itself (1 Hz as in the paper).

``FaceTracker`` feeds the filter landmark coordinates in units of the face's landmark extent
(measured when the track starts), so ``beta`` means "per face-size per second" and the same
settings work for near and far faces: defaults ``min_cutoff=1.0``, ``beta=2.0``,
``d_cutoff=1.0``.

Tracking: each frame, a track's crop is the landmark-bbox square of its previous (raw,
unsmoothed) landmarks, exactly the crop rule the model was trained on, so the detector only
runs on the first frame, every ``redetect_every`` frames, and on any frame after a track's
confidence (mean per-point confidence) dropped below ``min_confidence``. All tracks of a
frame go through the predictor in one batch. A new detection whose landmarks fail the same
confidence check is treated as a detector false alarm: dropped, without forcing detection on
the next frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .detectors import box_iou
from .landmarker import Face, FaceLandmarker
from ..metrics import LEFT_EYE_OUTER, RIGHT_EYE_OUTER
from ..preprocess import face_square, landmark_box


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 1.0
    beta: float = 2.0
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One Euro filter over arrays of any fixed shape, timestamps in seconds."""

    def __init__(self, params: OneEuroParams = OneEuroParams()):
        self.p = params
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            # first sample (or a repeated/out-of-order timestamp): pass through, no speed known
            if self.x is None or self.t is None:
                self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return self.x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = _alpha(self.p.d_cutoff, dt)
        self.dx = a_d * dx + (1.0 - a_d) * self.dx
        cutoff = self.p.min_cutoff + self.p.beta * np.abs(self.dx)
        a = _alpha(cutoff, dt)
        self.x = a * x + (1.0 - a) * self.x
        self.t = t
        return self.x.copy()


def jitter(points: np.ndarray, iod: float | np.ndarray) -> float:
    """Mean frame-to-frame point motion in % of inter-ocular distance.

    points: (T,68,2) one face over T frames; iod: scalar or (T,) inter-ocular distance (px).
    """
    points = np.asarray(points, np.float64)
    step = np.linalg.norm(np.diff(points, axis=0), axis=-1).mean(-1)  # (T-1,)
    iod = np.broadcast_to(np.asarray(iod, np.float64), (len(points),))[1:]
    return float(100.0 * np.mean(step / iod))


def interocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[LEFT_EYE_OUTER] - landmarks[RIGHT_EYE_OUTER]))


@dataclass
class Track:
    id: int
    raw: np.ndarray  # (68,2) last raw landmarks (drive the next crop)
    face: Face  # last output (smoothed landmarks)
    ref_extent: float  # filter units: landmark extent when the track started
    filter: OneEuroFilter | None
    frames: int = 0


class FaceTracker:
    """Landmarks on a stream of frames: ``update(frame, t) -> list[Face]`` (``Face.track_id`` set).

    ``smoothing``: One Euro parameters, or None for raw landmarks. ``redetect_every``: run the
    detector every N frames even when all tracks are confident (new faces entering).
    ``min_confidence``: a track whose mean point confidence falls below this is dropped and
    triggers detection on the next frame. ``fps``: used when ``update`` gets no timestamp.
    """

    def __init__(self, landmarker: FaceLandmarker, smoothing: OneEuroParams | None = OneEuroParams(),
                 redetect_every: int = 30, min_confidence: float = 0.05, fps: float = 30.0,
                 max_faces: int = 8):
        self.lm = landmarker
        self.smoothing = smoothing
        self.redetect_every = max(1, int(redetect_every))
        self.min_confidence = min_confidence
        self.fps = fps
        self.max_faces = max_faces
        self.tracks: list[Track] = []
        self.frame_index = 0
        self.detections_run = 0
        self._next_id = 0
        self._need_detect = True

    def reset(self) -> None:
        self.tracks, self.frame_index, self._need_detect = [], 0, True

    def _should_detect(self) -> bool:
        return self._need_detect or not self.tracks or self.frame_index % self.redetect_every == 0

    def update(self, frame, t: float | None = None, color: str = "RGB") -> list[Face]:
        rgb, _ = self.lm.load(frame, color)
        t = self.frame_index / self.fps if t is None else float(t)
        cs = self.lm.contract.crop_scale
        squares = [face_square(tr.raw, cs) for tr in self.tracks]
        owners: list[Track | None] = list(self.tracks)
        det_scores = [tr.face.detector_score for tr in self.tracks]
        if self._should_detect():
            self.detections_run += 1
            for box, s in self.lm.run_detector(rgb):
                sq = self.lm.box_mapping.square(box, cs)
                bx = _square_box(sq)
                match = [i for i, o in enumerate(owners) if o is not None and box_iou(_square_box(squares[i]), bx) > 0.3]
                if match:
                    for i in match:
                        det_scores[i] = s  # tracked crop kept: it follows the landmark rule exactly
                    continue
                if len(squares) < self.max_faces:
                    squares.append(sq)
                    owners.append(None)
                    det_scores.append(s)
            self._need_detect = False
        if not squares:
            self.frame_index += 1
            return []
        faces = self.lm.faces_from_squares(rgb, squares, det_scores, refine=0)
        fresh = [i for i, o in enumerate(owners) if o is None]
        if fresh and self.lm.refine:  # new faces start from a detector crop: refine them as detect() does
            again = self.lm.faces_from_squares(rgb, [face_square(faces[i].landmarks, cs) for i in fresh],
                                               [det_scores[i] for i in fresh], refine=self.lm.refine - 1)
            for i, f in zip(fresh, again):
                faces[i] = f
        kept: list[Track] = []
        out: list[Face] = []
        for face, owner in zip(faces, owners):
            if float(np.mean(face.confidence)) < self.min_confidence or not self.lm.keeps(face):
                if owner is not None:
                    self._need_detect = True  # a tracked face was lost: look again on the next frame
                continue  # (a fresh detection failing this check is a detector false alarm: dropped)
            if any(box_iou(face.box, f.box) > 0.5 for f in out):
                continue  # two tracks converged on one face
            tr = owner or self._new_track(face)
            tr.raw = face.landmarks
            smoothed = face.landmarks
            if tr.filter is not None:
                z = tr.filter(face.landmarks / tr.ref_extent, t)
                smoothed = (z * tr.ref_extent).astype(np.float32)
            tr.face = face.replace(landmarks=smoothed, track_id=tr.id)
            tr.frames += 1
            kept.append(tr)
            out.append(tr.face)
        self.tracks = kept
        self.frame_index += 1
        return out

    def _new_track(self, face: Face) -> Track:
        _, _, extent = landmark_box(face.landmarks)
        flt = OneEuroFilter(self.smoothing) if self.smoothing is not None else None
        tr = Track(self._next_id, face.landmarks, face, max(extent, 1.0), flt)
        self._next_id += 1
        return tr


def _square_box(sq) -> tuple[float, float, float, float]:
    h = sq.side / 2
    return (sq.cx - h, sq.cy - h, sq.cx + h, sq.cy + h)
