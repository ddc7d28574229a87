"""Damaged, edited and foreign artifact files; reproducible exports; a manifest that tells the truth.

One real export of the smallest model (``laplacekl_w1_16``, fp32, all four formats) is made once
per session with ``python -m export.all`` (``small_export`` in conftest.py); every test damages
copies of it in ``tmp_path``.
Loader cases that could crash natively run in subprocesses, so a crash is a failed test. The
property-based tests are in ``test_artifact_fuzz.py``.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_lmk.models import REGISTRY
from edge_lmk.models.registry import spec_from_config
from edge_lmk.runtimes import ArtifactError, load_predictor
from edge_lmk.runtimes.coreml_runtime import CoreMLPredictor
from export import all as export_all
from export.artifact import remove_stale_temps
from export.coreml import DEBUG_MAPPING
from export.coreml import export as coreml_export
from export.inventory import read_manifest

MODEL = "laplacekl_w1_16"
SUFFIXES = (".pte", ".tflite", ".onnx", ".mlpackage")
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def exported(small_export):
    return small_export


def artifact(out: Path, suffix: str) -> Path:
    return out / f"{MODEL}_fp32{suffix}"


def copy_artifact(out: Path, suffix: str, dest: Path, sidecar: bool = True) -> Path:
    src = artifact(out, suffix)
    dst = dest / src.name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    if sidecar:
        shutil.copy(f"{src}.json", f"{dst}.json")
    return dst


# ------------------------------------------------------------------------------------------
# row 1: random or gzip bytes under an artifact's name
# ------------------------------------------------------------------------------------------

ROW1_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
from edge_lmk.runtimes import ArtifactError, load_predictor
from edge_lmk import FaceLandmarker
from edge_lmk.evaluate import main as evaluate
data, paths = sys.argv[1], sys.argv[2:]
calls = [("load_predictor", lambda p: load_predictor(p))] * len(paths)
calls += [("FaceLandmarker", FaceLandmarker), ("evaluate", lambda p: evaluate(["--model", p, "--data", data]))]
for (how, call), p in zip(calls, paths + [paths[0], paths[0]]):
    print("CASE", how, p, flush=True)
    try:
        call(p)
        print("LOADED", how, p, flush=True)
    except ArtifactError as e:
        print("REFUSED", how, e, flush=True)
    except SystemExit as e:  # a CLI that reports the error itself (one line, exit 2)
        print("REFUSED", how, "exit", e.code, p, flush=True)
"""


def test_random_and_gzip_bytes_are_refused_by_name_not_a_crash(exported, tmp_path, sample_test):
    """Random and gzip bytes under every artifact suffix, with and without a sidecar, through
    ``load_predictor``, ``FaceLandmarker`` and the evaluate CLI, in one subprocess: the old SIGABRT
    of the ExecuTorch loader fails this test instead of killing the test run."""
    rng = np.random.default_rng(1)
    cases = []
    for suffix in (".pte", *[s for s in SUFFIXES if s != ".pte"]):  # .pte first: the FaceLandmarker/evaluate case
        src = artifact(exported, suffix)
        raw = (src / "Data/com.apple.CoreML/model.mlmodel").read_bytes() if src.is_dir() else src.read_bytes()
        for kind, data in (("gzip", gzip.compress(raw, mtime=0)), ("random", rng.bytes(50_000))):
            for with_sidecar in (False, True):
                bad = tmp_path / f"{kind}_{int(with_sidecar)}" / src.name
                bad.parent.mkdir(exist_ok=True)
                bad.write_bytes(data)
                if with_sidecar:
                    shutil.copy(f"{src}.json", f"{bad}.json")
                cases.append(bad)
    pkg = tmp_path / "random_dir" / f"{MODEL}_fp32.mlpackage"  # a package directory of random files
    shutil.copytree(artifact(exported, ".mlpackage"), pkg)
    for f in pkg.rglob("*"):
        if f.is_file():
            f.write_bytes(rng.bytes(f.stat().st_size))
    cases.append(pkg)
    res = subprocess.run([sys.executable, "-c", ROW1_SCRIPT, str(sample_test), *map(str, cases)],
                         capture_output=True, text=True, env=ENV, timeout=300, cwd=ROOT)
    assert res.returncode == 0, f"loader died (rc {res.returncode}) at:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    refused = [line for line in res.stdout.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == len(cases) + 2, res.stdout
    for case, line in zip(cases + [cases[0], cases[0]], refused):
        assert str(case) in line or "exit 2" in line, line
    assert f"{cases[0]}: not a valid ExecuTorch .pte file" in refused[0]


