import json
import os
import shutil
import subprocess
import sys
from argparse import Namespace

import pytest
import torch

from edge_lmk import ablation
from edge_lmk.models import REGISTRY, load_checkpoint
from edge_lmk.paths import REPO_DIR

ENV = {**os.environ, "PYTHONPATH": str(REPO_DIR), "OMP_NUM_THREADS": "1"}
HEADER = ("| width | loss | D | start NME | **common NME** | +D vs sup. | AUC@8 | FR@8 | spread (px) | val NME | "
          "epochs | s/epoch | cell wall | paper full NME |")


def _tiny(tmp_path, sample_train, sample_test):
    test = tmp_path / "test"  # 8 real faces keep the three evaluations fast
    test.mkdir()
    for jpg in sorted(sample_test.rglob("*.jpg"))[:8]:
        shutil.copy(jpg, test / jpg.name)
        shutil.copy(jpg.with_suffix(".pts"), test / jpg.with_suffix(".pts").name)
    return ["--widths", "1/16", "--losses", "laplacekl", "--epochs", "1", "--out", str(tmp_path / "abl"), "--data",
            str(sample_train), "--val-fraction", "0.2", "--limit-train", "8", "--batch-size", "8", "--test", str(test),
            "--unlabeled", str(test), "--num-unlabeled", "8", "--d-base", "8", "--adv-batch", "4"]


def test_ablation_cli_tiny_grid_writes_table_and_resumes(tmp_path, sample_train, sample_test, capsys):
    argv = _tiny(tmp_path, sample_train, sample_test)
    subprocess.run([sys.executable, "-m", "edge_lmk.ablation", *argv], check=True, capture_output=True, text=True,
                   cwd=tmp_path, env=ENV)
    out = tmp_path / "abl"
    md = (out / "ablation.md").read_text()
    assert HEADER in md
    rows = [l for l in md.splitlines() if l.startswith("| 1/16 | laplacekl |")]
    assert len(rows) == 3  # supervised and +D cells, then the gain row
    assert rows[0].split("|")[3].strip() == "-" and rows[1].split("|")[3].strip() == "+D"
    assert rows[2].split("|")[4].strip() == "+5.0%"  # the paper's relative gain at 1/16
    assert "7.38" in rows[0] and "7.01" in rows[1]  # the paper's Table 3 beside ours
    assert "1677 of the standard 3148" in md and "0.82 x full" in md and "fine-tuned from the shipped" in md
    data = json.loads((out / "ablation.json").read_text())
    assert [c["status"] for c in data["cells"]] == ["done", "done"]
    for c in data["cells"]:
        assert c["test"]["n"] == 8 and c["test"]["nme"] > 0 and 0 < c["test"]["spread"] < 40
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the +D cell is a LaplaceKL+D model with its discriminator settings recorded
    _, spec, payload = load_checkpoint(out / "laplacekl_d_w1_16" / "best.pt")
    assert spec.name == "laplacekl_d_w1_16" and spec.adversarial and spec.beta == 10.0
    assert payload["train_args"]["d_base"] == 8 and payload["train_args"]["adv_batch"] == 4
    assert json.loads((out / "laplacekl_d_w1_16" / "args.json").read_text())["d_base"] == 8
    from edge_lmk.ship import build_card, card_markdown

    ck = torch.load(out / "laplacekl_d_w1_16" / "best.pt", weights_only=False)
    card = build_card("laplacekl_d_w1_16", ck, None, out / "laplacekl_d_w1_16" / "best.pt", out / "laplacekl_d_w1_16")
    assert card["adversarial"]["d_base"] == 8 and card["paper"]["nme_full"] == 7.01
    assert "--d-base 8" in card["training"]["command"] and "--init-from" in card["training"]["command"]
    assert "(+D)" in card_markdown(card)
    # finished cells are skipped on a re-run
    threads = torch.get_num_threads()
    try:
        ablation.main(argv)
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out.count("skipped") == 2


def _fake(nme, spread):
    return {"test": {"nme": nme, "auc8": 0.3, "fr8": 0.1, "n": 554, "spread": spread, "subsets": {}},
            "val_nme": nme, "epochs": 6, "best_epoch": 6, "seconds_per_epoch": 40.0, "wall_seconds": 300.0,
            "train_seconds": 240.0, "train_argv": [], "name": "x", "width": "", "loss": "", "adversarial": False}


