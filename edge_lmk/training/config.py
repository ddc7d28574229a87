"""Every option of ``python -m edge_lmk.train`` as one typed, immutable value: ``TrainConfig``.

The CLI (``train``), the model card (``ship``) and the ablation's cells share it, so an option is
declared once: its default, type and help live on the field, and ``add_arguments`` generates
train's parser from the fields (flag ``--a-b`` for field ``a_b``), so the two cannot drift.

``to_json()`` is the run's ``OUT/args.json`` object: the fields in declaration order (the order of
``--help`` and of the keys train writes), lists as lists. ``from_json`` reads an ``args.json`` of an
older run: a field it lacks takes its default, keys it does not know are ignored.
``to_argv()`` writes the command line back (``from_argv(cfg.to_argv()) == cfg``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable

from ..cli import (UserError, nonnegative_float, nonnegative_int, positive_float, positive_int, unit_interval,
                  width_arg)

PROG = "python -m edge_lmk.train"


def _family_names() -> list[str]:
    from ..models import FAMILIES  # lazy: the models (and torch) load only when a parser is built

    return sorted(FAMILIES)


def _opt(default=None, help: str | None = None, **argparse_kw):
    """A field and its flag: ``argparse_kw`` go to ``add_argument`` as they are (type, choices, nargs, action)."""
    kw = dict(argparse_kw)
    if help is not None:
        kw["help"] = help
    return field(default=default, metadata={"argparse": kw})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """One training run's options. The field order is ``--help``'s and ``args.json``'s (a format), so options
    added later follow the older ones instead of their group."""

    # model: what is built (width ladder, loss, the softmax's sharpness)
    width: str = _opt("1/16", "width multiplier: 1/16, 1/8, 1/4, 1/2 or 1", type=width_arg)
    loss: str = _opt("laplacekl", choices=["laplacekl", "softargmax", "gaussiankl"])
    beta: float | None = _opt(None, "softmax inverse temperature (default: the --init-from checkpoint's, else 1)",
                              type=positive_float)  # None until train resolves it; args.json records the value used
    target_scale: float = _opt(1.0, "b of the target distribution (KL losses)", type=positive_float)
    # data: folders and the validation split (None = the shared 300-W training set)
    data: tuple[str, ...] | None = _opt(None, "300-W layout folders (default: shared train set)", nargs="+")
    val_fraction: float = _opt(0.1, "fraction of --data held out for validation (ignored with --val-data)",
                               type=unit_interval)
    limit_train: int | None = _opt(None, "use only the first N training faces (after the validation split; "
                                         "for smoke tests)", type=positive_int)
    # optimisation: Adam, cosine schedule with linear warm-up, EMA weights for validation
    epochs: int = _opt(150, type=positive_int)
    batch_size: int = _opt(32, type=positive_int)
    lr: float = _opt(1e-3, type=positive_float)
    weight_decay: float = _opt(1e-5, type=nonnegative_float)
    warmup_epochs: float = _opt(2.0, type=nonnegative_float)
    dropout: float = _opt(0.2, type=unit_interval)
    ema: float = _opt(0.998, "EMA decay of weights used for validation (0 = off)", type=unit_interval)
    # data added later: a fixed validation set, noisier extra labels at a lower loss weight
    val_data: tuple[str, ...] | None = _opt(
        None, "validation folders (e.g. ../shared/data/extra_udacity/val): then every --data face trains", nargs="+")
    extra_data: tuple[str, ...] | None = _opt(
        None, "extra labelled folders with noisier labels (e.g. ../shared/data/extra_udacity/train), "
              "mixed into the batches with loss weight --extra-weight", nargs="+")
    extra_weight: float = _opt(0.5, "loss weight of an --extra-data face", type=nonnegative_float)
    # model: which generator family builds the width
    family: str = _opt("recombinator", "generator family (docs/families): this kit's recombinator variant, the "
                                       "paper's Table 1 (names end in _t1), fast (_fast), Merget's local-global FCN "
                                       "(_lg; _lgnk without kernel convolution), EVAE-CNN (_evae; _evfcn without "
                                       "sampling)", choices=_family_names)
    # canvas cache: where faces are kept between runs (may change on resume)
    cache_dir: str = _opt("runs/cache", "face canvases cached here, keyed on the files' contents (delete the folder "
                                        "to clear it)")
    no_cache: bool = _opt(False, "neither read nor write the canvas cache", action="store_true")
    # run length, augmentation, seed, folder, starting weights, time limit
    steps: int | None = _opt(None, "train for at least this many optimizer steps (sets --epochs from the batches "
                                   "per epoch)", type=positive_int)
    no_augment: bool = _opt(False, "train on plain crops (the paper's setting)", action="store_true")
    seed: int = _opt(0, type=int)  # initial weights, batch order and augmentation all follow it
    out: str | None = _opt(None, "run folder (default runs/LOSS_WIDTH)")
    init_from: str | None = _opt(None, "start from these weights (new optimizer); a pruned checkpoint "
                                       "(python -m edge_lmk.compress.prune) also sets the architecture and name, and "
                                       "--width and --loss are ignored")
    max_minutes: float | None = _opt(None, "stop cleanly after this long (resume later)", type=positive_float)
    # LaplaceKL+D: the adversarial term on unlabelled faces (off while --unlabeled is None)
    unlabeled: str | None = _opt(None, "unlabelled face folder: enables LaplaceKL+D adversarial training")
    num_unlabeled: int = _opt(10000, "use at most this many unlabelled faces", type=positive_int)
    unlabeled_extent: float = _opt(0.58, "landmark extent / image side of the unlabelled faces (calibrate with "
                                         "python -m edge_lmk.unlabeled_scale)", type=positive_float)
    adv_weight: float = _opt(1e-3, "lambda of the adversarial term", type=nonnegative_float)
    d_lr: float = _opt(1e-4, type=positive_float)
    # model again: the heatmap head's extra branch (added among the +D options)
    head_hidden: int = _opt(0, "add a per-pixel MLP branch with this many hidden channels to the heatmap head "
                               "(0 = the paper's linear 1x1 head); --init-from a linear-head checkpoint starts it "
                               "at zero", type=nonnegative_int)
    # +D again: the discriminator's size and batch
    d_base: int = _opt(64, "discriminator base channels (the paper's PatchGAN: 64)", type=positive_int)
    adv_batch: int | None = _opt(None, "labelled and unlabelled faces per discriminator step (default: --batch-size, "
                                       "the paper's setting); D sees 71x80x80 inputs, so on a CPU this, not --d-base, "
                                       "sets the cost of +D", type=positive_int)
    # where and how fast: never part of what is trained (may change on resume)
    device: str = _opt("auto")
    threads: int | None = _opt(None, type=positive_int)
    # distillation: a trained teacher's per-landmark Laplace distributions as a second target
    teacher: str | None = _opt(None, "teacher model (registry name or .pt): add the LaplaceKL from the student's "
                                     "distribution to the teacher's on the same augmented crop")
    distill_weight: float = _opt(0.5, "weight of the distillation term (with --teacher)", type=nonnegative_float)
    # post-head stages (edge_lmk/models/stages): with --init-from FIRST_STAGE, only the stages train
    stages: tuple[str, ...] | None = _opt(None, "post-head stages after the family's head: cascade (coarse-to-fine refinement, "
                                       "trained with OHEM while the --init-from first stage stays frozen); the shape "
                                       "model is fitted, not trained (python -m edge_lmk.shape_model)", nargs="+",
                                   choices=["cascade"])

    def __post_init__(self):
        # lists (argparse's nargs, JSON) become tuples so that a config is immutable all the way down
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> TrainConfig:
        """From train's parsed arguments (every field must be there)."""
        return cls(**{f.name: getattr(ns, f.name) for f in fields(cls)})

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        """From an ``args.json`` object; values are kept as stored, missing fields take their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_argv(cls, argv: Iterable[str]) -> TrainConfig:
        """Parse train's command line; UserError (one line) for arguments train would refuse."""
        return cls.from_args(parser(_Raising).parse_args(list(argv)))

    def to_json(self) -> dict:
        """The ``args.json`` object (``json.dumps(cfg.to_json(), indent=2)`` is the file)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def to_argv(self, names: Iterable[str] | None = None, fmt: Callable[[object], str] | None = None) -> list[str]:
        """Train's command line for this config.

        ``names``: the fields to write, in this order, even where they equal the default (a recorded command
        line lists what its caller set); default: every field that differs from its default, in field order.
        None, False and empty values are never written (leaving the flag out gives them). ``fmt``: one value
        as a command-line word (default: ``argv_value``)."""
        fmt = fmt or argv_value
        if names is None:
            names = [f.name for f in fields(self) if getattr(self, f.name) != f.default]
        argv = []
        for name in names:
            if name not in FIELD_NAMES:
                raise KeyError(f"{name}: not a TrainConfig field")
            v = getattr(self, name)
            if v is None or v is False or v == ():
                continue
            if v is True:  # store_true flags
                argv.append(_flag(name))
                continue
            argv += [_flag(name), *(fmt(x) for x in (v if isinstance(v, tuple) else (v,)))]
        return argv


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))
DEFAULTS = TrainConfig()


def argv_value(v) -> str:
    """A value as one command-line word: floats in their shortest exact spelling (``10.0`` -> ``10``)."""
    if isinstance(v, float):
        short = f"{v:g}"
        return short if float(short) == v else repr(v)
    return str(v)


def add_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add one ``--flag`` per field, in field order, with the field's default."""
    for f in fields(TrainConfig):
        kw = dict(f.metadata["argparse"])
        if callable(kw.get("choices")):
            kw["choices"] = kw["choices"]()
        ap.add_argument(_flag(f.name), default=f.default, **kw)
    return ap


class _Raising(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{PROG}: {message}")


def parser(cls: type[argparse.ArgumentParser], description: str | None = None) -> argparse.ArgumentParser:
    """Train's argument parser (``cls``: the parser class, e.g. ``cli.ArgumentParser`` for one-line errors)."""
    return add_arguments(cls(prog=PROG, description=description,
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter))
