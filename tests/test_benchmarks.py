"""The benchmark harness on a small subset: PyTorch eager and (when ONNX export works) ONNX Runtime
for the 1/16 model at one thread, schema validation, device-result merging and report generation.

pytest-benchmark's ``benchmark`` fixture runs each timed call once here (``--benchmark-disable``
in pyproject addopts); no test asserts on wall-clock time.
"""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import adb_parse, cost, devices, report, run
from benchmarks.files import read_json, write_json
from benchmarks.inputs import sample_face
from benchmarks.runners import open_runner, split_outputs
from benchmarks.threads import THREAD_CONTROL
from benchmarks.validate import SchemaError, problems, load_schema, validate
from edge_lmk.models import REGISTRY

MODEL = "laplacekl_w1_16"
REPO = Path(__file__).resolve().parent.parent


def export_onnx(out: Path) -> Path | None:
    """Test helper (not an exporter module): the 1/16 model to ONNX with the TorchScript exporter, or None
    when no ONNX exporter is importable here."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    spec = REGISTRY[MODEL]
    model = spec.load()
    path = out / f"{MODEL}_fp32.onnx"
    s = spec.contract.input_size
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but fast and enough for a test file
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 3, s, s),), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["landmarks", "scale"])
    # The sidecar the exporters write, so the project's OnnxPredictor reads the contract, not a default.
    write_json(Path(f"{path}.json"), {"contract": spec.contract.to_dict()})
    return path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """An export-shaped folder: manifest.json listing the ONNX file (empty list when ONNX is unavailable)."""
    folder = tmp_path_factory.mktemp("artifacts")
    onnx_path = export_onnx(folder)
    entries = []
    if onnx_path is not None:
        entries.append({"model": MODEL, "width": "1/16", "format": "onnx", "precision": "fp32",
                        "path": onnx_path.name, "bytes": onnx_path.stat().st_size, "sha256": None,
                        "parity": None, "status": "ok"})
    write_json(folder / "manifest.json", {"schema": "edge-lmk-manifest/1", "artifacts": entries})
    return folder


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return sample_face(REGISTRY[MODEL].contract)[0]


@pytest.fixture(scope="module")
def results_dir(artifacts, tmp_path_factory) -> Path:
    """One quick end-to-end run of the CLI on the subset (subprocess workers, accuracy on the sample)."""
    out = tmp_path_factory.mktemp("bench")
    rc = run.main(["--artifacts", str(artifacts), "--out", str(out), "--quick", "--models", MODEL, "--threads", "1",
                   "--no-floor", "--no-reference"])  # the same rows on machines with and without MediaPipe
    assert rc == 0
    return out


def device_doc(name: str, median: float, threads: int | None = 1, fmt: str = "tflite") -> dict:
    """Synthetic device file for the merge tests (made-up numbers, never shown in a real report)."""
    return {"schema": "edge-lmk-device-bench/1", "device": {"name": name, "model": "test-model", "soc": "test-soc",
                                                            "os": "Android 14 (API 34)"},
            "results": [{"model": MODEL, "format": fmt, "precision": "fp32", "backend": "xnnpack",
                         "threads": threads, "load_ms": 2.0, "latency_ms": {"median": median, "p90": median * 1.1,
                                                                            "runs": 100},
                         "nme": None, "n": None}]}


# --- runners through the thread table -----------------------------------------------------------------------

def test_pytorch_eager_latency(benchmark, face):
    opened = open_runner(REGISTRY[MODEL].weights_path, threads=1)
    assert opened.threads_applied == 1 and opened.thread_control == THREAD_CONTROL["pytorch"].how
    lm, sc = split_outputs(benchmark(opened.run, face))
    assert lm.shape == (1, 68, 2) and sc.shape == (1, 68)
    assert np.isfinite(lm).all() and (lm >= 0).all() and (lm <= 80).all()


def test_onnxruntime_latency_matches_eager(benchmark, artifacts, face):
    onnx_path = artifacts / f"{MODEL}_fp32.onnx"
    if not onnx_path.is_file():
        pytest.skip("no ONNX exporter importable here")
    opened = open_runner(onnx_path, threads=1)
    assert opened.threads_applied == 1  # read back from the session's options
    lm, sc = split_outputs(benchmark(opened.run, face))
    ref_lm, ref_sc = split_outputs(open_runner(REGISTRY[MODEL].weights_path, threads=1).run(face))
    np.testing.assert_allclose(lm, ref_lm, atol=1e-3)
    np.testing.assert_allclose(sc, ref_sc, rtol=1e-3, atol=1e-3)


def test_head_floor_artifact_is_the_models_head(tmp_path, face):
    """The floor row times exactly the shipped model's head: same landmarks from its logits."""
    from benchmarks.floor import floor_jobs, head_and_logits

    spec = REGISTRY[MODEL]
    head, logits = head_and_logits(spec, face)
    assert logits.shape == (1, 68, 80, 80)
    jobs, errors = floor_jobs(head, logits, tmp_path, formats=("onnx",))
    assert errors == [] and [j.role for j in jobs] == ["floor"] and jobs[0].bytes > 0
    opened = open_runner(jobs[0].path, threads=1)
    assert opened.input_shape == (1, 68, 80, 80)
    lm, sc = split_outputs(opened.run(logits))
    ref_lm, ref_sc = split_outputs(open_runner(spec.weights_path, threads=1).run(face))
    np.testing.assert_allclose(lm, ref_lm, atol=1e-3)
    np.testing.assert_allclose(sc, ref_sc, rtol=1e-3, atol=1e-3)


