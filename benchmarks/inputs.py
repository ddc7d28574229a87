"""The benchmark input: a real face from the bundled sample, cropped by the model's contract."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_lmk.contract import PreprocessContract
from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.paths import SAMPLE_TEST


def sample_face(contract: PreprocessContract, folder: Path = SAMPLE_TEST) -> tuple[np.ndarray, str]:
    """-> ((1,3,S,S) float32 crop of the first sample face, in sorted order, the face's file name)."""
    records = sorted(scan_folder(folder), key=lambda r: str(r.image))
    if not records:
        raise FileNotFoundError(f"{folder}: no faces")
    crops = prepare_crops(records[:1], contract, desc="benchmark input")
    return np.ascontiguousarray(crops.inputs[:1], dtype=np.float32), str(records[0].image.relative_to(folder))


def resize_input(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resample a (1,3,S,S) crop to another model's 4-D input, NCHW or NHWC (for the reference model)."""
    if len(shape) != 4:
        raise ValueError(f"expected a 4-D input shape, got {shape}")
    nhwc = shape[-1] == 3
    h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    img = cv2.resize(np.transpose(x[0], (1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    out = img[None] if nhwc else np.transpose(img, (2, 0, 1))[None]
    return np.ascontiguousarray(out, dtype=np.float32)


def reference_io(path: str | Path) -> tuple[tuple[int, ...], int]:
    """-> (input shape, points): points = the largest output's size / 3 (x, y, z per landmark)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    largest = max(int(np.prod(d["shape"])) for d in interp.get_output_details())
    return tuple(int(d) for d in interp.get_input_details()[0]["shape"]), largest // 3