def test_report_rows_gains_and_missing_cells():
    args = ablation.parse_args(["--widths", "1/16", "1/8"])
    results = {("1/16", "softargmax", False, 0): _fake(11.0, 2.0), ("1/16", "softargmax", True, 0): _fake(10.9, 1.9),
               ("1/16", "laplacekl", False, 0): _fake(10.0, 1.5), ("1/16", "laplacekl", True, 0): _fake(9.4, 1.2),
               ("1/8", "laplacekl", False, 0): _fake(5.5, 1.1), ("1/8", "softargmax", True, 0): _fake(6.0, 2.1)}
    md, data = ablation.build_report(args, results, {}, "test_common")
    table = [l for l in md.splitlines() if l.startswith("| 1/")]
    assert len(table) == 8 + 4  # 8 cells, then the 4 (width, loss) gain rows
    assert [l.split("|")[2].strip() for l in table[:8]] == ["softargmax", "softargmax", "laplacekl", "laplacekl"] * 2
    assert "n/a" in table[1]  # paper softargmax+D not known
    assert "-6.0%" not in md and "+6.0%" in table[3]  # (10.0 - 9.4) / 10.0
    gains = {(g["width"], g["loss"]): g for g in data["gains"]}
    assert gains[("1/16", "laplacekl")]["met"] is True  # 6.0% >= paper's 5.0%
    assert gains[("1/16", "softargmax")]["met"] is None  # no paper number
    assert gains[("1/8", "laplacekl")]["gain"] is None
    assert gains[("1/8", "softargmax")]["gain"] is None and "- -> 2.10" in md  # +D done, its control not yet
    assert sum(c["status"] == "missing" for c in data["cells"]) == 2
    assert "not run" in table[4] and "not run" in table[7]
    assert "± " not in md and "(n=" not in md and "per seed" not in md  # one seed: the single-seed report
    assert "seed 0)" in md and "--seed" not in md
    assert gains[("1/16", "laplacekl")]["per_seed"] == {"0": pytest.approx(0.06)}
    assert gains[("1/16", "laplacekl")]["pairs"] == 1 and all(c["seed"] == 0 for c in data["cells"])