# --- the CLI end to end ---------------------------------------------------------------------------------------

def test_results_json_is_complete_and_valid(results_dir, artifacts):
    res = read_json(results_dir / "results.json")
    validate(res, "results", "results.json")
    assert res["complete"] and res["quick"] and res["settings"]["thread_counts"] == [1]
    rows = {r["key"]: r for r in res["latency"]}
    expected = {f"{MODEL}/pytorch/fp32"} | ({f"{MODEL}/onnx/fp32"} if (artifacts / f"{MODEL}_fp32.onnx").exists()
                                            else set())
    assert set(rows) == expected
    for r in rows.values():
        assert r["status"] == "ok", r["error"]
        assert r["threads"] == 1 and r["threads_applied"] == 1
        assert r["peak_rss_mb"] > 0 and r["bytes"] > 0 and r["latency_ms"]["runs"] >= 20
        lat = r["latency_ms"]
        assert lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert [p["threads"] for p in res["cost"]["peak"]] == [1] and res["cost"]["peak"][0]["gflops"] > 0
    acc = {e["key"]: e for e in res["accuracy"]["entries"]}
    assert res["accuracy"]["data_kind"].startswith("bundled sample")
    assert set(acc) == expected
    eager = acc[f"{MODEL}/pytorch/fp32"]
    assert len(eager["per_face_nme"]) == eager["n"] == res["accuracy"]["n"] > 0
    for e in acc.values():  # the same model in another runtime scores the same faces the same
        assert abs(e["nme"] - eager["nme"]) < 0.01


def test_missing_manifest_says_how_to_make_one(tmp_path, capsys):
    rc = run.main(["--artifacts", str(tmp_path), "--out", str(tmp_path / "out"), "--quick"])
    assert rc == 2
    assert "python -m export.all" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.json").exists()


