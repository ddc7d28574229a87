"""Export every fp32/fp16 target of the 1/16 and 1/8 models once, then check them on real faces.

The module-scoped fixture runs ``python -m export.all`` in-process (ExecuTorch, LiteRT and
ONNX; Core ML has its own tests) into a temporary folder. Parity is recomputed here from the
artifacts on the bundled sample faces instead of being read back from the manifest.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.evaluate import main as evaluate_main
from edge_lmk.models import REGISTRY, list_models
from edge_lmk.runtimes import ArtifactError, load_predictor
from export import all as export_all
from export.artifact import STALE_GLOBS, atomic_artifact, remove_stale_temps, sha256, sidecar_path
from export.parity import check_artifact, reference
from export.targets import FP32, TARGETS, Target, TargetUnavailable, all_targets, select

FORMATS = ["executorch", "tflite", "onnx"]
PRECISIONS = ["fp32", "fp16"]
# The two plain width-ladder models; pruned, +D and head variants share their exporters and are covered elsewhere.
MODELS = [n for n in ("laplacekl_w1_16", "laplacekl_w1_8") if n in {s.name for s in list_models()}]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sample_test):
    assert MODELS, "the 1/16 and 1/8 LaplaceKL weights should ship with the package"
    out = tmp_path_factory.mktemp("artifacts")
    # Float rows only: the int8 rows have their own tests (tests/test_compress.py).
    status = export_all.main(["--models", *MODELS, "--formats", *FORMATS, "--precisions", *PRECISIONS,
                              "--out", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest, status


@pytest.fixture(scope="module")
def crops(sample_test):
    return prepare_crops(scan_folder(sample_test), REGISTRY[MODELS[0]].contract)


@pytest.fixture(scope="module")
def references(crops):
    return {name: reference(REGISTRY[name].load(), REGISTRY[name], crops) for name in MODELS}


def artifacts(manifest: dict, precision: str | None = None) -> list[dict]:
    return [e for e in manifest["artifacts"] if precision is None or e["precision"] == precision]


def test_every_target_exported(exported):
    out, manifest, status = exported
    expected = {(m, t.key) for m in MODELS for t in select(FORMATS, PRECISIONS)}
    got = {(e["model"], f"{e['format']}/{e['precision']}" + (f"/{e['variant']}" if e["variant"] else ""))
           for e in manifest["artifacts"]}
    assert got == expected
    failed = [(e["model"], e["format"], e["precision"], e["error"])
              for e in manifest["artifacts"] if e["status"] != "ok"]
    assert not failed
    assert status == 0 and manifest["complete"]


@pytest.mark.parametrize("precision, max_delta, max_px", [("fp32", 0.01, 0.05), ("fp16", 0.05, None)])
def test_parity_on_real_faces(exported, crops, references, precision, max_delta, max_px):
    out, manifest, _ = exported
    rows = artifacts(manifest, precision)
    assert rows, f"no {precision} artifacts exported"
    for e in rows:
        p = check_artifact(out / e["path"], crops, references[e["model"]])
        where = f"{e['path']} [{p['runtime']}]"
        assert p["n"] == len(crops.records) == 64
        assert abs(p["delta_nme"]) <= max_delta, where
        if max_px is not None:
            assert p["max_px"] <= max_px, where
        # The manifest records the same measurement.
        assert e["parity"]["max_px"] == pytest.approx(p["max_px"], abs=1e-6), where


def test_manifest_schema_sidecars_and_sha256(exported):
    out, manifest, _ = exported
    assert manifest["schema"] == "edge-lmk-manifest/1" and manifest["n_faces"] == 64
    keys = {"model", "width", "format", "precision", "path", "bytes", "sha256", "parity", "status", "error"}
    for e in manifest["artifacts"]:
        assert keys <= set(e), e
        path = out / e["path"]
        assert path.stat().st_size == e["bytes"]
        assert sha256(path) == e["sha256"]
        assert set(e["parity"]) == {"runtime", "n", "nme_torch", "nme_artifact", "delta_nme", "rel_delta_nme", "max_px"}
        p = e["parity"]
        assert p["rel_delta_nme"] == pytest.approx(p["delta_nme"] / p["nme_torch"])
        side = json.loads(sidecar_path(path).read_text())
        spec = REGISTRY[e["model"]]
        assert side["sha256"] == e["sha256"] and side["precision"] == e["precision"]
        assert (side["model"], side["width"], side["loss"]) == (spec.name, str(spec.width), spec.loss)
        assert side["contract"] == spec.contract.to_dict()
        assert side.get("calibration") == spec.card().get("calibration")  # edge_lmk.confidence table
    assert (out / "report.md").read_text().count("| ok |") == len(manifest["artifacts"])


def test_no_temporary_files_left(exported):
    out, _, _ = exported
    assert not [p for pattern in STALE_GLOBS for p in out.glob(pattern)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_interrupted_save_leaves_previous_file_and_no_temp(tmp_path):
    final = tmp_path / "m_fp32.onnx"
    final.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_artifact(final) as tmp:
            tmp.write_bytes(b"half a mod")
            raise KeyboardInterrupt
    assert final.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_stale_temporaries_from_a_killed_run_are_removed(tmp_path):
    final = tmp_path / "m_fp32.mlpackage"
    with pytest.raises(RuntimeError):
        with atomic_artifact(final) as tmp:
            tmp.mkdir()
            (tmp / "weights.bin").write_bytes(b"x")
            leftover = tmp.with_name(tmp.name + "-copy")
            shutil.copytree(tmp, leftover)  # what a SIGKILL would leave behind
            raise RuntimeError("boom")
    assert not final.exists()
    staged = tmp_path / ".m_fp32.k2j4x.tmp"  # another exporter's own staging folder
    staged.mkdir()
    assert remove_stale_temps(tmp_path) == sorted([leftover, staged])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".pte", ".tflite", ".onnx"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_artifact_raises_artifact_error_naming_the_file(exported, tmp_path, suffix, keep):
    out, manifest, _ = exported
    src = next(out / e["path"] for e in manifest["artifacts"] if e["path"].endswith(suffix))
    bad = tmp_path / f"truncated{suffix}"
    data = src.read_bytes()
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtifactError, match=str(bad)):
        load_predictor(str(bad))


@pytest.mark.parametrize("suffix", [".pte", ".tflite", ".onnx"])
def test_wrong_input_shape_is_a_clear_error(exported, suffix):
    out, manifest, _ = exported
    path = next(out / e["path"] for e in manifest["artifacts"] if e["path"].endswith(suffix))
    predictor = load_predictor(str(path))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, 80, 80\), got \(1, 3, 64, 64\)"):
        predictor.predict(np.zeros((1, 3, 64, 64), np.float32))


@pytest.mark.parametrize("suffix", [".pte", ".tflite", ".onnx"])
def test_contract_is_embedded_and_read_without_the_sidecar(exported, tmp_path, suffix):
    out, manifest, _ = exported
    e = next(e for e in manifest["artifacts"] if e["path"].endswith(suffix))
    lone = tmp_path / Path(e["path"]).name
    shutil.copy(out / e["path"], lone)  # no sidecar beside it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor = load_predictor(str(lone))
    assert not [w for w in caught if "default preprocessing contract" in str(w.message)]
    assert predictor.meta["model"] == e["model"] and predictor.meta["precision"] == e["precision"]
    assert predictor.contract == REGISTRY[e["model"]].contract


def test_named_io_and_nchw_input(exported):
    import onnx
    from ai_edge_litert.interpreter import Interpreter

    out, manifest, _ = exported
    onnx_path = next(out / e["path"] for e in manifest["artifacts"] if e["format"] == "onnx")
    graph = onnx.load(onnx_path).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["landmarks", "scale"]
    tfl = next(out / e["path"] for e in manifest["artifacts"] if e["format"] == "tflite")
    interp = Interpreter(model_path=str(tfl))
    sig = interp.get_signature_list()["serving_default"]
    assert sig == {"inputs": ["image"], "outputs": ["landmarks", "scale"]}
    assert list(interp.get_input_details()[0]["shape"]) == [1, 3, 80, 80]


@pytest.mark.parametrize("suffix", [".pte", ".tflite", ".onnx"])
def test_evaluate_cli_runs_an_artifact(exported, tmp_path, sample_test, suffix):
    out, manifest, _ = exported
    e = next(e for e in manifest["artifacts"] if e["path"].endswith(suffix) and e["precision"] == "fp32")
    res = evaluate_main(["--model", str(out / e["path"]), "--data", str(sample_test),
                         "--json", str(tmp_path / "res.json")])
    assert res["runtime"] == e["parity"]["runtime"] and res["n"] == 64
    assert res["nme"] == pytest.approx(e["parity"]["nme_artifact"], abs=1e-6)
    assert json.loads((tmp_path / "res.json").read_text())["model"] == str(out / e["path"])


def test_missing_exporter_module_is_reported_not_skipped(exported, crops, references, tmp_path):
    ghost = Target("coreml", "fp32", ".mlpackage", "export.not_a_module", FP32)
    with pytest.raises(TargetUnavailable, match="export.not_a_module not available"):
        ghost.exporter()
    spec = REGISTRY[MODELS[0]]
    entry = export_all.run_target(spec.load(), spec, ghost, tmp_path, crops, references[spec.name], log=None)
    assert entry["status"] == "failed" and "export.not_a_module not available" in entry["error"]
    assert entry["path"] is None and entry["parity"] is None


def test_target_table_has_coreml_rows_and_no_uninstalled_optional_rows():
    keys = {t.key: t for t in TARGETS}
    assert keys["coreml/fp32"].module == keys["coreml/fp16"].module == "export.coreml"
    assert {t.format for t in TARGETS} == {"executorch", "coreml", "tflite", "onnx"}
    float_rows = [t for t in TARGETS if t.precision in ("fp32", "fp16")]
    assert all(t.precision == "fp32" or t.format in ("coreml", "tflite") for t in float_rows)
    with pytest.raises(ValueError, match="unknown format"):
        select(["tensorrt"])
    import importlib.util

    if importlib.util.find_spec("onnx2tf") is None:
        assert not [t for t in all_targets() if t.module == "export.onnx2tf"]
        from export import onnx2tf

        spec = REGISTRY[MODELS[0]]
        with pytest.raises(TargetUnavailable, match=r"onnx2tf is not installed.*pip install"):
            onnx2tf.export(spec.load(), spec, Path("unused"), "fp32")


def test_benchmark_worker_runs_pte_without_the_exporter(exported, crops):
    """The benchmark's ExecuTorch rows import the runtime without ``executorch.exir``'s exporter
    (benchmarks.runners.skip_exporter_package) and still give the exported model's landmarks."""
    out, manifest, _ = exported
    e = next(e for e in manifest["artifacts"] if e["format"] == "executorch" and e["precision"] == "fp32"
             and e["model"] == MODELS[0])
    x = np.ascontiguousarray(crops.inputs[:1], dtype=np.float32)
    np.save(out / "face.npy", x)
    code = ("import json, sys, numpy as np\n"
            "from benchmarks.runners import import_runtime, open_runner, split_outputs\n"
            "import_runtime('executorch')\n"
            f"lm, sc = split_outputs(open_runner({str(out / e['path'])!r}, 1).run(np.load({str(out / 'face.npy')!r})))\n"
            "print(json.dumps({'exporter': 'torch._dynamo' in sys.modules, 'lm': lm.tolist()}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["exporter"] is False
    with torch.no_grad():
        eager_lm, _ = REGISTRY[MODELS[0]].load().eval()(torch.from_numpy(x))
    np.testing.assert_allclose(np.asarray(res["lm"]), eager_lm.numpy(), atol=1e-3)  # crop pixels


def test_parallel_workers_write_what_one_process_writes(exported, tmp_path):
    """The fixture exported its two models in two worker processes (the default on a multi-core machine);
    one process writes byte-identical artifacts, listed in the same order."""
    out, manifest, _ = exported
    assert manifest.get("workers", 1) == min(os.cpu_count() or 1, len(MODELS))
    serial = tmp_path / "serial"
    assert export_all.main(["--models", *MODELS, "--formats", "onnx", "tflite", "--precisions", "fp32",
                            "--out", str(serial), "--workers", "1"]) == 0
    one = json.loads((serial / "manifest.json").read_text())["artifacts"]
    many = [e for e in manifest["artifacts"] if e["format"] in ("onnx", "tflite") and e["precision"] == "fp32"]
    assert [e["path"] for e in one] == [e["path"] for e in many]
    assert [e["sha256"] for e in one] == [e["sha256"] for e in many]
