"""The predicted Laplace ``scale`` as a calibrated expected error per point and a quality per face.

Every model outputs, per landmark, ``scale``: the predicted spread E|x - mean| in crop pixels.
On its own that number has no unit users can act on. A ``Calibration`` (fitted by
``python -m edge_lmk.calibrate`` on held-out *training* faces, stored in the model card and in
every exported artifact's metadata) turns it into:

- ``expected_error(scale, iod)``: per point, the expected point-to-point error (Euclidean
  distance between prediction and ground truth) in percent of the inter-ocular distance
  (outer eye corners, the NME unit), or with ``unit="px"`` in crop pixels. ``iod`` is the
  *predicted* inter-ocular distance in crop pixels (``inter_ocular(landmarks)``): the ``iod``
  maps take the scale as a percentage of it, ``100 * scale / iod``, because the same spread in
  pixels is a larger NME on a profile face with close-together eye corners (this alone lifts
  the 1/8 model's failure AUC on validation faces from 0.84 to 0.90). One monotone map per
  face region (``REGIONS``) and unit, fitted by isotonic regression of the observed error on
  the (normalised) scale and stored as breakpoints ``(x, y)``, linearly interpolated. Below
  the first breakpoint the map is flat; above the last it grows in proportion to its input
  (``y_last * x / x_last``) so spreads never seen on faces (non-faces, failures) keep rising.
- ``expected_nme(scale, iod)``: the mean of the per-point expected errors: a face's predicted NME.
- ``quality(scale, iod)`` in [0, 1]: the estimated probability that the face's NME is at most
  ``FAILURE_NME`` (8%, the usual failure threshold), i.e. that the landmarks are usable.
  Model: ``log(NME / expected_nme)`` ~ Normal(mu, sigma) on the fitting faces, so
  ``quality = Phi((log 8 - log expected_nme - mu) / sigma)``. Drop faces below ~0.5 to reject
  likely failures; non-face crops score near 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

CALIBRATION_FORMAT = "edge-lmk-calibration/1"
FAILURE_NME = 8.0
# iBUG 68-point regions (0-based, end exclusive); every point belongs to exactly one.
REGIONS: dict[str, tuple[int, int]] = {"jaw": (0, 17), "brows": (17, 27), "nose": (27, 36), "eyes": (36, 48),
                                       "mouth": (48, 68)}
NUM_LANDMARKS = 68
DEFAULT_KNOTS = 16
UNITS = ("iod", "px")


class CalibrationError(ValueError):
    """A calibration table that is malformed or does not fit the model; the message says where."""


def region_index(num_landmarks: int = NUM_LANDMARKS) -> np.ndarray:
    """(K,) int: the ``REGIONS`` position of every landmark index."""
    idx = np.full(num_landmarks, -1, np.int64)
    for r, (a, b) in enumerate(REGIONS.values()):
        idx[a:b] = r
    if num_landmarks != NUM_LANDMARKS or (idx < 0).any():
        raise CalibrationError(f"regions are defined for {NUM_LANDMARKS} landmarks, model has {num_landmarks}")
    return idx


@dataclass(frozen=True)
class MonotoneMap:
    """Piecewise-linear non-decreasing map through breakpoints ``x`` (strictly increasing) -> ``y``."""

    x: np.ndarray  # (K,) float64, K >= 2
    y: np.ndarray  # (K,) float64, non-decreasing, >= 0

    def __post_init__(self):
        x, y = np.asarray(self.x, np.float64), np.asarray(self.y, np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
            raise CalibrationError(f"breakpoints need matching 1-D x and y with at least 2 entries, got "
                                   f"{x.shape} and {y.shape}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise CalibrationError("breakpoints must be finite")
        if (np.diff(x) <= 0).any() or (np.diff(y) < 0).any() or x[0] < 0 or y[0] < 0:
            raise CalibrationError("breakpoints must have x strictly increasing, y non-decreasing, both >= 0")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        """Any-shape scale -> same-shape expected error (float64)."""
        s = np.maximum(np.asarray(s, np.float64), 0.0)
        out = np.interp(s, self.x, self.y)
        hi = s > self.x[-1]
        out[hi] = self.y[-1] * s[hi] / self.x[-1]  # proportional beyond the data (Laplace: error ~ spread)
        return out

    def to_dict(self, digits: int = 4) -> dict:
        """Compact JSON form; rounding to ``digits`` significant digits keeps the map monotone."""
        x = _round_sig(self.x, digits)
        y = np.maximum.accumulate(_round_sig(self.y, digits))
        keep = np.concatenate([[True], np.diff(x) > 0])  # rounding may merge neighbours
        return {"x": [float(v) for v in x[keep]], "y": [float(v) for v in y[keep]]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "map") -> "MonotoneMap":
        try:
            return cls(np.array(d["x"], np.float64), np.array(d["y"], np.float64))
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"{where}: not a breakpoint table ({e})") from None


def _round_sig(v: np.ndarray, digits: int) -> np.ndarray:
    return np.array([float(f"{float(a):.{digits}g}") for a in v])


def fit_monotone(scale: np.ndarray, err: np.ndarray, knots: int = DEFAULT_KNOTS) -> MonotoneMap:
    """Isotonic regression of ``err`` (M,) on ``scale`` (M,), kept at ``knots`` scale quantiles (1%..99%).

    Isotonic regression estimates E[err | scale] under the one assumption that it does not
    decrease with the scale; sampling it at quantiles gives a small table that interpolates
    the step function smoothly.
    """
    from sklearn.isotonic import IsotonicRegression

    s, e = np.asarray(scale, np.float64).ravel(), np.asarray(err, np.float64).ravel()
    if s.shape != e.shape or len(s) < 2:
        raise CalibrationError(f"need matching scale and error samples (at least 2), got {s.shape} and {e.shape}")
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0).fit(s, e)
    # 1% .. 99%: the extreme points are single isotonic blocks; the proportional tail extrapolates past them
    x = np.unique(np.quantile(s, np.linspace(0.01, 0.99, knots)))
    if len(x) < 2:
        x = np.array([x[0], x[0] + 1e-6])
    x = np.maximum(x, 0.0)
    y = np.maximum.accumulate(np.maximum(iso.predict(x), 0.0))
    return MonotoneMap(x, y)


@dataclass(frozen=True)
class Calibration:
    """Per-region maps (``iod``: 100 * scale / predicted IOD -> error in % inter-ocular; ``px``: scale in
    crop pixels -> error in crop pixels) and the quality model ``log(NME / expected_nme) ~ N(mu, sigma)``."""

    iod: dict[str, MonotoneMap]
    px: dict[str, MonotoneMap]
    mu: float
    sigma: float
    info: dict = field(default_factory=dict)  # provenance: data, faces, model, command

    def __post_init__(self):
        for unit in UNITS:
            maps = getattr(self, unit)
            if set(maps) != set(REGIONS):
                raise CalibrationError(f"calibration {unit!r} maps must cover regions {list(REGIONS)}, "
                                       f"got {sorted(maps)}")
        if not (math.isfinite(self.mu) and math.isfinite(self.sigma) and self.sigma > 0):
            raise CalibrationError(f"quality model needs finite mu and sigma > 0, got {self.mu}, {self.sigma}")

    def expected_error(self, scale: np.ndarray, iod: np.ndarray | float | None = None,
                       unit: str = "iod") -> np.ndarray:
        """(..., 68) scale and (...) predicted IOD, both crop pixels -> (..., 68) expected point error
        in % inter-ocular (``unit="iod"``, needs ``iod``) or crop pixels (``unit="px"``)."""
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        s = np.asarray(scale, np.float64)
        if s.shape[-1:] != (NUM_LANDMARKS,):
            raise CalibrationError(f"expected (..., {NUM_LANDMARKS}) scales, got {s.shape}")
        if unit == "iod":
            if iod is None:
                raise ValueError("expected error in % inter-ocular needs the predicted inter-ocular distance")
            s = normalized_scale(s, iod)
        out = np.empty_like(s)
        for name, (a, b) in REGIONS.items():
            out[..., a:b] = getattr(self, unit)[name](s[..., a:b])
        return out

    def expected_nme(self, scale: np.ndarray, iod: np.ndarray | float) -> np.ndarray:
        """(..., 68) scale, (...) predicted IOD -> (...,) predicted NME in percent (mean expected point error)."""
        return self.expected_error(scale, iod, "iod").mean(-1)

    def quality(self, scale: np.ndarray, iod: np.ndarray | float) -> np.ndarray:
        """(..., 68) scale, (...) predicted IOD -> (...,) in [0, 1]: estimated P(NME <= FAILURE_NME)."""
        from scipy.stats import norm

        e = np.maximum(self.expected_nme(scale, iod), 1e-9)
        return norm.cdf((math.log(FAILURE_NME) - np.log(e) - self.mu) / self.sigma)

    def to_dict(self) -> dict:
        return {"format": CALIBRATION_FORMAT, "regions": {k: list(v) for k, v in REGIONS.items()},
                "iod": {k: m.to_dict() for k, m in self.iod.items()},
                "px": {k: m.to_dict() for k, m in self.px.items()},
                "quality": {"failure_nme": FAILURE_NME, "mu": round(self.mu, 5), "sigma": round(self.sigma, 5)},
                "info": self.info}

    @classmethod
    def from_dict(cls, d: dict, where: str = "calibration") -> "Calibration":
        if not isinstance(d, dict) or d.get("format") != CALIBRATION_FORMAT:
            raise CalibrationError(f"{where}: not an {CALIBRATION_FORMAT!r} table")
        regions = {k: tuple(v) for k, v in d.get("regions", {}).items()}
        if regions != REGIONS:
            raise CalibrationError(f"{where}: regions {regions} differ from {REGIONS}")
        try:
            maps = {u: {k: MonotoneMap.from_dict(m, f"{where}.{u}.{k}") for k, m in d[u].items()} for u in UNITS}
            q = d["quality"]
            return cls(maps["iod"], maps["px"], float(q["mu"]), float(q["sigma"]), dict(d.get("info", {})))
        except (KeyError, TypeError, AttributeError) as e:
            raise CalibrationError(f"{where}: missing or malformed entry ({e})") from None


def fit_calibration(scale: np.ndarray, iod: np.ndarray, err_iod: np.ndarray, err_px: np.ndarray,
                    knots: int = DEFAULT_KNOTS, info: dict | None = None) -> Calibration:
    """Fit on N faces: ``scale`` (N, 68) crop px, ``iod`` (N,) predicted inter-ocular distance in crop px,
    observed ``err_iod`` (N, 68) % inter-ocular and ``err_px`` (N, 68) crop px."""
    scale, err_iod, err_px = (np.asarray(a, np.float64) for a in (scale, err_iod, err_px))
    if not (scale.shape == err_iod.shape == err_px.shape) or scale.ndim != 2 or scale.shape[1] != NUM_LANDMARKS:
        raise CalibrationError(f"need matching (N, {NUM_LANDMARKS}) arrays, got {scale.shape}, {err_iod.shape}, "
                               f"{err_px.shape}")
    iod = np.asarray(iod, np.float64)
    if iod.shape != scale.shape[:1]:
        raise CalibrationError(f"need one inter-ocular distance per face, got {iod.shape} for {len(scale)} faces")
    ns = normalized_scale(scale, iod)
    iod_maps = {k: fit_monotone(ns[:, a:b], err_iod[:, a:b], knots) for k, (a, b) in REGIONS.items()}
    px = {k: fit_monotone(scale[:, a:b], err_px[:, a:b], knots) for k, (a, b) in REGIONS.items()}
    partial = Calibration(iod_maps, px, 0.0, 1.0)
    # quality model on the rounded maps, exactly as they will be read back
    partial = Calibration.from_dict(partial.to_dict())
    r = np.log(np.maximum(err_iod.mean(1), 1e-9)) - np.log(np.maximum(partial.expected_nme(scale, iod), 1e-9))
    mu, sigma = float(r.mean()), float(max(r.std(ddof=1) if len(r) > 1 else 1.0, 1e-3))
    # returned as it reads back from JSON, so the fitted object and a card give identical numbers
    return Calibration.from_dict(Calibration(partial.iod, partial.px, mu, sigma, dict(info or {})).to_dict())


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (...,) distance between the outer eye corners (36, 45), in the landmarks' unit."""
    from .metrics import LEFT_EYE_OUTER, RIGHT_EYE_OUTER

    lm = np.asarray(landmarks, np.float64)
    return np.linalg.norm(lm[..., LEFT_EYE_OUTER, :] - lm[..., RIGHT_EYE_OUTER, :], axis=-1)


