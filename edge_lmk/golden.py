"""Golden vectors for the Android demo's pure Kotlin core (``android_demo/core``).

    python -m edge_lmk.golden --out android_demo/core/src/test/resources/golden

Writes what the Kotlin tests replay without Python: a few bundled sample faces (raw RGB),
their face squares, the expected 80x80 crops and model inputs, the shipped 1/8 model's
outputs and the landmarks mapped back to the photo, large synthetic photos that exercise
the integer box pre-shrink, a One Euro filter trace and latency statistics. Arrays are raw
little-endian files (``.u8``, ``.f32``, ``.f64``) named in ``index.json``; every number the
Kotlin code must reproduce comes from the functions the Python side really uses
(``edge_lmk.preprocess``, ``edge_lmk.metrics``, the registry model).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from .contract import PreprocessContract
from .data import load_face, scan_folder
from .files import sha256
from .metrics import nme_per_face
from .models.registry import REGISTRY
from .paths import SAMPLE_TEST
from .preprocess import FaceSquare, crop_face, crop_to_photo, face_square, to_input

FORMAT = "edge-lmk-golden/1"
MODEL = "laplacekl_w1_8"
N_FACES = 4
PATTERN = "edge-lmk-pattern/1"

# Large synthetic photos: (name, width, height, cx, cy, side). side/80 picks the pre-shrink
# factor k = floor(side/80): 2 (half-up rounding in OpenCV's 2x2 path), 4 and 7 (the general
# path, even and odd areas), 15 (square larger than the photo); several squares hang over the
# border so the zero padding and the dropped remainder rows/columns are exercised too.
SYNTHETIC = (
    ("k2_inside", 1501, 1003, 700.3, 500.7, 200.0),
    ("k4_bottom_right", 1501, 1003, 1450.2, 990.9, 368.0),
    ("k7_top_left", 1501, 1003, 100.5, 120.25, 632.0),
    ("k15_larger_than_photo", 1501, 1003, 750.0, 500.0, 1200.0),
)

# One Euro trace: 3 landmarks (nose tip, outer eye corners) of the first face moving and
# jittering for 120 frames at ~30 fps with uneven frame times.
ONE_EURO = {"min_cutoff": 1.0, "beta": 0.05, "d_cutoff": 1.0, "points": [30, 36, 45], "frames": 120}


def synthetic_pattern(width: int, height: int) -> np.ndarray:
    """Deterministic RGB test photo, integer formula shared with the Kotlin tests (``PATTERN``)."""
    y, x, c = np.meshgrid(np.arange(height, dtype=np.int64), np.arange(width, dtype=np.int64),
                          np.arange(3, dtype=np.int64), indexing="ij")
    v = x * 37 + y * 91 + c * 53 + ((x * y) & 63) * 3 + ((x ^ y) & 15) * 7
    return (v & 255).astype(np.uint8)


class OneEuroFilter:
    """Reference One Euro filter (Casiez, Roussel, Vogel, CHI 2012), one scalar channel.

    cutoff = min_cutoff + beta * |smoothed derivative|; both low-pass steps use
    alpha = 1 / (1 + tau / dt) with tau = 1 / (2 pi cutoff). The first sample passes through.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: float, t: float) -> float:
        if self.x is None:
            self.x, self.dx, self.t = x, 0.0, t
            return x
        dt = t - self.t
        if dt <= 0.0:  # repeated or out-of-order timestamp: keep the last estimate
            return self.x
        dx = (x - self.x) / dt
        edx = self.dx + self.alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * abs(edx)
        self.x = self.x + self.alpha(cutoff, dt) * (x - self.x)
        self.dx, self.t = edx, t
        return self.x


def _write(out: Path, name: str, arr: np.ndarray, dtype: str) -> str:
    np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tofile(out / name)
    return name


def _square(sq: FaceSquare) -> dict:
    return {"cx": float(sq.cx), "cy": float(sq.cy), "side": float(sq.side)}


