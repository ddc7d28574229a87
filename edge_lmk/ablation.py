"""The paper's ablation (Table 3): {softargmax, LaplaceKL} x {supervised, +D} x widths on 300-W common.

    python -m edge_lmk.ablation [--widths 1/16 1/8] [--losses softargmax laplacekl] [--epochs E]
                                [--seeds 0 [1 ...]] [--out runs/ablation] [--threads 1] [--from-scratch]

Protocol (default, for CPUs): every cell *fine-tunes* the shipped supervised checkpoint of its
(loss, width) (``edge_lmk/weights/LOSS_wW.pt``) for the same E epochs, with and without the
discriminator, with the same seed, labelled batches, augmentation and schedule (``--ema 0.99
--warmup-epochs 0.3``), so the "supervised" cell is the matched-compute control of the "+D" cell.
``--from-scratch`` trains every cell from random weights with train's default schedule instead
(the paper's protocol; needs a GPU for useful E).

Workers: several invocations of the same command may share OUT (a lock per cell); each trains
the cells nobody else is training, then waits for the rest.

Seeds: every seed of ``--seeds`` trains its own supervised and +D pair; training is fully seeded
(same seed = same initial weights and labelled batches), so the two cells of a seed are a matched
pair. The table shows, per (width, loss, D), the mean over the finished seeds (common NME as
mean +- sample std (n) when more than one seed finished), and '+D vs sup.' is the mean over seeds
of the per-seed relative gain of +D over its supervised cell.

Each cell (width, loss, D, seed) is a ``python -m edge_lmk.train`` run in ``OUT/NAME`` for seed 0
and in ``OUT/NAME_sS`` for seed S > 0 (NAME = ``LOSS_wW`` or ``LOSS_d_wW``), evaluated (best
checkpoint on the validation split) on the test folder (default: the 554-face 300-W common set).
Cells run seed by seed (all of seed 0's cells first). Resumable: a finished cell
(``OUT/NAME[_sS]/result.json``) is skipped, an interrupted one resumes through train's own resume.
``--no-train`` trains nothing: finished cells are evaluated, unfinished ones are left out of the
table (to publish a grid while some cells still train). Writes ``OUT/ablation.md`` (Markdown table with the paper's numbers beside ours), ``OUT/ablation.json``
and ``OUT/ablation.png`` after every cell.

Mean heatmap spread: the mean over test faces, the 68 landmarks and the two axes of the Laplace
scale E|x - mu| of the predicted heatmap's marginals, in 80x80 heatmap (= input crop) pixels,
i.e. the mean of the model's ``scale`` output; lower = sharper, more confident heatmaps.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

from .cli import UserError
from .files import atomic_write_bytes, save_figure
from .models.registry import WEIGHTS_DIR, load_checkpoint, model_name
from .paths import REPO_DIR, default_test_dir, shared_data_dir
from .training.config import TrainConfig

# Robinson et al., ICCV 2019, Table 3: NME on the 300-W full set, all 3148 training faces.
# softargmax+D is not listed: we could not find the paper's numbers for it (see ablation.md).
PAPER_FULL = {
    ("softargmax", False): {"1/16": 9.79, "1/8": 6.86, "1/4": 4.83, "1/2": 4.35, "1": 4.25},
    ("laplacekl", False): {"1/16": 7.38, "1/8": 5.09, "1/4": 4.39, "1/2": 4.04, "1": 4.01},
    ("laplacekl", True): {"1/16": 7.01, "1/8": 4.85},
}
PAPER_SPREAD = {("softargmax", True): 2.59, ("laplacekl", True): 1.02}  # mean heatmap spread, px (paper's text)
COMMON_TO_FULL = 0.82  # 300-W: common NME is about 0.82 x full NME for these models
DATA_NOTE = ("Our models see only the 1677 of the standard 3148 300-W training faces that are available here "
             "(HELEN 872 + LFPW 805; 10% held out for validation) and are tested on the 300-W **common** set "
             "(554 faces); the paper trained on all 3148 and reports the **full** set (common + iBUG). For "
             f"these models common is about {COMMON_TO_FULL} x full, so the paper's full-set numbers are upper "
             "bounds of what it would report on common.")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.ablation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", nargs="+", default=["1/16", "1/8"])
    ap.add_argument("--losses", nargs="+", default=["softargmax", "laplacekl"], choices=["softargmax", "laplacekl"])
    ap.add_argument("--epochs", type=int, default=6, help="epochs per cell (the same for every cell)")
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--from-scratch", action="store_true",
                    help="train every cell from random weights (default: fine-tune the shipped supervised checkpoint)")
    ap.add_argument("--init-dir", default=str(WEIGHTS_DIR),
                    help="where the supervised LOSS_wW.pt checkpoints to fine-tune live")
    ap.add_argument("--data", nargs="+", default=None, help="training folders (default: shared 300-W train)")
    ap.add_argument("--val-fraction", type=float, default=None)
    ap.add_argument("--limit-train", type=int, default=None, help="use only N training faces (smoke tests)")
    ap.add_argument("--test", default=None, help="test folder (default: shared 300-W test_common)")
    ap.add_argument("--unlabeled", default=None, help="unlabelled faces (default: shared unlabeled/utkface)")
    ap.add_argument("--num-unlabeled", type=int, default=2000,
                    help="unlabelled faces loaded (E epochs of 48 batches x --adv-batch draw fewer than this)")
    ap.add_argument("--d-base", type=int, default=16,
                    help="discriminator base channels (paper: 64; see docs/ablation/README.md for the CPU choice)")
    ap.add_argument("--adv-batch", type=int, default=8, help="faces per discriminator step (paper: the batch, 32)")
    ap.add_argument("--adv-weight", type=float, default=None, help="lambda (default: train's, 0.001)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="generator learning rate (default: train's, 0.001)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="training seeds; each trains its own supervised and +D pair (seed 0 in OUT/NAME, "
                         "seed S in OUT/NAME_sS)")
    ap.add_argument("--beta", type=float, default=None,
                    help="softmax beta of --from-scratch cells (default: the shipped supervised model's)")
    ap.add_argument("--no-train", action="store_true",
                    help="train nothing: evaluate the cells whose training finished, leave the others out of the "
                         "table (e.g. to publish a grid while some seeds are still training elsewhere)")
    args = ap.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        ap.error("--seeds: each seed once")
    return args


def cell_names(args) -> list[tuple[str, str, bool]]:
    """(width, loss, adversarial) in table order: per width, softargmax then LaplaceKL, each without then with D."""
    order = [l for l in ("softargmax", "laplacekl") if l in args.losses]
    return [(w, l, d) for w in args.widths for l in order for d in (False, True)]


def run_order(args) -> list[tuple[str, str, bool, int]]:
    """Execution order (width, loss, adversarial, seed): seed by seed; per seed and width, LaplaceKL first (the
    targets), the long +D cell before its control, so that two workers sharing OUT balance their load."""
    order = [l for l in ("laplacekl", "softargmax") if l in args.losses]
    return [(w, l, d, s) for s in args.seeds for w in args.widths for l in order for d in (True, False)]


def cell_dir_name(loss: str, width: str, adversarial: bool, seed: int) -> str:
    """Run folder of a cell: ``NAME`` for seed 0 (as before seeds existed), ``NAME_sS`` for seed S."""
    name = model_name(loss, Fraction(width), adversarial)
    return name if seed == 0 else f"{name}_s{seed}"


class CellLock:
    """``OUT/NAME/.lock`` holding the pid of the worker training the cell; a dead worker's lock is taken over."""

    def __init__(self, cell: Path):
        self.path = cell / ".lock"

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text() or 0)
                    os.kill(pid, 0)
                    return pid == os.getpid()
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    self.path.unlink(missing_ok=True)  # stale: its worker is gone
                    continue
                except PermissionError:
                    return False
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return True
        return False

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def init_checkpoint(args, loss: str, width: str) -> Path:
    return Path(args.init_dir) / f"{model_name(loss, Fraction(width))}.pt"


