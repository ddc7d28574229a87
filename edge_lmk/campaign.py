"""Train a whole ladder in one resumable command: ``python -m edge_lmk.campaign``.

    python -m edge_lmk.campaign [--family fast] [--widths 1/16 1/8 1/4] [--teacher-width 1/2]
                                [--pseudo] [--distill 0.5] [--steps 10000] [--device auto] [--ship] [--dry-run]

Stages, in order (each resumes or skips: re-run the same command after an interruption):

1. **teacher**: the family at ``--teacher-width`` with the shipped recipe (``RECIPE``: all 300-W
   training faces, ``extra_udacity/train`` at weight 0.5, checkpoint chosen on ``extra_udacity/val``,
   cosine, EMA) -> ``OUT/teacher``;
2. **pseudo-labels** (``--pseudo``): the teacher labels the unlabelled faces (crop, predict, re-crop,
   predict plainly and mirrored, drop faces whose two answers disagree; ``edge_lmk.pseudo_label``)
   -> ``OUT/pseudo``, added to every student's extra data;
3. **students**: every ``--widths`` model with the same recipe, plus the distillation term towards
   the teacher's distributions (``--distill W``, 0 = off) -> ``OUT/<width>``;
4. **ship** (``--ship``): each student becomes a registry model with its card.

Every stage is a ``TrainConfig`` handed to ``training.loop.train`` (no argv is rebuilt); ``--dry-run`` prints
the equivalent commands. On a GPU (``--device cuda``) the faces are moved to it once and cropped and
augmented there. Under ``torchrun`` each training stage runs data-parallel. What the stages cost
on CPU and what they measured so far: the cards and docs/benchmarks.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from .cli import ArgumentParser, cli_main, nonnegative_float, positive_int, width_arg
from .models import FAMILIES
from .paths import REPO_DIR, shared_data_dir
from .training.config import TrainConfig

def recipe(data_root: Path) -> dict:
    """The shipped models' recipe (their cards' commands) as TrainConfig fields."""
    return {"loss": "laplacekl", "beta": 10.0, "data": (str(data_root / "300w" / "train"),),
            "val_data": (str(data_root / "extra_udacity" / "val"),),
            "extra_data": (str(data_root / "extra_udacity" / "train"),), "extra_weight": 0.5,
            "batch_size": 32, "seed": 0}


@dataclass(frozen=True)
class CampaignConfig:
    family: str = "fast"
    widths: tuple[str, ...] = ("1/16", "1/8", "1/4")
    teacher_width: str = "1/2"
    teacher: str | None = None  # an existing model (registry name or .pt) instead of training one
    pseudo: bool = False
    distill: float = 0.0
    steps: int = 10000
    out: str = "runs/campaign"
    data_root: str = str(shared_data_dir() or REPO_DIR.parent / "shared" / "data")
    unlabeled: str | None = None  # default: DATA_ROOT/unlabeled/utkface
    device: str = "auto"
    threads: int | None = None
    ship: bool = False
    overrides: dict = field(default_factory=dict)  # extra TrainConfig fields for every stage (tests: limit_train)


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str  # "train" | "pseudo" | "ship"
    train: TrainConfig | None = None
    run: str | None = None  # ship: the run folder


def plan(cfg: CampaignConfig) -> list[Stage]:
    out = Path(cfg.out)
    base = {**recipe(Path(cfg.data_root)), "family": cfg.family, "steps": cfg.steps, "device": cfg.device,
            "threads": cfg.threads, **cfg.overrides}
    needs_teacher = cfg.pseudo or cfg.distill > 0
    stages = []
    if needs_teacher and cfg.teacher is None:
        stages.append(Stage("teacher", "train",
                            TrainConfig(**{**base, "width": cfg.teacher_width, "out": str(out / "teacher")})))
    teacher = teacher_path(cfg)
    extra = tuple(base["extra_data"])
    if cfg.pseudo:
        stages.append(Stage("pseudo-labels", "pseudo"))
        extra = extra + (str(out / "pseudo"),)
    for w in cfg.widths:
        tag = str(Fraction(w)).replace("/", "_")
        student = TrainConfig(**{**base, "width": w, "extra_data": extra, "out": str(out / f"w{tag}"),
                                 **({"teacher": teacher, "distill_weight": cfg.distill}
                                    if cfg.distill > 0 else {})})
        stages.append(Stage(f"student {w}", "train", student))
        if cfg.ship:
            stages.append(Stage(f"ship {w}", "ship", run=student.out))
    return stages


def teacher_path(cfg: CampaignConfig) -> str:
    from .models.registry import checkpoint_path

    return checkpoint_path(cfg.teacher) if cfg.teacher else str(Path(cfg.out) / "teacher" / "best.pt")


def command(stage: Stage, cfg: CampaignConfig) -> str:
    if stage.kind == "train":
        return "python -m edge_lmk.train " + " ".join(stage.train.to_argv())
    if stage.kind == "pseudo":
        return (f"python -m edge_lmk.pseudo_label --teacher {teacher_path(cfg)} "
                f"--data {cfg.unlabeled or Path(cfg.data_root) / 'unlabeled' / 'utkface'} --out {Path(cfg.out) / 'pseudo'}")
    return f"python -m edge_lmk.ship --run {stage.run}"


def run(cfg: CampaignConfig, dry_run: bool = False) -> list[str]:
    """Run (or print) every stage; -> the commands, in order."""
    from .training import loop as train_mod

    stages = plan(cfg)
    cmds = [command(s, cfg) for s in stages]
    for i, (stage, cmd) in enumerate(zip(stages, cmds), 1):
        print(f"[{i}/{len(stages)}] {stage.name}: {cmd}", flush=True)
        if dry_run:
            continue
        if stage.kind == "train":
            train_mod.train(stage.train)
        elif stage.kind == "pseudo":
            from .pseudo_label import PseudoLabelConfig, pseudo_label

            pseudo_label(PseudoLabelConfig(teacher=teacher_path(cfg)),
                         Path(cfg.unlabeled or Path(cfg.data_root) / "unlabeled" / "utkface"), Path(cfg.out) / "pseudo")
        else:
            from .ship import main as ship_main

            ship_main(["--run", stage.run])
    return cmds


@cli_main
def main(argv=None):
    d = CampaignConfig()
    ap = ArgumentParser(prog="python -m edge_lmk.campaign", description=__doc__)
    ap.add_argument("--family", default=d.family, choices=sorted(FAMILIES))
    ap.add_argument("--widths", nargs="+", type=width_arg, default=list(d.widths))
    ap.add_argument("--teacher-width", type=width_arg, default=d.teacher_width)
    ap.add_argument("--teacher", default=None, help="use this model (registry name or .pt) as the teacher instead "
                                                    "of training one")
    ap.add_argument("--pseudo", action="store_true", help="label the unlabelled faces with the teacher")
    ap.add_argument("--distill", type=nonnegative_float, default=d.distill, help="distillation weight (0 = off)")
    ap.add_argument("--steps", type=positive_int, default=d.steps)
    ap.add_argument("--out", default=d.out)
    ap.add_argument("--data-root", default=d.data_root, help="folder with 300w/, extra_udacity/, unlabeled/")
    ap.add_argument("--unlabeled", default=None)
    ap.add_argument("--device", default=d.device)
    ap.add_argument("--threads", type=positive_int, default=None)
    ap.add_argument("--ship", action="store_true", help="ship every student with its card")
    ap.add_argument("--dry-run", action="store_true", help="print the stages' commands only")
    a = ap.parse_args(argv)
    cfg = replace(d, family=a.family, widths=tuple(a.widths), teacher_width=a.teacher_width, teacher=a.teacher,
                  pseudo=a.pseudo,
                  distill=a.distill, steps=a.steps, out=a.out, data_root=a.data_root, unlabeled=a.unlabeled,
                  device=a.device, threads=a.threads, ship=a.ship)
    run(cfg, a.dry_run)


if __name__ == "__main__":
    sys.exit(main())
