"""Faces and 68 landmarks for photos, folders of photos, or videos.

    python -m edge_lmk.detect photo.jpg --out annotated/ --json faces.json --mesh
    python -m edge_lmk.detect photos/ --model laplacekl_w1_8 --json faces.json
    python -m edge_lmk.detect clip.mp4 --out annotated/ --json track.json      # or --video clip.mp4

``--model`` is a registry name, a ``.pt`` checkpoint or an exported artifact. ``--out``
gets annotated copies (points coloured red->green by confidence, ``--mesh`` adds the 68-point
mesh lines); videos become ``NAME.annotated.mp4``. ``--json`` schema::

    {"model": str, "runtime": str, "detector": str, "refine": int,
     "images": {"<path>": {"width": int, "height": int, "faces": [FACE, ...]}
                         | {"error": "<message naming the file>"}},
     "videos": {"<path>": {"fps": float, "width": int, "height": int,
                           "frames": [{"frame": int, "t": float, "faces": [FACE, ...]}]}}}
    FACE = {"box": [x0, y0, x1, y1], "landmarks": [[x, y] x 68], "confidence": [68 floats],
            "score": float, "track_id": int (videos only)}

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
from .data.pts import atomic_write_bytes

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


def run_images(lmk, paths: list[Path], root: Path | None, out: Path | None, mesh: bool, results: dict) -> int:
    from .drawing import draw_faces

    failed = 0
    bar = tqdm(paths, desc="photos", unit="img", disable=len(paths) < 2, file=sys.stderr)
    for p in bar:
        key = str(p)
        try:
            rgb, _ = lmk.load(p)
            faces = lmk.detect(rgb)
        except (ImageFileError, ValueError) as e:
            failed += 1
            msg = str(e) if str(p) in str(e) else f"{p}: {e}"
            results[key] = {"error": msg}
            tqdm.write(f"error: {msg}", file=sys.stderr)
            continue
        results[key] = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                        "faces": [f.to_dict() for f in faces]}
        if len(paths) == 1:
            print(f"{p}: {len(faces)} face(s)" + "".join(f"\n  score {f.score:.3f} box "
                                                        f"{[round(v) for v in f.box]}" for f in faces))
        if out is not None:
            rel = p.relative_to(root) if root else Path(p.name)
            write_image(out / rel, draw_faces(rgb, faces, mesh))
    return failed


def run_video(lmk, path: Path, out: Path | None, mesh: bool, redetect_every: int, smooth: bool) -> dict:
    from .drawing import draw_faces
    from .tracking import FaceTracker, OneEuroParams

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.detect", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", help="image, folder of images, or video file")
    ap.add_argument("--video", default=None, help="video file (same as giving it as input)")
    ap.add_argument("--model", default="laplacekl_w1_8", help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--out", default=None, help="folder for annotated images / videos")
    ap.add_argument("--json", default=None, help="write all results here (schema above)")
    ap.add_argument("--mesh", action="store_true", help="draw the 68-point mesh lines")
    ap.add_argument("--refine", type=int, default=None, help="re-crop passes from predicted landmarks")
    ap.add_argument("--max-side", type=int, default=640, help="long side of the detector's finest pyramid level")
    ap.add_argument("--min-score", type=float, default=0.0,
                    help="drop faces scoring below this (0.45 removes most false alarms with a trained 1/8 model)")
    ap.add_argument("--redetect-every", type=int, default=30, help="video: run the detector every N frames")
    ap.add_argument("--no-smooth", action="store_true", help="video: no One Euro smoothing")
    args = ap.parse_args(argv)
    src = args.video or args.input
    if not src:
        ap.error("give an image, a folder or a video")
    src = Path(src)
    if not src.exists():
        print(f"error: {src}: not found", file=sys.stderr)
        return 2

    from .detectors import FhogFaceDetector
    from .landmarker import DEFAULT_REFINE, FaceLandmarker

    lmk = FaceLandmarker(args.model, FhogFaceDetector(max_side=args.max_side),
                         refine=DEFAULT_REFINE if args.refine is None else args.refine, min_score=args.min_score)
    out = Path(args.out) if args.out else None
    res = {"model": str(args.model), "runtime": lmk.predictor.runtime,
           "detector": getattr(lmk.detector, "name", type(lmk.detector).__name__), "refine": lmk.refine,
           "images": {}, "videos": {}}
    failed = 0
    if args.video or (src.is_file() and src.suffix.lower() in VIDEO_EXTS):
        try:
            res["videos"][str(src)] = run_video(lmk, src, out, args.mesh, args.redetect_every, not args.no_smooth)
        except ImageFileError as e:
            print(f"error: {e}", file=sys.stderr)
            res["videos"][str(src)] = {"error": str(e)}
            failed = 1
    elif src.is_dir():
        paths = list_images(src)
        if not paths:
            print(f"error: {src}: no images found ({', '.join(IMAGE_EXTS)})", file=sys.stderr)
            return 2
        failed = run_images(lmk, paths, src, out, args.mesh, res["images"])
        n_faces = sum(len(v.get("faces", [])) for v in res["images"].values())
        print(f"{src}: {len(paths)} images, {n_faces} faces, {failed} unreadable")
    else:
        failed = run_images(lmk, [src], None, out, args.mesh, res["images"])
    if args.json:
        atomic_write_bytes(args.json, json.dumps(res, indent=1).encode())
        print("results:", args.json)
    if out is not None:
        print("annotated:", out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
