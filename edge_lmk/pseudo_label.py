"""Label unlabelled faces with a teacher model: ``python -m edge_lmk.pseudo_label --teacher M --data DIR --out OUT``.

For each image (UTKFace-style aligned crops: one face, centred):

1. crop the nominal face square (side ``extent`` x the image side, centred) and predict;
2. re-crop on that prediction with the contract's crop rule and predict again, plainly and mirrored
   (``edge_lmk.inference.flip``);
3. keep the face only if the plain and mirrored predictions agree: their mean point distance, as a fraction
   of the predicted inter-ocular distance, is at most ``max_disagreement`` (a teacher that is unsure of a
   face gives two different answers; such labels would teach the student the teacher's mistakes).

Kept faces are written in the 300-W layout under OUT (a symlink to the image + ``NAME.pts`` with the mean of
the two passes), so ``train --extra-data OUT`` reads them like any labelled folder (with ``--extra-weight``), plus
``OUT/pseudo_labels.json``: teacher, settings, and per-face disagreement, kept or not. Resumable: faces whose
``.pts`` exists are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli import ArgumentParser, cli_main, positive_float, positive_int
from .data import scan_unlabeled
from .data.images import read_image
from .data.pts import write_pts
from .files import atomic_write_bytes
from .inference.flip import unflip_landmarks
from .preprocess import FaceSquare, crop_face, crop_to_photo, face_square, to_input

LEFT_EYE, RIGHT_EYE = 36, 45


@dataclass(frozen=True)
class PseudoLabelConfig:
    teacher: str
    extent: float = 0.58  # landmark extent / image side of the unlabelled faces (as train --unlabeled-extent)
    max_disagreement: float = 0.05  # plain vs mirrored mean point distance / inter-ocular distance
    batch: int = 64


def iod(landmarks: np.ndarray) -> np.ndarray:
    """(N,68,2) -> (N,) outer-eye-corner distance."""
    return np.linalg.norm(landmarks[:, LEFT_EYE] - landmarks[:, RIGHT_EYE], axis=-1)


def crops_for(images: list[np.ndarray], squares: list[FaceSquare], size: int, pixel_scale: float):
    """-> (N,3,S,S) inputs and (N,2,3) crop -> photo affines."""
    xs, As = [], []
    for img, sq in zip(images, squares):
        crop, A = crop_face(img, sq, size)
        xs.append(to_input(crop, pixel_scale)[0])
        As.append(A)
    return np.stack(xs), np.stack(As)


def label_batch(predictor, images: list[np.ndarray], extent: float) -> tuple[np.ndarray, np.ndarray]:
    """Teacher pseudo-labels for a batch of images -> (landmarks (N,68,2) photo px, disagreement (N,))."""
    c = predictor.contract
    first = [FaceSquare(im.shape[1] / 2, im.shape[0] / 2, c.crop_scale * extent * max(im.shape[:2]))
             for im in images]
    x, A = crops_for(images, first, c.input_size, c.pixel_scale)
    lm, _ = predictor.predict(x)
    coarse = np.stack([crop_to_photo(l, a) for l, a in zip(lm, A)])
    x, A = crops_for(images, [face_square(p, c.crop_scale) for p in coarse], c.input_size, c.pixel_scale)
    plain, _ = predictor.predict(x)
    mirrored, _ = predictor.predict(np.ascontiguousarray(x[..., ::-1]))
    mirrored = unflip_landmarks(mirrored, c.input_size)
    plain_p = np.stack([crop_to_photo(l, a) for l, a in zip(plain, A)])
    mirr_p = np.stack([crop_to_photo(l, a) for l, a in zip(mirrored, A)])
    mean = 0.5 * (plain_p + mirr_p)
    dis = np.linalg.norm(plain_p - mirr_p, axis=-1).mean(-1) / np.maximum(iod(mean), 1e-6)
    return mean, dis


def pseudo_label(cfg: PseudoLabelConfig, data: Path, out: Path, limit: int | None = None) -> dict:
    from .runtimes import load_predictor

    predictor = load_predictor(cfg.teacher)
    files = scan_unlabeled(data)[:limit] if limit else scan_unlabeled(data)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "pseudo_labels.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"faces": {}}
    if index.get("config", asdict(cfg)) != asdict(cfg):
        raise SystemExit(f"{out}: labelled with other settings {index['config']}; use another --out")
    index["config"] = asdict(cfg)
    todo = [f for f in files if str(f) not in index["faces"]]
    bar = tqdm(total=len(files), initial=len(files) - len(todo), desc="pseudo-labels", unit="face")
    for i in range(0, len(todo), cfg.batch):
        chunk = todo[i:i + cfg.batch]
        lms, dis = label_batch(predictor, [read_image(f) for f in chunk], cfg.extent)
        for f, lm, d in zip(chunk, lms, dis):
            keep = bool(np.isfinite(d) and d <= cfg.max_disagreement)
            index["faces"][str(f)] = {"disagreement": round(float(d), 5), "kept": keep}
            if keep:
                rel = f.relative_to(data)
                stem = str(out / rel.parent / rel.stem)  # NAME.jpg + NAME.pts, whatever dots NAME holds
                Path(stem).parent.mkdir(parents=True, exist_ok=True)
                link = Path(stem + f.suffix)
                if not link.exists():
                    os.symlink(f.resolve(), link)
                write_pts(stem + ".pts", lm)
        atomic_write_bytes(index_path, json.dumps(index, indent=0).encode())  # resumable after every batch
        bar.update(len(chunk))
    bar.close()
    kept = sum(v["kept"] for v in index["faces"].values())
    return {"faces": len(index["faces"]), "kept": kept, "out": str(out)}


@cli_main
def main(argv=None) -> dict:
    ap = ArgumentParser(prog="python -m edge_lmk.pseudo_label", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="registry name, checkpoint or exported artifact")
    ap.add_argument("--data", required=True, help="folder of unlabelled face images (e.g. ../shared/data/unlabeled/utkface)")
    ap.add_argument("--out", required=True, help="output folder (300-W layout + pseudo_labels.json)")
    ap.add_argument("--extent", type=positive_float, default=PseudoLabelConfig.extent)
    ap.add_argument("--max-disagreement", type=positive_float, default=PseudoLabelConfig.max_disagreement)
    ap.add_argument("--limit", type=positive_int, default=None, help="label only the first N images")
    args = ap.parse_args(argv)
    cfg = PseudoLabelConfig(args.teacher, args.extent, args.max_disagreement)
    res = pseudo_label(cfg, Path(args.data), Path(args.out), args.limit)  # errors: one line via cli_main
    print(f"{res['kept']} of {res['faces']} faces kept -> {res['out']}")
    return res


if __name__ == "__main__":
    main()
