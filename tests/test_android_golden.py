"""The Kotlin core's golden vectors cannot go stale: regenerating them gives the committed files.

The Android core (``android_demo/core``) replays ``android_demo/core/src/test/resources/golden``
without Python, so those files are the only link between the Kotlin crop/decode/tracking code
and the Python pipeline. ``test_committed_golden_vectors_match_a_fresh_run`` protects that link:
if the crop rule, the contract, the metrics, the One Euro filter or the shipped
``laplacekl_w1_8`` weights change, a fresh ``python -m edge_lmk.golden`` no longer gives the
committed files and the test names the field and the regenerate command.

Tolerances follow from the numerics, so the test passes on any CPU:

- everything computed without the network (images, crops, model inputs, squares and affines of
  the ground truth, synthetic pre-shrink crops, the One Euro trace, latency statistics, every
  integer, string and the file set) is deterministic IEEE arithmetic on fixed inputs: exact;
- the network runs in float32 and torch's CPU kernels sum in an order that depends on the SIMD
  path (AVX2 vs AVX-512 measured: outputs differ by up to 1.0e-4 crop px, ``scale`` by 2.6e-5).
  Its outputs (``landmarks``, ``scale``, both in pixels of the 80 px crop) may differ by
  ``CROP_PX_TOL`` = 1e-3 crop px: 10x the measured spread, and 500x below the smallest real
  change we must catch (a half-pixel crop shift or a wrong pixel scale moves them by >= 0.5 px);
- what is derived from those outputs gets that tolerance carried through its exact formula
  (``_derived_tolerances``): photo landmarks scale it by the crop's photo-px-per-crop-px, the
  next square's centre is a bbox midpoint (same bound), its side is ``crop_scale`` x a bbox
  extent (2 x ``crop_scale`` x the bound), NME is 100 x mean point error / inter-ocular distance;
- the confidence values (expected error per point, quality) come from monotone maps of the scale
  and inter-ocular distance, so the committed table evaluated at the corners of the outputs'
  tolerance box bounds them exactly (``_calibration_tolerances``).
"""
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from edge_lmk import golden
from edge_lmk.golden import MODEL, OneEuroFilter, synthetic_pattern
from edge_lmk.metrics import LEFT_EYE_OUTER, RIGHT_EYE_OUTER
from edge_lmk.preprocess import FaceSquare, crop_face

COMMITTED = Path(__file__).resolve().parents[1] / "android_demo" / "core" / "src" / "test" / "resources" / "golden"
REGENERATE = "python -m edge_lmk.golden --out android_demo/core/src/test/resources/golden"
CROP_PX_TOL = 1e-3  # network outputs, crop px: see the module docstring
FACE_FIELD = re.compile(r"^index\.faces\[(\d+)\]\.(.+)$")


def _derived_tolerances(face: dict, gt: np.ndarray, contract: dict) -> dict[str, float]:
    """Per-field tolerance of one golden face's network-derived values; gt is (68,2) photo px.

    Keys are index field paths below the face (``nme``, ``next_square.side``, ...) and the
    face's raw output files (``out_landmarks`` ...). Each carries ``CROP_PX_TOL`` through the
    formula that produces the field, so none is looser or tighter than the network allows.
    """
    m = np.asarray(face["affine"], np.float64).reshape(2, 3)[:, :2]
    photo = CROP_PX_TOL * float(np.abs(m).sum(axis=1).max())  # |M d|_inf <= |M|_inf |d|_inf
    iod = float(np.linalg.norm(gt[LEFT_EYE_OUTER] - gt[RIGHT_EYE_OUTER]))
    return {
        "out_landmarks": CROP_PX_TOL, "out_scale": CROP_PX_TOL, "mean_scale": CROP_PX_TOL,
        "landmarks_photo": photo,
        "next_square.cx": photo, "next_square.cy": photo,  # bbox midpoints
        "next_square.side": 2.0 * contract["crop_scale"] * photo,  # crop_scale * (max - min)
        "nme": 100.0 * np.sqrt(2.0) * photo / iod,  # each point moves <= sqrt(2) * photo
    }


