"""Calibrated confidence: monotone maps, their JSON form, ECE and failure metrics, the face quality on real
and non-face crops (bundled sample), FaceLandmarker fields, and the calibrate / evaluate CLIs."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_lmk.confidence import (REGIONS, Calibration, CalibrationError, MonotoneMap, calibration_for,
                                 calibration_metadata, fit_calibration, fit_monotone, inter_ocular)
from edge_lmk.confidence_metrics import (expected_calibration_error, failure_auc, face_errors, rejection_gains,
                                         reliability_bins, separation_auc)
from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.inference.landmarker import FaceLandmarker
from edge_lmk.models.registry import REGISTRY
from edge_lmk.nonface import background_squares, nonface_inputs
from edge_lmk.paths import SAMPLE_DIR
from edge_lmk.runtimes import load_predictor

MODEL = "laplacekl_w1_8"
ORIGINALS = SAMPLE_DIR / "originals"


pytestmark = pytest.mark.usefixtures("one_thread")


def _synthetic(n_faces: int = 200, seed: int = 0):
    """Faces whose point errors grow with the scale: err ~ |Laplace(0, 2 * scale)| in crop px, IOD 30 px."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3.0, (n_faces, 68)) * rng.uniform(0.7, 1.5, (n_faces, 1))
    err_px = np.abs(rng.laplace(0.0, 2.0 * scale))
    iod = np.full(n_faces, 30.0)
    return scale, iod, 100.0 * err_px / iod[:, None], err_px


def test_fit_monotone_is_monotone_and_extrapolates_up():
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 4, 2000)
    e = 2 * s + rng.normal(0, 1.5, s.shape)  # noisy: a plain binned mean would wiggle
    m = fit_monotone(s, e)
    assert (np.diff(m.x) > 0).all() and (np.diff(m.y) >= 0).all()
    grid = np.linspace(-1, 20, 2001)
    assert (np.diff(m(grid)) >= -1e-12).all()
    assert m(np.array([20.0]))[0] > m.y[-1]  # beyond the data it keeps rising (proportionally)
    np.testing.assert_allclose(m(np.array([2.0])), 4.0, atol=0.4)  # E[err | s=2] = 4 (+- isotonic noise)


def test_calibration_round_trips_through_json():
    scale, iod, err_iod, err_px = _synthetic()
    cal = fit_calibration(scale, iod, err_iod, err_px, info={"fit_faces": 200})
    d = json.loads(json.dumps(cal.to_dict()))
    back = Calibration.from_dict(d)
    assert back.to_dict() == cal.to_dict()
    np.testing.assert_array_equal(back.expected_error(scale, iod), cal.expected_error(scale, iod))
    np.testing.assert_array_equal(back.quality(scale, iod), cal.quality(scale, iod))
    for unit in ("iod", "px"):
        for m in getattr(back, unit).values():
            assert (np.diff(m.x) > 0).all() and (np.diff(m.y) >= 0).all()


def test_calibration_is_calibrated_on_its_own_kind_of_data():
    scale, iod, err_iod, err_px = _synthetic(seed=0)
    cal = fit_calibration(scale, iod, err_iod, err_px)
    s2, i2, e2, p2 = _synthetic(seed=1)
    # E|Laplace(0, b)| = b: the expected crop-pixel error is 2 * scale
    np.testing.assert_allclose(cal.expected_error(s2, unit="px").mean(), (2 * s2).mean(), rtol=0.03)
    assert expected_calibration_error(cal.expected_error(s2, i2), e2) / e2.mean() < 0.05
    q = cal.quality(s2, i2)
    assert ((q >= 0) & (q <= 1)).all()
    assert np.corrcoef(q, e2.mean(1))[0, 1] < -0.5  # higher expected error, lower quality


