"""The one runtime table (edge_lmk.runtimes.table) is what every consumer reads: evaluation, the
exporters, the export inventory, the benchmark runners and their thread control, Android packaging."""
from __future__ import annotations

import importlib

import pytest

from edge_lmk.runtimes import load_predictor
from edge_lmk.runtimes.table import ANDROID_SUFFIXES, ARTIFACT_SUFFIXES, BY_FORMAT, BY_NAME, BY_SUFFIX, RUNTIMES


def test_rows_are_unique_and_their_predictors_exist():
    for key in ("name", "format", "suffix"):
        values = [getattr(r, key) for r in RUNTIMES]
        assert len(values) == len(set(values)), key
    for row in RUNTIMES:
        module, cls = row.predictor.split(":")
        assert hasattr(importlib.import_module(module), cls), row.predictor
        assert importlib.util.find_spec(row.imports.split(".")[0]) is not None, row.imports


def test_every_consumer_reads_the_table():
    from benchmarks import floor, runners, threads
    from export import android, inventory, targets

    # every export target's format has a runtime row, and every backend module writes that row's suffix
    for t in targets.all_targets():
        assert BY_FORMAT[t.format].suffix == t.suffix or t.variant, t.key
        assert importlib.import_module(t.module).BACKEND.suffix == t.suffix
    assert set(ARTIFACT_SUFFIXES) == {t.suffix for t in targets.TARGETS}
    assert inventory.FORMAT_OF == {s: BY_SUFFIX[s].format for s in ARTIFACT_SUFFIXES}
    assert android.MODEL_SUFFIXES == ANDROID_SUFFIXES == (".pte", ".tflite")
    assert runners.RUNTIME_BY_SUFFIX == {r.suffix: r.name for r in RUNTIMES}
    timed = {r.name for r in RUNTIMES if r.runnable_here}
    assert timed <= set(runners.OPENERS) and timed <= set(threads.THREAD_CONTROL)
    assert set(floor.EXPORTERS) <= set(BY_FORMAT)


def test_check_runnable_follows_the_platform_column():
    from benchmarks.runners import NotRunnableHere, check_runnable

    for row in RUNTIMES:
        if row.runnable_here:
            check_runnable(row.name)
        else:
            with pytest.raises(NotRunnableHere, match=row.name):
                check_runnable(row.name)
    assert BY_NAME["coreml"].platform == "darwin"


def test_unknown_suffix_is_taken_as_a_checkpoint_and_missing_artifacts_are_named(tmp_path):
    from edge_lmk.models import ModelLoadError
    from edge_lmk.runtimes import ArtifactError

    with pytest.raises(ArtifactError, match="missing.tflite: artifact not found"):
        load_predictor(str(tmp_path / "missing.tflite"))
    with pytest.raises(ModelLoadError, match="missing.xyz"):
        load_predictor(str(tmp_path / "missing.xyz"))


def test_layout_probe_table_ratios_and_unknown_model(capsys):
    """benchmarks.layout_probe: ratios are per format against the first model; an unknown name is one line, exit 2."""
    from benchmarks import layout_probe

    rows = [{"model": "a", "format": "tflite", "trained": True, "params": 10, "bytes": 100, "ms": 0.5},
            {"model": "a", "format": "pte", "trained": True, "params": 10, "bytes": 90, "ms": 1.0},
            {"model": "b", "format": "tflite", "trained": False, "params": 5, "bytes": 80, "ms": 0.6},
            {"model": "b", "format": "pte", "trained": False, "params": 5, "bytes": 70, "ms": 1.5}]
    text = layout_probe.table(rows)
    assert "| `b` | initial | 5 | tflite | 80 | 0.600 | 1.20x |  |" in text
    assert "| `b` | initial | 5 | pte | 70 | 1.500 | 1.50x | 2.50x |" in text  # .pte against b's own .tflite
    # --against rows: labelled with the folder, ratios against the first row, .pte paired with its own .tflite
    rows += [{"model": "b", "label": "b (old)", "format": "tflite", "trained": False, "params": 5, "bytes": 81,
              "ms": 0.8}, {"model": "b", "label": "b (old)", "format": "pte", "trained": False, "params": 5,
                           "bytes": 71, "ms": 1.6}]
    text = layout_probe.table(rows)
    assert "| `b` (old) | initial | 5 | tflite | 81 | 0.800 | 1.60x |  |" in text
    assert "| `b` (old) | initial | 5 | pte | 71 | 1.600 | 1.60x | 2.00x |" in text
    with pytest.raises(SystemExit) as e:
        layout_probe.main(["--models", "laplacekl_w1_8_fast", "no_such_model"])
    assert e.value.code == 2 and "no_such_model" in capsys.readouterr().err