def normalized_scale(scale: np.ndarray, iod: np.ndarray | float) -> np.ndarray:
    """(..., 68) scale, (...) IOD in the same unit -> 100 * scale / IOD (IOD floored at 0.1 px: a
    collapsed prediction, typical of non-faces, must read as very uncertain, not divide by zero)."""
    iod = np.maximum(np.asarray(iod, np.float64), 0.1)
    return 100.0 * np.asarray(scale, np.float64) / iod[..., None]


def point_errors(pred_photo: np.ndarray, gt_photo: np.ndarray, transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point errors of N faces: (% inter-ocular (N,68), crop pixels (N,68)).

    ``pred_photo``, ``gt_photo``: (N,68,2) photo coordinates; ``transforms``: (N,2,3) crop -> photo
    (a similarity, so one photo pixel is ``1/sqrt(|det|)`` crop pixels).
    """
    from .metrics import LEFT_EYE_OUTER, RIGHT_EYE_OUTER

    d = np.linalg.norm(np.asarray(pred_photo, np.float64) - np.asarray(gt_photo, np.float64), axis=-1)
    iod = np.linalg.norm(gt_photo[:, LEFT_EYE_OUTER] - gt_photo[:, RIGHT_EYE_OUTER], axis=-1)
    photo_per_crop = np.sqrt(np.abs(np.linalg.det(np.asarray(transforms, np.float64)[:, :, :2])))
    return 100.0 * d / iod[:, None], d / photo_per_crop[:, None]


def calibration_from_card(card: dict, where: str = "model card") -> Calibration | None:
    raw = (card or {}).get("calibration")
    return None if raw is None else Calibration.from_dict(raw, f"{where}: calibration")


def calibration_metadata(model_name: str) -> dict:
    """``{"calibration": table}`` for a shipped model with a fitted calibration, else ``{}``.

    Meant to be merged into an exported artifact's sidecar and embedded metadata, so runtimes
    (and the Android core) read the same numbers as the Python API.
    """
    from .models.registry import REGISTRY

    spec = REGISTRY.get(model_name)
    raw = spec.card().get("calibration") if spec is not None else None
    return {"calibration": raw} if raw else {}


def calibration_for(predictor) -> Calibration | None:
    """The calibration that belongs to a loaded predictor, or None when it has none.

    Order: the artifact's own metadata (sidecar / embedded ``predictor.meta``, Core ML's
    ``predictor.card``); for a registry name, its model card; for an artifact without a table
    (exported before calibrations existed, or Core ML), the card of the shipped model it names.
    A ``.pt`` checkpoint outside the registry has none.
    """
    from .models.registry import REGISTRY

    where = f"{getattr(predictor, 'path', None) or getattr(predictor, 'source', 'artifact')} metadata"
    meta = getattr(predictor, "meta", None)  # sidecar / embedded JSON of .pte, .tflite, .onnx
    card = getattr(predictor, "card", None)  # the short card inside a .mlpackage
    for m in (meta, card):
        if isinstance(m, dict) and m.get("calibration"):
            return Calibration.from_dict(m["calibration"], where)
    name = getattr(predictor, "source", None)
    if name not in REGISTRY:
        name = (meta or {}).get("model") if isinstance(meta, dict) else (card or {}).get("name") \
            if isinstance(card, dict) else None
    spec = REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None or not spec.card_path.is_file():
        return None
    return calibration_from_card(spec.card(), str(spec.card_path))


__all__ = ["CALIBRATION_FORMAT", "FAILURE_NME", "REGIONS", "Calibration", "CalibrationError", "MonotoneMap",
           "calibration_for", "calibration_from_card", "calibration_metadata", "fit_calibration", "fit_monotone",
           "inter_ocular", "normalized_scale", "point_errors", "region_index"]