def scratch_beta(args, loss: str, width: str) -> float:
    """Softmax beta of a from-scratch cell: ``--beta``, else the shipped supervised model's, so
    the supervised cell repeats the recipe of the shipped checkpoint (train's default is 1)."""
    if args.beta is not None:
        return args.beta
    shipped = init_checkpoint(args, loss, width)
    return load_checkpoint(shipped)[1].beta if shipped.exists() else 1.0


def cell_settings(args, width: str, loss: str, adversarial: bool, out: Path, seed: int) -> dict:
    """The train options a cell sets, in the order its ``train_argv`` lists them; the rest keep train's defaults."""
    s = {"width": width, "loss": loss, "epochs": args.epochs, "seed": seed, "batch_size": args.batch_size,
         "threads": args.threads, "out": str(out)}
    if not args.from_scratch:
        s |= {"init_from": str(init_checkpoint(args, loss, width)), "ema": 0.99, "warmup_epochs": 0.3}
    else:
        # rounded as the recorded argv has always written it ("%g"), so finished cells keep comparing equal
        s["beta"] = float(f"{scratch_beta(args, loss, width):g}")
    if args.data:
        s["data"] = [str(d) for d in args.data]
    for opt in ("val_fraction", "limit_train", "lr"):
        if getattr(args, opt) is not None:
            s[opt] = getattr(args, opt)
    if adversarial:
        s |= {"unlabeled": str(unlabeled_dir(args)), "num_unlabeled": args.num_unlabeled, "d_base": args.d_base,
              "adv_batch": args.adv_batch}
        if args.adv_weight is not None:
            s["adv_weight"] = args.adv_weight
    return s


