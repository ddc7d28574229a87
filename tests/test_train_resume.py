"""Resuming `train` into an existing --out: the same run continues, another run is refused by name.

One real 1-epoch training run on the bundled sample (8 faces, 1/16 width) makes the run folder;
each check then runs `train.main` on it (refusals return before any data is read, so they
cost only argument parsing and one checkpoint read).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from edge_lmk import train
from edge_lmk.cli import UserError
from edge_lmk.paths import REPO_DIR
from edge_lmk.resume import RESUME_MAY_CHANGE, check_resume, resume_conflicts

ENV = {**os.environ, "PYTHONPATH": str(REPO_DIR)}


def _argv(sample_train, out, *extra):
    return ["--width", "1/16", "--data", str(sample_train), "--val-fraction", "0.2", "--limit-train", "8",
            "--epochs", "1", "--batch-size", "8", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_train):
    root = tmp_path_factory.mktemp("resume")
    cmd = [sys.executable, "-m", "edge_lmk.train", *_argv(sample_train, root / "run", "--threads", "1")]
    subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root, env=ENV)
    assert (root / "run" / "last.pt").is_file()
    return root / "run"


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run folder (tests may edit it)."""
    return shutil.copytree(trained, tmp_path / "run")


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        train.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("extra, flag, there, now", [
    (["--loss", "softargmax"], "--loss", "'laplacekl'", "'softargmax'"),
    (["--width", "1/8"], "--width", "'1/16'", "'1/8'"),
    (["--head-hidden", "16"], "--head-hidden", "0", "16"),
    (["--beta", "10"], "--beta", "1.0", "10.0"),
    (["--seed", "3"], "--seed", "0", "3"),
])
def test_resume_with_other_arguments_is_refused(run, sample_train, capsys, extra, flag, there, now):
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    err = _refused(_argv(sample_train, run, *extra), capsys)
    assert err.startswith(f"error: {run}: holds a run with other arguments")
    assert f"{flag}: {there} there, {now} now" in err
    assert "--epochs" in err  # says what may change
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing touched


def test_resume_with_other_data_is_refused(run, sample_train, sample_test, capsys):
    argv = _argv(sample_train, run)
    argv[argv.index(str(sample_train))] = str(sample_test)
    err = _refused(argv, capsys)
    assert "--data:" in err and str(sample_test) in err


def test_architecture_is_checked_against_the_checkpoint_without_args_json(run, sample_train, capsys):
    (run / "args.json").unlink()
    err = _refused(_argv(sample_train, run, "--width", "1/8"), capsys)
    assert f"{run}: holds a model of another architecture" in err and "width: '1/16' there, '1/8' now" in err


def test_unreadable_args_json_is_named(run, sample_train, capsys):
    (run / "args.json").write_text('{"width": "1/1')
    err = _refused(_argv(sample_train, run), capsys)
    assert f"{run / 'args.json'}: unreadable" in err


def test_truncated_checkpoint_is_named(run, sample_train, capsys):
    (run / "last.pt").write_bytes((run / "last.pt").read_bytes()[:1000])
    err = _refused(_argv(sample_train, run), capsys)
    assert f"{run / 'last.pt'}: not a readable training checkpoint" in err


def test_operational_arguments_may_change(run, sample_train):
    """--epochs, --max-minutes, --threads, --device may differ; a spelling of the same width is the same run."""
    assert RESUME_MAY_CHANGE == {"epochs", "max_minutes", "threads", "device", "out"}
    args = train.parse_args(_argv(sample_train, run, "--epochs", "5", "--max-minutes", "3", "--threads", "2",
                                  "--device", "cpu", "--width", "0.0625"))
    spec = train.make_spec(args)
    args.beta = spec.beta  # as train.main does before comparing
    check_resume(run, vars(args), vars(train.parse_args([])), spec.config())  # no error


def test_older_args_json_without_a_new_option_compares_with_its_default():
    defaults = vars(train.parse_args([]))
    saved = {k: v for k, v in defaults.items() if k != "adv_batch"}
    assert resume_conflicts(saved, defaults, defaults) == {}
    assert resume_conflicts(saved, {**defaults, "adv_batch": 4}, defaults) == {"adv_batch": (None, 4)}


def test_fresh_folder_needs_no_check(tmp_path):
    check_resume(tmp_path / "new", {}, {}, {})  # no last.pt: nothing to continue
    with pytest.raises(UserError):
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / "last.pt").write_bytes(b"not a checkpoint")
        check_resume(tmp_path / "old", {}, {}, {})


def test_args_json_records_the_run(trained, sample_train):
    saved = json.loads((trained / "args.json").read_text())
    assert saved["width"] == "1/16" and saved["loss"] == "laplacekl" and saved["beta"] == 1.0
