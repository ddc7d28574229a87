"""Photo -> landmarks: FaceLandmarker, the FHOG detector, the CLI, One Euro smoothing and tracking.

Real photos only: the bundled full-resolution originals (``edge_lmk/sample/originals``) and
the bundled 300-W face crops. The shipped weights may be interim, so accuracy bounds are
loose; exactness is checked against ``edge_lmk.evaluate``'s own path instead.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_lmk.data import ImageFileError, read_image, read_pts, scan_folder
from edge_lmk.detect_eval import evaluate_photos, landmark_bbox, match_faces, still_video
from edge_lmk.inference.detectors import BoxMapping, FaceDetector, FhogFaceDetector, box_iou, nms
from edge_lmk.evaluation import predict_photo, prepare_crops
from edge_lmk.inference.landmarker import Face, FaceLandmarker, confidence_from_scale, crop_region, gt_square
from edge_lmk.metrics import nme_per_face
from edge_lmk.paths import SAMPLE_DIR
from edge_lmk.preprocess import FaceSquare, crop_face, landmark_box
from edge_lmk.inference.tracking import FaceTracker, OneEuroFilter, OneEuroParams, interocular, jitter

ORIGINALS = SAMPLE_DIR / "originals"
MODEL = "laplacekl_w1_8"
# Network outputs from two code paths (a batch of 6 vs one face, or another SIMD path) agree to
# float32 summation order: measured <= 1e-4 crop px, allowed 1e-3 crop px (tests/test_android_golden.py
# explains the number); in photo px that is scaled by the crop's side / input size.
CROP_PX_TOL = 1e-3


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lmk() -> FaceLandmarker:
    return FaceLandmarker(MODEL)


@pytest.fixture(scope="module")
def photos() -> dict[Path, np.ndarray]:
    """Bundled original photo -> its (68,2) ground-truth landmarks (one annotated face each)."""
    return {r.image: r.landmarks() for r in scan_folder(ORIGINALS)}


@pytest.fixture(scope="module")
def detections(lmk, photos) -> dict[Path, list[Face]]:
    return {p: lmk.detect(p) for p in photos}


def _square_photo() -> tuple[np.ndarray, np.ndarray]:
    """A small real photo and its landmarks (LFPW image_0006, 301x450)."""
    p = ORIGINALS / "image_0006.png"
    return read_image(p), read_pts(p.with_suffix(".pts"))


# ---------------------------------------------------------------- detection and landmarks
def test_sample_originals_are_untouched_and_small():
    files = sorted(ORIGINALS.iterdir())
    imgs = [f for f in files if f.suffix != ".pts" and f.suffix != ".md"]
    assert 1 <= len(imgs) <= 6
    assert sum(f.stat().st_size for f in files) < 3_000_000
    shared = SAMPLE_DIR.parents[2] / "shared" / "data" / "300w" / "originals_sample"
    if shared.is_dir():
        for f in files:
            assert f.read_bytes() == (shared / f.name).read_bytes(), f


def test_recall_on_bundled_originals(photos, detections):
    found = 0
    for p, gt in photos.items():
        idx = match_faces([f.box for f in detections[p]], [landmark_bbox(gt)])
        found += idx[0] is not None
    assert found == len(photos), f"found {found}/{len(photos)} annotated faces"


def test_faces_are_well_formed_and_sorted(detections):
    for p, faces in detections.items():
        assert faces, p
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
        for f in faces:
            assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float32
            assert f.confidence.shape == (68,) and np.all((f.confidence > 0) & (f.confidence <= 1))
            assert 0.0 <= f.score <= 1.0 and len(f.box) == 4 and f.box[2] > f.box[0] and f.box[3] > f.box[1]
            np.testing.assert_allclose(f.confidence, confidence_from_scale(f.scale), rtol=1e-6)


def test_landmarks_are_in_original_pixels(photos, detections):
    """Matched faces land on the annotated face: a bound even an interim model meets (the
    interim 1/8 model is ~40% NME on ground-truth crops), plus the centroid check."""
    for p, gt in photos.items():
        faces = detections[p]
        i = match_faces([f.box for f in faces], [landmark_bbox(gt)])[0]
        pred = faces[i].landmarks
        iod = interocular(gt)
        assert np.linalg.norm(pred.mean(0) - gt.mean(0)) < 0.6 * iod, p
        assert nme_per_face(pred[None], gt[None])[0] < 80.0, p
        lo, hi = gt.min(0) - 0.5 * iod, gt.max(0) + 0.5 * iod
        assert np.all((pred >= lo) & (pred <= hi)), p


def test_gt_crops_equal_evaluate_path(lmk):
    """Given the ground-truth square, the landmarker's crop and predictions are evaluate's (the crop exactly,
    the network to float32 summation order: one face at a time here, a batch in evaluate)."""
    for folder in (ORIGINALS, SAMPLE_DIR / "test_common" / "helen_testset"):
        records = scan_folder(folder)[:6]
        crops = prepare_crops(records, lmk.contract)
        ref, ref_scale = predict_photo(lmk.predictor, crops)
        for r, want, want_scale in zip(records, ref, ref_scale):
            sq = gt_square(r.landmarks(), lmk.contract.crop_scale)
            f = lmk.detect_squares(r.image, [sq])[0]
            np.testing.assert_allclose(f.landmarks, want, rtol=0, atol=CROP_PX_TOL * sq.side / lmk.contract.input_size)
            np.testing.assert_allclose(f.scale, want_scale, rtol=0, atol=CROP_PX_TOL)


def test_crop_region_is_bit_identical_to_crop_face():
    img = read_image(ORIGINALS / "100032540_1.jpg")  # 1618x1522: exercises the integer pre-shrink
    H, W = img.shape[:2]
    rng = np.random.default_rng(0)
    for _ in range(25):
        sq = FaceSquare(rng.uniform(-300, W + 300), rng.uniform(-300, H + 300), rng.uniform(30, 2000))
        a, A = crop_face(img, sq, 80)
        b, B = crop_region(img, sq, 80)
        assert np.array_equal(a, b), sq
        np.testing.assert_allclose(A, B)


def test_detections_batched_in_one_call(lmk, photos):
    calls = []
    orig = lmk.predictor.predict

    def counting(x):
        calls.append(len(x))
        return orig(x)

    lmk.predictor.predict = counting
    try:
        p = ORIGINALS / "100040721_1.jpg"  # several people
        faces = lmk.detect(p)
    finally:
        del lmk.predictor.predict
    assert len(calls) == 1 + lmk.refine
    assert all(n == calls[0] for n in calls) and calls[0] >= len(faces) >= 1


class AnnotationDetector:
    """A real (if clairvoyant) detector: returns the square landmark box of known annotations."""

    name = "annotations"
    box_mapping = BoxMapping()  # its boxes are landmark-bbox squares already

    def __init__(self, faces: list[np.ndarray]):
        self.faces = faces

    def detect(self, rgb):
        out = []
        for p in self.faces:
            cx, cy, e = landmark_box(p)
            out.append(((cx - e / 2, cy - e / 2, cx + e / 2, cy + e / 2), 0.9))
        return out


def test_pluggable_detector_reaches_the_gt_crop_path(lmk):
    rgb, gt = _square_photo()
    custom = FaceLandmarker(lmk.predictor, AnnotationDetector([gt]), refine=0)
    assert isinstance(custom.detector, FaceDetector)
    faces = custom.detect(rgb)
    ref = lmk.detect_squares(rgb, [gt_square(gt, lmk.contract.crop_scale)])[0]
    assert len(faces) == 1 and faces[0].detector_score == 0.9
    np.testing.assert_allclose(faces[0].landmarks, ref.landmarks, atol=1e-5)


def test_flip_option_averages_the_plain_and_mirrored_passes(lmk):
    """``FaceLandmarker(flip=True)`` gives ``flip.flip_average`` of the same crop, mapped to the photo: within
    float32 summation order (CROP_PX_TOL crop px, scaled to photo px); and it moves the points (it is not a
    no-op) by less than a pixel-level change."""
    from edge_lmk.inference.flip import flip_average
    from edge_lmk.preprocess import crop_to_photo, to_input

    rgb, gt = _square_photo()
    sq = gt_square(gt, lmk.contract.crop_scale)
    flipped = FaceLandmarker(lmk.predictor, AnnotationDetector([gt]), refine=0, flip=True)
    face = flipped.detect_squares(rgb, [sq])[0]
    crop, A = crop_region(rgb, sq, lmk.contract.input_size)
    lm, _ = flip_average(lmk.predictor, to_input(crop, lmk.contract.pixel_scale))
    ref = crop_to_photo(lm[0], A)
    px = sq.side / lmk.contract.input_size
    np.testing.assert_allclose(face.landmarks, ref, atol=CROP_PX_TOL * px)
    plain = lmk.detect_squares(rgb, [sq])[0].landmarks
    moved = np.linalg.norm(face.landmarks - plain, axis=-1)
    assert 0 < moved.mean() < 2 * px


def test_fhog_detector_downscales_big_photos():
    det = FhogFaceDetector()
    s = det.scales(6000, 8000)
    assert s[0] == pytest.approx(640 / 8000) and all(a > b for a, b in zip(s, s[1:]))
    assert det.scales(40, 40) == []  # under a window (80 px + one context cell each side) even at 2x
    rgb, _ = _square_photo()
    dets = det.detect(rgb)
    assert dets and all(0.0 <= sc <= 1.0 for _, sc in dets)


def test_nms_and_iou():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    keep = nms([(0, 0, 10, 10), (1, 1, 11, 11), (50, 50, 60, 60), (2, 2, 9, 9)], [0.5, 0.9, 0.7, 0.1])
    assert keep == [1, 2]


def test_detect_eval_on_bundled_originals(lmk):
    res = evaluate_photos(MODEL, ORIGINALS, landmarker=lmk)
    assert res["faces"] == 6 and res["recall"] == 1.0
    for k in ("nme_gt_crop", "nme_det_refine0", "nme_det_refine1"):
        assert np.isfinite(res[k]) and res[k] > 0
    assert len(res["per_photo"]) == 6


# ---------------------------------------------------------------- input handling and errors
def test_bgr_gray_rgba_float_inputs(lmk):
    rgb, _ = _square_photo()
    ref = lmk.detect(rgb)
    assert ref
    bgr = lmk.detect(np.ascontiguousarray(rgb[:, :, ::-1]), color="BGR")
    np.testing.assert_allclose(bgr[0].landmarks, ref[0].landmarks, atol=1e-4)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1)
    np.testing.assert_allclose(lmk.detect(rgba)[0].landmarks, ref[0].landmarks, atol=1e-4)
    np.testing.assert_allclose(lmk.detect(rgb.astype(np.float32) / 255)[0].landmarks, ref[0].landmarks, atol=1e-3)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for g in (gray, gray[:, :, None]):
        faces = lmk.detect(g)
        assert faces and box_iou(faces[0].box, ref[0].box) > 0.5
    with pytest.raises(ValueError, match="color"):
        lmk.detect(rgb, color="HSV")


def test_grey_and_rgba_files(lmk, tmp_path):
    rgb, _ = _square_photo()
    ref = lmk.detect(rgb)[0]
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.concatenate([rgb[:, :, ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1))
    assert cv2.imread(str(rgba), cv2.IMREAD_UNCHANGED).shape[2] == 4
    np.testing.assert_allclose(lmk.detect(rgba)[0].landmarks, ref.landmarks, atol=1e-4)
    g = lmk.detect(grey)
    assert g and box_iou(g[0].box, ref.box) > 0.5


def test_huge_image_gives_original_pixels(lmk):
    rgb, gt = _square_photo()
    k = 8  # 2408 x 3600 = 8.7 MP, detected on a 640 px copy
    big = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    faces = lmk.detect(big)
    gt_big = gt * k
    i = match_faces([f.box for f in faces], [landmark_bbox(gt_big)])[0]
    assert i is not None
    small = lmk.detect(rgb)[0].landmarks * k
    # same face, 8x the pixels: predictions agree to a few % of the inter-ocular distance
    assert nme_per_face(faces[i].landmarks[None], small[None])[0] < 15.0
    lim = FaceLandmarker(lmk.predictor, lmk.detector, max_pixels=1_000_000)
    with pytest.raises(ImageFileError, match=r"image array: image too large \(2408x3600"):
        lim.detect(big)
    with pytest.raises(ImageFileError, match="100032540_1.jpg: image too large"):
        lim.detect(ORIGINALS / "100032540_1.jpg")


def test_no_face_returns_empty_list(lmk):
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 128)], -1).astype(np.uint8)
    assert lmk.detect(smooth) == []
    assert lmk.detect(np.zeros((300, 300, 3), np.uint8)) == []
    assert lmk.detect(np.full((20, 30, 3), 200, np.uint8)) == []  # smaller than any detector window


def test_unreadable_and_empty_inputs_name_the_file(lmk, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageFileError, match="nope.jpg: image file not found"):
        lmk.detect(missing)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageFileError, match="empty.jpg: image file is empty"):
        lmk.detect(empty)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with pytest.raises(ImageFileError, match="corrupt.png: cannot decode"):
        lmk.detect(corrupt)
    with pytest.raises(ImageFileError, match="image array: empty image"):
        lmk.detect(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ImageFileError, match="unsupported image shape"):
        lmk.detect(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(ImageFileError, match="expected a numpy array or a path"):
        lmk.detect([[1, 2], [3, 4]])


# ---------------------------------------------------------------- CLI
FACE_KEYS = {"box", "landmarks", "confidence", "score"}


def _check_face(f: dict, w: int, h: int):
    assert FACE_KEYS <= set(f)
    assert len(f["box"]) == 4 and all(isinstance(v, float) for v in f["box"])
    assert len(f["landmarks"]) == 68 and all(len(p) == 2 for p in f["landmarks"])
    assert len(f["confidence"]) == 68 and all(0 < c <= 1 for c in f["confidence"])
    assert 0 <= f["score"] <= 1
    pts = np.array(f["landmarks"])
    assert np.all(pts > -0.5 * w) and np.all(pts[:, 0] < 1.5 * w) and np.all(pts[:, 1] < 1.5 * h)


def test_cli_folder_json_and_annotated(tmp_path, capsys):
    from edge_lmk.detect import main

    src = tmp_path / "in"
    src.mkdir()
    for n in ("1004467229_1.jpg", "image_0006.png"):
        (src / n).write_bytes((ORIGINALS / n).read_bytes())
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(src / "blank.png"), np.full((120, 160, 3), 90, np.uint8))
    out, js = tmp_path / "out", tmp_path / "faces.json"
    rc = main([str(src), "--model", MODEL, "--out", str(out), "--json", str(js), "--mesh"])
    assert rc == 1  # one unreadable file
    assert "broken.jpg: cannot decode" in capsys.readouterr().err
    res = json.loads(js.read_text())
    assert {"model", "runtime", "detector", "refine", "images", "videos"} <= set(res)
    imgs = res["images"]
    assert set(imgs) == {str(src / n) for n in ("1004467229_1.jpg", "image_0006.png", "broken.jpg", "blank.png")}
    assert "broken.jpg" in imgs[str(src / "broken.jpg")]["error"]
    assert imgs[str(src / "blank.png")]["faces"] == []
    for n in ("1004467229_1.jpg", "image_0006.png"):
        rec = imgs[str(src / n)]
        assert rec["faces"]
        for f in rec["faces"]:
            _check_face(f, rec["width"], rec["height"])
        ann = read_image(out / n)
        assert ann.shape[:2] == (rec["height"], rec["width"])
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]  # atomic writes left nothing behind


def test_cli_single_image_and_missing(tmp_path, capsys):
    from edge_lmk.detect import main

    js = tmp_path / "one.json"
    assert main([str(ORIGINALS / "image_0006.png"), "--json", str(js)]) == 0
    assert "face(s)" in capsys.readouterr().out
    assert len(json.loads(js.read_text())["images"]) == 1
    assert main([str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg: not found" in capsys.readouterr().err


def test_cli_video(tmp_path):
    from edge_lmk.detect import main

    rgb, _ = _square_photo()
    frames, _ = still_video(rgb, 6)
    vid = tmp_path / "still.avi"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 25, rgb.shape[1::-1])
    for f in frames:
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    js, out = tmp_path / "v.json", tmp_path / "out"
    assert main(["--video", str(vid), "--json", str(js), "--out", str(out), "--redetect-every", "4"]) == 0
    v = json.loads(js.read_text())["videos"][str(vid)]
    assert v["fps"] == 25 and len(v["frames"]) == 6
    assert [fr["frame"] for fr in v["frames"]] == list(range(6))
    for fr in v["frames"]:
        assert len(fr["faces"]) >= 1
        for f in fr["faces"]:
            _check_face(f, v["width"], v["height"])
            assert isinstance(f["track_id"], int)
    assert (out / "still.annotated.mp4").is_file()


# ---------------------------------------------------------------- One Euro filter and tracking
def test_one_euro_reduces_jitter_on_constant():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=2.0))
    x = 5.0 + rng.normal(0, 0.05, (300, 4))
    y = np.stack([f(v, i / 30) for i, v in enumerate(x)])
    raw, sm = np.abs(np.diff(x, axis=0)).mean(), np.abs(np.diff(y, axis=0)).mean()
    assert sm < 0.25 * raw, (raw, sm)
    assert abs(y[-100:].mean() - 5.0) < 0.02  # no bias


def test_one_euro_follows_a_ramp_with_bounded_lag():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=2.0))
    t = np.arange(120) / 30
    x = 0.5 * t  # half a face size per second
    y = np.array([f(np.array([v]), ti)[0] for v, ti in zip(x, t)])
    lag = (x[30:] - y[30:]) / 0.5  # seconds behind, once settled
    assert np.all(lag >= 0) and lag.max() < 0.12, lag.max()
    f2 = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))  # plain low-pass lags more
    y2 = np.array([f2(np.array([v]), ti)[0] for v, ti in zip(x, t)])
    assert (x[-1] - y2[-1]) > 1.2 * (x[-1] - y[-1])


def test_smoothing_reduces_jitter_on_a_still_face(lmk):
    rgb, gt = _square_photo()
    frames, shifts = still_video(rgb, 30)
    runs = {}
    for name, params in (("raw", None), ("one_euro", OneEuroParams())):
        tr = FaceTracker(lmk, params, redetect_every=1000)
        pts = []
        for i, fr in enumerate(frames):
            faces = tr.update(fr, i / 30)
            assert len(faces) >= 1
            pts.append(faces[0].landmarks)  # the face is still: ideal output is constant
        runs[name] = jitter(np.array(pts), interocular(gt))
        assert tr.detections_run == 1
    assert runs["raw"] > 0
    assert runs["one_euro"] < 0.5 * runs["raw"], runs


def test_tracker_follows_a_panning_face_without_redetecting(lmk):
    rgb, gt = _square_photo()
    iod = interocular(gt)
    for params, bound in ((None, 8.0), (OneEuroParams(), 15.0)):  # One Euro: about a frame of lag
        tr = FaceTracker(lmk, params, redetect_every=1000, max_faces=1)
        for i in range(16):
            dx = 3.0 * i  # 90 px/s at 30 fps, ~0.9 face sizes per second
            M = np.float32([[1, 0, dx], [0, 1, 0]])
            faces = tr.update(cv2.warpAffine(rgb, M, rgb.shape[1::-1], borderMode=cv2.BORDER_REFLECT), i / 30)
            err = np.linalg.norm(faces[0].landmarks.mean(0) - (gt.mean(0) + (dx, 0))) / iod * 100
            assert err < bound, (params, i, err)
        assert tr.detections_run == 1


def test_tracker_redetects_on_schedule_and_when_lost(lmk):
    rgb, _ = _square_photo()
    frames, _ = still_video(rgb, 7, seed=1)
    tr = FaceTracker(lmk, redetect_every=3)
    ids = set()
    for i, f in enumerate(frames):
        faces = tr.update(f)
        ids |= {fa.track_id for fa in faces}
    assert tr.detections_run == 3  # frames 0, 3, 6
    assert 0 in ids
    # a track whose confidence is below the bar is dropped and the next frame detects again
    strict = FaceTracker(lmk, redetect_every=100, min_confidence=1.01)
    for f in frames[:3]:
        assert strict.update(f) == []
    assert strict.detections_run == 3
    # the face leaves (blank frame): no faces, then it is found again by detection
    tr2 = FaceTracker(lmk, redetect_every=100)
    assert tr2.update(frames[0])
    blank = np.zeros_like(frames[0])
    lost = tr2.update(blank)
    back = tr2.update(frames[1])
    assert back and tr2.detections_run >= 2
    assert lost == [] or all(fa.score < back[0].score for fa in lost)


def test_lazy_export():
    import edge_lmk

    assert edge_lmk.FaceLandmarker is FaceLandmarker
    assert edge_lmk.FaceTracker is FaceTracker
    with pytest.raises(AttributeError):
        edge_lmk.NoSuchThing  # noqa: B018