def _calibration_tolerances(index: dict, folder: Path) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Tolerances of the confidence values derived from each golden face's network outputs.

    -> (index field path -> tolerance, expected-error file name -> per-point tolerance). Every map
    is monotone (expected error rises with the scale and falls with the inter-ocular distance
    that normalises it; quality falls with the expected NME), so evaluating the committed table
    at the two corners of the outputs' ``CROP_PX_TOL`` box gives the exact largest change.
    """
    from edge_lmk.confidence import Calibration

    cal_index = index.get("calibration")
    if cal_index is None:
        return {}, {}
    cal = Calibration.from_dict(cal_index["table"])
    d_iod = 2.0 * np.sqrt(2.0) * CROP_PX_TOL  # |(p36 + d36) - (p45 + d45)| moves by <= 2 sqrt(2) x per-axis bound
    fields, files = {}, {}
    for i, (f, c) in enumerate(zip(index["faces"], cal_index["faces"])):
        sc = np.fromfile(folder / f["out_scale"], "<f4").astype(np.float64)
        iod = c["iod_crop_px"]
        lo, hi = np.maximum(sc - CROP_PX_TOL, 0.0), sc + CROP_PX_TOL
        e = cal.expected_error(sc, iod)
        e_lo, e_hi = cal.expected_error(lo, iod + d_iod), cal.expected_error(hi, iod - d_iod)
        files[c["expected_error_iod"]] = np.maximum(e_hi - e, e - e_lo)
        px = cal.expected_error(sc, unit="px")
        files[c["expected_error_px"]] = np.maximum(cal.expected_error(hi, unit="px") - px,
                                                   px - cal.expected_error(lo, unit="px"))
        q = float(cal.quality(sc, iod))
        q_lo, q_hi = float(cal.quality(hi, iod - d_iod)), float(cal.quality(lo, iod + d_iod))
        fields[f"index.calibration.faces[{i}].iod_crop_px"] = d_iod
        fields[f"index.calibration.faces[{i}].quality"] = max(q_hi - q, q - q_lo) + 1e-12
    # a 1e-12 floor covers float64 rounding where a map is flat
    return fields, {k: v + 1e-12 for k, v in files.items()}


def _close(new, old, tol: Callable[[str], float], path: str = "index") -> None:
    """Recursive comparison of two index.json trees: floats within tol(path), the rest exact."""
    if isinstance(new, dict):
        assert isinstance(old, dict) and new.keys() == old.keys(), f"{path}: keys differ; run: {REGENERATE}"
        for k in new:
            _close(new[k], old[k], tol, f"{path}.{k}")
    elif isinstance(new, list):
        assert isinstance(old, list) and len(new) == len(old), f"{path}: lengths differ; run: {REGENERATE}"
        for i, (x, y) in enumerate(zip(new, old)):
            _close(x, y, tol, f"{path}[{i}]")
    elif isinstance(new, float) and tol(path) > 0.0:
        assert isinstance(old, float) and abs(new - old) <= tol(path), (
            f"{path}: fresh {new} != committed {old} (tolerance {tol(path):.3g}); run: {REGENERATE}")
    else:
        assert type(new) is type(old) and new == old, f"{path}: fresh {new!r} != committed {old!r}; run: {REGENERATE}"


def test_committed_golden_vectors_match_a_fresh_run(tmp_path):
    """`python -m edge_lmk.golden` regenerates the committed files, to the network's float32 spread."""
    golden.main(["--out", str(tmp_path / "golden")])
    fresh = tmp_path / "golden"
    committed = json.loads((COMMITTED / "index.json").read_text())
    new = json.loads((fresh / "index.json").read_text())
    assert new["generator"] == REGENERATE
    assert committed["model"]["sha256"] == new["model"]["sha256"], (
        f"the shipped {MODEL} weights changed since the golden vectors were written; run: {REGENERATE}")
    face_tol = [_derived_tolerances(f, np.fromfile(COMMITTED / f["landmarks"], "<f8").reshape(-1, 2),
                                    committed["contract"]) for f in committed["faces"]]

    cal_fields, cal_files = _calibration_tolerances(committed, COMMITTED)

    def tol(path: str) -> float:
        m = FACE_FIELD.match(path)
        return face_tol[int(m.group(1))].get(m.group(2), 0.0) if m else cal_fields.get(path, 0.0)

    _close(new, committed, tol)
    assert (fresh / "contract.json").read_text() == (COMMITTED / "contract.json").read_text()
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(p.name for p in COMMITTED.iterdir() if p.is_file()), f"file set changed; run: {REGENERATE}"
    network_files = {f[key]: (face_tol[i][key], "<f4" if key.startswith("out_") else "<f8")
                     for i, f in enumerate(committed["faces"])
                     for key in ("out_landmarks", "out_scale", "landmarks_photo")}
    for name in names:
        if name in ("index.json", "contract.json"):
            continue  # compared above, field by field
        a, b = (fresh / name).read_bytes(), (COMMITTED / name).read_bytes()
        if name in network_files:
            atol, dt = network_files[name]
            assert len(a) == len(b), f"{name}: size changed; run: {REGENERATE}"
            np.testing.assert_allclose(np.frombuffer(a, dt), np.frombuffer(b, dt), rtol=0, atol=atol,
                                       err_msg=f"{name}; run: {REGENERATE}")
        elif name in cal_files:
            assert len(a) == len(b), f"{name}: size changed; run: {REGENERATE}"
            diff = np.abs(np.frombuffer(a, "<f8") - np.frombuffer(b, "<f8"))
            assert (diff <= cal_files[name]).all(), (
                f"{name}: max change {diff.max():.3g} above its tolerance; run: {REGENERATE}")
        else:
            assert a == b, f"{name} differs from a fresh run; run: {REGENERATE}"
    total = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert total < 3_000_000, f"golden vectors grew to {total / 1e6:.1f} MB"


