"""Run MediaPipe's BlazeFace short-range model on the bundled sample faces (host, LiteRT).

    python android_demo/tools/blazeface_fixture.py [--model edge_lmk/weights/blazeface/face_detection_short_range.tflite] \
        [--out android_demo/core/src/test/resources/golden/blazeface]

Two jobs, both for the Kotlin core's BlazeFace decoder (``edgelmk.core.BlazeFace``):
  1. calibration: fits the detector-box -> landmark-square constants (``DetectorSquare``)
     on the 64 bundled test faces and prints them with the detection rate;
  2. with ``--out``: writes a fixture (raw model outputs for two faces + the detections this
     reference decodes from them) that the Kotlin tests decode and compare.
The decoder is ``edge_lmk.inference.blazeface`` (anchors, box decoding, weighted NMS), the same one the
Python API and ``python -m edge_lmk.detect`` use: a reading of MediaPipe's face_detection graph
(SsdAnchorsCalculator + TensorsToDetectionsCalculator + weighted NMS), checked against the
ground-truth landmarks: a decoded box must sit on the annotated face.
The model is vendored in ``edge_lmk/weights/blazeface/`` (licence and provenance there).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from edge_lmk.inference import blazeface  # noqa: E402
from edge_lmk.inference.blazeface import SHORT_RANGE, BlazeFaceRunner, letterbox  # noqa: E402
from edge_lmk.data import load_face, scan_folder  # noqa: E402
from edge_lmk.paths import SAMPLE_TEST  # noqa: E402
from edge_lmk.preprocess import landmark_box  # noqa: E402

MODEL = SHORT_RANGE  # what the app runs


def prepare(img: np.ndarray):
    return letterbox(img, MODEL.input_size)


def decode(reg: np.ndarray, cls: np.ndarray, A: np.ndarray) -> list[dict]:
    """The shared decoder (edge_lmk.inference.blazeface) in the fixture's form: box [x, y, w, h], flat keypoints."""
    return [d.to_fixture() for d in blazeface.decode(reg, cls, A, MODEL)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(SHORT_RANGE.path), help="face_detection_short_range.tflite")
    ap.add_argument("--out", help="write the Kotlin test fixture here")
    args = ap.parse_args(argv)
    runner = BlazeFaceRunner(MODEL, args.model)

    def run(img):
        x, A = prepare(img)
        reg, cls = runner.run(x)
        return reg, cls, A

    records = scan_folder(SAMPLE_TEST)
    ratios, found = [], 0
    for r in records:
        img, gt = load_face(r)
        reg, cls, A = run(img)
        dets = decode(reg, cls, A)
        if not dets:
            continue
        found += 1
        x, y, w, h = dets[0]["box"]
        size = max(w, h)
        cx, cy, extent = landmark_box(gt)
        ratios.append((extent / size, (cx - (x + w / 2)) / size, (cy - (y + h / 2)) / size))
    ratios = np.array(ratios)
    med = np.median(ratios, axis=0)
    print(f"detected {found}/{len(records)} faces")
    print(f"extent/box: median {med[0]:.3f} (p10 {np.percentile(ratios[:, 0], 10):.3f}, p90 {np.percentile(ratios[:, 0], 90):.3f})")
    print(f"centre offset / box: x {med[1]:+.3f}, y {med[2]:+.3f} (|dy| p90 {np.percentile(np.abs(ratios[:, 2] - med[2]), 90):.3f})")

    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        faces = []
        for i, r in enumerate([records[0], records[40]]):
            img, _ = load_face(r)
            reg, cls, A = run(img)
            reg.astype("<f4").tofile(out / f"face{i}_regressors.f32")
            cls.astype("<f4").tofile(out / f"face{i}_classificators.f32")
            faces.append({"name": f"{r.subset}/{r.image.name}", "width": int(img.shape[1]), "height": int(img.shape[0]),
                          "affine": A.reshape(-1).tolist(), "regressors": f"face{i}_regressors.f32",
                          "classificators": f"face{i}_classificators.f32", "detections": decode(reg, cls, A)})
        index = {"model": Path(args.model).name, "sha256": hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
                 "generator": "python android_demo/tools/blazeface_fixture.py --model ... --out ...",
                 "calibration": {"faces": len(records), "detected": found, "extent_per_box": float(med[0]),
                                 "offset_x": float(med[1]), "offset_y": float(med[2])},
                 "faces": faces}
        (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
        print(f"fixture -> {out}")


if __name__ == "__main__":
    main()
