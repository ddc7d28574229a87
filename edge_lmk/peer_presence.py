"""MediaPipe's face presence score, as the peer to our face quality on the same crops.

MediaPipe's ``face_landmark.tflite`` (``mediapipe==0.10.14`` wheel, extracted into the git-ignored
``third_party/mediapipe/`` as ``benchmarks/README.md`` shows; never downloaded at run time)
predicts 468 points and one "face flag" logit; ``sigmoid(flag)`` is its face presence score,
the only confidence it gives (no per-landmark one). Its crops here: the same landmark-box square
our models use, but grown to ``MEDIAPIPE_CROP_SCALE`` (its detector rectangle is about 1.5x the
face) and sampled to 192x192 RGB in [0, 1] with our crop rule.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .contract import PreprocessContract

REFERENCE_ENV = "EDGE_LMK_MEDIAPIPE_TFLITE"  # as benchmarks.run
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "third_party" / "mediapipe" / "face_landmark.tflite"
MEDIAPIPE_CROP_SCALE = 1.5
MEDIAPIPE_CONTRACT = PreprocessContract(input_size=192, crop_scale=MEDIAPIPE_CROP_SCALE,
                                        inputs={"image": [1, 3, 192, 192]})


def find_model() -> Path | None:
    """``$EDGE_LMK_MEDIAPIPE_TFLITE`` or ``third_party/mediapipe/face_landmark.tflite`` if present."""
    env = os.environ.get(REFERENCE_ENV)
    for p in ([Path(env)] if env else []) + [DEFAULT_PATH]:
        if p.is_file():
            return p
    return None


class MediaPipePresence:
    """``MediaPipePresence(path).predict(x)``: (N,3,192,192) float32 in [0,1] -> (N,) presence in (0, 1)."""

    contract = MEDIAPIPE_CONTRACT

    def __init__(self, path: str | Path):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interp = Interpreter(model_path=str(self.path), num_threads=1)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        outs = self._interp.get_output_details()
        flags = [o for o in outs if int(np.prod(o["shape"])) == 1]
        if tuple(self._in["shape"]) != (1, 192, 192, 3) or len(flags) != 1:
            raise ValueError(f"{self.path}: not MediaPipe's face_landmark.tflite (input {self._in['shape']}, "
                             f"outputs {[tuple(o['shape']) for o in outs]})")
        self._flag = flags[0]["index"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x), np.float64)
        for i, xi in enumerate(np.asarray(x, np.float32)):
            self._interp.set_tensor(self._in["index"], np.ascontiguousarray(xi.transpose(1, 2, 0)[None]))
            self._interp.invoke()
            logit = float(self._interp.get_tensor(self._flag).ravel()[0])
            out[i] = 1.0 / (1.0 + np.exp(-logit))
        return out


def presence_report(path: str | Path, faces_dir: Path, originals: Path, per_photo: int = 20) -> dict:
    """Presence on the faces of ``faces_dir`` and on the non-face crops that ``edge_lmk.calibrate`` uses
    (same photos, seed and squares, grown to MediaPipe's crop) -> medians and face-vs-non-face AUCs."""
    from .confidence_metrics import separation_auc
    from .data import scan_folder
    from .evaluation import prepare_crops
    from .nonface import nonface_inputs

    m = MediaPipePresence(path)
    faces = m.predict(prepare_crops(scan_folder(faces_dir), m.contract).inputs)
    out = {"model": str(path), "crop_scale": MEDIAPIPE_CROP_SCALE, "faces": {"n": len(faces),
                                                                            "median": float(np.median(faces))}}
    recs = scan_folder(originals)
    for name, kw in (("background", {"per_photo": per_photo}), ("shift_0.5", {"per_photo": 0, "shift": 0.5}),
                     ("shift_1.0", {"per_photo": 0, "shift": 1.0})):
        q = m.predict(nonface_inputs(recs, m.contract, seed=0, **kw))
        out[name] = {"n": len(q), "median_quality": float(np.median(q)), "max_quality": float(q.max()),
                     "auc_vs_faces": separation_auc(faces, q)}
    return out