def test_malformed_tables_are_refused_with_the_place():
    with pytest.raises(CalibrationError, match="non-decreasing"):
        MonotoneMap(np.array([1.0, 2.0]), np.array([3.0, 1.0]))
    scale, iod, err_iod, err_px = _synthetic(50)
    d = fit_calibration(scale, iod, err_iod, err_px).to_dict()
    bad = json.loads(json.dumps(d))
    del bad["iod"]["jaw"]
    with pytest.raises(CalibrationError, match="regions"):
        Calibration.from_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["px"]["eyes"] = {"x": [1, 2]}
    with pytest.raises(CalibrationError, match="px.eyes"):
        Calibration.from_dict(bad, "card.json")
    with pytest.raises(CalibrationError, match="not an"):
        Calibration.from_dict({"format": "x"})


def test_ece_known_answer():
    pred = np.r_[np.full(50, 1.0), np.full(50, 3.0)]
    obs = np.r_[np.full(50, 1.5), np.full(50, 2.0)]
    assert expected_calibration_error(pred, obs, bins=2) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    b = reliability_bins(pred, obs, bins=2)
    np.testing.assert_allclose(b["pred"], [1, 3]) and np.testing.assert_allclose(b["obs"], [1.5, 2])
    assert expected_calibration_error(obs, obs, bins=7) == pytest.approx(0.0)
    # per-bin errors of opposite sign do not cancel
    assert expected_calibration_error(np.r_[1.0, 1.0, 2.0, 2.0], np.r_[1.5, 1.5, 1.5, 1.5], bins=2) == \
        pytest.approx(0.5)


def test_failure_auc_and_rejection_known_answers():
    nme = np.array([2.0, 3.0, 4.0, 9.0, 10.0])
    q = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    assert failure_auc(nme, q) == pytest.approx(1.0)
    assert failure_auc(nme, -q) == pytest.approx(0.0)
    assert failure_auc(nme[:3], q[:3]) is None  # no failures: undefined
    g = rejection_gains(nme, q, fractions=(0.2, 0.4))
    assert g["20%"]["rejected"] == 1 and g["20%"]["nme_rest"] == pytest.approx(18 / 4)
    assert g["40%"]["gain"] == pytest.approx(1 - 3.0 / 5.6) == pytest.approx(g["40%"]["oracle_gain"])
    assert separation_auc([0.9, 0.8], [0.1, 0.85]) == pytest.approx(0.75)


def test_background_squares_avoid_the_face():
    recs = scan_folder(ORIGINALS)
    pts = recs[0].landmarks()
    sq = background_squares((1000, 1500), [pts], 1.3, 10, np.random.default_rng(0))
    lo, hi = pts.min(0), pts.max(0)
    for s in sq:
        h = s.side / 2
        assert s.cx + h <= lo[0] or s.cx - h >= hi[0] or s.cy + h <= lo[1] or s.cy - h >= hi[1]
        assert h <= s.cx <= 1500 - h and h <= s.cy <= 1000 - h


@pytest.fixture(scope="module")
def shipped():
    p = load_predictor(MODEL)
    cal = calibration_for(p)
    if cal is None:
        pytest.skip(f"{MODEL} has no calibration in its card (python -m edge_lmk.calibrate --model {MODEL} "
                    f"--write-card)")
    return p, cal


def test_quality_ranks_non_faces_below_real_faces(shipped, sample_test):
    p, cal = shipped
    f = face_errors(p, prepare_crops(scan_folder(sample_test), p.contract))
    q_face = cal.quality(f["scale"], f["iod"])
    recs = scan_folder(ORIGINALS)
    for kw in ({"per_photo": 5}, {"per_photo": 0, "shift": 1.0}):
        x = nonface_inputs(recs, p.contract, **kw)
        lm, sc = p.predict(x)
        q = cal.quality(sc, inter_ocular(lm))
        assert len(q) >= 20
        assert np.median(q) < 0.2 < np.median(q_face)
        assert separation_auc(q_face, q) > 0.95
    # the calibrated per-point error predicts the real one: same order of magnitude on the sample
    pred = cal.expected_error(f["scale"], f["iod"])
    assert 0.5 < pred.mean() / f["err_iod"].mean() < 2.0


