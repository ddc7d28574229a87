"""Composed multi-face photos with known landmarks, for measuring detection end to end.

    python -m edge_lmk.multiface --out runs/multiface [--faces ../shared/data/300w/test_common] \
        [--backgrounds ../shared/data/unlabeled/utkface] [--photos 60] [--seed 0]

Each photo is a background (a mosaic of face-free corner patches of the background images,
blurred and re-lit, or smooth noise with random shapes) with 2-6 labelled faces pasted at
different scales (landmark extent log-uniform in [``min_extent``, ``max_extent``] photo
pixels, at least one face per photo below 64 px), in-plane rotation +-12 degrees, each face
with its hair and neck context under a soft elliptical mask, faces not overlapping, the whole
photo saved as JPEG quality 90. Ground-truth landmarks are transformed with the same affine.

Layout written (never a data set to commit: regenerate it, the command is deterministic for a
seed): ``OUT/scene_NNN.jpg`` + ``OUT/scene_NNN.json`` (``{"faces": [{"source", "extent",
"landmarks" (68x2 continuous photo px)}]}``) and ``OUT/index.json`` (``format``
``edge-lmk-multiface/1``, the seed and the arguments). ``python -m edge_lmk.detect_eval --data
OUT`` reads it.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from .data import load_face, scan_folder
from .data.images import read_image
from .files import atomic_write_bytes
from .preprocess import landmark_box

FORMAT = "edge-lmk-multiface/1"
SIZES = ((1280, 960), (960, 1280), (1600, 1200), (1024, 768), (2048, 1536))


def background(rng: np.random.Generator, w: int, h: int, patches: list[Path]) -> np.ndarray:
    """A face-free HxWx3 uint8 background: corner patches of ``patches`` images, or noise + shapes."""
    if patches and rng.random() < 0.6:
        cell = int(rng.integers(96, 256))
        out = np.zeros((h + cell, w + cell, 3), np.uint8)
        for y in range(0, h, cell):
            for x in range(0, w, cell):
                img = read_image(patches[int(rng.integers(len(patches)))])
                p = max(8, img.shape[0] // 5)  # the corners of an aligned face crop: background, hair
                cy, cx = int(rng.integers(2)) * (img.shape[0] - p), int(rng.integers(2)) * (img.shape[1] - p)
                out[y:y + cell, x:x + cell] = cv2.resize(img[cy:cy + p, cx:cx + p], (cell, cell),
                                                         interpolation=cv2.INTER_CUBIC)
        out = cv2.GaussianBlur(out[:h, :w], (0, 0), float(rng.uniform(1.0, 4.0)))
    else:
        small = rng.uniform(30, 230, (max(2, h // 64), max(2, w // 64), 3)).astype(np.uint8)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        for _ in range(int(rng.integers(5, 25))):  # edges and corners for a detector to trip on
            c = tuple(int(v) for v in rng.integers(0, 256, 3))
            p0 = (int(rng.integers(w)), int(rng.integers(h)))
            if rng.random() < 0.5:
                cv2.rectangle(out, p0, (int(rng.integers(w)), int(rng.integers(h))), c, int(rng.integers(-1, 6)))
            else:
                cv2.circle(out, p0, int(rng.integers(5, max(6, min(w, h) // 6))), c, int(rng.integers(-1, 6)))
        out = cv2.GaussianBlur(out, (0, 0), 1.0)
    gain = rng.uniform(0.7, 1.2)
    return np.clip(out.astype(np.float32) * gain + rng.normal(0, 3, out.shape), 0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, face: np.ndarray, pts: np.ndarray, extent: float, cx: float, cy: float,
          angle: float) -> np.ndarray:
    """Paste ``face`` (its landmarks ``pts``) scaled to landmark extent ``extent`` at (cx, cy), rotated
    by ``angle`` degrees, under a soft ellipse; returns the (68,2) landmarks in canvas pixels."""
    fcx, fcy, e = landmark_box(pts)
    s = extent / e
    a = math.radians(angle)
    R = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    M = np.hstack([R, (np.array([cx, cy]) - R @ np.array([fcx, fcy]))[:, None]])
    H, W = canvas.shape[:2]
    # work on the region the ellipse can reach (not the whole canvas): same pixels, much cheaper
    rad = 1.3 * extent
    x0, y0 = max(0, int(cx - rad)), max(0, int(cy - rad))
    x1, y1 = min(W, int(math.ceil(cx + rad)) + 1), min(H, int(math.ceil(cy + rad)) + 1)
    Mr = M.copy()
    Mr[:, 2] -= (x0, y0)
    # continuous coordinates: warpAffine maps pixel centres, so shift by half a pixel on both sides
    src, Mc = face, Mr.copy()
    if s < 0.5:  # anti-alias big reductions as the crop rule does
        k = int(1 / s)
        hk, wk = face.shape[0] // k * k, face.shape[1] // k * k  # whole k-blocks: exactly 1/k
        src = cv2.resize(face[:hk, :wk], (wk // k, hk // k), interpolation=cv2.INTER_AREA)
        Mc[:, :2] *= k
    Mc[:, 2] += Mc[:, :2] @ np.array([0.5, 0.5]) - 0.5
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(src, Mc, size, flags=cv2.INTER_LINEAR, borderValue=0)
    valid = cv2.warpAffine(np.full(src.shape[:2], 255, np.uint8), Mc, size, flags=cv2.INTER_LINEAR) / 255.0
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    u = (dx * math.cos(a) + dy * math.sin(a)) / (0.9 * extent)
    v = (-dx * math.sin(a) + dy * math.cos(a)) / (1.05 * extent)
    alpha = (np.clip((1.15 - np.hypot(u, v)) / 0.3, 0, 1) * valid)[..., None]
    roi = canvas[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)
    return pts @ R.T + M[:, 2]


def compose(rng: np.random.Generator, faces: list, patches: list[Path], min_extent: float = 40.0,
            max_extent: float = 320.0, sizes=SIZES) -> tuple[np.ndarray, list[dict]]:
    """One photo: (HxWx3 uint8, [{"source", "extent", "landmarks"}])."""
    w, h = sizes[int(rng.integers(len(sizes)))]
    canvas = background(rng, w, h, patches)
    n = int(rng.integers(2, 7))
    placed, out = [], []
    for i in range(n):
        hi = min(64.0, max_extent) if i == 0 else max_extent  # every photo has a small face
        extent = float(math.exp(rng.uniform(math.log(min_extent), math.log(hi))))
        r = 1.2 * extent  # context radius: faces (with hair) do not overlap
        for _ in range(50):
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            if r < w / 2 and r < h / 2 and all(math.hypot(cx - px, cy - py) > r + pr for px, py, pr in placed):
                break
        else:
            continue
        idx = int(rng.integers(len(faces)))
        name, img, pts = faces[idx]
        lm = paste(canvas, img, pts, extent, cx, cy, float(rng.uniform(-12, 12)))
        placed.append((cx, cy, r))
        out.append({"source": name, "extent": round(extent, 2), "landmarks": np.round(lm, 3).tolist()})
    return canvas, out


def build(out: Path, faces_dir: Path, backgrounds: Path | None, photos: int, seed: int,
          min_extent: float = 40.0, max_extent: float = 320.0, sizes=SIZES) -> Path:
    from .data.dataset import scan_unlabeled

    rng = np.random.default_rng(seed)
    faces = [(f"{r.subset}/{r.image.name}", *load_face(r)) for r in scan_folder(faces_dir)]
    patches = scan_unlabeled(backgrounds) if backgrounds else []
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(photos):
        img, meta = compose(rng, faces, patches, min_extent, max_extent, sizes)
        stem = f"scene_{i:03d}"
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise OSError(f"{out / stem}.jpg: could not encode")
        atomic_write_bytes(out / f"{stem}.jpg", buf.tobytes())
        atomic_write_bytes(out / f"{stem}.json", json.dumps({"faces": meta}).encode())
        names.append(stem)
    index = {"format": FORMAT, "seed": seed, "faces_from": str(faces_dir), "backgrounds": str(backgrounds),
             "min_extent": min_extent, "max_extent": max_extent, "sizes": [list(z) for z in sizes], "photos": names}
    atomic_write_bytes(out / "index.json", json.dumps(index, indent=1).encode())
    return out


def read_set(folder: Path) -> dict[Path, list[np.ndarray]] | None:
    """A composed set -> {image path: [(68,2) landmarks]}; None if ``folder`` is not one."""
    idx = folder / "index.json"
    if not idx.is_file():
        return None
    index = json.loads(idx.read_text())
    if index.get("format") != FORMAT:
        return None
    out = {}
    for stem in index["photos"]:
        meta = json.loads((folder / f"{stem}.json").read_text())
        out[folder / f"{stem}.jpg"] = [np.asarray(f["landmarks"], np.float64) for f in meta["faces"]]
    return out


def main(argv=None) -> int:
    from .paths import shared_data_dir

    d = shared_data_dir()
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.multiface", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--faces", default=str(d / "300w" / "test_common") if d else None,
                    help="labelled faces to paste (300-W layout)")
    ap.add_argument("--backgrounds", default=str(d / "unlabeled" / "utkface") if d else None,
                    help="images whose corners make the background mosaic (optional)")
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-extent", type=float, default=40.0)
    ap.add_argument("--max-extent", type=float, default=320.0)
    args = ap.parse_args(argv)
    if not args.faces:
        print("error: give --faces (no shared data found)", file=sys.stderr)
        return 2
    out = build(Path(args.out), Path(args.faces), Path(args.backgrounds) if args.backgrounds else None,
                args.photos, args.seed, args.min_extent, args.max_extent)
    print(f"{args.photos} photos -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
