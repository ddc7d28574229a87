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

from dataclasses import fields

import pytest

from edge_lmk import ship, train
from edge_lmk.cli import UserError
from edge_lmk.paths import REPO_DIR
from edge_lmk.training.resume import RESUME_MAY_CHANGE, check_resume, resume_conflicts
from edge_lmk.training.config import DEFAULTS, FIELD_NAMES, TrainConfig

WIP = REPO_DIR / "training" / "wip" / "laplacekl_w1_16_t1"

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
    """--epochs/--steps (how long), --max-minutes, --threads, --device and the canvas cache's place may differ;
    a spelling of the same width is the same run."""
    assert RESUME_MAY_CHANGE == {"epochs", "steps", "max_minutes", "threads", "device", "out", "cache_dir",
                                 "no_cache"}
    cfg = train.parse_config(_argv(sample_train, run, "--epochs", "5", "--max-minutes", "3", "--threads", "2",
                                   "--device", "cpu", "--width", "0.0625"))
    train.prepare_run(cfg)  # resolves beta and compares as train.main does: no error


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


# ------------------------------------------------------------------ TrainConfig: the options train, ship and ablation share

def test_every_config_field_is_a_flag_and_every_flag_a_field():
    ap = train.build_parser()
    actions = [a for a in ap._actions if a.dest != "help"]
    assert [a.dest for a in actions] == list(FIELD_NAMES)  # same order: --help and args.json keep theirs
    assert [a.option_strings for a in actions] == [["--" + n.replace("_", "-")] for n in FIELD_NAMES]
    assert {a.dest: a.default for a in actions} == {f.name: f.default for f in fields(TrainConfig)}
    assert train.parse_config([]) == DEFAULTS and vars(train.parse_args([])) == DEFAULTS.to_json()
    # the names other code keys on are fields
    assert RESUME_MAY_CHANGE <= set(FIELD_NAMES) and set(ship.TRAIN_FLAGS) <= set(FIELD_NAMES)


def test_args_json_round_trips_through_the_config(trained):
    text = (trained / "args.json").read_text()  # written by train: the bytes it has always written
    cfg = TrainConfig.from_json(json.loads(text))
    assert json.dumps(cfg.to_json(), indent=2) == text
    assert TrainConfig.from_argv(cfg.to_argv()) == cfg and TrainConfig.from_argv(DEFAULTS.to_argv()) == DEFAULTS
    assert isinstance(cfg.data, tuple) and isinstance(cfg.to_json()["data"], list)  # immutable, JSON lists
    with pytest.raises(AttributeError):
        cfg.seed = 1
    with pytest.raises(UserError, match="--width"):
        TrainConfig.from_argv(["--width", "1/3"])


def test_older_args_json_loads_with_defaults_for_newer_fields():
    saved = json.loads((WIP / "args.json").read_text())
    assert "cache_dir" not in saved and "no_cache" not in saved  # written before the canvas cache existed
    cfg = TrainConfig.from_json(saved)
    assert cfg.cache_dir == "runs/cache" and cfg.no_cache is False
    assert cfg.to_json() == {**DEFAULTS.to_json(), **saved}
    older = TrainConfig.from_json({k: v for k, v in saved.items() if k not in ("adv_batch", "d_base", "head_hidden")})
    assert (older.adv_batch, older.d_base, older.head_hidden) == (None, 64, 0)
    assert TrainConfig.from_json({**saved, "option_of_a_newer_version": 1}) == cfg  # unknown keys are ignored


def test_wip_run_resumes_with_its_command():
    """The committed run folder continues with the command in training/wip/README.md; another seed is refused."""
    argv = ["--family", "table1", "--width", "1/16", "--loss", "laplacekl", "--beta", "10", "--data",
            "../shared/data/300w/train", "--val-data", "../shared/data/extra_udacity/val", "--extra-data",
            "../shared/data/extra_udacity/train", "--extra-weight", "0.5", "--steps", "10000", "--batch-size", "32",
            "--threads", "1", "--seed", "0", "--out", str(WIP)]
    cfg, spec, out = train.prepare_run(train.parse_config(argv))
    assert out == WIP and spec.family == "table1" and cfg.beta == 10.0
    with pytest.raises(UserError, match="--seed: 0 there, 1 now"):
        train.prepare_run(train.parse_config([*argv, "--seed", "1"]))


def test_card_command_of_the_wip_run_is_unchanged():
    """ship's training command for training/wip/laplacekl_w1_16_t1, as ship wrote it before TrainConfig."""
    import torch

    args = json.loads((WIP / "args.json").read_text())
    config = torch.load(WIP / "best.pt", map_location="cpu", weights_only=False)["config"]
    assert ship.train_command(args, config, pruned=False) == (
        "python -m edge_lmk.train --family table1 --width 1/16 --loss laplacekl --data ../shared/data/300w/train "
        "--val-data ../shared/data/extra_udacity/val --extra-data ../shared/data/extra_udacity/train "
        "--extra-weight 0.5 --steps 10000 --lr 0.001 --warmup-epochs 2.0 --ema 0.998 --beta 10.0 --batch-size 32 "
        "--weight-decay 1e-05 --dropout 0.2 --seed 0 --threads 1 --out runs/t1_w1_16")
    # a run that recorded fewer options writes only those; width and loss then come from the checkpoint
    assert ship.train_command({"epochs": 3}, {"width": "1/8", "loss": "softargmax"}, pruned=False) == (
        "python -m edge_lmk.train --width 1/8 --loss softargmax --epochs 3")
