"""Train a width-reduced generator: ``python -m edge_lmk.train --width 1/16 --loss laplacekl --out runs/x``.

This module is the command line only: flags generated from ``edge_lmk.training.config.TrainConfig``,
handed to ``edge_lmk.training.loop.train``.

Resumable: re-running the same command continues from ``OUT/last.pt`` (saved atomically
every epoch, and on Ctrl-C / SIGTERM / ``--max-minutes``). The best checkpoint is chosen on
the validation split carved from the training folders, never on a test set.

Faces are cut once into canvases cached in ``--cache-dir`` (default ``runs/cache``), keyed on
each file's size, mtime and bytes and on the canvas code: a corrected ``.pts`` or replaced image
rebuilds the cache, and the entry it supersedes is deleted. ``--no-cache`` neither reads nor
writes it; deleting the folder clears it. Data errors (missing folder, bad ``.pts`` or image)
print one line naming the file and exit with status 2.

On resume only ``--epochs``,
``--max-minutes``, ``--threads`` and ``--device`` may differ from the saved ``OUT/args.json``;
any other difference is refused, naming the folder and the arguments (``edge_lmk/training/resume.py``).
"""
from __future__ import annotations

import argparse
import sys

from .cli import ArgumentParser, cli_main
from .training.config import TrainConfig, parser
# The loop lives in edge_lmk.training.loop; ``prepare_run`` and ``train`` are this CLI's two calls into it.
from .training.loop import prepare_run, train  # noqa: F401  (prepare_run: the run-folder check, for callers of this CLI)


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TrainConfig`` field, generated from the fields (edge_lmk/training/config.py)."""
    return parser(ArgumentParser, description=__doc__)


def parse_args(argv=None) -> argparse.Namespace:
    """Train's arguments as argparse gives them (``parse_config`` for the ``TrainConfig``)."""
    return build_parser().parse_args(argv)


def parse_config(argv=None) -> TrainConfig:
    return TrainConfig.from_args(parse_args(argv))


@cli_main
def main(argv=None):
    train(parse_config(argv))


def cli(argv=None) -> int:
    """``python -m edge_lmk.train`` as an exit status: 0 ok, 2 for a data/model/argument error (``main``'s one
    line on stderr naming the file, via ``cli_main``: the one error path)."""
    try:
        main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
