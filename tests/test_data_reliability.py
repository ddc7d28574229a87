"""Bad faces, images and labels on real files (issue 14 rows 3, 4, 5, 9, 12): each is refused by name,
read correctly, or reported; never a silent wrong number, a stale cache or a traceback.

Broken files are generated in tmp_path from the bundled sample faces."""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from edge_lmk import evaluate as ev
from edge_lmk import evaluation
from edge_lmk import train
from edge_lmk.data import ImageFileError, LandmarkFileError, load_face, read_image, read_pts, scan_folder, write_pts
from edge_lmk.data.canvas import load_canvases
from edge_lmk.data.images import MAX_IMAGE_PIXELS, read_header
from edge_lmk.models.registry import ModelLoadError, load_checkpoint
from edge_lmk.paths import REPO_DIR
from edge_lmk.runtimes import load_predictor

MODEL = "laplacekl_w1_16"
WEIGHTS = REPO_DIR / "edge_lmk" / "weights" / f"{MODEL}.pt"
ENV_PATH = str(REPO_DIR)


def _copy_faces(src: Path, dst: Path, n: int) -> list[Path]:
    """Copy the first ``n`` (image, .pts) pairs under ``src`` into ``dst``; returns the .pts paths."""
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for r in scan_folder(src)[:n]:
        shutil.copy(r.image, dst / r.image.name)
        out.append(Path(shutil.copy(r.pts, dst / r.pts.name)))
    return out


def _error_lines(stderr: str) -> list[str]:
    """stderr without progress-bar remnants (tqdm erases its bar with carriage returns)."""
    lines = [seg.strip() for ln in stderr.splitlines() for seg in ln.split("\r")]
    return [ln for ln in lines if ln and "?face/s" not in ln and "face/s]" not in ln]


def _cli(module, argv, capsys) -> tuple[int, str]:
    """In-process CLI entry -> (exit status, its one stderr line)."""
    rc = module.cli(argv)
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    return rc, lines[0]


