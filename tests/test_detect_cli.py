"""``python -m edge_lmk.detect``: several inputs, ``--out`` that would damage the inputs refused
(issue 14 row 2), per-photo timing, detector name and settings in the JSON, ``--detector fhog``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_lmk.blazeface import FULL_RANGE
from edge_lmk.detect import main
from edge_lmk.paths import SAMPLE_DIR

ORIGINALS = SAMPLE_DIR / "originals"
MODEL = "laplacekl_w1_8"


pytestmark = pytest.mark.usefixtures("one_thread")


def _folder(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for n in files:
        (d / n).write_bytes((ORIGINALS / n).read_bytes())
    return d


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["same", "inside", "nested"])
def test_out_in_an_input_folder_is_refused_and_nothing_is_written(tmp_path, capsys, where):
    src = _folder(tmp_path, "photos", ["image_0006.png"])
    out = {"same": src, "inside": src / "annotated", "nested": src / "annotated" / "annotated"}[where]
    before = _snapshot(src)
    assert main([str(src), "--model", MODEL, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and str(src) in err and len(err.splitlines()) == 1
    assert _snapshot(src) == before  # originals untouched, no annotated/ folder created
    assert not (src / "annotated").exists()


def test_out_that_would_overwrite_a_single_input_photo_is_refused(tmp_path, capsys):
    src = _folder(tmp_path, "one", ["image_0006.png"])
    before = _snapshot(src)
    assert main([str(src / "image_0006.png"), "--model", MODEL, "--out", str(src)]) == 2
    assert "would overwrite the input photo" in capsys.readouterr().err
    assert _snapshot(src) == before


def test_several_inputs_timing_and_detector_settings(tmp_path, capsys):
    a = _folder(tmp_path, "a", ["image_0006.png"])
    b = _folder(tmp_path, "b", ["1004467229_1.jpg"])
    single = ORIGINALS / "100032540_1.jpg"
    out, js = tmp_path / "out", tmp_path / "faces.json"
    assert main([str(a), str(b), str(single), "--model", MODEL, "--out", str(out), "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert set(res["images"]) == {str(a / "image_0006.png"), str(b / "1004467229_1.jpg"), str(single)}
    assert res["detector"] == "blazeface_full"
    st = res["detector_settings"]
    assert st["model"] == FULL_RANGE.file and st["sha256"] == FULL_RANGE.sha256 and st["min_face"] == 40.0
    assert set(res["box_mapping"]) == {"dx", "dy", "k"} and "min_score" in res
    for rec in res["images"].values():
        assert len(rec["faces"]) >= 1
        assert rec["timing"]["detector_ms"] > 0 and rec["timing"]["landmarks_ms"] > 0
    # folders keep their name under --out when several inputs are given; single photos land at the top
    assert (out / "a" / "image_0006.png").is_file() and (out / "b" / "1004467229_1.jpg").is_file()
    assert (out / "100032540_1.jpg").is_file()
    assert "3 images" in capsys.readouterr().out


def test_fhog_fallback_and_unknown_detector(tmp_path, capsys):
    js = tmp_path / "f.json"
    assert main([str(ORIGINALS / "image_0006.png"), "--model", MODEL, "--detector", "fhog", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["detector"] == "fhog" and len(next(iter(res["images"].values()))["faces"]) == 1
    with pytest.raises(SystemExit) as e:
        main([str(ORIGINALS / "image_0006.png"), "--detector", "yolo"])
    assert e.value.code == 2


def test_blazeface_and_fhog_agree_on_a_sample_face(tmp_path):
    """Both detectors, after the refine pass, put the landmarks on the same face (within 3% IOD)."""
    from edge_lmk.detectors import make_detector
    from edge_lmk.landmarker import FaceLandmarker

    p = ORIGINALS / "image_0006.png"
    bf = FaceLandmarker(MODEL).detect(p)
    fh = FaceLandmarker(MODEL, make_detector("fhog")).detect(p)
    gt_iod = np.linalg.norm(bf[0].landmarks[45] - bf[0].landmarks[36])
    assert np.abs(bf[0].landmarks - fh[0].landmarks).mean() < 0.03 * gt_iod


def test_short_range_detector_on_a_selfie_video(tmp_path):
    """``--detector blazeface_short`` (whole frame, no tiles) tracks the face of a still clip."""
    import cv2

    from edge_lmk.data import read_image
    from edge_lmk.detect_eval import still_video

    rgb = read_image(ORIGINALS / "image_0006.png")
    frames, _ = still_video(rgb, 4)
    vid = tmp_path / "selfie.avi"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 25, rgb.shape[1::-1])
    for f in frames:
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    js = tmp_path / "v.json"
    assert main([str(vid), "--model", MODEL, "--detector", "blazeface_short", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["detector"] == "blazeface_short" and res["detector_settings"]["input_size"] == 128
    assert res["detector_settings"]["min_face"] is None
    assert all(len(fr["faces"]) == 1 for fr in res["videos"][str(vid)]["frames"])
