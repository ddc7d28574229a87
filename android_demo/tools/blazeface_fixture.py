"""Run MediaPipe's BlazeFace short-range model on the bundled sample faces (host, LiteRT).

    python android_demo/tools/blazeface_fixture.py --model face_detection_short_range.tflite \
        [--out android_demo/core/src/test/resources/golden/blazeface]

Two jobs, both for the Kotlin core's BlazeFace decoder (``edgelmk.core.BlazeFace``):
  1. calibration: fits the detector-box -> landmark-square constants (``DetectorSquare``)
     on the 64 bundled test faces and prints them with the detection rate;
  2. with ``--out``: writes a fixture (raw model outputs for two faces + the detections this
     reference decodes from them) that the Kotlin tests decode and compare.
The decoder here is an independent reading of MediaPipe's face_detection graph
(SsdAnchorsCalculator + TensorsToDetectionsCalculator + weighted NMS), checked against the
ground-truth landmarks: a decoded box must sit on the annotated face.
The model is not in the repo; see android_demo/README.md for where it comes from.
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
from edge_lmk.data import load_face, scan_folder  # noqa: E402
from edge_lmk.paths import SAMPLE_TEST  # noqa: E402
from edge_lmk.preprocess import FaceSquare, apply_affine, crop_face, landmark_box  # noqa: E402

SIZE, STRIDES, SCALE = 128, (8, 16, 16, 16), 128.0


def anchors() -> np.ndarray:
    out, layer = [], 0
    while layer < len(STRIDES):
        last, per_cell = layer, 0
        while last < len(STRIDES) and STRIDES[last] == STRIDES[layer]:
            per_cell += 2
            last += 1
        fm = math.ceil(SIZE / STRIDES[layer])
        for y in range(fm):
            for x in range(fm):
                out += [((x + 0.5) / fm, (y + 0.5) / fm)] * per_cell
        layer = last
    return np.array(out)


def prepare(img: np.ndarray):
    h, w = img.shape[:2]
    crop, A = crop_face(img, FaceSquare(w / 2.0, h / 2.0, float(max(w, h))), SIZE)
    return (crop / np.float32(127.5) - np.float32(1.0)).astype(np.float32)[None], A


def iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return 0.0 if union <= 0 else ix * iy / union


def decode(reg: np.ndarray, cls: np.ndarray, A: np.ndarray, min_score=0.5, iou_thr=0.3) -> list[dict]:
    anc = anchors()
    score = 1.0 / (1.0 + np.exp(-np.clip(cls.astype(np.float64), -100, 100)))
    dets = []
    for i in np.nonzero(score >= min_score)[0]:
        r = reg[i].astype(np.float64)
        cx, cy = r[0] / SCALE + anc[i, 0], r[1] / SCALE + anc[i, 1]
        w, h = r[2] / SCALE, r[3] / SCALE
        kp = r[4:16].reshape(6, 2) / SCALE + anc[i]
        p0 = apply_affine(A, np.array([cx - w / 2, cy - h / 2]) * SIZE)
        p1 = apply_affine(A, np.array([cx + w / 2, cy + h / 2]) * SIZE)
        box = [min(p0[0], p1[0]), min(p0[1], p1[1]), abs(p1[0] - p0[0]), abs(p1[1] - p0[1])]
        dets.append({"score": float(score[i]), "box": box, "keypoints": apply_affine(A, kp * SIZE).reshape(-1).tolist()})
    dets.sort(key=lambda d: -d["score"])
    out = []
    while dets:
        best = dets[0]
        group = [d for d in dets if d is best or iou(best["box"], d["box"]) > iou_thr]
        dets = [d for d in dets if not any(d is g for g in group)]
        wsum = sum(g["score"] for g in group)
        mean = lambda key: (np.sum([np.array(g[key]) * g["score"] for g in group], axis=0) / wsum).tolist()
        out.append({"score": best["score"], "box": mean("box"), "keypoints": mean("keypoints")})
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="face_detection_short_range.tflite")
    ap.add_argument("--out", help="write the Kotlin test fixture here")
    args = ap.parse_args(argv)
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=args.model, num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    outs = {tuple(d["shape"])[-1]: d["index"] for d in it.get_output_details()}  # 16: regressors, 1: scores

    def run(img):
        x, A = prepare(img)
        it.set_tensor(inp, x)
        it.invoke()
        return it.get_tensor(outs[16])[0], it.get_tensor(outs[1])[0, :, 0], A

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
