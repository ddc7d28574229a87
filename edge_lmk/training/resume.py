"""Resuming ``python -m edge_lmk.train`` into a run folder that already holds a run.

``train`` continues from ``OUT/last.pt`` when it exists. That is only right when the new command
describes the same run; another ``--loss`` would silently continue one loss's weights with the
other, another ``--width`` would fail deep inside ``load_state_dict``. So before anything is
loaded the new arguments are compared with the run's ``OUT/args.json`` and the architecture with
the config saved in ``OUT/last.pt``, and a mismatch is refused with one line naming the folder and
each differing argument.

Arguments that may change on resume (``RESUME_MAY_CHANGE``) decide how long and where the run
goes, not what it trains: ``--epochs`` (extend or shorten; the learning-rate cosine is then
recomputed for the new total, so the result is no longer equal to a straight run of that length),
``--max-minutes``, ``--threads``, ``--device`` and ``--out`` itself. Everything else (architecture,
loss, data and its split, optimiser, schedule shape, augmentation, seed, adversarial settings)
must match.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from ..cli import UserError

# cache_dir / no_cache only say where canvases are kept; steps only sets epochs
RESUME_MAY_CHANGE = frozenset({"epochs", "steps", "max_minutes", "threads", "device", "out", "cache_dir", "no_cache"})


def _normalise(args: dict) -> dict:
    """JSON round trip (tuples -> lists, ...) and one spelling per width, so equal runs compare equal."""
    out = json.loads(json.dumps(args))
    try:
        out["width"] = str(Fraction(str(out["width"])))
    except (KeyError, ValueError, ZeroDivisionError):
        pass
    return out


def resume_conflicts(saved: dict, new: dict, defaults: dict) -> dict[str, tuple[object, object]]:
    """``{arg: (saved value, new value)}`` for every argument that may not change but did.

    ``saved``: the run's ``args.json``; ``new``/``defaults``: ``vars()`` of this command's and of
    an empty command's arguments. An argument missing from an older ``args.json`` counts as its
    default then.
    """
    saved, new, defaults = _normalise(saved), _normalise(new), _normalise(defaults)
    return {k: (saved.get(k, defaults.get(k)), v) for k, v in new.items()
            if k not in RESUME_MAY_CHANGE and saved.get(k, defaults.get(k)) != v}


def config_conflicts(saved: dict, new: dict) -> dict[str, tuple[object, object]]:
    """Differing architecture fields between the config in ``last.pt`` and the new run's spec."""
    return {k: (saved.get(k), new.get(k)) for k in sorted(set(saved) | set(new)) if saved.get(k) != new.get(k)}


def canonical_config(saved: dict) -> dict:
    """A checkpoint's config as today's code writes it (older checkpoints of other families carried the
    recombinator's ``channels``/``block_channels``/``head_hidden`` entries, empty); as saved if it builds no spec."""
    from ..models.registry import spec_from_config

    try:
        return spec_from_config(saved).config()
    except Exception:  # noqa: BLE001  (a config that names no model: compared as it is, and refused)
        return saved


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_resume(out: Path, args: dict, defaults: dict, config: dict) -> None:
    """Raise UserError when ``out`` holds a run that ``args`` (``vars()`` of train's arguments) would not continue.

    ``config``: ``ModelSpec.config()`` of the model this command builds. Nothing to check when
    ``out/last.pt`` does not exist (a fresh run).
    """
    import torch

    last = out / "last.pt"
    if not last.is_file():
        return
    tail = (f"resume with the same arguments (only {', '.join(_flag(a) for a in sorted(RESUME_MAY_CHANGE))} "
            f"may change), choose another --out, or delete {out} to start over")
    args_path = out / "args.json"
    if args_path.is_file():
        try:
            saved = json.loads(args_path.read_text())
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"{args_path}: unreadable ({e}); cannot check that this command continues the run in "
                            f"{out}; restore it, or delete it to compare the architecture only") from None
        diff = resume_conflicts(saved, args, defaults)
        if diff:
            parts = "; ".join(f"{_flag(k)}: {v0!r} there, {v1!r} now" for k, (v0, v1) in diff.items())
            raise UserError(f"{out}: holds a run with other arguments ({parts}); {tail}")
    try:
        state = torch.load(last, map_location="cpu", weights_only=False)
        saved_config = state["config"]
    except Exception as e:  # truncated or foreign file: say so instead of a traceback from torch
        raise UserError(f"{last}: not a readable training checkpoint ({type(e).__name__}: {e}); "
                        f"delete {out} to start over") from None
    diff = config_conflicts(canonical_config(saved_config), config)
    if diff:
        parts = "; ".join(f"{k}: {v0!r} there, {v1!r} now" for k, (v0, v1) in diff.items())
        raise UserError(f"{out}: holds a model of another architecture ({parts}); {tail}")
