"""How good an uncertainty is: reliability bins, expected calibration error, failure AUC, rejection gains.

Definitions used in every report (``edge_lmk.calibrate``, ``edge_lmk.evaluate --calibration``):

- **Reliability bins**: points sorted by predicted expected error and cut into ``bins``
  equal-count bins; per bin the mean predicted and the mean observed error.
- **ECE** (expected calibration error): sum over bins of (bin share) x |mean predicted - mean
  observed|, in the error's unit; reported relative to the mean observed error.
- **Failure AUC**: ROC AUC of ``1 - quality`` for flagging faces with NME > 8%.
- **Rejection gain at f**: drop the fraction ``f`` of faces with the lowest quality; the gain
  is ``1 - mean NME(rest) / mean NME(all)``; ``oracle_gain`` drops the truly worst faces instead.
  Per-face ECE is ECE with the predicted NME per face.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .confidence import FAILURE_NME
from .files import save_figure

REJECT_FRACTIONS = (0.05, 0.10)


def reliability_bins(pred: np.ndarray, obs: np.ndarray, bins: int = 10) -> dict:
    """Equal-count bins of ``pred`` (any shape, flattened with ``obs``) -> per-bin mean pred/obs and counts."""
    p, o = np.asarray(pred, np.float64).ravel(), np.asarray(obs, np.float64).ravel()
    if p.shape != o.shape or len(p) == 0:
        raise ValueError(f"need matching non-empty predicted and observed errors, got {p.shape} and {o.shape}")
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, min(bins, len(p)))
    return {"pred": np.array([p[i].mean() for i in parts]), "obs": np.array([o[i].mean() for i in parts]),
            "count": np.array([len(i) for i in parts])}


def expected_calibration_error(pred: np.ndarray, obs: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean predicted - mean observed| over equal-count bins (unit of the errors)."""
    b = reliability_bins(pred, obs, bins)
    return float(np.sum(b["count"] * np.abs(b["pred"] - b["obs"])) / b["count"].sum())


def failure_auc(nme: np.ndarray, quality: np.ndarray, threshold: float = FAILURE_NME) -> float | None:
    """ROC AUC of low quality for NME > threshold; None when all faces fail or none does."""
    from sklearn.metrics import roc_auc_score

    fail = np.asarray(nme) > threshold
    if fail.all() or not fail.any():
        return None
    return float(roc_auc_score(fail, -np.asarray(quality, np.float64)))


def rejection_gains(nme: np.ndarray, quality: np.ndarray, fractions=REJECT_FRACTIONS) -> dict[str, dict]:
    """For each fraction f: mean NME after dropping the round(f * N) lowest-quality faces; ``oracle_gain``
    is what dropping the round(f * N) faces of highest NME would give (the best any score can do)."""
    nme, q = np.asarray(nme, np.float64), np.asarray(quality, np.float64)
    order = np.argsort(q, kind="stable")  # lowest quality first
    base = float(nme.mean())
    out = {}
    best = np.sort(nme)
    for f in fractions:
        k = int(round(f * len(nme)))
        rest = nme[order[k:]]
        out[f"{round(100 * f)}%"] = {"rejected": k, "nme_rest": float(rest.mean()),
                                     "gain": 1.0 - float(rest.mean()) / base,
                                     "oracle_gain": 1.0 - float(best[:len(nme) - k].mean()) / base}
    return out


def separation_auc(face_quality: np.ndarray, other_quality: np.ndarray) -> float:
    """ROC AUC of quality for telling real faces from non-face crops (1 = every face above every non-face)."""
    from sklearn.metrics import roc_auc_score

    f, o = np.asarray(face_quality, np.float64).ravel(), np.asarray(other_quality, np.float64).ravel()
    return float(roc_auc_score(np.r_[np.ones(len(f)), np.zeros(len(o))], np.r_[f, o]))


def calibration_report(cal, faces: dict[str, np.ndarray], bins: int = 10) -> dict:
    """All figures for N faces from ``face_errors``: ``scale``, ``err_iod``, ``err_px`` (N, 68), ``iod`` (N,);
    NME is the mean of ``err_iod``."""
    scale, iod, err_iod, err_px = faces["scale"], faces["iod"], faces["err_iod"], faces["err_px"]
    pred_iod, pred_px = cal.expected_error(scale, iod, "iod"), cal.expected_error(scale, unit="px")
    nme, quality = err_iod.mean(1), cal.quality(scale, iod)
    ece_iod = expected_calibration_error(pred_iod, err_iod, bins)
    ece_px = expected_calibration_error(pred_px, err_px, bins)
    face_pred = pred_iod.mean(1)
    return {
        "n": int(len(nme)), "nme": float(nme.mean()), "fr8": float(np.mean(nme > FAILURE_NME)),
        "mean_point_error_iod": float(err_iod.mean()), "ece_iod": ece_iod, "ece_rel": ece_iod / float(err_iod.mean()),
        "mean_point_error_px": float(err_px.mean()), "ece_px": ece_px, "ece_px_rel": ece_px / float(err_px.mean()),
        "face_ece_rel": expected_calibration_error(face_pred, nme, bins) / float(nme.mean()),
        "failure_auc": failure_auc(nme, quality), "rejection": rejection_gains(nme, quality),
        "mean_quality": float(quality.mean()), "success_rate": float(np.mean(nme <= FAILURE_NME)),
        "reliability": {k: v.tolist() for k, v in reliability_bins(pred_iod, err_iod, bins).items()},
    }