def cell_config(args, width: str, loss: str, adversarial: bool, out: Path, seed: int) -> TrainConfig:
    """The cell's training run."""
    return TrainConfig(**cell_settings(args, width, loss, adversarial, out, seed))


def train_argv(args, width: str, loss: str, adversarial: bool, out: Path, seed: int) -> list[str]:
    """The cell's train command line, as recorded in its ``result.json``: every option the cell sets (also those
    equal to train's defaults), in ``cell_settings``' order."""
    s = cell_settings(args, width, loss, adversarial, out, seed)
    return TrainConfig(**s).to_argv(s)


def same_training(recorded: list[str], argv: list[str]) -> bool:
    """Whether a finished cell's recorded argv trains what ``argv`` trains (another spelling or order of the
    same options, e.g. ``--lr 1.0`` vs ``--lr 1``, is the same run)."""
    if recorded == argv:
        return True
    try:
        return TrainConfig.from_argv(recorded) == TrainConfig.from_argv(argv)
    except UserError:
        return False


def unlabeled_dir(args) -> Path:
    if args.unlabeled:
        return Path(args.unlabeled)
    d = shared_data_dir()
    if d is None:
        raise SystemExit("no shared data folder: pass --unlabeled DIR")
    return d / "unlabeled" / "utkface"


def run_train(cfg: TrainConfig, argv: list[str] | None = None) -> int:
    """Run train on ``cfg`` in a child process (``argv``: its command line, default ``cfg.to_argv()``);
    SIGTERM/SIGINT are forwarded so it saves and exits cleanly."""
    argv = cfg.to_argv() if argv is None else argv
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")]))}
    if cfg.threads:
        env.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    child = subprocess.Popen([sys.executable, "-m", "edge_lmk.train", *argv], env=env)

    def forward(signum, frame):
        child.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def evaluate_checkpoint(path: Path, test: Path) -> dict:
    from .evaluation import evaluate

    res = evaluate(str(path), test)
    return {"nme": float(res["nme"]), "auc8": float(res["auc8"]), "fr8": float(res["fr8"]), "n": int(res["n"]),
            "spread": float(res["mean_scale"]),
            "subsets": {k: round(float(v["nme"]), 4) for k, v in res["subsets"].items()}}


