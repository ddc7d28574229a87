"""The Android demo's pure Kotlin core: its JVM tests run as part of the suite.

android_demo/core/run_tests.sh compiles the core and its tests with the pinned Kotlin
compiler (installed from npm on first use, then cached) and replays the committed golden
vectors; here we run it and check both its verdict and the benchmark JSON it writes.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "android_demo" / "core" / "run_tests.sh"


@pytest.mark.skipif(shutil.which("java") is None, reason="java not installed: the Kotlin core tests need a JDK 17+")
def test_kotlin_core_tests_pass(tmp_path):
    report = tmp_path / "bench_sample.json"
    # first run compiles (~30-60 s on 2 cores, longer on a loaded machine); later runs are cached
    proc = subprocess.run(["bash", str(SCRIPT), str(report)], capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert m, f"no summary line from run_tests.sh (exit {proc.returncode}):\n{out[-4000:]}"
    passed, failed = int(m.group(1)), int(m.group(2))
    assert failed == 0 and proc.returncode == 0, out[-4000:]
    assert passed >= 35, out[-4000:]
    # the golden comparisons really ran and agreed to the stated tolerances
    assert "landmarks in photo px" in proc.stdout and "pre-shrunk synthetic crops" in proc.stdout

    bench = json.loads(report.read_text())
    assert bench["schema"] == "edge-lmk-device-bench/1"
    assert set(bench["device"]) == {"name", "model", "soc", "android"}
    r = bench["results"][0]
    assert set(r) == {"model", "format", "precision", "backend", "threads", "load_ms", "latency_ms", "nme", "n"}
    assert set(r["latency_ms"]) == {"median", "p90", "runs"}
    assert r["latency_ms"]["median"] == 0.82 and r["n"] == 64