def format_report(r: dict) -> list[str]:
    rej = "  ".join(f"reject {k}: NME {v['nme_rest']:.3f} ({100 * v['gain']:.1f}% lower; best possible "
                    f"{100 * v['oracle_gain']:.1f}%)"
                    for k, v in r["rejection"].items())
    auc = "n/a (no failures)" if r["failure_auc"] is None else f"{r['failure_auc']:.3f}"
    return [f"calibration: per-point ECE {r['ece_iod']:.3f} %IOD = {100 * r['ece_rel']:.1f}% of the mean point "
            f"error {r['mean_point_error_iod']:.3f} (crop px: {100 * r['ece_px_rel']:.1f}%); per-face ECE "
            f"{100 * r['face_ece_rel']:.1f}% of mean NME",
            f"failure prediction (NME > {FAILURE_NME:g}%, {100 * r['fr8']:.1f}% of faces): AUC {auc}; mean quality "
            f"{r['mean_quality']:.3f} vs success rate {r['success_rate']:.3f}",
            f"  mean NME {r['nme']:.3f}; {rej}"]


def plot_reliability(curves: dict[str, dict], path: str | Path, title: str = "Reliability") -> None:
    """``curves``: label -> ``reliability_bins`` dict (lists or arrays); writes a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=120)
    hi = 0.0
    for label, b in curves.items():
        p, o = np.asarray(b["pred"]), np.asarray(b["obs"])
        ax.plot(p, o, "o-", ms=4, label=label)
        hi = max(hi, float(p.max()), float(o.max()))
    ax.plot([0, hi * 1.05], [0, hi * 1.05], "k--", lw=0.8, label="perfect")
    ax.set_xlabel("predicted point error (% inter-ocular)")
    ax.set_ylabel("observed point error (% inter-ocular)")
    ax.set_xlim(0, hi * 1.05)
    ax.set_ylim(0, hi * 1.05)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def face_errors(predictor, crops) -> dict[str, np.ndarray]:
    """Run ``predictor`` on an ``evaluate.CropSet`` -> ``errors_from_predictions``."""
    from .evaluation import predict_photo

    return errors_from_predictions(*predict_photo(predictor, crops), crops)


def errors_from_predictions(pred_photo: np.ndarray, scale: np.ndarray, crops) -> dict[str, np.ndarray]:
    """(N,68,2) photo landmarks, (N,68) scale of an ``evaluate.CropSet`` -> scale, err_iod, err_px (N, 68)
    and the predicted inter-ocular distance ``iod`` (N,) in crop pixels."""
    from .confidence import inter_ocular, point_errors

    err_iod, err_px = point_errors(pred_photo, crops.landmarks, crops.transforms)
    photo_per_crop = np.sqrt(np.abs(np.linalg.det(np.asarray(crops.transforms, np.float64)[:, :, :2])))
    return {"scale": np.asarray(scale, np.float64), "iod": inter_ocular(pred_photo) / photo_per_crop,
            "err_iod": err_iod, "err_px": err_px}


def markdown_table(results: dict) -> list[str]:
    """``edge_lmk.calibrate`` results.json (model -> {test, nonface, ...}) -> Markdown table rows."""
    rows = ["| model | test NME | FR@8 | failure AUC | reject 5%: NME (gain / best possible) | "
            "reject 10%: NME (gain / best possible) | ECE / mean point error | per-face ECE / mean NME | "
            "mean quality / success rate | non-face median quality (background, shift 1.0) | face vs non-face AUC |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        t, nf = r.get("test") if isinstance(r, dict) else None, (r or {}).get("nonface") or {}
        if not t:
            continue
        rej = [f"{v['nme_rest']:.2f} ({100 * v['gain']:.1f}% / {100 * v['oracle_gain']:.1f}%)"
               for v in t["rejection"].values()]
        auc = "n/a" if t["failure_auc"] is None else f"{t['failure_auc']:.3f}"
        bg, sh = nf.get("background", {}), nf.get("shift_1.0", {})
        rows.append(f"| `{name}` | {t['nme']:.2f} | {100 * t['fr8']:.1f}% | {auc} | {rej[0]} | {rej[1]} | "
                    f"{100 * t['ece_rel']:.1f}% | {100 * t['face_ece_rel']:.1f}% | "
                    f"{t['mean_quality']:.3f} / {t['success_rate']:.3f} | "
                    f"{bg.get('median_quality', float('nan')):.3f}, {sh.get('median_quality', float('nan')):.3f} | "
                    f"{bg.get('auc_vs_faces', float('nan')):.3f}, {sh.get('auc_vs_faces', float('nan')):.3f} |")
    return rows