def trained_epochs(cell: Path) -> int:
    log = cell / "log.json"
    return len(json.loads(log.read_text())) if log.exists() else 0


def run_cell(args, width: str, loss: str, adversarial: bool, seed: int, out: Path, test: Path) -> dict | None:
    name = cell_dir_name(loss, width, adversarial, seed)
    cell = out / name
    cfg = cell_config(args, width, loss, adversarial, cell, seed)
    argv = train_argv(args, width, loss, adversarial, cell, seed)
    result_path = cell / "result.json"
    if result_path.exists():
        res = json.loads(result_path.read_text())
        if not same_training(res.get("train_argv", []), argv):
            raise SystemExit(f"{cell}: finished with other settings ({' '.join(res.get('train_argv', []))}); "
                             f"delete it or choose another --out")
        print(f"{name}: done (NME {res['test']['nme']:.3f}), skipped")
        return res
    if args.no_train and trained_epochs(cell) < args.epochs:
        print(f"{name}: {trained_epochs(cell)}/{args.epochs} epochs trained, left out (--no-train)")
        return "untrained"
    lock = CellLock(cell)
    if not lock.acquire():
        print(f"{name}: being trained by another worker, skipped for now")
        return "busy"
    try:
        return _train_and_evaluate(args, name, cell, cfg, argv, result_path, test)
    finally:
        lock.release()


def _train_and_evaluate(args, name: str, cell: Path, cfg: TrainConfig, argv: list[str], result_path: Path,
                        test: Path) -> dict | None:
    if result_path.exists():  # finished by another worker between our check and the lock
        return json.loads(result_path.read_text())
    print(f"{name}: python -m edge_lmk.train {' '.join(argv)}", flush=True)
    wall_path = cell / "wall.json"
    wall = json.loads(wall_path.read_text())["seconds"] if wall_path.exists() else 0.0
    t0 = time.time()
    rc = run_train(cfg, argv)
    wall += time.time() - t0
    atomic_write_bytes(wall_path, json.dumps({"seconds": wall}).encode())
    log_path = cell / "log.json"
    history = json.loads(log_path.read_text()) if log_path.exists() else []
    if rc != 0 or len(history) < args.epochs:
        print(f"{name}: training stopped after {len(history)}/{args.epochs} epochs (exit {rc}); "
              f"re-run the same command to resume")
        return None
    best = min(history, key=lambda r: r["val_nme"])
    res = {"name": name, "width": cfg.width, "loss": cfg.loss, "adversarial": cfg.unlabeled is not None,
           "seed": cfg.seed, "train_argv": argv,
           "epochs": len(history), "best_epoch": best["epoch"], "val_nme": best["val_nme"],
           "train_seconds": sum(r["seconds"] for r in history), "wall_seconds": wall,
           "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
           "history": history, "test": evaluate_checkpoint(cell / "best.pt", test)}
    atomic_write_bytes(result_path, json.dumps(res, indent=1).encode())
    print(f"{name}: test NME {res['test']['nme']:.3f}, spread {res['test']['spread']:.3f} px, "
          f"{res['seconds_per_epoch']:.0f} s/epoch", flush=True)
    return res


def start_results(args, out: Path, test: Path, compute: bool = True) -> dict:
    """Test numbers of the checkpoints the cells start from (fine-tune protocol only), cached in OUT."""
    starts = {}
    if args.from_scratch:
        return starts
    for width in args.widths:
        for loss in args.losses:
            ck = init_checkpoint(args, loss, width)
            p = out / f"start_{model_name(loss, Fraction(width))}.json"
            if p.exists():
                starts[(loss, width)] = json.loads(p.read_text())
            elif ck.exists() and compute:
                r = {"checkpoint": str(ck), "test": evaluate_checkpoint(ck, test)}
                atomic_write_bytes(p, json.dumps(r, indent=1).encode())
                starts[(loss, width)] = r
    return starts