def _run_cli(module: str, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": ENV_PATH})


# -- row 5: EXIF orientation -------------------------------------------------------------------

def _save_with_orientation(path: Path, stored: np.ndarray, orientation: int, **kw) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif.tobytes(), **kw)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, sample_test, orientation):
    """Lossless PNG: the decoded pixels equal Pillow's exif_transpose of the same file, exactly."""
    rgb = read_image(scan_folder(sample_test)[0].image)[:, :150]  # not square, so a wrong transpose shows
    path = tmp_path / f"o{orientation}.png"
    _save_with_orientation(path, rgb, orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_image(path)
    assert got.shape == expected.shape and np.array_equal(got, expected)
    assert read_header(path.read_bytes(), str(path)).orientation == orientation


def test_exif_rotated_jpeg_reads_upright_everywhere(tmp_path, sample_test):
    """A phone-style JPEG stored sideways with Orientation 6 reads as its upright copy: the same pixels
    (to JPEG re-encoding error), the same landmarks (< 0.5 px) through evaluate's crops, and the same
    canvases for train and the same array for FaceLandmarker (detect). Before the fix it was read
    sideways (sample test set, every face stored rotated: NME 27.22 before, 10.41 after; upright 10.43)."""
    rec = scan_folder(sample_test)[0]
    upright_rgb = read_image(rec.image)
    up, rot = tmp_path / "upright", tmp_path / "rotated"
    for d in (up, rot):
        d.mkdir()
        shutil.copy(rec.pts, d / rec.pts.name)
    jpeg = {"quality": 100, "subsampling": 0}
    Image.fromarray(upright_rgb).save(up / rec.image.name, **jpeg)
    # stored turned 90 degrees counter-clockwise; orientation 6 = rotate 90 clockwise to display
    _save_with_orientation(rot / rec.image.name, np.rot90(upright_rgb, 1), 6, **jpeg)
    assert cv2.imdecode(np.fromfile(rot / rec.image.name, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (192, 192)

    a, b = read_image(up / rec.image.name), read_image(rot / rec.image.name)
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.mean() < 1.0  # q100 4:4:4 re-encoding of the same pixels; sideways would be ~50
    sideways = np.abs(a.astype(int) - np.rot90(b, 1).astype(int)).mean()
    assert sideways > 10 * diff.mean()

    predictor = load_predictor(MODEL)
    pred = {}
    for name, d in (("up", up), ("rot", rot)):
        crops = evaluation.prepare_crops(scan_folder(d), predictor.contract)
        pred[name], _ = evaluation.predict_photo(predictor, crops)
    assert np.abs(pred["up"] - pred["rot"]).max() < 0.5  # photo pixels

    ca, _ = load_canvases(scan_folder(up))
    cb, _ = load_canvases(scan_folder(rot))
    assert np.abs(ca.astype(int) - cb.astype(int)).mean() < 1.0

    from edge_lmk.inference.landmarker import FaceLandmarker

    lmk = FaceLandmarker(predictor)
    assert np.array_equal(lmk.load(rot / rec.image.name)[0], b)


# -- row 9: huge images refused from the header --------------------------------------------------

def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header declares w x h RGB but whose data is a few bytes (decoding would need w*h*3)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _jpeg_claiming(src: Path, w: int, h: int) -> bytes:
    """A real JPEG with its frame header (SOF0) patched to claim w x h."""
    data = bytearray(src.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


@pytest.mark.parametrize("kind", ["png", "jpg"])
def test_huge_image_refused_from_header(tmp_path, sample_test, kind):
    rec = scan_folder(sample_test)[0]
    big = tmp_path / f"big.{kind}"
    big.write_bytes(_png_header_only(20000, 20000) if kind == "png" else _jpeg_claiming(rec.image, 20000, 20000))
    assert big.stat().st_size < 100_000
    with pytest.raises(ImageFileError, match=rf"big\.{kind}: image too large \(20000x20000 = 400 MP, limit 200 MP\)"):
        read_image(big)
    assert MAX_IMAGE_PIXELS == 200_000_000


def test_header_reads_sizes_beyond_pillows_own_bomb_guard():
    """Pillow's guard errors above ~179 MP; the header parser still reports the size, so our 200 MP limit holds."""
    h = read_header(_png_header_only(14000, 13000), "x.png")  # 182 MP
    assert (h.width, h.height, h.orientation) == (14000, 13000, 1)


def test_huge_image_refused_by_evaluate_and_train(tmp_path, sample_train, capsys):
    pts = _copy_faces(sample_train, tmp_path / "data", 10)
    img = pts[0].with_suffix(".jpg")
    img.write_bytes(_jpeg_claiming(img, 20000, 20000))
    rc, err = _cli(ev, ["--model", MODEL, "--data", str(tmp_path / "data")], capsys)
    assert rc == 2 and err == f"error: {img}: image too large (20000x20000 = 400 MP, limit 200 MP); downscale it first"
    rc, err = _cli(train, ["--data", str(tmp_path / "data"), "--no-cache", "--out", str(tmp_path / "run"),
                           "--val-fraction", "0.5"], capsys)
    assert rc == 2 and err.startswith(f"error: {img}: image too large")


# -- row 4: degenerate faces, non-finite predictions, NaN weights ---------------------------------

def _edit_pts(path: Path, fn) -> None:
    write_pts(path, fn(read_pts(path).copy()))


DEGENERATE = {
    "all_equal": (lambda p: np.full_like(p, 50.0), r"degenerate face, all landmarks within 0 px"),
    "huge": (lambda p: p + 1e30, r"landmark coordinate 1e\+30 px is absurd"),
    "same_eye_corners": (lambda p: np.where(np.arange(68)[:, None] == 45, p[36], p), r"degenerate face, inter-ocular distance \(points 36-45\) 0 px"),
}


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_pts_refused_by_name(tmp_path, sample_test, case):
    fn, msg = DEGENERATE[case]
    pts = _copy_faces(sample_test, tmp_path, 1)[0]
    _edit_pts(pts, fn)
    with pytest.raises(LandmarkFileError, match=rf"{pts.name}: {msg}"):
        read_pts(pts)


def test_non_finite_and_misplaced_pts_refused(tmp_path, sample_test):
    pts = _copy_faces(sample_test, tmp_path / "face", 1)[0]
    lines = pts.read_text().splitlines()
    first = lines.index("{") + 1
    bad = tmp_path / "other" / "nan.pts"
    bad.parent.mkdir()
    bad.write_text("\n".join(lines[:first] + ["nan 3"] + lines[first + 1:]) + "\n")
    with pytest.raises(LandmarkFileError, match=r"nan\.pts:4: non-finite coordinate"):
        read_pts(bad)
    _edit_pts(pts, lambda p: p + 5000)  # labels of another, larger photo
    with pytest.raises(LandmarkFileError, match=rf"{pts.name}: landmarks .* lie outside the 192x192 image"):
        load_face(scan_folder(pts.parent)[0])


def test_degenerate_face_stops_evaluate_and_train_by_name(tmp_path, sample_train, capsys):
    """Before: evaluate printed NME nan with exit 0; train died in LinAlgError: Singular matrix naming no file."""
    data = tmp_path / "data"
    pts = _copy_faces(sample_train, data, 10)
    _edit_pts(pts[3], lambda p: np.full_like(p, 80.0))
    rc, err = _cli(ev, ["--model", MODEL, "--data", str(data)], capsys)
    assert rc == 2 and err.startswith(f"error: {pts[3]}: degenerate face")
    rc, err = _cli(train, ["--data", str(data), "--no-cache", "--out", str(tmp_path / "run"),
                           "--val-fraction", "0.5"], capsys)
    assert rc == 2 and err.startswith(f"error: {pts[3]}: degenerate face")


def test_nan_weights_refused_by_name(tmp_path, sample_test, capsys):
    payload = torch.load(WEIGHTS, weights_only=True)
    payload["state_dict"]["generator.to_heatmaps.bias"][5] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(payload, bad)
    with pytest.raises(ModelLoadError, match=r"nan\.pt: non-finite weights in 1 tensor\(s\) "
                                             r"\(generator\.to_heatmaps\.bias\)"):
        load_checkpoint(bad)
    rc, err = _cli(ev, ["--model", str(bad), "--data", str(sample_test)], capsys)
    assert rc == 2 and err.startswith(f"error: {bad}: non-finite weights")


def test_non_finite_predictions_are_failures_and_json_stays_valid(tmp_path, sample_test, capsys):
    """Finite weights that overflow (x 3e38) give NaN landmarks on every face: reported, FR 100%, strict JSON."""
    payload = torch.load(WEIGHTS, weights_only=True)
    payload["state_dict"]["generator.to_heatmaps.weight"] *= 3e38
    huge = tmp_path / "overflow.pt"
    torch.save(payload, huge)
    out, data = tmp_path / "res.json", tmp_path / "data"
    _copy_faces(sample_test / "helen_testset", data / "helen_testset", 5)
    _copy_faces(sample_test / "lfpw_testset", data / "lfpw_testset", 3)
    rc = ev.cli(["--model", str(huge), "--data", str(data), "--json", str(out)])
    cap = capsys.readouterr()
    assert rc == 1
    assert "NME n/a" in cap.out and "non-finite 8" in cap.out
    assert "warning: 8 of 8 faces got a non-finite prediction" in cap.err

    def no_nan(token):
        raise AssertionError(f"bare {token} in JSON")

    res = json.loads(out.read_text(), parse_constant=no_nan)
    assert res["n"] == 8 and res["n_nonfinite"] == 8 and res["fr8"] == 1.0 and res["auc8"] == 0.0
    assert res["nme"] is None and res["per_face_nme"] == [None] * 8
    assert res["nonfinite_values"] >= 8 + 1 + 2  # per-face, overall and subset NMEs (and mean_scale)
    assert res["subsets"]["helen_testset"]["n_nonfinite"] == 5


def test_one_non_finite_face_counts_as_failure(sample_test):
    """Before: FR@8 counted NaN faces as successes (NaN > 8 is False) and the mean NME was NaN."""
    predictor = load_predictor(MODEL)
    recs = scan_folder(sample_test)
    crops = evaluation.prepare_crops(recs[:8] + recs[-8:], predictor.contract)  # both subsets
    pred, _ = evaluation.predict_photo(predictor, crops)
    ref = evaluation.score(pred, crops)
    pred[0] = np.nan
    res = evaluation.score(pred, crops)
    others = np.delete(ref["per_face"], 0)
    assert res["n_nonfinite"] == 1 and res["n"] == 16
    assert res["nme"] == pytest.approx(others.mean(), rel=1e-12)
    assert res["fr8"] == pytest.approx((np.sum(others > 8) + 1) / 16)
    assert res["auc8"] <= ref["auc8"]
    assert sum(s["n_nonfinite"] for s in res["subsets"].values()) == 1


# -- row 3: the canvas cache follows the files' contents -------------------------------------------

def test_canvas_cache_follows_edited_pts_and_replaced_image(tmp_path, sample_train):
    data, cache = tmp_path / "data", tmp_path / "cache"
    pts = _copy_faces(sample_train, data, 5)
    recs = scan_folder(data)
    img0, lm0 = load_canvases(recs, cache)
    assert len(list(cache.glob("*.npz"))) == 1

    # a corrected label: point 30 (nose tip) moved 4 px right, inside the box, so the canvas stays put
    _edit_pts(pts[2], lambda p: p + np.where(np.arange(68)[:, None] == 30, [4.0, 0.0], 0.0))
    img1, lm1 = load_canvases(recs, cache)
    fresh_img, fresh_lm = load_canvases(recs, None)
    assert np.array_equal(lm1, fresh_lm) and np.array_equal(img1, fresh_img)
    # the canvas of a 192 px sample crop is the file itself (scale 1): the point moves by 4 px exactly,
    # up to the 3-decimal .pts rounding
    assert lm1[2, 30] - lm0[2, 30] == pytest.approx([4.0, 0.0], abs=2e-3)
    assert np.array_equal(np.delete(lm1, 2, 0), np.delete(lm0, 2, 0))

    # a replaced image (same name, mirrored pixels)
    img_path = recs[1].image
    cv2.imwrite(str(img_path), cv2.imread(str(img_path))[:, ::-1])
    img2, _ = load_canvases(recs, cache)
    assert np.array_equal(img2, load_canvases(recs, None)[0]) and not np.array_equal(img2[1], img1[1])
    assert len(list(cache.glob("*.npz"))) == 1  # each rebuild deleted the entry it superseded

    # a damaged cache file is rebuilt, not trusted
    only = next(cache.glob("*.npz"))
    only.write_bytes(only.read_bytes()[:1000])
    img3, _ = load_canvases(recs, cache)
    assert np.array_equal(img3, img2)
    assert not list(cache.glob(".*tmp"))


def test_train_cache_flags_documented_and_honoured(tmp_path, sample_train, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    helptext = capsys.readouterr().out
    assert "--no-cache" in helptext and "--cache-dir" in helptext and "keyed on" in helptext
    assert train.parse_args([]).cache_dir == "runs/cache"
    monkeypatch.chdir(tmp_path)
    sigterm = signal.getsignal(signal.SIGTERM)  # train installs its own handler
    try:
        base = ["--data", str(sample_train), "--val-fraction", "0.2", "--epochs", "1", "--steps", "1", "--batch-size", "4",
                "--threads", "1"]
        assert train.cli(base + ["--no-cache", "--out", "a"]) == 0
        assert not (tmp_path / "runs").exists()
        assert train.cli(base + ["--cache-dir", "c", "--out", "b"]) == 0
        assert len(list((tmp_path / "c").glob("canvas_*.npz"))) == 2  # train and validation faces
    finally:
        signal.signal(signal.SIGTERM, sigterm)


# -- row 12: one line, exit 2 ------------------------------------------------------------------------

def test_evaluate_and_train_cli_errors_are_one_line(tmp_path, sample_test, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    _copy_faces(sample_test, bad, 2)
    corrupt = sorted(bad.glob("*.jpg"))[1]
    corrupt.write_bytes(corrupt.read_bytes()[:300])
    cases = [
        (["--model", MODEL, "--data", str(empty)], f"{empty}: no .pts files found"),
        (["--model", MODEL, "--data", str(bad)], f"{corrupt}: cannot decode image"),
        (["--model", str(corrupt), "--data", str(bad)], f"{corrupt}: not a readable checkpoint"),
        (["--model", str(tmp_path / "m.pte"), "--data", str(bad)], f"{tmp_path / 'm.pte'}: artifact not found"),
    ]
    for argv, msg in cases:
        rc, err = _cli(ev, argv, capsys)
        assert rc == 2 and err.startswith(f"error: {msg}"), (argv, err)
    # the real entry points (python -m), once each
    missing = tmp_path / "missing"
    for module, argv in (("edge_lmk.evaluate", ["--model", MODEL, "--data", str(missing)]),
                         ("edge_lmk.train", ["--data", str(missing), "--out", "run"])):
        r = _run_cli(module, *argv, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert _error_lines(r.stderr) == [f"error: {missing}: data folder not found"]
