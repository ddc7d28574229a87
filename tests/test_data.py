import numpy as np
import pytest

from edge_lmk.data import (DatasetError, ImageFileError, LandmarkFileError, read_image, read_pts, scan_folder,
                           split_train_val, write_pts)


def _pts_text(n=68, header=True):
    body = "\n".join(f"{10 + i} {20 + i * 0.5}" for i in range(n))
    return f"version: 1\nn_points: {n}\n{{\n{body}\n}}\n" if header else body + "\n"


def test_read_pts_header_and_matlab_offset(tmp_path):
    p = tmp_path / "a.pts"
    p.write_text(_pts_text())
    pts = read_pts(p)
    assert pts.shape == (68, 2)
    assert pts[0].tolist() == [9.5, 19.5]  # 1-based Matlab centre -> continuous


def test_read_pts_without_header(tmp_path):
    p = tmp_path / "b.pts"
    p.write_text(_pts_text(header=False))
    assert read_pts(p).shape == (68, 2)


def test_read_pts_wrong_count_names_file(tmp_path):
    p = tmp_path / "bad.pts"
    p.write_text(_pts_text(n=67, header=False))
    with pytest.raises(LandmarkFileError, match=r"bad\.pts: expected 68 points, found 67"):
        read_pts(p)


def test_read_pts_header_mismatch(tmp_path):
    p = tmp_path / "hdr.pts"
    p.write_text(_pts_text(n=68).replace("n_points: 68", "n_points: 39"))
    with pytest.raises(LandmarkFileError, match=r"hdr\.pts: header says n_points 39 but file has 68"):
        read_pts(p)


def test_read_pts_non_numeric(tmp_path):
    p = tmp_path / "nan.pts"
    p.write_text(_pts_text().replace("10 20.0", "ten 20"))
    with pytest.raises(LandmarkFileError, match=r"nan\.pts:4: non-numeric"):
        read_pts(p)


def test_write_pts_roundtrip_is_atomic(tmp_path):
    pts = np.random.default_rng(0).uniform(0, 100, (68, 2))
    p = tmp_path / "out" / "x.pts"
    write_pts(p, pts)
    np.testing.assert_allclose(read_pts(p), pts, atol=1e-3)
    assert [f.name for f in p.parent.iterdir()] == ["x.pts"]  # no temp files left


def test_read_image_errors_name_file(tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageFileError, match=r"corrupt\.jpg: cannot decode image"):
        read_image(bad)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageFileError, match=r"empty\.png: image file is empty"):
        read_image(empty)
    with pytest.raises(ImageFileError, match=r"missing\.jpg: image file not found"):
        read_image(tmp_path / "missing.jpg")


def test_read_image_grey_and_rgba(tmp_path):
    import cv2

    grey = np.arange(100, dtype=np.uint8).reshape(10, 10)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (10, 10, 3) and (img[..., 0] == grey).all()
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    img = read_image(tmp_path / "a.png")
    assert img.shape == (4, 5, 3) and img[0, 0].tolist() == [200, 0, 0]


def test_scan_sample(sample_test):
    recs = scan_folder(sample_test)
    assert len(recs) == 64
    assert {r.subset for r in recs} == {"helen_testset", "lfpw_testset"}
    img = read_image(recs[0].image)
    assert img.shape == (192, 192, 3)


def test_scan_errors(tmp_path):
    with pytest.raises(DatasetError, match="data folder not found"):
        scan_folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no .pts files found"):
        scan_folder(tmp_path)
    (tmp_path / "lonely.pts").write_text(_pts_text())
    with pytest.raises(ImageFileError, match=r"lonely\.pts: no image beside it"):
        scan_folder(tmp_path)


def test_split_is_deterministic_and_disjoint(sample_test):
    recs = scan_folder(sample_test)
    tr, va = split_train_val(recs, 0.25)
    tr2, va2 = split_train_val(recs, 0.25)
    assert tr == tr2 and va == va2
    assert not set(tr) & set(va) and len(tr) + len(va) == len(recs)
    assert 5 <= len(va) <= 30


def test_scan_finds_images_whose_names_hold_dots(tmp_path, sample_test):
    """UTKFace-style names (``1_0_0_2017.jpg.chip.jpg`` + ``1_0_0_2017.jpg.chip.pts``, as pseudo_label writes
    them): the image beside a .pts is its name plus an image extension, not its last suffix swapped."""
    import shutil

    rec = scan_folder(sample_test)[0]
    shutil.copy(rec.image, tmp_path / "1_0_0_2017.jpg.chip.jpg")
    shutil.copy(rec.pts, tmp_path / "1_0_0_2017.jpg.chip.pts")
    (found,) = scan_folder(tmp_path)
    assert found.image.name == "1_0_0_2017.jpg.chip.jpg"


def test_pack_writes_a_smaller_300w_folder_of_training_canvases(tmp_path, capsys):
    """edge_lmk.data.pack: the copy is a 300-W layout folder of the training canvases (same faces, landmarks
    in canvas pixels to the .pts precision), JPEG-recompressed; a rerun skips what is there; an --out inside
    --data is refused."""
    from edge_lmk.data import load_face
    from edge_lmk.data.canvas import make_canvas
    from edge_lmk.data.pack import main, pack_folder
    from edge_lmk.paths import SAMPLE_TEST

    src = SAMPLE_TEST
    records = scan_folder(src)[:8]
    sub = tmp_path / "src"
    for r in records:  # a small source folder: 8 real faces with their .pts
        for f in (r.image, r.pts):
            (sub / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (sub / f.relative_to(src)).write_bytes(f.read_bytes())
    out = tmp_path / "packed"
    res = pack_folder(sub, out, quality=75)
    assert res["faces"] == 8 and 0 < res["mean_abs_change"] < 6  # q75 JPEG: a few grey levels on average
    packed = scan_folder(out)
    assert [p.image.relative_to(out).with_suffix("") for p in packed] == \
        [r.image.relative_to(src).with_suffix("") for r in records]
    for r, p in zip(records, packed):
        canvas, pts = make_canvas(*load_face(r))
        img, lm = load_face(p)
        assert img.shape == canvas.shape and np.abs(lm - pts).max() < 2e-3  # .pts keeps 3 decimals
        assert np.abs(img.astype(int) - canvas).mean() < 6
    assert pack_folder(sub, out)["mean_abs_change"] is None  # nothing left to do: all skipped
    with pytest.raises(SystemExit) as e:
        main(["--data", str(sub), "--out", str(sub / "inside")])
    assert e.value.code == 2 and "inside --data" in capsys.readouterr().err