def seeds_text(args) -> str:
    return ("seed " if len(args.seeds) == 1 else "seeds ") + ", ".join(map(str, args.seeds))


def protocol_text(args) -> str:
    if args.from_scratch:
        betas = ", ".join(f"{w} {scratch_beta(args, l, w):g}" for w in args.widths for l in args.losses)
        sched = (f"trained from random weights for {args.epochs} epochs with train's default schedule (Adam lr "
                 f"{args.lr or 0.001}, cosine, warm-up 2 epochs, EMA 0.998, batch {args.batch_size}, "
                 f"{seeds_text(args)}) and the softmax beta of the shipped supervised model ({betas}); the "
                 f"supervised cell gets the same labelled batches and augmentation as the +D cell")
    else:
        sched = (f"fine-tuned from the shipped supervised checkpoint of its (loss, width) for {args.epochs} epochs "
                 f"(Adam lr {args.lr or 0.001}, cosine, warm-up 0.3 epoch, EMA 0.99, batch {args.batch_size}, "
                 f"{seeds_text(args)}); the supervised cell gets the same epochs, seed, labelled batches and "
                 f"augmentation as the +D cell and is its matched-compute control. 'start' is the shipped "
                 f"checkpoint itself")
    seeds = ("" if len(args.seeds) == 1 else
             " Every seed trains its own supervised and +D pair (the two cells of a seed share its initial weights "
             "and labelled batches); a row gives the mean over its finished seeds (common NME: mean ± sample std "
             "(n)) and '+D vs sup.' is the mean over seeds of the paired relative gain.")
    return (f"Protocol: every cell is {sched}.{seeds} +D: PatchGAN discriminator, base {args.d_base} channels "
            f"(paper: 64), lambda {args.adv_weight or 0.001}, D lr 1e-4, {args.adv_batch} labelled + "
            f"{args.adv_batch} unlabelled faces per D step (paper: the whole batch), {args.num_unlabeled} UTKFace "
            f"faces. The checkpoint tested is the best of the E epochs on the validation split.")


def rel_gain(sup: float, d: float) -> float:
    return (sup - d) / sup


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def paired_gains(args, results: dict, width: str, loss: str) -> dict[int, float]:
    """Relative gain of +D over the supervised cell of the same seed, for the seeds with both cells finished."""
    gains = {}
    for seed in args.seeds:
        s, d = results.get((width, loss, False, seed)), results.get((width, loss, True, seed))
        if s and d:
            gains[seed] = rel_gain(s["test"]["nme"], d["test"]["nme"])
    return gains


def _pct(g: float | None, missing: str = "-") -> str:
    return missing if g is None else f"{100 * g:+.1f}%"