def _faces(out: Path, contract: PreprocessContract, model) -> list[dict]:
    records = scan_folder(SAMPLE_TEST)
    picks = [records[i * len(records) // N_FACES] for i in range(N_FACES)]
    faces = []
    for i, rec in enumerate(picks):
        img, gt = load_face(rec)
        square = face_square(gt, contract.crop_scale)
        crop, A = crop_face(img, square, contract.input_size)
        x = to_input(crop, contract.pixel_scale)
        with torch.no_grad():
            lm, sc = model(torch.from_numpy(x))
        lm, sc = lm.numpy()[0], sc.numpy()[0]
        photo = crop_to_photo(lm.astype(np.float32), A)
        p = f"face{i}"
        faces.append({
            "name": f"{rec.subset}/{rec.image.name}",
            "width": int(img.shape[1]), "height": int(img.shape[0]),
            "image": _write(out, f"{p}_image.u8", img, "u1"),
            "landmarks": _write(out, f"{p}_gt.f64", gt, "f8"),
            "square": _square(square),
            "affine": [float(v) for v in A.reshape(-1)],
            "crop": _write(out, f"{p}_crop.f32", crop, "f4"),
            "input": _write(out, f"{p}_input.f32", x, "f4"),
            "out_landmarks": _write(out, f"{p}_out_landmarks.f32", lm, "f4"),
            "out_scale": _write(out, f"{p}_out_scale.f32", sc, "f4"),
            "landmarks_photo": _write(out, f"{p}_landmarks_photo.f64", photo, "f8"),
            "nme": float(nme_per_face(photo[None], gt[None])[0]),
            "next_square": _square(face_square(photo, contract.crop_scale)),
            "mean_scale": float(sc.astype(np.float64).mean()),
        })
    return faces


def _calibration(out: Path, card: dict, faces: list[dict]) -> dict | None:
    """The model card's confidence calibration and, per golden face, what ``edge_lmk.confidence`` makes of
    its scale: expected error (% IOD, crop px) and quality; None when the model has no calibration."""
    from .confidence import calibration_from_card, inter_ocular

    cal = calibration_from_card(card)
    if cal is None:
        return None
    per_face = []
    for i, f in enumerate(faces):
        sc = np.fromfile(out / f["out_scale"], "<f4").astype(np.float64)
        lm = np.fromfile(out / f["out_landmarks"], "<f4").reshape(-1, 2)
        iod = float(inter_ocular(lm))
        per_face.append({"iod_crop_px": iod, "quality": float(cal.quality(sc, iod)),
                         "expected_error_iod": _write(out, f"face{i}_expected_error_iod.f64",
                                                      cal.expected_error(sc, iod), "f8"),
                         "expected_error_px": _write(out, f"face{i}_expected_error_px.f64",
                                                     cal.expected_error(sc, unit="px"), "f8")})
    # probes past both ends of every map (flat below, proportional above) and on the breakpoints
    probes = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    return {"table": cal.to_dict(), "faces": per_face, "probes": probes,
            "probe_eyes_iod": [float(cal.iod["eyes"](np.array([v]))[0]) for v in probes],
            "probe_jaw_px": [float(cal.px["jaw"](np.array([v]))[0]) for v in probes]}


def _synthetic(out: Path, contract: PreprocessContract) -> list[dict]:
    cases = []
    for name, w, h, cx, cy, side in SYNTHETIC:
        img = synthetic_pattern(w, h)
        square = FaceSquare(cx, cy, side)
        crop, A = crop_face(img, square, contract.input_size)
        scale = side / contract.input_size
        cases.append({
            "name": name, "pattern": PATTERN, "width": w, "height": h, "square": _square(square),
            "shrink": int(math.floor(scale)) if scale >= 2.0 else 1,
            "affine": [float(v) for v in A.reshape(-1)],
            "crop": _write(out, f"synthetic_{name}_crop.f32", crop, "f4"),
            # a few pattern pixels so a wrong formula fails loudly before any crop compares
            "pattern_probe": [[x, y, c, int(img[y, x, c])] for x, y, c in ((0, 0, 0), (17, 5, 1), (w - 1, h - 1, 2))],
        })
    return cases


def _one_euro(out: Path, gt: np.ndarray) -> dict:
    cfg = ONE_EURO
    n = cfg["frames"]
    rng = np.random.default_rng(7)
    t = np.cumsum(np.full(n, 1.0 / 30.0) * rng.uniform(0.7, 1.3, n))  # uneven frame times
    base = gt[cfg["points"]].reshape(-1)  # (x, y) per point
    motion = 40.0 * np.sin(2.0 * np.pi * 0.4 * t)[:, None] * np.tile([1.0, 0.3], len(cfg["points"]))
    signal = base[None] + motion + rng.normal(0.0, 1.5, (n, base.size))
    filters = [OneEuroFilter(cfg["min_cutoff"], cfg["beta"], cfg["d_cutoff"]) for _ in range(base.size)]
    smoothed = np.array([[f(float(v), float(tt)) for f, v in zip(filters, row)] for row, tt in zip(signal, t)])
    return {**cfg, "channels": int(base.size),
            "timestamps": _write(out, "one_euro_t.f64", t, "f8"),
            "input": _write(out, "one_euro_in.f64", signal, "f8"),
            "output": _write(out, "one_euro_out.f64", smoothed, "f8")}


def _latency() -> dict:
    """Median / p90 exactly as numpy computes them (linear interpolation), for the bench writer."""
    samples = [float(v) for v in np.round(np.random.default_rng(3).gamma(4.0, 0.6, 25), 4)]
    return {"samples": samples, "median": float(np.median(samples)), "p90": float(np.percentile(samples, 90))}


def write_golden(out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.is_file() and old.suffix in (".u8", ".f32", ".f64", ".json"):
            old.unlink()
    spec = REGISTRY[MODEL]
    model = spec.load()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same summation order on every machine
    try:
        faces = _faces(out, spec.contract, model)
    finally:
        torch.set_num_threads(threads)
    gt0 = np.fromfile(out / faces[0]["landmarks"], "<f8").reshape(-1, 2)
    index = {
        "format": FORMAT,
        "generator": "python -m edge_lmk.golden --out android_demo/core/src/test/resources/golden",
        "model": {"name": MODEL, "sha256": sha256(spec.weights_path)},
        "contract": spec.contract.to_dict(),
        "layouts": {"image": "HWC uint8 RGB", "crop": "HWC float32 0..255", "input": "NCHW float32",
                    "out_landmarks": "(68,2) float32 crop px", "out_scale": "(68,) float32",
                    "landmarks": "(68,2) float64 photo px", "landmarks_photo": "(68,2) float64 photo px"},
        "faces": faces,
        "synthetic": _synthetic(out, spec.contract),
        "one_euro": _one_euro(out, gt0),
        "latency": _latency(),
    }
    calibration = _calibration(out, spec.card(), faces)
    if calibration is not None:
        index["calibration"] = calibration
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    (out / "contract.json").write_text(spec.contract.to_json() + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="android_demo/core/src/test/resources/golden")
    args = ap.parse_args(argv)
    out = write_golden(args.out)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"golden vectors -> {out} ({len(list(out.iterdir()))} files, {total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
