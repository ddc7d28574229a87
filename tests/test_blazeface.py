"""BlazeFace: vendored models, the shared anchors/decode/weighted-NMS module, the tile pyramid and
the BlazeFace-default photo path (composed multi-face photos built from the bundled sample)."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_lmk.inference import blazeface
from edge_lmk.inference.blazeface import (FULL_RANGE, MODELS, SHORT_RANGE, BlazeFaceModelError, BlazeFaceRunner, anchors,
                                decode, iou_matrix, weighted_nms)
from edge_lmk.inference.detectors import BlazeFaceDetector, FaceDetector, make_detector
from edge_lmk.paths import REPO_DIR, SAMPLE_DIR, SAMPLE_TEST
from edge_lmk.preprocess import FaceSquare, crop_matrix, landmark_box
from edge_lmk.inference.tiles import count, level_scales, plan, tiles, windows

SMALL = ((640, 480), (480, 640))  # composed test photos: big enough for a tiled level, quick to build
GOLDEN = REPO_DIR / "android_demo" / "core" / "src" / "test" / "resources" / "golden" / "blazeface"


pytestmark = pytest.mark.usefixtures("one_thread")


def test_vendored_models_match_their_provenance():
    prov = (blazeface.WEIGHTS_DIR / "PROVENANCE.md").read_text()
    assert "Apache License" in (blazeface.WEIGHTS_DIR / "LICENSE").read_text()
    assert "mediapipe==0.10.14" in prov
    for m in MODELS.values():
        data = m.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == m.sha256 and m.sha256 in prov and m.file in prov
        assert f"mediapipe/modules/face_detection/{m.file}" in prov


def test_anchors_in_mediapipe_order():
    a = SHORT_RANGE.anchors()
    assert a.shape == (896, 2)  # 16x16x2 + 8x8x6, the Kotlin core's order
    np.testing.assert_allclose(a[:3].ravel(), [0.03125, 0.03125, 0.03125, 0.03125, 0.09375, 0.03125])
    np.testing.assert_allclose(a[512], [0.0625, 0.0625])
    np.testing.assert_allclose(a[-1], [0.9375, 0.9375])
    f = FULL_RANGE.anchors()
    assert f.shape == (2304, 2)  # 48x48, one per cell
    np.testing.assert_allclose(f[[0, 1, 48, -1]], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48],
                                                   [0.5 / 48, 1.5 / 48], [47.5 / 48, 47.5 / 48]])


def test_real_model_io_matches_the_anchor_count():
    for m in MODELS.values():
        reg, cls = BlazeFaceRunner(m).run(np.zeros((1, m.input_size, m.input_size, 3), np.float32))
        assert reg.shape == (m.num_anchors, 16) and cls.shape == (m.num_anchors,)


def test_wrong_model_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "face_detection_short_range.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(BlazeFaceModelError, match="face_detection_short_range.tflite: sha256"):
        BlazeFaceRunner(SHORT_RANGE, bad)
    with pytest.raises(BlazeFaceModelError, match="not found"):
        BlazeFaceRunner(SHORT_RANGE, tmp_path / "missing.tflite")


def test_committed_android_fixture_decodes_with_this_module():
    """The Kotlin decoder is tested against these detections; they must be what this module gives
    on the committed raw outputs (float64 decode of the same float32 outputs: ~1e-13 apart)."""
    index = json.loads((GOLDEN / "index.json").read_text())
    assert index["sha256"] == SHORT_RANGE.sha256
    for f in index["faces"]:
        reg = np.fromfile(GOLDEN / f["regressors"], "<f4").reshape(896, 16)
        cls = np.fromfile(GOLDEN / f["classificators"], "<f4")
        got = [d.to_fixture() for d in decode(reg, cls, np.array(f["affine"]).reshape(2, 3), SHORT_RANGE)]
        assert len(got) == len(f["detections"]) >= 1
        for g, w in zip(got, f["detections"]):
            for k in ("score", "box", "keypoints"):
                np.testing.assert_allclose(g[k], w[k], rtol=0, atol=1e-9)


def _encode(reg, cls, model, i, cx, cy, w, h, logit):
    """Raw outputs that decode to a box centred (cx, cy), size (w, h), in input pixels at anchor i."""
    a, S = model.anchors()[i], model.input_size
    reg[i, :4] = [cx - a[0] * S, cy - a[1] * S, w, h]
    reg[i, 4:] = np.tile([cx - a[0] * S, cy - a[1] * S], 6)
    cls[i] = logit


def test_synthetic_logits_decode_and_weighted_nms_merges():
    m = SHORT_RANGE
    reg, cls = np.zeros((896, 16)), np.full(896, -20.0)
    _encode(reg, cls, m, 600, 64, 64, 32, 32, 3.0)
    _encode(reg, cls, m, 601, 66, 64, 32, 32, 1.0)  # overlaps the first: merged, weighted by score
    _encode(reg, cls, m, 100, 25.6, 25.6, 12.8, 12.8, 2.0)
    A = crop_matrix(FaceSquare(128.0, 64.0, 256.0), 128)  # a 256x128 photo letterboxed: scale 2, shift (0,-64)
    dets = decode(reg, cls, A, m)
    assert len(dets) == 2
    s1, s2 = 1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(-1.0))
    assert dets[0].score == pytest.approx(s1, abs=1e-12)  # the best score is kept
    cx = (64 * s1 + 66 * s2) / (s1 + s2)
    np.testing.assert_allclose(dets[0].box, [2 * (cx - 16), 2 * 48 - 64, 2 * (cx + 16), 2 * 80 - 64], atol=1e-9)
    np.testing.assert_allclose(dets[1].box, [2 * 19.2, 2 * 19.2 - 64, 2 * 32, 2 * 32 - 64], atol=1e-9)
    np.testing.assert_allclose(dets[0].keypoints, np.tile([2 * cx, 2 * 64 - 64.0], (6, 1)), atol=1e-9)


def test_weighted_nms_keeps_separate_faces_and_iou_is_exact():
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], float)
    assert iou_matrix(b[:1], b)[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    s, bb, _ = weighted_nms(np.array([0.8, 0.9, 0.7]), b, np.zeros((3, 6, 2)), 0.35)
    assert s.tolist() == [0.9, 0.8, 0.7] and bb[0].tolist() == [5, 0, 15, 10]  # best first, none merged
    s, bb, _ = weighted_nms(np.array([0.8, 0.9, 0.7]), b, np.zeros((3, 6, 2)), 0.3)  # IoU 1/3 > 0.3: merged
    assert s.tolist() == [0.9, 0.7]
    np.testing.assert_allclose(bb[0], [5 * 0.9 / 1.7, 0, 10 + 5 * 0.9 / 1.7, 10], atol=1e-12)


def test_tile_plan_covers_the_photo_with_overlap():
    assert windows(100, 192, 64) == [0]
    w = windows(1000, 192, 64)
    assert w[0] == 0 and w[-1] == 1000 - 192 and all(0 < b - a <= 192 - 64 for a, b in zip(w, w[1:]))
    s = level_scales(3000, 4000, 192, 40, 24)
    assert s[0] == pytest.approx(2 * 192 / 4000) and s[-1] == pytest.approx(0.6)
    assert all(b <= 2 * a + 1e-12 for a, b in zip(s, s[1:]))
    assert level_scales(192, 192, 192, 40, 24) == []  # small photo: the whole-photo pass is enough
    assert count(3000, 4000, 192, None) == 2 and count(3000, 4000, 192, 40) > 40
    rgb = np.zeros((600, 900, 3), np.uint8)
    got = list(tiles(rgb, 192, 40, 24, 64))
    assert len(got) == count(600, 900, 192, 40)
    for crop, t in got:
        assert crop.shape == (192, 192, 3)
    # every photo pixel is inside a finest-level window, away from the inner sides by the overlap
    finest = [t for _, t in got if t.level == max(tt.level for _, tt in got)]
    xs = np.arange(0, 900, 7) + 0.5
    for x in xs:
        assert any(t.A[0, 2] <= x <= t.A[0, 2] + 192 * t.A[0, 0] for t in finest)
    assert plan(600, 900, 192, 40, 24, 64)[-1][0] == pytest.approx(0.6)


def test_detector_protocol_and_settings():
    det = make_detector("blazeface")
    assert isinstance(det, FaceDetector) and isinstance(det, BlazeFaceDetector) and det.name == "blazeface_full"
    st = det.settings()
    assert st["sha256"] == FULL_RANGE.sha256 and st["min_face"] == 40.0 and st["min_score"] == 0.6
    short = make_detector("blazeface_short")
    assert short.name == "blazeface_short" and short.settings()["min_face"] is None
    assert make_detector("fhog").name == "fhog"
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("yolo")


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> Path:
    """Six small composed photos (2-6 faces each, 40-160 px) from the bundled sample's faces."""
    from edge_lmk.multiface import build

    return build(tmp_path_factory.mktemp("mf"), SAMPLE_TEST, None, photos=6, seed=0, max_extent=160, sizes=SMALL)