# ------------------------------------------------------------------------------------------
# row 6: an edited sidecar
# ------------------------------------------------------------------------------------------

EDITS = {"crop_scale": (2.5, "contract differs from the one embedded"),
         "pixel_scale": (0, "pixel_scale"),
         "input_size": ("banana", "input_size")}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("field", sorted(EDITS))
def test_edited_sidecar_contract_is_refused(exported, tmp_path, suffix, field):
    path = copy_artifact(exported, suffix, tmp_path)
    side = Path(f"{path}.json")
    meta = json.loads(side.read_text())
    value, message = EDITS[field]
    meta["contract"][field] = value  # the sha256 is left as it was: it covers the artifact, not the sidecar
    side.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=message) as err:
        load_predictor(str(path))
    assert str(side) in str(err.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_sidecar_of_another_precision_is_refused(exported, tmp_path, suffix):
    path = copy_artifact(exported, suffix, tmp_path)
    side = Path(f"{path}.json")
    meta = json.loads(side.read_text())
    meta["precision"] = "fp16"
    side.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="precision 'fp16' differs"):
        load_predictor(str(path))


# ------------------------------------------------------------------------------------------
# row 7: bytes flipped, no sidecar
# ------------------------------------------------------------------------------------------

def flip_64(path: Path, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    start = len(data) // 3  # weights and program, well away from the headers
    for i in rng.choice(np.arange(start, start + 4096), 64, replace=False):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_flipped_bytes_without_sidecar_fail_the_embedded_seal(exported, tmp_path, suffix):
    path = copy_artifact(exported, suffix, tmp_path, sidecar=False)
    assert load_predictor(str(path)).predict(np.zeros((1, 3, 80, 80), np.float32))[0].shape == (1, 68, 2)
    flip_64(path / "Data/com.apple.CoreML/weights/weight.bin" if path.is_dir() else path)
    with pytest.raises(ArtifactError, match="sha256 sealed inside it") as err:
        load_predictor(str(path))
    assert str(path) in str(err.value)


def test_seal_removed_from_an_edge_lmk_artifact_is_refused(exported, tmp_path):
    path = copy_artifact(exported, ".tflite", tmp_path, sidecar=False)
    path.write_bytes(path.read_bytes().replace(b'"integrity":"sha256:', b'"integritx":"sha256:'))
    with pytest.raises(ArtifactError, match="without its integrity seal"):
        load_predictor(str(path))


# ------------------------------------------------------------------------------------------
# row 10: reproducible exports
# ------------------------------------------------------------------------------------------

def tree_bytes(path: Path) -> dict[str, bytes]:
    return {f.relative_to(path).as_posix(): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def test_coreml_export_twice_is_byte_identical(exported, tmp_path, monkeypatch):
    """Also: coremltools' temporary packages stay beside the output and are gone afterwards."""
    first = artifact(exported, ".mlpackage")
    model, spec = REGISTRY[MODEL].load_with_spec()
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    second = coreml_export(model, spec, tmp_path / "again" / first.name, "fp32")
    assert not list(tmpdir.iterdir()), "temporaries left in $TMPDIR"
    assert sorted(p.name for p in second.parent.iterdir()) == [first.name, f"{first.name}.json"]
    assert tree_bytes(second) == tree_bytes(first)
    assert Path(f"{second}.json").read_bytes() == Path(f"{first}.json").read_bytes()
    assert not (first / DEBUG_MAPPING).exists()
    assert sorted(tree_bytes(first)) == ["Data/com.apple.CoreML/model.mlmodel",
                                         "Data/com.apple.CoreML/weights/weight.bin", "Manifest.json"]


# ------------------------------------------------------------------------------------------
# row 11: export.all killed with SIGKILL
# ------------------------------------------------------------------------------------------

@pytest.mark.slow  # a fresh interpreter that imports the exporters (~10 s CPU)
def test_sigkilled_export_leaves_a_true_manifest_and_no_temporaries_outside_out(exported, tmp_path):
    out, tmpdir = tmp_path / "out", tmp_path / "tmpdir"
    tmpdir.mkdir()
    shutil.copytree(exported, out)  # an earlier complete run: 4 valid artifacts
    before = {e["path"] for e in read_manifest(out / "manifest.json")["artifacts"]}
    proc = subprocess.Popen([sys.executable, "-m", "export.all", "--models", MODEL, "--formats", "coreml",
                             "--precisions", "fp16", "--out", str(out)], cwd=ROOT, env={**ENV, "TMPDIR": str(tmpdir)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Kill while coremltools is converting: its temporary package exists.
        while not list(out.glob(".*.tmp/tmp/*.mlpackage")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "export finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    listed = {e["path"] for e in read_manifest(out / "manifest.json")["artifacts"]}
    assert listed == before == {artifact(out, s).name for s in SUFFIXES}
    assert not list(tmpdir.glob("*.mlpackage")), "coremltools temporaries escaped into $TMPDIR"
    assert remove_stale_temps(out), "the killed run's scratch directory is beside the output"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_rerun_lists_earlier_artifacts_and_drops_a_corrupted_one(exported, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    (out / "manifest.json").unlink()  # even without the old manifest, the folder is the truth
    flip_64(artifact(out, ".tflite"))
    assert export_all.main(["--models", MODEL, "--formats", "onnx", "--precisions", "fp32", "--out", str(out)]) == 0
    rows = {e["path"]: e for e in read_manifest(out / "manifest.json")["artifacts"]}
    assert set(rows) == {artifact(out, s).name for s in (".pte", ".mlpackage", ".onnx")}
    assert rows[artifact(out, ".onnx").name]["status"] == "ok"
    assert rows[artifact(out, ".pte").name]["status"] == "unchecked"  # valid, but its parity is from another run
    assert "laplacekl_w1_16_fp32.tflite: sha256 does not match its sidecar" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# metadata bug: beta
# ------------------------------------------------------------------------------------------

def test_artifact_metadata_states_what_the_network_computes(exported, sample_test):
    """Every sidecar (and the Core ML card) records the checkpoint's beta; a network rebuilt from the
    sidecar's config reproduces the artifact's landmarks, and the registry's default beta would not."""
    from edge_lmk.data import scan_folder
    from edge_lmk.models import count_params
    from edge_lmk.models.family import architecture
    from edge_lmk.evaluation import prepare_crops

    model, spec = REGISTRY[MODEL].load_with_spec()
    assert spec.beta == model.head.beta == 10.0 != REGISTRY[MODEL].beta  # the bug: the registry says 1.0
    x = prepare_crops(scan_folder(sample_test)[:4], spec.contract).inputs
    state = model.state_dict()
    for suffix in SUFFIXES:
        path = artifact(exported, suffix)
        side = json.loads(Path(f"{path}.json").read_text())
        assert side["config"]["beta"] == 10.0
        rebuilt = spec_from_config(side["config"], side["contract"]).build().eval()
        rebuilt.load_state_dict(state)
        got = load_predictor(str(path)).predict(x)[0]
        with torch.no_grad():
            want = rebuilt(torch.from_numpy(x))[0].numpy()
        np.testing.assert_allclose(got, want, atol=1e-3, err_msg=f"{path.name}: metadata vs network")
    card = CoreMLPredictor(artifact(exported, ".mlpackage")).card
    assert card["beta"] == 10.0
    # the card carries the checkpoint's config (all but the pruning provenance) and the family's own description
    config = {k: v for k, v in json.loads(json.dumps(spec.config())).items() if k != "pruning"}
    assert {k: card[k] for k in config} == config and card["family"] == spec.family
    assert card["architecture"] == architecture(spec, count_params(model))
    wrong = spec_from_config({**spec.config(), "beta": 1.0}).build().eval()
    wrong.load_state_dict(state)
    with torch.no_grad():
        assert np.abs(wrong(torch.from_numpy(x))[0].numpy() - want).max() > 1.0  # beta matters, by pixels