def test_missing_reference_model_says_how_to_extract(tmp_path, artifacts, monkeypatch, capsys):
    monkeypatch.setenv(run.REFERENCE_ENV, str(tmp_path / "face_landmark.tflite"))
    with pytest.raises(SystemExit) as e:
        run.main(["--artifacts", str(artifacts), "--out", str(tmp_path / "out"), "--quick"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "face_landmark.tflite not found" in err and "benchmarks/README.md" in err


# --- schemas, devices, report ---------------------------------------------------------------------------------

def test_schema_rejects_broken_results(results_dir):
    res = read_json(results_dir / "results.json")
    assert problems(res, load_schema("results")) == []
    bad = copy.deepcopy(res)
    del bad["machine"]
    bad["latency"][0]["role"] = "guess"
    bad["latency"][0]["latency_ms"]["median"] = "fast"
    errs = problems(bad, load_schema("results"))
    assert any("machine" in e for e in errs) and any("role" in e for e in errs) and any("median" in e for e in errs)


def test_device_results_merge_by_name(tmp_path):
    write_json(tmp_path / "a.json", device_doc("Phone A", 1.0))
    write_json(tmp_path / "b.json", device_doc("Phone A", 0.8))  # same row re-measured: replaces a.json's
    extra = tmp_path / "c.json"
    doc = device_doc("Phone A", 2.0, threads=4)
    doc["device"]["abi"] = "arm64-v8a"
    write_json(extra, doc)
    write_json(tmp_path / "d.json", device_doc("Phone B", 3.0, threads=None, fmt="executorch"))
    devs = devices.merge(devices.device_files(tmp_path, []))
    assert [d.name for d in devs] == ["Phone A", "Phone B"]
    a = devs[0]
    assert [(r["threads"], r["latency_ms"]["median"]) for r in a.results] == [(1, 0.8), (4, 2.0)]
    assert a.info["abi"] == "arm64-v8a" and len(a.sources) == 3
    (tmp_path / "e.json").write_text(json.dumps({"schema": "edge-lmk-device-bench/1", "device": {},
                                                 "results": [{"model": MODEL}]}))
    with pytest.raises(SchemaError, match="e.json"):
        devices.merge([tmp_path / "e.json"])


def test_report_writes_markdown_and_pngs(results_dir, tmp_path):
    dev_file = tmp_path / "phone.json"
    write_json(dev_file, device_doc("Test Phone", 0.7))
    out = tmp_path / "report"
    assert report.main(["--results", str(results_dir), "--out", str(out), "--device-results", str(dev_file),
                        "--devices-dir", str(tmp_path / "no-such-folder")]) == 0
    for name in ("latency.png", "nme_vs_size.png", "nme_vs_latency.png", "ced_w1_16.png", "devices_latency.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    text = (out / "report.md").read_text()
    for needle in ("## Targets", "## Latency", "## Accuracy", "bundled sample", "## Cost model", "Pareto front",
                   "### Test Phone", "python -m benchmarks.run", "python -m benchmarks.report", "Quick run"):
        assert needle in text, needle
    # every table is preceded by the command that regenerates it
    sections = text.split("\n## ")[1:]
    for s in sections:
        if "\n| " in s:
            assert "Regenerate" in s.split("\n| ")[0], s.splitlines()[0]
    assert not list(out.glob(".*tmp*")), "temporary files left behind"


# --- cost model -----------------------------------------------------------------------------------------------

def test_cost_model_counts_conv_macs_and_params():
    spec = REGISTRY[MODEL]
    model = spec.build().eval()
    macs = []

    def hook(mod, inp, out):  # independent count: output elements x (cin/groups) x kernel area
        macs.append(out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1])

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 80, 80))
    c = cost.width_cost(Fraction(1, 16))
    assert c["conv_macs"] == sum(macs)
    assert c["params"] == sum(p.numel() for p in model.parameters())
    assert c["head_ops"] >= 68 * 80 * 80  # the softmax alone touches every heatmap pixel
    assert cost.width_cost(Fraction(1, 8))["conv_macs"] > c["conv_macs"]


# --- adb bench: parsers and the script ------------------------------------------------------------------------

BENCHMARK_MODEL_LOG = """INFO: Initialized session in 3.5ms.
INFO: Running benchmark for at least 20 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=900 curr=400 min=380 max=950 avg=420.5 std=30 p5=385 median=410 p95=500
INFO: Running benchmark for at least 200 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=200 first=420 curr=400 min=370 max=600 avg=405.2 std=20 p5=380 median=401 p95=450
INFO: Inference timings in us: Init: 3500, First inference: 900, Warmup (avg): 420.5, Inference (avg): 405.2
INFO: Peak memory footprint (MB): init=2.1 overall=3.4
"""


def test_parse_benchmark_model():
    p = adb_parse.parse_benchmark_model(BENCHMARK_MODEL_LOG)
    assert p["load_ms"] == 3.5 and p["first_ms"] == 0.9 and p["peak_memory_mb"] == 3.4
    assert p["latency_ms"] == {"median": 0.401, "p90": None, "p95": 0.45, "mean": 0.4052, "runs": 200}


def test_parse_executor_runner_both_forms():
    per_iter = "\n".join(f"I 00:00:00.000 executor_runner.cpp:1] Iteration {i} of 5: {t} ms"
                         for i, t in enumerate([2.0, 1.0, 1.2, 1.1, 1.4], 1))
    p = adb_parse.parse_executor_runner("Model loaded in 3.25 ms.\n" + per_iter)
    assert p["load_ms"] == 3.25 and p["first_ms"] == 2.0
    assert p["latency_ms"]["runs"] == 4 and p["latency_ms"]["median"] == pytest.approx(1.15)
    total_only = adb_parse.parse_executor_runner("Model executed successfully 10 time(s) in 12.0 ms.")
    assert total_only["latency_ms"] == {"median": None, "p90": None, "mean": 1.2, "runs": 10}
    with pytest.raises(ValueError):
        adb_parse.parse_executor_runner("nothing useful")


