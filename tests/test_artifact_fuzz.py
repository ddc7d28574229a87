"""Property-based tests (hypothesis) of the artifact readers and loaders.

Contract parsing, the sidecar and manifest readers run in-process (pure Python). Every artifact
loader (.pte, .tflite, .onnx, .mlpackage) runs on arbitrary and mutated bytes of a real export of
``laplacekl_w1_16`` in one subprocess (``artifact_fuzz_worker.py``), so a native crash is a failed
test with the input that caused it, not a dead test run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_lmk.contract import DEFAULT_CONTRACT, ContractError, PreprocessContract
from edge_lmk.runtimes import ArtifactError
from edge_lmk.runtimes.artifact_meta import parse_sidecar
from export.inventory import ManifestError, read_manifest

SUFFIXES = (".pte", ".tflite", ".onnx", ".mlpackage")
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
EXAMPLES_PER_LOADER = 25


# ------------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=8)
FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@FAST
@given(edits=st.dictionaries(st.sampled_from(sorted(DEFAULT_CONTRACT.to_dict())), json_values, max_size=3))
def test_contract_parsing_accepts_valid_or_raises_contract_error(edits):
    raw = {**DEFAULT_CONTRACT.to_dict(), **edits}
    try:
        c = PreprocessContract.from_dict(raw)
    except ContractError:
        return
    assert PreprocessContract.from_dict(c.to_dict()) == c  # round trip
    assert 0 < c.pixel_scale <= 1 and 1 <= c.crop_scale <= 4 and isinstance(c.input_size, int)


@FAST
@given(data=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_sidecar_reader_on_arbitrary_bytes(tmp_path_factory, data):
    side = tmp_path_factory.mktemp("side") / "x.pte.json"
    side.write_bytes(data)
    try:
        meta = parse_sidecar(side, side.read_bytes())
    except ArtifactError as e:
        assert str(side) in str(e)
        return
    PreprocessContract.from_dict(meta["contract"])


@FAST
@given(data=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_manifest_reader_on_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    path.write_bytes(data)
    try:
        assert isinstance(read_manifest(path)["artifacts"], list)
    except ManifestError as e:
        assert str(path) in str(e)


def test_every_loader_on_arbitrary_and_mutated_bytes(small_export, tmp_path):
    """hypothesis in one subprocess (``artifact_fuzz_worker.py``): truncation, flipped bytes, random bytes,
    gzip and arbitrary bytes of each real artifact, with and without its sidecar."""
    res = subprocess.run([sys.executable, str(ROOT / "tests/artifact_fuzz_worker.py"), str(small_export),
                          str(tmp_path), str(EXAMPLES_PER_LOADER)], capture_output=True, text=True, env=ENV, timeout=300, cwd=ROOT)
    cases = [line for line in res.stdout.splitlines() if line.startswith("CASE")]
    assert res.returncode == 0, (f"rc {res.returncode} (negative: killed by signal {-res.returncode}); last input: "
                                 f"{cases[-1] if cases else '-'}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    summary = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("SUMMARY"))[8:])
    assert sorted(summary) == sorted(SUFFIXES)
    assert all(s["refused"] + s["loaded"] >= EXAMPLES_PER_LOADER and s["refused"] > 0 for s in summary.values()), summary
