"""Faces and 68 landmarks for photos, folders of photos, or videos.

    python -m edge_lmk.detect photo.jpg --out annotated/ --json faces.json --mesh
    python -m edge_lmk.detect a.jpg b.jpg photos/ --model laplacekl_w1_8 --json faces.json
    python -m edge_lmk.detect clip.mp4 --out annotated/ --json track.json      # or --video clip.mp4
    python -m edge_lmk.detect selfie.mp4 --detector blazeface_short --out annotated/

``--model`` is a registry name, a ``.pt`` checkpoint or an exported artifact. ``--detector``:
``blazeface`` (default: MediaPipe BlazeFace full range, vendored, run in LiteRT over a pyramid
of tiles down to ``--min-face`` px faces), ``blazeface_short`` (short range, whole frame: selfie
video) or ``fhog`` (the offline FHOG detector). ``--out`` gets annotated copies (points
coloured red->green by confidence, ``--mesh`` adds the 68-point mesh lines); videos become
``NAME.annotated.mp4``; ``--min-quality Q`` drops faces whose calibrated quality (estimated
P(NME <= 8%)) is below Q; an ``--out`` equal to or inside an input folder, or one that would
overwrite an input, is refused (exit 2). ``--json`` schema::

    {"model": str, "runtime": str, "detector": str, "detector_settings": {...}, "box_mapping":
     {"dx", "dy", "k"}, "refine": int, "min_score": float, "min_quality": float,
     "images": {"<path>": {"width": int, "height": int, "faces": [FACE, ...],
                           "timing": {"detector_ms": float, "landmarks_ms": float}}
                         | {"error": "<message naming the file>"}},
     "videos": {"<path>": {"fps": float, "width": int, "height": int,
                           "frames": [{"frame": int, "t": float, "faces": [FACE, ...]}]}}}
    FACE = {"box": [x0, y0, x1, y1], "landmarks": [[x, y] x 68], "confidence": [68 floats],
            "score": float, "expected_error": [68 floats, %IOD], "expected_error_px": [68 floats],
            "quality": float, "track_id": int (videos only)}
    (expected_error*, quality: calibrated models only, docs/confidence)

Coordinates are original-image pixels, continuous (pixel i spans [i, i+1)). An image with
no face gets ``"faces": []``. Files that cannot be read are reported (stderr and JSON) and
skipped; the exit status is 1 if any failed. All outputs are written atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .data.images import IMAGE_EXTS, ImageFileError
from .files import atomic_write_bytes

# Default face-score filter (detector score x mean landmark confidence) of the CLI, chosen on a
# composed validation set built from 300-W *training* faces (`python -m edge_lmk.multiface --faces
# ../shared/data/300w/train --seed 1 --photos 40`, 154 faces) with laplacekl_w1_8 + BlazeFace: 0.4 keeps
# every found face (recall 98.1% as at 0) and cuts false positives from 0.35 to 0.05 per photo; at 0.5
# recall drops to 96.8%. The value depends on the landmark model's confidence calibration.
DEFAULT_MIN_SCORE = 0.4
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def write_image(path: Path, rgb: np.ndarray) -> None:
    ext = path.suffix.lower() if path.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise OSError(f"{path}: could not encode image")
    atomic_write_bytes(path.with_suffix(ext), buf.tobytes())


def destinations(inputs: list[tuple[Path, Path | None]], out: Path) -> dict[Path, Path]:
    """Annotated-copy path for every (image, folder it was found in or None) under ``out``.

    Images found in a folder keep their path relative to it (under the folder's name when
    several inputs are given); single images land at ``out / name``.
    """
    roots = {r for _, r in inputs if r is not None}
    several = len(roots) + sum(r is None for _, r in inputs) > 1
    dest = {}
    for p, root in inputs:
        rel = (Path(root.name) / p.relative_to(root) if several else p.relative_to(root)) if root else Path(p.name)
        dest[p] = out / rel
    return dest


def check_out(out: Path, folders: list[Path], images: list[Path], dest: dict[Path, Path]) -> str | None:
    """Why ``--out`` would damage the inputs (one line), or None when it is safe."""
    o = out.resolve()
    for d in folders:
        r = d.resolve()
        if o == r or r in o.parents:
            return (f"--out {out} is {'the input folder' if o == r else 'inside the input folder'} {d}: annotated "
                    f"copies would overwrite the photos and be re-read on the next run; choose a folder outside it")
    inputs = {p.resolve() for p in images}
    written: dict[Path, Path] = {}
    for p, q in dest.items():
        for cand in {q.resolve(), q.with_suffix(".png").resolve()}:  # write_image may switch to .png
            if cand in inputs:
                return f"--out {out}: the annotated copy of {p} would overwrite the input photo {cand}"
        if q.resolve() in written:
            return f"--out {out}: {p} and {written[q.resolve()]} would both be written to {q}"
        written[q.resolve()] = p
    return None


def run_images(lmk, paths: list[Path], dest: dict[Path, Path] | None, mesh: bool, results: dict) -> int:
    from .inference.drawing import draw_faces

    failed = 0
    bar = tqdm(paths, desc="photos", unit="img", disable=len(paths) < 2, file=sys.stderr)
    for p in bar:
        key = str(p)
        try:
            rgb, _ = lmk.load(p)
            faces, timing = lmk.detect_timed(rgb)
        except (ImageFileError, ValueError) as e:
            failed += 1
            msg = str(e) if str(p) in str(e) else f"{p}: {e}"
            results[key] = {"error": msg}
            tqdm.write(f"error: {msg}", file=sys.stderr)
            continue
        results[key] = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                        "faces": [f.to_dict() for f in faces], "timing": timing}
        bar.set_postfix(faces=len(faces), det_ms=round(timing["detector_ms"]), lmk_ms=round(timing["landmarks_ms"]))
        if len(paths) == 1:
            print(f"{p}: {len(faces)} face(s) (detector {timing['detector_ms']:.0f} ms, landmarks "
                  f"{timing['landmarks_ms']:.0f} ms)" + "".join(f"\n  score {f.score:.3f} box "
                                                            f"{[round(v) for v in f.box]}" for f in faces))
        if dest is not None:
            write_image(dest[p], draw_faces(rgb, faces, mesh))
    return failed


def run_video(lmk, path: Path, out: Path | None, mesh: bool, redetect_every: int, smooth: bool) -> dict:
    from .inference.drawing import draw_faces
    from .inference.tracking import FaceTracker, OneEuroParams

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageFileError(f"{path}: cannot open video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    tracker = FaceTracker(lmk, OneEuroParams() if smooth else None, redetect_every=redetect_every, fps=fps)
    writer, tmp, dest = None, None, None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        dest = out / f"{path.stem}.annotated.mp4"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{dest.stem}.", suffix=".tmp.mp4")
        os.close(fd)
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    frames = []
    try:
        with tqdm(total=n or None, desc=path.name, unit="frame", file=sys.stderr) as bar:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                t = i / fps
                faces = tracker.update(bgr, t, color="BGR")
                frames.append({"frame": i, "t": round(t, 4), "faces": [f.to_dict() for f in faces]})
                if writer is not None:
                    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
                    writer.write(np.ascontiguousarray(draw_faces(rgb, faces, mesh)[:, :, ::-1]))
                i += 1
                bar.update(1)
        if writer is not None:
            writer.release()
            os.replace(tmp, dest)
            tmp = None
    finally:
        cap.release()
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    if not frames:
        raise ImageFileError(f"{path}: no frames could be read")
    print(f"{path}: {len(frames)} frames, detector run on {tracker.detections_run}")
    return {"fps": float(fps), "width": w, "height": h, "frames": frames}


def detector_from_args(args):
    from .inference.detectors import make_detector

    if args.detector == "fhog":
        return make_detector("fhog", max_side=args.max_side)
    kw = {} if args.min_face is None else {"min_face": args.min_face if args.min_face > 0 else None}
    return make_detector(args.detector, **kw)


def main(argv=None) -> int:
    from .inference.detectors import DETECTORS

    ap = argparse.ArgumentParser(prog="python -m edge_lmk.detect", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="images, folders of images, or video files (any number)")
    ap.add_argument("--video", default=None, help="video file (same as giving it as input)")
    ap.add_argument("--model", default="laplacekl_w1_8", help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--detector", default="blazeface", choices=DETECTORS,
                    help="blazeface: BlazeFace full range over a tile pyramid (default); blazeface_short: short "
                         "range, whole frame (selfie video); fhog: the offline FHOG fallback")
    ap.add_argument("--min-face", type=float, default=None,
                    help="blazeface: smallest face (landmark extent, px) the tile pyramid looks for (default 40; "
                         "0: whole photo only)")
    ap.add_argument("--out", default=None, help="folder for annotated images / videos (not inside an input folder)")
    ap.add_argument("--json", default=None, help="write all results here (schema above)")
    ap.add_argument("--mesh", action="store_true", help="draw the 68-point mesh lines")
    ap.add_argument("--refine", type=int, default=None, help="re-crop passes from predicted landmarks")
    ap.add_argument("--max-side", type=int, default=640, help="fhog: long side of the finest pyramid level")
    ap.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE,
                    help=f"drop faces scoring below this (detector score x landmark confidence; default "
                         f"{DEFAULT_MIN_SCORE}, 0 keeps every detection)")
    ap.add_argument("--flip", action="store_true",
                    help="test-time horizontal flip: each face also runs mirrored, the two averaged (twice the "
                         "landmark cost; measure it separately, edge_lmk/inference/flip.py)")
    ap.add_argument("--min-quality", type=float, default=0.0,
                    help="drop faces whose calibrated quality (estimated probability that the face's NME is "
                         "<= 8%%, docs/confidence) is below Q, in [0, 1] (default 0: keep all; needs a calibrated "
                         "model)")
    ap.add_argument("--redetect-every", type=int, default=30, help="video: run the detector every N frames")
    ap.add_argument("--no-smooth", action="store_true", help="video: no One Euro smoothing")
    args = ap.parse_args(argv)
    srcs = [Path(s) for s in ([args.video] if args.video else []) + args.inputs]
    if not srcs:
        ap.error("give images, folders or videos")
    for s in srcs:
        if not s.exists():
            print(f"error: {s}: not found", file=sys.stderr)
            return 2
    videos = [s for s in srcs if s.is_file() and (s.suffix.lower() in VIDEO_EXTS or str(s) == args.video)]
    folders = [s for s in srcs if s.is_dir()]
    images: list[tuple[Path, Path | None]] = []
    for s in srcs:
        if s.is_dir():
            found = list_images(s)
            if not found:
                print(f"error: {s}: no images found ({', '.join(IMAGE_EXTS)})", file=sys.stderr)
                return 2
            images += [(p, s) for p in found]
        elif s not in videos:
            images.append((s, None))
    out = Path(args.out) if args.out else None
    dest = None
    if out is not None:
        dest = destinations(images, out)
        why = check_out(out, folders, [p for p, _ in images] + videos, dest)
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 2

    from .inference.landmarker import DEFAULT_REFINE, FaceLandmarker

    try:
        detector = detector_from_args(args)
        lmk = FaceLandmarker(args.model, detector, refine=DEFAULT_REFINE if args.refine is None else args.refine,
                             min_score=args.min_score, min_quality=args.min_quality, flip=args.flip)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    det = lmk.detector
    res = {"model": str(args.model), "runtime": lmk.predictor.runtime,
           "detector": getattr(det, "name", type(det).__name__),
           "detector_settings": det.settings() if hasattr(det, "settings") else {},
           "box_mapping": vars(lmk.box_mapping), "refine": lmk.refine, "min_score": lmk.min_score,
           "min_quality": lmk.min_quality, "flip": lmk.flip,
           "images": {}, "videos": {}}
    failed = 0
    for v in videos:
        try:
            res["videos"][str(v)] = run_video(lmk, v, out, args.mesh, args.redetect_every, not args.no_smooth)
        except ImageFileError as e:
            print(f"error: {e}", file=sys.stderr)
            res["videos"][str(v)] = {"error": str(e)}
            failed += 1
    if images:
        bad = run_images(lmk, [p for p, _ in images], dest, args.mesh, res["images"])
        failed += bad
        if len(images) > 1:
            n_faces = sum(len(v.get("faces", [])) for v in res["images"].values())
            ms = [v["timing"] for v in res["images"].values() if "timing" in v]
            per = (f", median detector {np.median([t['detector_ms'] for t in ms]):.0f} ms + landmarks "
                   f"{np.median([t['landmarks_ms'] for t in ms]):.0f} ms per photo") if ms else ""
            print(f"{', '.join(map(str, srcs))}: {len(images)} images, {n_faces} faces, {bad} unreadable{per}")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(res, indent=1).encode())
        print("results:", args.json)
    if out is not None:
        print("annotated:", out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
