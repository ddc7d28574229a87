"""export.android: what lands in the app's assets folder."""
import json
import zipfile

import numpy as np
import pytest

from edge_lmk.contract import DEFAULT_CONTRACT
from export.android import DETECTOR_IN_WHEEL, DETECTOR_NAME, PlacementError, main, place_for_android


def _artifacts(tmp_path):
    art = tmp_path / "artifacts"
    (art / "pte").mkdir(parents=True)
    (art / "tflite").mkdir()
    (art / "pte" / "laplacekl_w1_8_fp32.pte").write_bytes(b"PTE" * 100)
    (art / "pte" / "laplacekl_w1_8_fp32.pte.json").write_text(json.dumps({"precision": "fp32", "contract": DEFAULT_CONTRACT.to_dict()}))
    (art / "tflite" / "laplacekl_w1_16_int8.tflite").write_bytes(b"TFL3" * 50)
    (art / "tflite" / "laplacekl_w1_16_int8.json").write_text(DEFAULT_CONTRACT.to_json())  # bare contract, stem.json form
    return art


def test_places_models_with_normalised_sidecars_and_bench_faces(tmp_path):
    art, dest = _artifacts(tmp_path), tmp_path / "assets"
    (dest).mkdir()
    (dest / "stale_model.tflite").write_bytes(b"old")
    s = place_for_android(art, dest, bench_faces=3)
    assert sorted(p["file"] for p in s["models"]) == ["laplacekl_w1_16_int8.tflite", "laplacekl_w1_8_fp32.pte"]
    assert not (dest / "stale_model.tflite").exists()
    assert (dest / "laplacekl_w1_8_fp32.pte").read_bytes() == b"PTE" * 100
    side = json.loads((dest / "laplacekl_w1_16_int8.tflite.json").read_text())
    assert side["contract"]["input_size"] == 80 and side["model"] == "laplacekl_w1_16"
    assert json.loads((dest / "laplacekl_w1_8_fp32.pte.json").read_text())["precision"] == "fp32"

    index = json.loads((dest / "bench" / "index.json").read_text())
    assert index["format"] == "edge-lmk-faces/1" and len(index["faces"]) == 3
    f = index["faces"][0]
    img = np.fromfile(dest / "bench" / f["image"], np.uint8)
    gt = np.fromfile(dest / "bench" / f["landmarks"], "<f8")
    assert img.size == f["width"] * f["height"] * 3 and gt.size == 136
    # the PyTorch reference the on-device NME is compared with, for each shipped model placed
    assert set(index["reference_nme"]) == {"laplacekl_w1_8", "laplacekl_w1_16"}
    assert 0 < index["reference_nme"]["laplacekl_w1_8"]["nme"] < 100


def test_model_filter_and_manifest_and_errors(tmp_path):
    art, dest = _artifacts(tmp_path), tmp_path / "assets"
    s = place_for_android(art, dest, models=["laplacekl_w1_8"], bench_faces=0)
    assert [p["file"] for p in s["models"]] == ["laplacekl_w1_8_fp32.pte"]
    with pytest.raises(PlacementError, match="laplacekl_w1_4"):
        place_for_android(art, dest, models=["laplacekl_w1_4"], bench_faces=0)

    manifest = art / "manifest.json"
    manifest.write_text(json.dumps({"artifacts": [{"path": "tflite/laplacekl_w1_16_int8.tflite"}]}))
    s = place_for_android(manifest, dest, bench_faces=0)
    assert [p["file"] for p in s["models"]] == ["laplacekl_w1_16_int8.tflite"]

    (art / "tflite" / "laplacekl_w1_16_int8.json").unlink()
    with pytest.raises(PlacementError, match="no preprocessing contract"):
        place_for_android(art / "tflite", dest, bench_faces=0)
    # a manifest that carries the contract itself is enough
    manifest.write_text(json.dumps({"artifacts": [{"path": "tflite/laplacekl_w1_16_int8.tflite",
                                                   "contract": DEFAULT_CONTRACT.to_dict()}]}))
    place_for_android(manifest, dest, bench_faces=0)
    assert json.loads((dest / "laplacekl_w1_16_int8.tflite.json").read_text())["contract"]["crop_scale"] == 1.3


def test_detector_comes_out_of_the_wheel(tmp_path, capsys):
    art, dest = _artifacts(tmp_path), tmp_path / "assets"
    wheel = tmp_path / "mediapipe-0.10.14-fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(DETECTOR_IN_WHEEL, b"not the real model")
    main(["--artifacts", str(art), "--dest", str(dest), "--bench-faces", "0", "--detector-wheel", str(wheel)])
    assert (dest / DETECTOR_NAME).read_bytes() == b"not the real model"
    out = capsys.readouterr().out
    assert "differs from mediapipe 0.10.14" in out and "placed laplacekl_w1_8_fp32.pte" in out
