"""The Kotlin core's golden vectors cannot go stale: regenerating them gives the committed files."""
import json
from pathlib import Path

import numpy as np
import pytest

from edge_lmk.golden import MODEL, OneEuroFilter, synthetic_pattern, write_golden
from edge_lmk.preprocess import FaceSquare, crop_face

COMMITTED = Path(__file__).resolve().parents[1] / "android_demo" / "core" / "src" / "test" / "resources" / "golden"
REGENERATE = "python -m edge_lmk.golden --out android_demo/core/src/test/resources/golden"
# torch's CPU kernels may sum in a different order on another machine; everything else is exact
MODEL_DERIVED = ("_out_landmarks.f32", "_out_scale.f32", "_landmarks_photo.f64")
# expected errors from the calibration maps: the scale's cross-CPU noise (~3e-5 crop px) times a map slope
# of up to ~4 % IOD per % IOD of normalised scale gives ~1e-4 % IOD; 1e-3 % IOD is far below any use
CALIBRATION_DERIVED = ("_expected_error_iod.f64", "_expected_error_px.f64")


def _close(a, b, path="index"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=1e-4), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_committed_golden_vectors_match_a_fresh_run(tmp_path):
    fresh = write_golden(tmp_path / "golden")
    committed = json.loads((COMMITTED / "index.json").read_text())
    new = json.loads((fresh / "index.json").read_text())
    assert committed["model"]["sha256"] == new["model"]["sha256"], (
        f"the shipped {MODEL} weights changed since the golden vectors were written; run: {REGENERATE}")
    _close(new, committed)
    assert (fresh / "contract.json").read_text() == (COMMITTED / "contract.json").read_text()
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(p.name for p in COMMITTED.iterdir() if p.is_file()), f"file set changed; run: {REGENERATE}"
    for name in names:
        a, b = (fresh / name).read_bytes(), (COMMITTED / name).read_bytes()
        if name.endswith(MODEL_DERIVED):
            dt = "<f4" if name.endswith(".f32") else "<f8"
            np.testing.assert_allclose(np.frombuffer(a, dt), np.frombuffer(b, dt), rtol=0, atol=1e-4, err_msg=name)
        elif name.endswith(CALIBRATION_DERIVED):
            np.testing.assert_allclose(np.frombuffer(a, "<f8"), np.frombuffer(b, "<f8"), rtol=0, atol=1e-3, err_msg=name)
        else:
            assert a == b, f"{name} differs from a fresh run; run: {REGENERATE}"
    total = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert total < 3_000_000, f"golden vectors grew to {total / 1e6:.1f} MB"


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