def test_composed_set_is_deterministic_and_ground_truth_sits_on_the_faces(composed, tmp_path):
    from edge_lmk.multiface import build, read_set

    again = build(tmp_path / "again", SAMPLE_TEST, None, photos=2, seed=0, max_extent=160, sizes=SMALL)
    for n in ("scene_000", "scene_001"):
        assert (again / f"{n}.json").read_bytes() == (composed / f"{n}.json").read_bytes()
        assert (again / f"{n}.jpg").read_bytes() == (composed / f"{n}.jpg").read_bytes()
    faces = read_set(composed)
    assert len(faces) == 6 and sum(len(v) for v in faces.values()) >= 12
    ext = [float(np.ptp(g, 0).max()) for v in faces.values() for g in v]
    assert min(ext) >= 40 * 0.999 and min(ext) < 64


def test_blazeface_finds_small_faces_in_composed_photos(composed):
    """Recall of the tiled detector with the shipped 1/8 model on 6 composed photos; the whole-photo
    pass alone misses the small faces (why the pyramid exists)."""
    from edge_lmk.detect_eval import evaluate_end_to_end
    from edge_lmk.inference.landmarker import FaceLandmarker

    lmk = FaceLandmarker("laplacekl_w1_8")
    res = evaluate_end_to_end(lmk, composed)
    assert res["detector"] == "blazeface_full" and res["faces"] >= 12
    assert res["recall"] >= 0.9, res["per_photo"]
    assert res["false_positives_per_photo"] <= 0.5
    assert res["ratio_e2e_to_gt"] < 1.25  # end to end close to ground-truth crops on the found faces
    whole = evaluate_end_to_end(FaceLandmarker(lmk.predictor, make_detector("blazeface", min_face=None)), composed)
    assert whole["recall"] < res["recall"]
    assert all(r["detector_ms"] > 0 and r["landmarks_ms"] > 0 for r in res["per_photo"])