def test_report_several_seeds_means_and_paired_gains(tmp_path):
    args = ablation.parse_args(["--widths", "1/16", "1/8", "--losses", "laplacekl", "--seeds", "0", "1", "2"])
    results = {("1/16", "laplacekl", False, 0): _fake(10.0, 1.0), ("1/16", "laplacekl", True, 0): _fake(9.0, 1.0),
               ("1/16", "laplacekl", False, 1): _fake(12.0, 2.0), ("1/16", "laplacekl", True, 1): _fake(12.0, 1.5),
               ("1/16", "laplacekl", False, 2): _fake(11.0, 3.0),  # seed 2: +D not finished, no pair
               ("1/8", "laplacekl", False, 1): _fake(6.0, 1.0)}
    md, data = ablation.build_report(args, results, {}, "test_common")
    sup, d, sup8, d8 = [l for l in md.splitlines() if l.startswith(("| 1/16 | laplacekl | ", "| 1/8 | laplacekl | "))
                        ][:4]
    assert "| **11.00** ± 1.00 (n=3) |" in sup and "| 11.00 |" in sup and "| 2.00 |" in sup  # means, sample std
    assert "| **10.50** ± 2.12 (n=2) |" in d and "| 1.25 |" in d
    # +D vs sup.: the mean of the paired gains (10% and 0%), not the gain of the means ((11 - 10.5) / 11 = 4.5%)
    assert d.split("|")[6].strip() == "+5.0%" and "4.5%" not in md
    assert "| **6.00** (n=1) |" in sup8 and "*not run*" in d8
    g = {(g["width"], g["loss"]): g for g in data["gains"]}[("1/16", "laplacekl")]
    assert g["gain"] == pytest.approx(0.05) and g["pairs"] == 2
    assert g["per_seed"] == {"0": pytest.approx(0.1), "1": pytest.approx(0.0)}
    assert g["met"] is False  # 5.0% < the paper's (7.38 - 7.01) / 7.38 = 5.01%
    assert g["spread_sup"] == pytest.approx(2.0) and g["spread_d"] == pytest.approx(1.25)
    row = next(l for l in md.splitlines() if l.startswith("| 1/16 | laplacekl | +5.0% |"))
    assert row.endswith("| **no** | 2.00 -> 1.25 | s0 +10.0%, s1 +0.0% | 2 |")
    assert "| 1/16 | laplacekl | 2 | 11.00 | - | - |" in md and "| 1/16 | laplacekl | 0 | 10.00 | 9.00 | +10.0% |" in md
    assert "seeds 0, 1, 2" in md and "--seeds 0 1 2`" in md
    assert [(c["width"], c["adversarial"], c["seed"]) for c in data["cells"] if c["status"] == "done"] == [
        ("1/16", False, 0), ("1/16", False, 1), ("1/16", False, 2), ("1/16", True, 0), ("1/16", True, 1),
        ("1/8", False, 1)]
    assert len(data["cells"]) == 12
    ablation.plot(data, tmp_path / "a.png", args.widths)  # bars at the means, seeds as dots
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_train_argv_protocols():
    args = ablation.parse_args(["--unlabeled", "u"])  # explicit: a clean clone may have no shared data folder
    ft = ablation.train_argv(args, "1/8", "laplacekl", True, "o", 0)
    assert ft[ft.index("--init-from") + 1].endswith("laplacekl_w1_8.pt")
    assert ft[ft.index("--ema") + 1] == "0.99" and ft[ft.index("--warmup-epochs") + 1] == "0.3"
    assert ft[ft.index("--d-base") + 1] == "16" and "--unlabeled" in ft
    sup = ablation.train_argv(args, "1/8", "laplacekl", False, "o", 0)
    assert "--unlabeled" not in sup and sup == ft[:len(sup)]  # same schedule with and without D
    scratch = ablation.train_argv(ablation.parse_args(["--from-scratch"]), "1/8", "laplacekl", False, "o", 0)
    assert "--init-from" not in scratch and "--ema" not in scratch


def test_seeds_cell_folders_and_train_argv(tmp_path, capsys):
    args = ablation.parse_args(["--widths", "1/16", "--losses", "laplacekl", "--seeds", "0", "1", "--from-scratch",
                                "--beta", "10", "--unlabeled", "u", "--d-base", "64", "--out", str(tmp_path)])
    # seed 0: the folder and argv of the single-seed ablation (finished result.json files compare train_argv)
    assert ablation.cell_dir_name("laplacekl", "1/16", True, 0) == "laplacekl_d_w1_16"
    assert ablation.train_argv(args, "1/16", "laplacekl", True, tmp_path / "laplacekl_d_w1_16", 0) == [
        "--width", "1/16", "--loss", "laplacekl", "--epochs", "6", "--seed", "0", "--batch-size", "32", "--threads",
        "1", "--out", str(tmp_path / "laplacekl_d_w1_16"), "--beta", "10", "--unlabeled", "u", "--num-unlabeled",
        "2000", "--d-base", "64", "--adv-batch", "8"]
    assert ablation.cell_dir_name("laplacekl", "1/16", False, 1) == "laplacekl_w1_16_s1"
    s1 = ablation.train_argv(args, "1/16", "laplacekl", False, tmp_path / "laplacekl_w1_16_s1", 1)
    assert s1[s1.index("--seed") + 1] == "1" and s1[s1.index("--out") + 1] == str(tmp_path / "laplacekl_w1_16_s1")
    assert ablation.run_order(args) == [("1/16", "laplacekl", True, 0), ("1/16", "laplacekl", False, 0),
                                        ("1/16", "laplacekl", True, 1), ("1/16", "laplacekl", False, 1)]
    # a finished seed-1 cell is found and skipped under its own key; seed 0's cell is not touched
    cell = tmp_path / "laplacekl_w1_16_s1"
    cell.mkdir()
    (cell / "result.json").write_text(json.dumps(_fake(11.0, 2.0) | {"train_argv": s1}))
    assert list(ablation.finished_results(args, tmp_path)) == [("1/16", "laplacekl", False, 1)]
    assert ablation.run_cell(args, "1/16", "laplacekl", False, 1, tmp_path, "t")["test"]["nme"] == 11.0
    assert "laplacekl_w1_16_s1: done" in capsys.readouterr().out and not (tmp_path / "laplacekl_w1_16").exists()
    assert ablation.reproduce_argv(args)[-4:] == ["--seeds", "0", "1", "--from-scratch"]
    bs = ablation.reproduce_argv(ablation.parse_args(["--batch-size", "16"]))
    assert "--batch-size" in bs and "--seeds" not in bs and "--seed" not in bs
    with pytest.raises(SystemExit):
        ablation.parse_args(["--seeds", "1", "1"])