def test_landmarker_faces_carry_expected_error_and_quality(shipped, tmp_path):
    lmk = FaceLandmarker(MODEL)
    faces = lmk.detect(ORIGINALS / "image_0006.png")
    assert faces
    f = faces[0]
    assert f.expected_error.shape == (68,) and f.expected_error_px.shape == (68,)
    assert (f.expected_error > 0).all() and (f.expected_error_px > 0).all()
    assert 0.0 <= f.quality <= 1.0
    # a pixel radius in the photo equals the %IOD error times the face's inter-ocular distance
    iod_photo = inter_ocular(f.landmarks)
    assert float(np.mean(f.expected_error_px)) / iod_photo * 100 == pytest.approx(
        float(np.mean(f.expected_error)), rel=0.5)
    d = f.to_dict()
    assert set(d) >= {"quality", "expected_error", "expected_error_px"} and len(d["expected_error"]) == 68
    # a checkpoint outside the registry has no calibration: no fields, no made-up numbers
    ckpt = tmp_path / "custom.pt"
    shutil.copy(REGISTRY[MODEL].weights_path, ckpt)
    g = FaceLandmarker(str(ckpt)).detect(ORIGINALS / "image_0006.png")[0]
    assert g.quality is None and g.expected_error is None and "quality" not in g.to_dict()


def test_metadata_for_artifacts(shipped):
    assert calibration_metadata(MODEL)["calibration"]["format"] == "edge-lmk-calibration/1"
    assert calibration_metadata("no_such_model") == {}

    class ArtifactLike:  # what an artifact predictor exposes: its sidecar/embedded metadata
        meta = {"model": "unknown", **calibration_metadata(MODEL)}

    assert calibration_for(ArtifactLike()).to_dict() == shipped[1].to_dict()


def test_calibrate_refuses_test_folders_and_evaluate_reports(shipped, sample_test, tmp_path, capsys):
    from edge_lmk.calibrate import main as calibrate_main
    from edge_lmk.evaluate import main as evaluate_main

    with pytest.raises(SystemExit) as e:
        calibrate_main(["--model", MODEL, "--fit-data", str(sample_test), "--val-fraction", "0"])
    assert e.value.code == 2 and "test folder" in capsys.readouterr().err
    data = tmp_path / "faces"  # 16 of the sample's faces keep this CLI check quick
    data.mkdir()
    for r in scan_folder(sample_test)[:16]:
        shutil.copy(r.image, data)
        shutil.copy(r.pts, data)
    png = tmp_path / "rel.png"
    res = evaluate_main(["--model", MODEL, "--data", str(data), "--calibration", str(png)])
    assert png.stat().st_size > 1000
    c = res["confidence"]
    assert c["n"] == 16 and 0 <= c["ece_rel"] < 1 and set(c["rejection"]) == {"5%", "10%"}
    assert "failure prediction" in capsys.readouterr().out


def test_regions_cover_every_point_once():
    idx = np.concatenate([np.arange(a, b) for a, b in REGIONS.values()])
    np.testing.assert_array_equal(np.sort(idx), np.arange(68))


def test_export_sidecar_carries_the_calibration(shipped, tmp_path):
    from export.artifact import sidecar

    art = tmp_path / "m.tflite"
    art.write_bytes(b"not a model; the sidecar only hashes it")
    side = sidecar(art, REGISTRY[MODEL], "tflite", "fp32")
    assert Calibration.from_dict(side["calibration"]).to_dict() == shipped[1].to_dict()

    class ArtifactLike:  # a runtime that read this sidecar: calibration_for reads the table from it
        meta = side

    assert calibration_for(ArtifactLike()).to_dict() == shipped[1].to_dict()


def test_mediapipe_presence_peer_when_available(sample_test):
    from edge_lmk.peer_presence import MediaPipePresence, find_model

    path = find_model()
    if path is None:
        pytest.skip("MediaPipe face_landmark.tflite not extracted (benchmarks/README.md, 'MediaPipe peer reference')")
    m = MediaPipePresence(path)
    faces = m.predict(prepare_crops(scan_folder(sample_test)[:4], m.contract).inputs)
    background = m.predict(nonface_inputs(scan_folder(ORIGINALS)[:3], m.contract, per_photo=3))
    assert (faces > 0.5).all() and np.median(background) < 0.5
