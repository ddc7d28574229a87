"""Photo-to-landmarks evaluation: recall, false positives, NME end to end vs ground-truth crops, latency.

    python -m edge_lmk.detect_eval [--data DIR] [--detector blazeface|blazeface_short|fhog] [--no-jitter] [--json OUT]
    python -m edge_lmk.multiface --out runs/multiface && python -m edge_lmk.detect_eval --data runs/multiface
    python -m edge_lmk.detect_eval --size-sweep     # BlazeFace recall vs face size in input pixels

Data: full photos in the 300-W layout (``NAME.jpg|png`` + ``NAME.pts``; every ``.pts`` is one
annotated face of the image with the same stem; default: the shared ``originals_sample``,
else the bundled ``edge_lmk/sample/originals``), or a composed multi-face set written by
``edge_lmk.multiface`` (several annotated faces per photo).

End to end (``evaluate_end_to_end``, what ``FaceLandmarker.detect`` gives a user, with the CLI's
``min_score``): a face is *found* when a returned face's landmark centroid lies within one
inter-ocular distance of the annotation's (each returned face matches at most one); every
returned face matching none is a false positive (on ``originals_sample`` some are real but
unannotated people; the composed set has no unannotated faces). NME of the found faces end to
end is compared with the NME of the same model from ground-truth crops of the same faces
(``edge_lmk.evaluate``'s path). Per photo: detector and landmark milliseconds (wall clock,
informative only: they depend on machine load).

Box match (``evaluate_photos``, the older study): a face is found when a detection box overlaps
its landmark bounding box with IoU >= 0.4 or has its centre inside it; for found faces NME from
the detector's crop with 0, 1 and 2 refinement passes (re-crop from the predicted landmarks).

The same command runs the still-face jitter study (``jitter_study``): a bundled photo repeated
as a 60-frame video with sensor noise and sub-pixel shifts, tracked with and without One
Euro smoothing; jitter is the mean frame-to-frame landmark motion in % of the inter-ocular
distance (the ideal output is constant).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .data import read_pts, scan_folder
from .inference.detectors import Box, box_iou
from .metrics import nme_per_face
from .paths import SAMPLE_DIR, shared_data_dir

REFINE_PASSES = (0, 1, 2)
MIN_SCORES = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5)
DETECTOR_SCORES = (0.0, 0.6, 0.65, 0.7, 0.75, 0.8)
MATCH_IOU = 0.4


def default_data() -> Path:
    d = shared_data_dir()
    if d is not None and (d / "300w" / "originals_sample").is_dir():
        return d / "300w" / "originals_sample"
    return SAMPLE_DIR / "originals"


def landmark_bbox(pts: np.ndarray) -> Box:
    lo, hi = pts.min(0), pts.max(0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def matches(box: Box, gt_box: Box) -> tuple[bool, float]:
    iou = box_iou(box, gt_box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    inside = gt_box[0] <= cx <= gt_box[2] and gt_box[1] <= cy <= gt_box[3]
    return iou >= MATCH_IOU or inside, iou


def match_faces(det_boxes: list[Box], gt_boxes: list[Box]) -> list[int | None]:
    """Greedy by IoU: for each ground-truth face, the index of its detection or None."""
    pairs = []
    for g, gb in enumerate(gt_boxes):
        for d, db in enumerate(det_boxes):
            ok, iou = matches(db, gb)
            if ok:
                pairs.append((iou, g, d))
    out: list[int | None] = [None] * len(gt_boxes)
    used = set()
    for _, g, d in sorted(pairs, reverse=True):
        if out[g] is None and d not in used:
            out[g] = d
            used.add(d)
    return out


def group_photos(data: Path) -> dict[Path, list[np.ndarray]]:
    """{photo: [(68,2) annotated faces]}: a composed set (``edge_lmk.multiface``) or the 300-W layout."""
    from .multiface import read_set

    composed = read_set(data)
    if composed is not None:
        return composed
    photos: dict[Path, list[np.ndarray]] = defaultdict(list)
    for r in scan_folder(data):
        photos[r.image].append(read_pts(r.pts))
    return dict(sorted(photos.items()))


def interocular(pts: np.ndarray) -> float:
    return float(np.linalg.norm(pts[45] - pts[36]))


def match_centroids(pred: list[np.ndarray], gts: list[np.ndarray]) -> list[int | None]:
    """For each annotated face, the predicted face whose landmark centroid lies within one
    inter-ocular distance of its own (closest first, each prediction used once), or None."""
    pairs = sorted((float(np.linalg.norm(p.mean(0) - g.mean(0))) / max(interocular(g), 1e-6), gi, pi)
                   for gi, g in enumerate(gts) for pi, p in enumerate(pred))
    out: list[int | None] = [None] * len(gts)
    used = set()
    for d, gi, pi in pairs:
        if d <= 1.0 and out[gi] is None and pi not in used:
            out[gi] = pi
            used.add(pi)
    return out


def evaluate_end_to_end(lmk, data: str | Path | None = None, min_scores=MIN_SCORES) -> dict:
    """What a user gets from ``FaceLandmarker.detect``: recall (landmark centroid within one IOD of
    the annotation), false positives per photo, end-to-end NME vs ground-truth-crop NME of the same
    faces, per-photo detector / landmark milliseconds (wall clock) and detector passes."""
    from .inference.landmarker import gt_square

    data = Path(data) if data else default_data()
    cs = lmk.contract.crop_scale
    lmk.detect_timed(np.zeros((64, 64, 3), np.uint8))  # warm-up: first calls plan kernels
    rows, e2e, gt_nme, scored = [], [], [], []
    e2e_quality, fp_quality = [], []  # calibrated quality of found faces / of detector false alarms
    n_gt = 0
    for img_path, gts in group_photos(data).items():
        rgb, _ = lmk.load(img_path)
        min_score, lmk.min_score = lmk.min_score, 0.0  # score every face, filter below
        faces, timing = lmk.detect_timed(rgb)
        lmk.min_score = min_score
        idx = match_centroids([f.landmarks for f in faces], gts)
        matched = {i for i in idx if i is not None}
        scored += [(f.score, i in matched, f.detector_score) for i, f in enumerate(faces)]
        kept = [i for i, f in enumerate(faces) if f.score >= min_score]
        idx_kept = match_centroids([faces[i].landmarks for i in kept], gts)
        found = [(g, faces[kept[i]]) for g, i in zip(gts, idx_kept) if i is not None]
        kept_matched = {kept[i] for i in idx_kept if i is not None}
        fp_quality += [faces[i].quality for i in kept if i not in kept_matched and faces[i].quality is not None]
        e2e_quality += [f.quality for _, f in found]
        n_gt += len(gts)
        row = {"image": img_path.name, "size": [int(rgb.shape[1]), int(rgb.shape[0])], "faces": len(gts),
               "found": len(found), "false_positives": len(kept) - len(found),
               "extents": [round(float(np.ptp(g, 0).max()), 1) for g in gts],
               "missed_extents": [round(float(np.ptp(g, 0).max()), 1) for g, i in zip(gts, idx_kept) if i is None],
               "passes": getattr(lmk.detector, "passes", None), **timing}
        if found:
            g_arr = np.stack([g for g, _ in found])
            v = nme_per_face(np.stack([f.landmarks for _, f in found]), g_arr)
            w = nme_per_face(np.stack([f.landmarks for f in lmk.faces_from_squares(
                rgb, [gt_square(g, cs) for g in g_arr], [1.0] * len(found), refine=0)]), g_arr)
            e2e += v.tolist()
            gt_nme += w.tolist()
            row["nme_e2e"], row["nme_gt"] = [round(float(x), 3) for x in v], [round(float(x), 3) for x in w]
        rows.append(row)
    n_found = sum(r["found"] for r in rows)
    det_ms, lmk_ms = [r["detector_ms"] for r in rows], [r["landmarks_ms"] for r in rows]
    nme_e, nme_g = (float(np.mean(e2e)), float(np.mean(gt_nme))) if e2e else (float("nan"), float("nan"))
    det = lmk.detector
    return {
        "detector": getattr(det, "name", type(det).__name__),
        "detector_settings": det.settings() if hasattr(det, "settings") else {},
        "refine": lmk.refine, "min_score": lmk.min_score, "data": str(data), "photos": len(rows), "faces": n_gt,
        "found": n_found, "recall": n_found / max(n_gt, 1),
        "false_positives": sum(r["false_positives"] for r in rows),
        "false_positives_per_photo": sum(r["false_positives"] for r in rows) / max(len(rows), 1),
        "nme_e2e": nme_e, "nme_gt_crop": nme_g, "ratio_e2e_to_gt": nme_e / nme_g if e2e else float("nan"),
        "detector_ms_median": float(np.median(det_ms)), "detector_ms_mean": float(np.mean(det_ms)),
        "landmarks_ms_median": float(np.median(lmk_ms)), "landmarks_ms_mean": float(np.mean(lmk_ms)),
        # what a threshold on the face score (detector x landmark confidence) or on the detector
        # score alone would keep, for every face found before the min_score filter
        "by_min_score": {str(t): {"recall": sum(sc >= t and m for sc, m, _ in scored) / max(n_gt, 1),
                                  "false_positives_per_photo": sum(sc >= t and not m for sc, m, _ in scored)
                                  / max(len(rows), 1)} for t in min_scores},
        "by_detector_score": {str(t): {"recall": sum(ds >= t and m for _, m, ds in scored) / max(n_gt, 1),
                                       "false_positives_per_photo": sum(ds >= t and not m for _, m, ds in scored)
                                       / max(len(rows), 1)} for t in DETECTOR_SCORES},
        "quality_on_detector_crops": _quality_figures(np.asarray(e2e), e2e_quality, fp_quality),
        "per_photo": rows,
    }


def _quality_figures(nme: np.ndarray, quality: list, fp_quality: list) -> dict | None:
    """The calibrated face quality judged on what ``detect`` returns (detector crops, refined), not
    on ground-truth crops: failure AUC (NME > 8%), rejection gains of the 5%/10% lowest-quality
    faces, and how well quality separates found faces from detector false alarms (kept ones).
    None for an uncalibrated model."""
    from .confidence_metrics import failure_auc, rejection_gains, separation_auc

    if not len(nme) or any(q is None for q in quality):
        return None
    q = np.asarray(quality, np.float64)
    out = {"faces": int(len(q)), "failures": int((nme > 8.0).sum()), "failure_auc": failure_auc(nme, q),
           "rejection": rejection_gains(nme, q), "false_alarms": len(fp_quality),
           "false_alarm_quality_median": float(np.median(fp_quality)) if fp_quality else None,
           "face_vs_false_alarm_auc": separation_auc(q, np.asarray(fp_quality)) if fp_quality else None}
    return out


def evaluate_photos(model: str, data: str | Path | None = None, landmarker=None) -> dict:
    from .inference.landmarker import FaceLandmarker, gt_square

    data = Path(data) if data else default_data()
    lmk = landmarker or FaceLandmarker(model)
    cs = lmk.contract.crop_scale
    per_photo, nme = [], defaultdict(list)
    n_gt = n_found = n_unmatched = 0
    t_det, t_lmk, c_det, c_lmk = [], [], [], []
    scored = []  # (face score, matches an annotated face) for every detection, after refinement
    for img_path, gts in group_photos(data).items():
        rgb, _ = lmk.load(img_path)
        t0, c0 = time.perf_counter(), time.process_time()
        dets = lmk.run_detector(rgb)
        t_det.append(time.perf_counter() - t0)
        c_det.append(time.process_time() - c0)
        boxes = [b for b, _ in dets]
        idx = match_faces(boxes, [landmark_bbox(g) for g in gts])
        row = {"image": img_path.name, "size": [int(rgb.shape[1]), int(rgb.shape[0])], "faces": len(gts),
               "detections": len(dets), "found": sum(i is not None for i in idx)}
        n_gt += len(gts)
        n_found += row["found"]
        n_unmatched += len(dets) - row["found"]
        all_faces = lmk.faces_from_squares(rgb, [lmk.box_mapping.square(b, cs) for b in boxes],
                                           [s for _, s in dets], refine=lmk.refine)
        scored += [(f.score, d in idx) for d, f in enumerate(all_faces)]
        row["scores"] = [round(f.score, 3) for f in all_faces]
        found = [(g, boxes[i], dets[i][1]) for g, i in zip(gts, idx) if i is not None]
        if found:
            g_arr = np.stack([g for g, _, _ in found])
            sq_det = [lmk.box_mapping.square(b, cs) for _, b, _ in found]
            for r in REFINE_PASSES:
                t0, c0 = time.perf_counter(), time.process_time()
                faces = lmk.faces_from_squares(rgb, sq_det, [s for _, _, s in found], refine=r)
                if r == 0:
                    t_lmk.append((time.perf_counter() - t0) / len(found))
                    c_lmk.append((time.process_time() - c0) / len(found))
                v = nme_per_face(np.stack([f.landmarks for f in faces]), g_arr)
                nme[f"det_refine{r}"].extend(v.tolist())
                row[f"nme_det_refine{r}"] = [round(float(x), 3) for x in v]
            faces = lmk.faces_from_squares(rgb, [gt_square(g, cs) for g in g_arr], [1.0] * len(found), refine=0)
            v = nme_per_face(np.stack([f.landmarks for f in faces]), g_arr)
            nme["gt"].extend(v.tolist())
            row["nme_gt"] = [round(float(x), 3) for x in v]
        per_photo.append(row)
    gt_mean = float(np.mean(nme["gt"])) if nme["gt"] else float("nan")
    summary = {
        "model": str(model), "runtime": lmk.predictor.runtime,
        "detector": getattr(lmk.detector, "name", type(lmk.detector).__name__), "data": str(data),
        "photos": len(per_photo), "faces": n_gt, "found": n_found, "recall": n_found / max(n_gt, 1),
        "unmatched_detections": n_unmatched, "nme_gt_crop": gt_mean,
    }
    for r in REFINE_PASSES:
        m = float(np.mean(nme[f"det_refine{r}"])) if nme[f"det_refine{r}"] else float("nan")
        summary[f"nme_det_refine{r}"] = m
        summary[f"ratio_det_refine{r}_to_gt"] = m / gt_mean if gt_mean else float("nan")
    # what a min_score filter on the face score (detector x landmark confidence) would keep
    summary["by_min_score"] = {
        str(t): {"recall": sum(s >= t and m for s, m in scored) / max(n_gt, 1),
                 "unmatched_detections": sum(s >= t and not m for s, m in scored)}
        for t in MIN_SCORES}
    summary["seconds_detector_per_photo"] = float(np.mean(t_det)) if t_det else None
    summary["seconds_landmarks_per_face"] = float(np.mean(t_lmk)) if t_lmk else None
    summary["cpu_seconds_detector_per_photo"] = float(np.mean(c_det)) if c_det else None
    summary["cpu_seconds_landmarks_per_face"] = float(np.mean(c_lmk)) if c_lmk else None
    summary["per_photo"] = per_photo
    return summary


def still_video(rgb: np.ndarray, n: int, seed: int = 0, noise: float = 2.0, shift: float = 0.3):
    """A still face: ``n`` copies of a photo with sensor noise (Gaussian, sigma ``noise`` grey
    levels) and random sub-pixel shifts (uniform +-``shift`` px). Returns (frames, (n,2) shifts)."""
    import cv2

    rng = np.random.default_rng(seed)
    frames, shifts = [], []
    for _ in range(n):
        d = rng.uniform(-shift, shift, 2)
        M = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
        f = cv2.warpAffine(rgb, M, rgb.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(f + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8))
        shifts.append(d)
    return frames, np.array(shifts)


def jitter_study(model: str, photo: str | Path, frames: int = 60, landmarker=None) -> dict:
    """Jitter (mean frame-to-frame point motion, % inter-ocular) on a still face, raw vs One Euro,
    plus per-frame wall time of tracking and detection.

    The sub-pixel shifts stand for camera shake on a face that does not move: the ideal output
    is constant, so jitter is measured on the landmarks as output (``input_shake_pct_iod`` is
    the shifts' own frame-to-frame motion, for scale).
    """
    from .inference.landmarker import FaceLandmarker
    from .inference.tracking import FaceTracker, OneEuroParams, interocular, jitter

    lmk = landmarker or FaceLandmarker(model)
    rgb, _ = lmk.load(photo)
    gt = read_pts(Path(photo).with_suffix(".pts"))
    video, shifts = still_video(rgb, frames)
    out = {"photo": str(photo), "frames": frames, "noise_sigma": 2.0, "shift_px": 0.3,
           "input_shake_pct_iod": jitter(np.zeros((frames, 68, 2)) + shifts[:, None, :], interocular(gt))}
    for name, params in (("raw", None), ("one_euro", OneEuroParams())):
        tr = FaceTracker(lmk, params, redetect_every=10**9, max_faces=1)  # the best detection only
        pts, times, cpu = [], [], []
        for i, fr in enumerate(video):
            t0, c0 = time.perf_counter(), time.process_time()
            faces = tr.update(fr, i / 30.0)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            pts.append(faces[0].landmarks if faces else np.full((68, 2), np.nan))
        out[f"jitter_{name}_pct_iod"] = jitter(np.array(pts), interocular(gt))
        out[f"seconds_per_tracked_frame_{name}"] = float(np.median(times[1:]))
        out[f"cpu_seconds_per_tracked_frame_{name}"] = float(np.median(cpu[1:]))
        out[f"seconds_first_frame_with_detection_{name}"] = float(times[0])
    p = OneEuroParams()
    out["one_euro"] = {"min_cutoff": p.min_cutoff, "beta": p.beta, "d_cutoff": p.d_cutoff}
    return out


SWEEP_EXTENTS = (8, 12, 16, 20, 24, 32, 48, 64, 96, 128)


def size_sweep(model: str = "full", faces_dir: str | Path | None = None, n: int = 60, seed: int = 0,
               extents=SWEEP_EXTENTS) -> dict:
    """Detection rate of one BlazeFace pass vs face size in model-input pixels (how the tile pyramid's
    ``target`` was chosen): ``n`` faces (default: 300-W *training* faces) pasted at landmark extent
    E into an input-sized smooth-noise background, one letterboxed pass, hit = a box centred within
    half an extent of the face."""
    import cv2

    from .inference.blazeface import MODELS, BlazeFaceRunner, decode, letterbox
    from .data import load_face, scan_folder
    from .multiface import paste
    from .paths import default_train_dirs
    from .preprocess import landmark_box

    spec = MODELS[model]
    run = BlazeFaceRunner(spec)
    rng = np.random.default_rng(seed)
    recs = scan_folder(Path(faces_dir) if faces_dir else default_train_dirs()[0])
    faces = [load_face(recs[i]) for i in rng.choice(len(recs), min(n, len(recs)), replace=False)]
    S = spec.input_size
    out = {}
    for E in extents:
        hit = alarms = 0
        for img, pts in faces:
            bg = rng.uniform(60, 200, (S // 8, S // 8, 3)).astype(np.uint8)
            canvas = np.ascontiguousarray(cv2.resize(bg, (S, S), interpolation=cv2.INTER_CUBIC))
            c = rng.uniform(0.6 * E, S - 0.6 * E, 2) if 1.2 * E < S else (S / 2, S / 2)
            p = paste(canvas, img, pts, float(E), float(c[0]), float(c[1]), 0.0)
            x, A = letterbox(canvas, S)
            dets = decode(*run.run(x), A, spec)
            cx, cy, e = landmark_box(p)
            ok = [d for d in dets
                  if abs((d.box[0] + d.box[2]) / 2 - cx) < e / 2 and abs((d.box[1] + d.box[3]) / 2 - cy) < e / 2]
            hit += bool(ok)
            alarms += len(dets) - bool(ok)
        out[str(E)] = {"recall": hit / len(faces), "false_alarms": alarms}
    return {"model": spec.file, "input_size": S, "faces": len(faces), "by_extent": out}


def print_end_to_end(r: dict) -> None:
    qf = r.get("quality_on_detector_crops")
    if qf:
        rej = "  ".join(f"reject {k}: NME -{100 * v['gain']:.1f}% (oracle -{100 * v['oracle_gain']:.1f}%)"
                        for k, v in qf["rejection"].items())
        auc = "n/a" if qf["failure_auc"] is None else f"{qf['failure_auc']:.3f}"
        sep = "" if qf["face_vs_false_alarm_auc"] is None else (
            f"; {qf['false_alarms']} false alarms, quality median {qf['false_alarm_quality_median']:.3f}, "
            f"face vs false alarm AUC {qf['face_vs_false_alarm_auc']:.3f}")
        print(f"  quality on detector crops: {qf['faces']} faces, {qf['failures']} failures (NME > 8%), "
              f"failure AUC {auc}; {rej}{sep}")
    print(f"  end to end ({r['detector']}, refine {r['refine']}, min_score {r['min_score']}): recall "
          f"{r['found']}/{r['faces']} = {100 * r['recall']:.1f}% (landmark centroid within 1 IOD), false positives "
          f"{r['false_positives']} = {r['false_positives_per_photo']:.3f}/photo")
    print(f"  NME end to end {r['nme_e2e']:.3f} vs ground-truth crops of the same faces {r['nme_gt_crop']:.3f} "
          f"(x{r['ratio_e2e_to_gt']:.3f})")
    print(f"  per photo: detector {r['detector_ms_median']:.0f} ms median ({r['detector_ms_mean']:.0f} mean), "
          f"landmarks {r['landmarks_ms_median']:.0f} ms median ({r['landmarks_ms_mean']:.0f} mean)")
    for t, v in r["by_min_score"].items():
        print(f"  min_score {t}: recall {100 * v['recall']:.1f}%, {v['false_positives_per_photo']:.3f} FP/photo")


def main(argv=None) -> dict:
    from .inference.detectors import DETECTORS

    ap = argparse.ArgumentParser(prog="python -m edge_lmk.detect_eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="laplacekl_w1_8", help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--data", default=None,
                    help="full photos with .pts (default: originals_sample) or a composed set (edge_lmk.multiface)")
    ap.add_argument("--detector", default="blazeface", choices=DETECTORS)
    ap.add_argument("--min-face", type=float, default=None, help="blazeface: smallest face the pyramid looks for")
    ap.add_argument("--min-score", type=float, default=None, help="face-score filter (default: the CLI's)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the landmark model (timing)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--no-jitter", action="store_true", help="skip the still-face jitter study")
    ap.add_argument("--size-sweep", action="store_true",
                    help="only the BlazeFace size sweep (recall vs face size in input pixels, training faces)")
    ap.add_argument("--jitter-photo", default=None,
                    help="photo (+ .pts) for the still-face jitter study (default: the bundled image_0006.png)")
    ap.add_argument("--jitter-frames", type=int, default=60)
    args = ap.parse_args(argv)
    import torch

    from .detect import DEFAULT_MIN_SCORE
    from .inference.detectors import make_detector
    from .inference.landmarker import FaceLandmarker

    torch.set_num_threads(args.threads)
    if args.size_sweep:
        res = {m: size_sweep(m) for m in ("full", "short")}
        for m, r in res.items():
            print(f"{r['model']} ({r['input_size']} px input, {r['faces']} training faces, one pass):")
            for e, v in r["by_extent"].items():
                print(f"  face extent {e:>4} px: recall {100 * v['recall']:5.1f}%, false alarms {v['false_alarms']}")
        if args.json:
            from .files import atomic_write_bytes

            atomic_write_bytes(args.json, json.dumps(res, indent=1).encode())
        return res
    kw = {} if args.min_face is None or args.detector == "fhog" else {"min_face": args.min_face or None}
    lmk = FaceLandmarker(args.model, make_detector(args.detector, **kw),
                         min_score=DEFAULT_MIN_SCORE if args.min_score is None else args.min_score)
    res = evaluate_photos(args.model, args.data, landmarker=lmk)
    print(f"{res['model']} [{res['runtime']}] + {res['detector']} detector on {res['data']}")
    print(f"  box match: recall {res['found']}/{res['faces']} = {100 * res['recall']:.1f}%   "
          f"unmatched detections {res['unmatched_detections']} (some are unannotated faces)")
    print(f"  NME gt crop        {res['nme_gt_crop']:.3f}")
    for r in REFINE_PASSES:
        print(f"  NME det crop, refine {r}: {res[f'nme_det_refine{r}']:.3f}  "
              f"(x{res[f'ratio_det_refine{r}_to_gt']:.3f} of gt crop)")
    res["end_to_end"] = evaluate_end_to_end(lmk, args.data)
    print_end_to_end(res["end_to_end"])
    if not args.no_jitter:
        jit = jitter_study(args.model, args.jitter_photo or SAMPLE_DIR / "originals" / "image_0006.png",
                           args.jitter_frames, landmarker=lmk)
        res["jitter"] = jit
        print(f"  still-face jitter ({jit['frames']} frames, noise sigma 2, shifts +-0.3 px): raw "
              f"{jit['jitter_raw_pct_iod']:.3f}% IOD, One Euro {jit['jitter_one_euro_pct_iod']:.3f}% IOD "
              f"(input shake {jit['input_shake_pct_iod']:.3f}%)")
        print(f"  tracked frame {1000 * jit['seconds_per_tracked_frame_one_euro']:.1f} ms "
              f"({1000 * jit['cpu_seconds_per_tracked_frame_one_euro']:.1f} ms own CPU), first frame with "
              f"detection {1000 * jit['seconds_first_frame_with_detection_one_euro']:.0f} ms")
    if args.json:
        from .files import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(res, indent=1).encode())
        print("results:", args.json)
    return res


if __name__ == "__main__":
    main()