def test_no_train_leaves_unfinished_cells_out(tmp_path, capsys):
    """--no-train publishes what is trained: a half-trained cell is left out and nothing is started."""
    args = ablation.parse_args(["--widths", "1/16", "--losses", "laplacekl", "--seeds", "0", "1", "--from-scratch",
                                "--beta", "10", "--epochs", "60", "--no-train", "--unlabeled", "u", "--out", str(tmp_path)])
    cell = tmp_path / "laplacekl_d_w1_16_s1"
    cell.mkdir()
    (cell / "log.json").write_text(json.dumps([{"epoch": e} for e in range(1, 18)]))
    assert ablation.run_cell(args, "1/16", "laplacekl", True, 1, tmp_path, "t") == "untrained"
    assert "laplacekl_d_w1_16_s1: 17/60 epochs trained, left out (--no-train)" in capsys.readouterr().out
    assert ablation.run_cell(args, "1/16", "laplacekl", False, 1, tmp_path, "t") == "untrained"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["laplacekl_d_w1_16_s1"]  # no lock, no run folder
    assert "--no-train" not in ablation.reproduce_argv(args)


def test_registry_has_adversarial_variants():
    s = REGISTRY["laplacekl_d_w1_16"]
    assert s.adversarial and s.loss == "laplacekl" and s.label == "laplacekl+D"
    assert s.config()["adversarial"] is True and "adversarial" not in REGISTRY["laplacekl_w1_16"].config()
    with pytest.raises(KeyError):
        REGISTRY["gaussiankl_d_w1_16"]


def test_cell_config_is_what_train_parses_from_the_recorded_argv():
    from edge_lmk.training.config import TrainConfig

    for argv in (["--unlabeled", "u", "--data", "a", "b", "--lr", "0.0005", "--adv-weight", "0.01"],
                 ["--from-scratch", "--beta", "10", "--unlabeled", "u", "--val-fraction", "0.2", "--limit-train", "8"]):
        args = ablation.parse_args(argv)
        for adv in (False, True):
            cfg = ablation.cell_config(args, "1/8", "laplacekl", adv, "o", 1)
            assert TrainConfig.from_argv(ablation.train_argv(args, "1/8", "laplacekl", adv, "o", 1)) == cfg
            assert cfg.seed == 1 and cfg.out == "o" and (cfg.unlabeled == "u") == adv
    assert cfg.ema == 0.998 and cfg.beta == 10.0 and cfg.data is None  # from scratch: train's default schedule


def test_finished_cell_compares_the_options_not_their_spelling():
    """A result.json recorded with another spelling of the same options (older floats, another order) is the
    same cell; another value is not."""
    args = ablation.parse_args(["--unlabeled", "u", "--lr", "1", "--val-fraction", "0"])
    argv = ablation.train_argv(args, "1/16", "laplacekl", False, "o", 0)
    older = list(argv)  # how the ablation wrote these floats before
    for flag, was in (("--lr", "1.0"), ("--val-fraction", "0.0")):
        older[older.index(flag) + 1] = was
    assert older != argv and ablation.same_training(older, argv)
    assert ablation.same_training(argv[2:] + argv[:2], argv)
    assert not ablation.same_training([*argv, "--seed", "1"], argv)
    assert not ablation.same_training(["--no-such-flag"], argv) and not ablation.same_training([], argv)