def test_assemble_device_json(tmp_path):
    log = tmp_path / "bm.log"
    log.write_text(BENCHMARK_MODEL_LOG)
    index = tmp_path / "index.tsv"
    index.write_text(f"benchmark_model\t{MODEL}\ttflite\tfp32\t-\t1\t{log}\n")
    props = tmp_path / "props.txt"
    props.write_text("[ro.product.model]: [Pixel 8]\n[ro.product.manufacturer]: [Google]\n"
                     "[ro.soc.model]: [Tensor G3]\n[ro.build.version.release]: [14]\n[ro.build.version.sdk]: [34]\n")
    out = tmp_path / "dev.json"
    assert adb_parse.main(["assemble", "--index", str(index), "--props", str(props), "--out", str(out)]) == 0
    doc = read_json(out)
    validate(doc, "device")
    assert doc["device"]["name"] == "Google Pixel 8" and doc["device"]["os"] == "Android 14 (API 34)"
    assert doc["results"][0]["backend"] == "litert-xnnpack" and doc["results"][0]["threads"] == 1


def test_adb_bench_script_is_valid_shell():
    script = REPO / "benchmarks" / "adb_bench.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(script)], check=True)
    out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--tflite-bin" in out and "--et-bin" in out


def test_default_plan_is_one_model_per_shipped_width():
    from benchmarks.plan import shipped_specs
    from edge_lmk.models import list_models

    default = shipped_specs(None)
    assert sorted(s.name for s in default) == sorted(f"laplacekl_{t}" for t in ("w1_16", "w1_8", "w1_4", "w1_2", "w1"))
    assert len({s.width for s in default}) == len(default)
    assert len(shipped_specs(["all"])) == len(list_models()) > len(default)
    with pytest.raises(SystemExit, match="not shipped"):
        shipped_specs(["laplacekl_w3"])


def test_mediapipe_is_the_default_reference_where_extracted(monkeypatch, tmp_path):
    """Issue 19: MediaPipe is in every run that can have it. With no flag and no environment variable
    the extracted third_party/ copy is used; --no-reference leaves it out; no copy, no row."""
    from edge_lmk import peer_presence

    fake = tmp_path / "face_landmark.tflite"
    fake.write_bytes(b"TFL3")
    monkeypatch.delenv(run.REFERENCE_ENV, raising=False)
    monkeypatch.setattr(peer_presence, "DEFAULT_PATH", fake)
    assert run.resolve_reference(None) == fake
    assert run.resolve_reference(None, off=True) is None
    monkeypatch.setattr(peer_presence, "DEFAULT_PATH", tmp_path / "absent.tflite")
    assert run.resolve_reference(None) is None


def test_report_gives_every_row_as_a_ratio_to_mediapipe(results_dir):
    """Every timed row gets median / MediaPipe's median at the same thread count, in the latency table,
    and the NME-vs-latency chart gets the peers at MediaPipe's measured latency."""
    from benchmarks.report import Report, peer_points

    res = json.loads((results_dir / "results.json").read_text())
    ok = [x for x in res["latency"] if x["status"] == "ok"]
    ref = copy.deepcopy(ok[0])
    ref.update(key="mediapipe_face_landmark/tflite/fp32", role="reference", width=None)
    ref["latency_ms"]["median"] = 2 * ok[0]["latency_ms"]["median"]
    res["latency"].append(ref)
    rep = Report(res, "python -m benchmarks.report")
    assert rep.vs_reference(ok[0]) == pytest.approx(0.5) and rep.vs_reference(ref) is None
    table = "\n".join(rep.latency())
    assert "x MediaPipe" in table and " 0.50 " in table
    peers = {p["label"]: p for p in peer_points(rep)}
    mp = peers["MediaPipe face mesh (468 -> 68 points)"]
    assert mp["measured"] and mp["median"] == ref["latency_ms"]["median"] and mp["nme"] == 5.13
    assert not peers["dlib ERT shape predictor 68"]["measured"]