def build_report(args, results: dict, starts: dict, test: Path) -> tuple[str, dict]:
    """``results`` is keyed (width, loss, adversarial, seed); a row per (width, loss, D) over the seeds."""
    multi = len(args.seeds) > 1
    rows = ["| width | loss | D | start NME | **common NME** | +D vs sup. | AUC@8 | FR@8 | spread (px) | val NME | "
            "epochs | s/epoch | cell wall | paper full NME |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cells, summary = [], []
    for width, loss, adv in cell_names(args):
        start = starts.get((loss, width))
        paper = PAPER_FULL.get((loss, adv), {}).get(width)
        start_s = f"{start['test']['nme']:.2f}" if start else "-"
        paper_s = f"{paper:.2f}" if paper else ("n/a" if adv and loss == "softargmax" else "-")
        runs = {}
        for seed in args.seeds:
            r = results.get((width, loss, adv, seed))
            if r is None:
                cells.append({"width": width, "loss": loss, "adversarial": adv, "seed": seed, "status": "missing"})
                continue
            runs[seed] = r
            cells.append({k: r[k] for k in ("name", "width", "loss", "adversarial", "epochs", "best_epoch",
                                            "val_nme", "train_seconds", "wall_seconds", "seconds_per_epoch",
                                            "train_argv")}
                         | {"width": width, "loss": loss, "adversarial": adv, "seed": seed, "status": "done",
                            "test": r["test"],
                            "start": start["test"] if start else None, "paper_full_nme": paper})
        if not runs:
            rows.append(f"| {width} | {loss} | {'+D' if adv else '-'} | {start_s} | *not run* | | | | | | | | | "
                        f"{paper_s} |")
            continue
        rs = list(runs.values())
        nmes = [r["test"]["nme"] for r in rs]
        nme_std = statistics.stdev(nmes) if len(rs) > 1 else None
        nme_s = f"**{_mean(nmes):.2f}**"
        if nme_std is not None:
            nme_s += f" ± {nme_std:.2f} (n={len(rs)})"
        elif multi:
            nme_s += " (n=1)"
        pairs = paired_gains(args, results, width, loss) if adv else {}
        gain = _pct(_mean(pairs.values()), "") if pairs else ""
        epochs = "/".join(dict.fromkeys(str(r["epochs"]) for r in rs))
        best = "/".join(str(r["best_epoch"]) for r in rs)
        rows.append(f"| {width} | {loss} | {'+D' if adv else '-'} | {start_s} | {nme_s} | {gain} | "
                    f"{_mean(r['test']['auc8'] for r in rs):.3f} | {100 * _mean(r['test']['fr8'] for r in rs):.1f}% | "
                    f"{_mean(r['test']['spread'] for r in rs):.2f} | {_mean(r['val_nme'] for r in rs):.2f} | "
                    f"{epochs} (best {best}) | {_mean(r['seconds_per_epoch'] for r in rs):.0f} | "
                    f"{_mean(r['wall_seconds'] for r in rs) / 60:.1f} min | {paper_s} |")
        summary.append({"width": width, "loss": loss, "adversarial": adv, "seeds": list(runs), "n": len(rs),
                        "nme_mean": _mean(nmes), "nme_std": nme_std,
                        "spread_mean": _mean(r["test"]["spread"] for r in rs)})
    gains = []
    for width in args.widths:
        for loss in args.losses:
            pairs = paired_gains(args, results, width, loss)
            g = _mean(pairs.values()) if pairs else None
            p_s, p_d = PAPER_FULL[(loss, False)].get(width), PAPER_FULL.get((loss, True), {}).get(width)
            paper_gain = rel_gain(p_s, p_d) if p_s and p_d else None
            spreads = {adv: [results[(width, loss, adv, s)]["test"]["spread"] for s in args.seeds
                             if (width, loss, adv, s) in results] for adv in (False, True)}
            gains.append({"width": width, "loss": loss, "gain": g, "paper_gain": paper_gain,
                          "met": (g >= paper_gain) if g is not None and paper_gain is not None else None,
                          "spread_sup": _mean(spreads[False]) if spreads[False] else None,
                          "spread_d": _mean(spreads[True]) if spreads[True] else None,
                          "per_seed": {str(s): v for s, v in pairs.items()}, "pairs": len(pairs)})
    lines = [f"# Ablation: {{softargmax, LaplaceKL}} x {{supervised, +D}} on 300-W common", "",
             protocol_text(args), "", DATA_NOTE, "",
             f"Test set: `{test}`. Spread: mean over faces, the 68 landmarks and both axes of the Laplace scale "
             "E|x - mu| of the predicted heatmap's marginals, in 80x80 heatmap pixels (the model's `scale` output); "
             f"the paper reports {PAPER_SPREAD[('laplacekl', True)]} px for LaplaceKL+D and "
             f"{PAPER_SPREAD[('softargmax', True)]} px for softargmax+D. 'paper full NME' is Table 3 of "
             "Robinson et al. (ICCV 2019), 300-W full set; we did not find the paper's softargmax+D numbers, so "
             "that column says n/a for them. 's/epoch' is the training time of one epoch at "
             f"{args.threads} thread(s) on a shared CPU; 'cell wall' also includes loading and validation.", "",
             *rows, "", "## Does +D help? (relative NME gain of +D over the matched supervised cell)", ""]
    if multi:
        lines += ["| width | loss | ours (mean of pairs) | paper (full set) | target met | spread sup. -> +D (px) | "
                  "per seed | pairs |", "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["| width | loss | ours | paper (full set) | target met | spread sup. -> +D (px) |",
                  "|---|---|---|---|---|---|"]
    for g in gains:
        line = (f"| {g['width']} | {g['loss']} | {_pct(g['gain'], 'not run')} | {_pct(g['paper_gain'], 'n/a')} | "
                + {True: "yes", False: "**no**", None: "-"}[g["met"]] + " | "
                + " -> ".join("-" if v is None else f"{v:.2f}" for v in (g["spread_sup"], g["spread_d"])) + " |")
        if multi:
            line += (" " + (", ".join(f"s{s} {_pct(v)}" for s, v in g["per_seed"].items()) or "-")
                     + f" | {g['pairs']} |")
        lines.append(line)
    if multi:
        lines += ["", "Per seed (300-W common NME; gain = (sup. - +D) / sup.):", "",
                  "| width | loss | seed | sup. NME | +D NME | gain |", "|---|---|---|---|---|---|"]
        for width in args.widths:
            for loss in args.losses:
                for seed in args.seeds:
                    s, d = results.get((width, loss, False, seed)), results.get((width, loss, True, seed))
                    lines.append(f"| {width} | {loss} | {seed} | "
                                 + " | ".join(f"{r['test']['nme']:.2f}" if r else "-" for r in (s, d))
                                 + f" | {_pct(rel_gain(s['test']['nme'], d['test']['nme']) if s and d else None)} |")
    lines += ["", "Reproduce: `python -m edge_lmk.ablation " + " ".join(reproduce_argv(args)) + "`", ""]
    data = {"protocol": protocol_text(args), "data_note": DATA_NOTE, "test": str(test),
            "spread_definition": "mean over faces, landmarks and axes of E|x - mu| of the heatmap marginals, "
                                 "80x80 heatmap pixels (model `scale` output)",
            "settings": {k: v for k, v in vars(args).items()},
            "paper_full_nme": {f"{l}{'+D' if d else ''}": v for (l, d), v in PAPER_FULL.items()},
            "paper_spread": {f"{l}+D": v for (l, _), v in PAPER_SPREAD.items()},
            "cells": cells, "summary": summary, "gains": gains}
    return "\n".join(lines), data


def reproduce_argv(args) -> list[str]:
    out = ["--widths", *args.widths, "--losses", *args.losses, "--epochs", str(args.epochs), "--threads",
           str(args.threads), "--d-base", str(args.d_base), "--adv-batch", str(args.adv_batch), "--num-unlabeled",
           str(args.num_unlabeled)]
    for opt in ("data", "test", "unlabeled", "val_fraction", "limit_train", "lr", "adv_weight", "beta"):
        v = getattr(args, opt)
        if v is not None:
            out += [f"--{opt.replace('_', '-')}", *(map(str, v) if isinstance(v, list) else [str(v)])]
    if args.batch_size != 32:
        out += ["--batch-size", str(args.batch_size)]
    if args.seeds != [0]:
        out += ["--seeds", *map(str, args.seeds)]
    if args.from_scratch:
        out.append("--from-scratch")
    return out


def plot(data: dict, path: Path, widths: list[str]) -> None:
    """Bars at the mean over seeds (per-seed values as black dots when a cell has several); paper markers for
    the losses of the grid only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = data["settings"]["losses"]  # only the grid's kinds are drawn (bars and paper markers), centred per width
    kinds = [(k, col) for k, col in zip([("softargmax", False), ("softargmax", True), ("laplacekl", False),
                                         ("laplacekl", True)], ["#9ecae1", "#3182bd", "#fdae6b", "#e6550d"])
             if k[0] in losses]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    done: dict = {}
    for c in data["cells"]:
        if c["status"] == "done":
            done.setdefault((c["width"], c["loss"], c["adversarial"]), []).append(c["test"])
    for ax, key, ylabel in ((axes[0], "nme", "300-W common NME (%)"), (axes[1], "spread", "mean heatmap spread (px)")):
        paper_labelled = seeds_labelled = False
        for j, ((loss, adv), col) in enumerate(kinds):
            xs, ys, dots = [], [], []
            for i, w in enumerate(widths):
                tests = done.get((w, loss, adv))
                if tests:
                    x = i + (j - (len(kinds) - 1) / 2) * 0.2
                    xs.append(x)
                    ys.append(_mean(t[key] for t in tests))
                    if len(tests) > 1:
                        dots += [(x, t[key]) for t in tests]
            ax.bar(xs, ys, width=0.19, color=col, label=f"{loss}{'+D' if adv else ''}")
            if dots:
                ax.scatter(*zip(*dots), s=6, color="k", zorder=4, label=None if seeds_labelled else "per seed")
                seeds_labelled = True
            if key == "nme":
                px = [(i + (j - (len(kinds) - 1) / 2) * 0.2, PAPER_FULL.get((loss, adv), {}).get(w))
                      for i, w in enumerate(widths)]
                px = [(x, y) for x, y in px if y]
                if px:
                    ax.scatter(*zip(*px), marker="_", s=300, color="k", zorder=3,
                               label=None if paper_labelled else "paper (full set)")
                    paper_labelled = True
        ax.set_xticks(range(len(widths)), [f"width {w}" for w in widths])
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    axes[0].set_title("NME (ours: common; paper markers: full set)", fontsize=9)
    axes[1].set_title("E|x - mu| of the heatmaps, 80x80 px", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def finished_results(args, out: Path) -> dict:
    """Results of every finished cell of this grid found in OUT (also those finished by an earlier invocation),
    keyed (width, loss, adversarial, seed)."""
    results = {}
    for seed in args.seeds:
        for width, loss, adv in cell_names(args):
            p = out / cell_dir_name(loss, width, adv, seed) / "result.json"
            if p.exists():
                r = json.loads(p.read_text())
                if same_training(r.get("train_argv", []), train_argv(args, width, loss, adv, p.parent, seed)):
                    results[(width, loss, adv, seed)] = r
    return results


def write_outputs(args, out: Path, results: dict, starts: dict, test: Path) -> None:
    results = {**finished_results(args, out), **results}
    md, data = build_report(args, results, starts, test)
    atomic_write_bytes(out / "ablation.md", md.encode())
    atomic_write_bytes(out / "ablation.json", json.dumps(data, indent=1).encode())
    plot(data, out / "ablation.png", args.widths)


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = Path(args.test) if args.test else default_test_dir()
    if not args.from_scratch:
        missing = [str(init_checkpoint(args, l, w)) for w in args.widths for l in args.losses
                   if not init_checkpoint(args, l, w).exists()]
        if missing:
            raise SystemExit(f"no supervised checkpoint to fine-tune: {', '.join(missing)} (or use --from-scratch)")
    starts = start_results(args, out, test, compute=False)  # computed after the cells (workers start at once)
    results: dict = {}
    pending = run_order(args)
    while pending:
        busy = []
        for key in pending:
            res = run_cell(args, *key, out, test)
            if res is None:
                write_outputs(args, out, results, starts, test)
                raise SystemExit(1)
            if res == "untrained":
                continue
            if res == "busy":
                busy.append(key)
                continue
            results[key] = res
            write_outputs(args, out, results, starts, test)
        pending = busy
        if pending:
            time.sleep(30)  # other workers are training these: wait for them (or take over if they die)
    starts = start_results(args, out, test)
    write_outputs(args, out, results, starts, test)
    print(f"ablation: {out / 'ablation.md'}")
    return results


if __name__ == "__main__":
    main()