def test_golden_tolerances_catch_a_real_change():
    """The network tolerance stays far below a change the test must catch (half a crop pixel)."""
    index = json.loads((COMMITTED / "index.json").read_text())
    f = index["faces"][1]
    gt = np.fromfile(COMMITTED / f["landmarks"], "<f8").reshape(-1, 2)
    tols = _derived_tolerances(f, gt, index["contract"])
    half_px = 0.5 * f["affine"][0]  # half a crop pixel, in photo px
    assert max(tols["landmarks_photo"], tols["next_square.cx"]) < half_px / 100
    assert tols["next_square.side"] < 2 * index["contract"]["crop_scale"] * half_px / 100
    with pytest.raises(AssertionError, match=r"faces\[1\]\.next_square\.side"):
        shifted = json.loads(json.dumps(index))
        shifted["faces"][1]["next_square"]["side"] += 10 * tols["next_square.side"]
        _close(shifted, index, lambda p: tols.get(FACE_FIELD.match(p).group(2), 0.0) if FACE_FIELD.match(p) else 0.0)


def test_synthetic_pattern_is_the_documented_integer_formula():
    img = synthetic_pattern(5, 4)
    x, y, c = 3, 2, 1
    v = x * 37 + y * 91 + c * 53 + ((x * y) & 63) * 3 + ((x ^ y) & 15) * 7
    assert img.shape == (4, 5, 3) and img[y, x, c] == v % 256


def test_golden_pre_shrink_cases_really_shrink():
    """The synthetic cases must take the integer pre-shrink path they are meant to cover."""
    index = json.loads((COMMITTED / "index.json").read_text())
    assert sorted(c["shrink"] for c in index["synthetic"]) == [2, 4, 7, 15]
    case = index["synthetic"][0]
    img = synthetic_pattern(case["width"], case["height"])
    crop, _ = crop_face(img, FaceSquare(**case["square"]), 80)
    np.testing.assert_array_equal(crop, np.fromfile(COMMITTED / case["crop"], "<f4").reshape(80, 80, 3))


def test_one_euro_reference_behaves():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    assert f(10.0, 0.0) == 10.0  # first sample passes through
    y = f(20.0, 1.0 / 30.0)
    alpha = 1.0 / (1.0 + (1.0 / (2 * np.pi)) * 30.0)
    assert y == pytest.approx(10.0 + alpha * 10.0)
    assert f(99.0, 1.0 / 30.0) == y  # repeated timestamp keeps the estimate
