"""Ordinary user mistakes in the command-line tools: one line on stderr naming the file or argument, exit 2.

Broken inputs are real files made in tmp_path. Most cases call the tool's ``main`` in-process
(the errors are raised before any heavy work); ``test_python_m_*`` run the real ``python -m``
commands to check the exit status and that no traceback reaches the user.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import run as bench_run
from edge_lmk import cli, evaluate, ship, train
from edge_lmk.cli import UserError, cli_main, describe, is_user_error, one_line
from edge_lmk.models.registry import ModelLoadError
from edge_lmk.paths import REPO_DIR
from edge_lmk.runtimes.base import ArtifactError
from export import all as export_all

ENV = {**os.environ, "PYTHONPATH": str(REPO_DIR)}


def _error_line(main, argv, capsys) -> str:
    """Run ``main(argv)``, expect exit status 2 and exactly one ``error:`` line on stderr; return it.

    Exit status 2 is ``SystemExit(2)`` or, for tools whose ``__main__`` does ``sys.exit(main())``, a return of 2."""
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    return lines[0]


@pytest.fixture
def a_file(tmp_path):
    """A regular file, so ``a_file/x`` is a folder that cannot be created, even for root."""
    p = tmp_path / "plain.txt"
    p.write_text("not a folder")
    return p


@pytest.fixture
def garbage_pt(tmp_path):
    p = tmp_path / "garbage.pt"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


# ---------------------------------------------------------------------------------------- evaluate

def test_evaluate_unknown_model_name(capsys, sample_test):
    line = _error_line(evaluate.main, ["--model", "laplacekl_w1_3", "--data", str(sample_test)], capsys)
    assert "laplacekl_w1_3: not a registry name or checkpoint file" in line and "laplacekl_w1_16" in line


def test_evaluate_missing_and_corrupt_checkpoints(capsys, tmp_path, garbage_pt, sample_test):
    missing = tmp_path / "missing.pt"
    assert f"{missing}: checkpoint not found" in _error_line(evaluate.main, ["--model", str(missing)], capsys)
    line = _error_line(evaluate.main, ["--model", str(garbage_pt), "--data", str(sample_test)], capsys)
    assert f"{garbage_pt}: not a readable checkpoint" in line


def test_evaluate_missing_data_folder(capsys, tmp_path):
    line = _error_line(evaluate.main, ["--model", "laplacekl_w1_16", "--data", str(tmp_path / "nodata")], capsys)
    assert str(tmp_path / "nodata") in line


def test_evaluate_outputs_are_checked_before_evaluating(capsys, tmp_path, a_file):
    line = _error_line(evaluate.main, ["--model", "laplacekl_w1_16", "--json", str(a_file / "res.json")], capsys)
    assert line.startswith(f"error: --json {a_file / 'res.json'}: ") and "not a folder" in line
    line = _error_line(evaluate.main, ["--model", "laplacekl_w1_16", "--ced", str(tmp_path)], capsys)
    assert line.startswith(f"error: --ced {tmp_path}: is a folder")


def test_evaluate_missing_required_argument(capsys):
    line = _error_line(evaluate.main, [], capsys)
    assert "--model" in line and "--help" in line


# ------------------------------------------------------------------------------------------- train

@pytest.mark.parametrize("argv, expect", [
    (["--width", "1/3"], "argument --width: '1/3': not a width of the ladder (1/16, 1/8, 1/4, 1/2, 1)"),
    (["--width", "abc"], "argument --width: 'abc': not a width"),
    (["--epochs", "0"], "argument --epochs: '0': must be an integer >= 1"),
    (["--batch-size", "x"], "argument --batch-size: invalid positive_int value: 'x'"),
    (["--val-fraction", "1.5"], "argument --val-fraction: '1.5': must be in [0, 1)"),
    (["--lr", "nan"], "argument --lr: 'nan': must be a finite number > 0"),
    (["--loss", "l2"], "argument --loss: invalid choice: 'l2'"),
])
def test_train_bad_argument_values(capsys, tmp_path, argv, expect):
    assert expect in _error_line(train.main, [*argv, "--out", str(tmp_path / "run")], capsys)
    assert not (tmp_path / "run").exists()


def test_train_missing_inputs_and_unwritable_out(capsys, tmp_path, a_file, sample_train):
    missing = tmp_path / "missing.pt"
    line = _error_line(train.main, ["--init-from", str(missing), "--out", str(tmp_path / "run")], capsys)
    assert f"{missing}: checkpoint not found" in line
    line = _error_line(train.main, ["--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "run")], capsys)
    assert str(tmp_path / "nodata") in line
    line = _error_line(train.main, ["--data", str(sample_train), "--out", str(a_file)], capsys)
    assert line == f"error: --out {a_file}: {a_file} exists and is not a folder"
    line = _error_line(train.main, ["--data", str(sample_train), "--out", str(a_file / "run")], capsys)
    assert line.startswith(f"error: --out {a_file / 'run'}: cannot write in")


# -------------------------------------------------------------------------------------------- ship

def test_ship_missing_and_corrupt_runs(capsys, tmp_path, garbage_pt):
    line = _error_line(ship.main, ["--run", str(tmp_path / "norun"), "--no-eval"], capsys)
    assert line == f"error: --run {tmp_path / 'norun'}: no best.pt there (not a finished training run folder)"
    run = tmp_path / "run"
    run.mkdir()
    garbage_pt.rename(run / "best.pt")
    assert f"{run / 'best.pt'}: not a readable checkpoint" in _error_line(ship.main, ["--run", str(run)], capsys)


# ------------------------------------------------------------------------------ export.all, benchmarks.run

def test_export_all_user_errors(capsys, tmp_path, a_file):
    line = _error_line(export_all.main, ["--models", "nosuch", "--out", str(tmp_path / "a")], capsys)
    assert "not shipped models: nosuch" in line
    line = _error_line(export_all.main, ["--models", "laplacekl_w1_16", "--precisions", "fp99",
                                         "--out", str(tmp_path / "a")], capsys)
    assert "unknown precision(s) fp99" in line
    assert "argument --formats" in _error_line(export_all.main, ["--formats", "caffe"], capsys)
    line = _error_line(export_all.main, ["--models", "laplacekl_w1_16", "--out", str(a_file)], capsys)
    assert line.startswith(f"error: --out {a_file}:")
    line = _error_line(export_all.main, ["--models", "laplacekl_w1_16", "--out", str(tmp_path / "b"),
                                         "--data", str(tmp_path / "nodata")], capsys)
    assert str(tmp_path / "nodata") in line
    assert not (tmp_path / "a").exists()


def test_benchmarks_run_user_errors(capsys, tmp_path, a_file):
    arts = ["--artifacts", str(tmp_path / "noart")]
    line = _error_line(bench_run.main, [*arts, "--out", str(tmp_path / "o")], capsys)
    assert f"no export manifest at {tmp_path / 'noart' / 'manifest.json'}" in line
    assert "argument --threads" in _error_line(bench_run.main, ["--threads", "0"], capsys)
    line = _error_line(bench_run.main, ["--models", "nosuch", "--out", str(tmp_path / "o")], capsys)
    assert "not shipped models: nosuch" in line
    line = _error_line(bench_run.main, ["--models", "laplacekl_w1_16", "--quick", "--out", str(a_file / "o")], capsys)
    assert line.startswith(f"error: --out {a_file / 'o'}: cannot write in")


# ------------------------------------------------------------------------------------ real processes

@pytest.mark.parametrize("module, argv", [
    ("edge_lmk.evaluate", ["--model", "nosuch"]),
    ("edge_lmk.train", ["--width", "1/3"]),
])
def test_python_m_exits_2_with_one_line(tmp_path, module, argv):
    proc = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, cwd=tmp_path,
                          env=ENV, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr


# ---------------------------------------------------------------------------------------- the helper

def test_what_counts_as_a_user_error():
    assert is_user_error(ModelLoadError("m.pt: checkpoint not found"))
    assert is_user_error(ArtifactError("a.pte: not an ExecuTorch program"))
    assert is_user_error(UserError("--out x: ..."))
    assert is_user_error(PermissionError(13, "Permission denied", "/x"))
    assert not is_user_error(ValueError("operands could not be broadcast"))  # a bug elsewhere: keep the traceback
    assert not is_user_error(KeyError("width"))
    assert describe(FileNotFoundError(2, "No such file or directory", "/a/b")) == "/a/b: No such file or directory"
    assert one_line("weights do not match\n  size mismatch for a\n\tb") == "weights do not match size mismatch for a b"
    assert len(one_line("x" * 10_000)) == cli.MAX_MESSAGE


def test_bugs_keep_their_traceback_and_debugging_keeps_all(monkeypatch, capsys):
    @cli_main
    def buggy(argv=None):
        raise ValueError("operands could not be broadcast")

    @cli_main
    def mistaken(argv=None):
        raise ModelLoadError("m.pt: checkpoint not found")

    with pytest.raises(ValueError):
        buggy([])
    assert _error_line(mistaken, [], capsys) == "error: m.pt: checkpoint not found"
    monkeypatch.setenv("EDGE_LMK_TRACEBACK", "1")
    with pytest.raises(ModelLoadError):
        mistaken([])
