"""Pack 300-W layout folders into a small copy for a machine the data does not live on.

    python -m edge_lmk.data.pack --data ../shared/data/300w/train --out gpu_pack/300w_train [--quality 75]

Every face is cut to its training canvas (``canvas.make_canvas``: a square of 2 x the landmark
extent, 192 px, which is what training crops from anyway) and written as a JPEG of ``--quality``
with a ``.pts`` in canvas pixels, keeping the folder structure below ``--data``. The copy is again a
300-W layout folder, so ``train --data`` reads it like the original. It exists for the lent GPU
machine, which receives at most 64 MiB with each call (the working tree included): the 4,782
training and validation faces are 97 MB as shipped and about 30 MB at quality 75. The bytes and the
mean pixel change are printed; the copy is a transfer format, never committed (the data's terms:
``../shared/data/README.md``). Existing files are skipped, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..cli import ArgumentParser, cli_main, positive_int, writable_dir
from ..files import atomic_write_bytes
from .canvas import make_canvas
from .dataset import load_face, scan_folder
from .pts import write_pts


def pack_folder(src: Path, out: Path, quality: int = 75) -> dict:
    """Canvas JPEG + .pts for every face under ``src`` into ``out`` (same relative paths).
    -> {faces, bytes, mean_abs_change}: the JPEG's mean absolute pixel change against the canvas."""
    records = scan_folder(src)
    total, change = 0, []
    for r in tqdm(records, desc=f"packing {src}", unit="face", leave=False):
        rel = Path(r.image).relative_to(src)
        image_out = (out / rel).with_suffix(".jpg")
        pts_out = image_out.with_suffix(".pts")
        if not (image_out.is_file() and pts_out.is_file()):
            canvas, pts = make_canvas(*load_face(r))
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f"{r.image}: JPEG encoding failed")
            decoded = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            change.append(float(np.abs(decoded.astype(np.int16) - canvas).mean()))
            image_out.parent.mkdir(parents=True, exist_ok=True)
            write_pts(pts_out, pts)  # the .pts first: an image without one is not a face to the scanner
            atomic_write_bytes(image_out, data.tobytes())
        total += image_out.stat().st_size + pts_out.stat().st_size
    return {"faces": len(records), "bytes": total, "mean_abs_change": float(np.mean(change)) if change else None}


@cli_main
def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m edge_lmk.data.pack", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a 300-W layout folder")
    ap.add_argument("--out", required=True, help="the packed copy (a new folder, or one this command filled)")
    ap.add_argument("--quality", type=positive_int, default=75, help="JPEG quality, 1-100 (default 75)")
    a = ap.parse_args(argv)
    if a.quality > 100:
        ap.error("--quality must be at most 100")
    src, out = Path(a.data), writable_dir(a.out, "--out")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        ap.error(f"--out {out} is inside --data {src}; give a folder outside it")
    res = pack_folder(src, out, a.quality)
    change = "n/a (all faces already packed)" if res["mean_abs_change"] is None else f"{res['mean_abs_change']:.2f}"
    print(f"{src} -> {out}: {res['faces']} faces, {res['bytes'] / 1e6:.1f} MB at JPEG quality {a.quality}; "
          f"mean absolute pixel change {change} (0-255)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
