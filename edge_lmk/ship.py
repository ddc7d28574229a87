"""Ship a trained run as a registry model with its model card.

    python -m edge_lmk.ship --run runs/laplacekl_w1_8 [--name laplacekl_w1_8] [--test DIR]

Copies ``RUN/best.pt`` (weights, config and contract only; no optimizer state) to
``edge_lmk/weights/NAME.pt``, evaluates it on the test folder (default: the shared
300-W common set) and writes the card ``NAME.json`` (read by ``python -m edge_lmk.models``)
and ``NAME.md``.
"""
from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import replace
from pathlib import Path

from . import cli
from .cli import UserError, cli_main
from .contract import PreprocessContract
from .files import atomic_write_bytes
from .models import FAMILIES
from .models.net import count_params
from .models.recombinator.family import block_channels, head_hidden
from .models.recombinator.generator import block_channels_dict, branch_channels
from .models.registry import REGISTRY, WEIGHTS_DIR, checkpoint_path, load_checkpoint, save_checkpoint
from .paths import default_test_dir
from .training.config import TrainConfig

# Robinson et al., ICCV 2019, Table 3: 300-W full-set NME and parameter counts.
PAPER = {
    "laplacekl": {"1/16": (7.38, 0.0174e6), "1/8": (5.09, 0.0389e6), "1/4": (4.39, 0.1281e6),
                  "1/2": (4.04, 0.4781e6), "1": (4.01, 1.8724e6)},
    "softargmax": {"1/16": (9.79, None), "1/8": (6.86, None), "1/4": (4.83, None), "1/2": (4.35, None),
                   "1": (4.25, None)},
    # semi-supervised with the discriminator (Table 3 "LaplaceKL+D"); keyed by ModelSpec.label
    "laplacekl+D": {"1/16": (7.01, None), "1/8": (4.85, None)},
}
DATA_NOTE = ("Trained on the 1677 300-W training faces available here (HELEN 872 + LFPW 805), about half of the "
             "standard 3148 (no AFW, 128 HELEN and 6 LFPW faces missing); 10% of them held out for validation. "
             "The paper trained on all 3148 and reports the full set; common is about 0.82 x full.")
PARAM_NOTE = ("Channels per branch (80/40/20/10 px) at full width are (64, 128, 128, 128), chosen so full and 1/2 "
              "width match Table 3 within 1%. Table 3's counts also imply a width-independent ~9.5K-parameter "
              "term (consistent with two 68->68 1x1 convolutions on the heatmaps); we leave it out because at "
              "80x80 it costs ~59M MACs, several times the whole 1/16 network, so our 1/16 and 1/8 models are "
              "smaller than the paper's.")


def portable(v):
    """Absolute paths inside the repository or the shared data folder, written the way the README uses them."""
    if not isinstance(v, str) or not v.startswith("/"):
        return v
    from .paths import REPO_DIR

    for root, prefix in ((REPO_DIR, ""), (REPO_DIR.parent / "shared", "../shared/")):
        try:
            return prefix + str(Path(v).resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return v


# train flags written into a card's training command when the run set them, so the command reproduces the run
TRAIN_FLAGS = ("family", "width", "loss", "head_hidden", "init_from", "stages", "teacher", "distill_weight", "data", "val_data", "extra_data", "extra_weight",
               "steps", "epochs", "lr", "warmup_epochs", "ema", "beta",
               "batch_size", "weight_decay", "dropout", "unlabeled", "num_unlabeled", "unlabeled_extent", "adv_weight", "d_lr",
               "d_base", "adv_batch", "seed",
               "threads", "out", "no_augment")
ADVERSARIAL_FLAGS = ("num_unlabeled", "unlabeled_extent", "adv_weight", "d_lr", "d_base", "adv_batch")


def card_flags(args: dict, tc: TrainConfig, pruned: bool) -> list[str]:
    """The fields of ``TRAIN_FLAGS`` the card's command writes, in that order.

    Only fields the run's ``args.json`` recorded (an older run's card does not gain flags it never had), and of
    those only the ones that mean something for this run."""
    keep = []
    for k in TRAIN_FLAGS:
        if k in ("width", "loss"):
            if pruned:
                continue  # a pruned run takes its architecture from --init-from
        elif k not in args:
            continue
        v = getattr(tc, k)
        if k in ("head_hidden", "unlabeled", "val_data", "extra_data", "stages", "teacher") and not v:
            continue
        if k == "distill_weight" and not tc.teacher:
            continue
        if (k == "family" and v == "recombinator") or (k == "extra_weight" and not tc.extra_data):
            continue  # the defaults, or meaningless without extra data
        if k == "epochs" and tc.steps:
            continue  # --steps sets the epochs
        if k in ADVERSARIAL_FLAGS and not tc.unlabeled:
            continue  # adversarial options mean nothing without unlabelled faces
        keep.append(k)
    return keep


def train_command(args: dict, cfg: dict, pruned: bool) -> str:
    """The ``python -m edge_lmk.train`` command of a run, from its saved arguments (``args.json``)."""
    tc = TrainConfig.from_json(args)
    # a run that recorded no width/loss: the checkpoint's config says what it built
    tc = replace(tc, **{k: cfg.get(k) for k in ("width", "loss") if args.get(k) is None})
    argv = tc.to_argv(card_flags(args, tc, pruned), fmt=lambda x: shlex.quote(str(portable(x))))
    return "python -m edge_lmk.train " + " ".join(argv)


def data_note(args: dict) -> str:
    """What the run trained and chose its checkpoint on, from its saved arguments."""
    if not args.get("val_data"):
        return DATA_NOTE
    extra = (f" plus {', '.join(f'`{portable(p)}`' for p in args['extra_data'])} (noisier labels) at loss weight "
             f"{args.get('extra_weight')}") if args.get("extra_data") else ""
    return (f"Trained on all 1677 300-W training faces available here (HELEN 872 + LFPW 805, about half of the "
            f"standard 3148){extra}; the checkpoint was chosen on {', '.join(f'`{portable(p)}`' for p in args['val_data'])}, "
            f"which costs no training faces. The paper trained on all 3148 and reports the full set; common is "
            f"about 0.82 x full.")


def build_card(name: str, ckpt: dict, test: dict | None, weights: Path, run: Path,
               previous: dict | None = None) -> dict:
    """``previous``: the card of the weights this run was initialised from (when it was a shipped model), kept
    as the first stages of the training history so the whole recipe stays on record."""
    cfg = ckpt["config"]
    args = ckpt.get("train_args", {})
    hist_path = run / "log.json"
    history = json.loads(hist_path.read_text()) if hist_path.exists() else []
    pruned = cfg.get("parent") is not None
    cmd = train_command(args, cfg, pruned)
    model, spec, _ = load_checkpoint(weights)
    paper = None if pruned else PAPER.get(spec.label, {}).get(cfg["width"])
    card = {
        "name": name, "width": cfg["width"], "loss": cfg["loss"],
        "channels": None if pruned or spec.family != "recombinator" else list(branch_channels(spec.width)),
        "block_channels": block_channels_dict(block_channels(spec)) if spec.family == "recombinator" else None,
        "params": count_params(model), "bytes": weights.stat().st_size,
        "family": spec.family,
        "training": {"data": data_note(args), "command": cmd,
                     "val_data": [portable(p) for p in args["val_data"]] if args.get("val_data") else None, "steps": args.get("steps"), "epochs_planned": args.get("epochs"),
                     "epochs_trained": len(history), "best_epoch": ckpt.get("epoch"),
                     "val_nme": ckpt.get("val_nme"), "augmentation": not args.get("no_augment", False),
                     "optimizer": f"Adam lr {args.get('lr')} wd {args.get('weight_decay')}, cosine, EMA "
                                  f"{args.get('ema')}"},
        "paper": {"nme_full": paper[0], "params": paper[1]} if paper else None,
        "adversarial": {"unlabeled": portable(args.get("unlabeled")), "num_unlabeled": args.get("num_unlabeled"),
                        "adv_weight": args.get("adv_weight"), "d_lr": args.get("d_lr"),
                        "d_base": args.get("d_base", 64), "adv_batch": args.get("adv_batch") or args.get("batch_size"),
                        "init_from": portable(args.get("init_from"))} if spec.adversarial else None,
        "param_note": PARAM_NOTE,
        "history": _history(previous, args.get("init_from")),
        "contract": ckpt["contract"],
    }
    text = FAMILIES[spec.family].card_text
    if text is not None:  # the family describes its own models
        t = text(spec, _deployed_params(model))
        card.update(generator=t.generator, architecture=list(t.architecture), param_note=t.param_note)
    if spec.stages:
        card["stages"] = list(spec.stages)
        card["param_note"] += STAGE_NOTE
    if ckpt.get("shape_model"):
        card["shape_model"] = ckpt["shape_model"]
    if pruned:
        parent = REGISTRY.get(cfg["parent"])
        pc = parent.card() if parent else {}
        pr = dict(cfg.get("pruning") or {})
        card["pruning"] = {
            "parent": cfg["parent"], "parent_params": pr.pop("parent_params", None), "params": card["params"],
            "params_removed": (1 - card["params"] / pc["params"]) if pc.get("params") else None,
            "parent_test_common_nme": pc.get("test_common", {}).get("nme"),
            "prune_command": pr.pop("command", None), "config": {k: v for k, v in pr.items() if k != "params"},
            "finetune_command": cmd, "finetune_epochs": len(history)}
        surgery = "prune_fast.py" if spec.family == "fast" else "prune.py"
        card["param_note"] = (f"Structurally pruned from {cfg['parent']} (whole channels removed, dense and smaller), "
                              f"then fine-tuned; see edge_lmk/compress/{surgery}.")
    if head_hidden(spec):
        card["head_hidden"] = head_hidden(spec)
        card["param_note"] = (
            f"The width-{cfg['width']} generator plus a per-pixel MLP branch in the heatmap head "
            f"({block_channels(spec)[-1][1]} -> {head_hidden(spec)} -> 68 1x1 convolutions, LeakyReLU 0.2, added to the "
            "linear 1x1 head's logits). At small widths the 68 heatmaps are otherwise linear maps of very few "
            "features per pixel; the branch restores part of the capacity that Table 3's width-independent "
            "~9.5K-parameter term suggests the paper had. " + PARAM_NOTE)
    if test:
        card["test_common"] = {k: test[k] for k in ("nme", "auc8", "fr8", "n")}
        card["test_common"]["command"] = f"python -m edge_lmk.evaluate --model {name} --data {portable(test['data'])}"
    return card


STAGE_TEXT = {"shape": "the PCA shape model (Merget et al.), which moves outlier landmarks onto a plausible shape",
              "cascade": "the coarse-to-fine refinement stage, which moves each landmark by an offset read from a "
                         "12x12 patch around it (trained with the first stage frozen, OHEM)"}
STAGE_NOTE = (" Post-head stages (`edge_lmk/models/stages/`) run inside the graph after the soft-argmax head: the "
              "PCA shape model (`shape`, buffers only) and the coarse-to-fine refiner (`cascade`, its own parameters, "
              "trained with the first stage frozen).")


def _deployed_params(model) -> int:
    """Parameters once batch norm is folded into the convs (what an exported artifact holds)."""
    import copy

    from .models.net import fold_batchnorm

    m = copy.deepcopy(model).eval()
    fold_batchnorm(m)
    return count_params(m)


def run_stage_card(checkpoint: Path, depth: int = 0) -> dict | None:
    """The ``training`` part of a card for an unshipped run's checkpoint (``RUN/best.pt``) that a run was
    initialised from (a warm restart, a fine-tune after pruning), with that run's own earlier stages, so the
    shipped card lists every stage. No test number: a run is chosen on validation data only."""
    ck = load_checkpoint(checkpoint)[2]
    args = ck.get("train_args")
    if not args or depth > 8:
        return None
    log = checkpoint.parent / "log.json"
    cfg = ck.get("config", {})
    training = {"command": train_command(args, cfg, cfg.get("parent") is not None),
                "epochs_trained": len(json.loads(log.read_text())) if log.is_file() else None,
                "best_epoch": ck.get("epoch"), "val_nme": ck.get("val_nme")}
    earlier = args.get("init_from")
    before = None
    if earlier and Path(earlier).is_file() and not _is_shipped(earlier):
        before = run_stage_card(Path(earlier), depth + 1)
    card = {"training": training}
    if before:
        card["history"] = _history(before, earlier)
    return card


def _is_shipped(init_from: str) -> bool:
    """Whether ``init_from`` (a registry name or a checkpoint path) is shipped weights, which have a card."""
    return Path(checkpoint_path(init_from)).resolve().parent == WEIGHTS_DIR.resolve()


def _history(previous: dict | None, init_from: str | None) -> list[dict]:
    """Earlier training stages: those of the card this run started from, then that card's own last stage."""
    if not init_from or not previous or "training" not in previous:
        return []
    last = {k: previous["training"].get(k) for k in ("command", "epochs_trained", "best_epoch", "val_nme")}
    last["test_common_nme"] = (previous.get("test_common") or {}).get("nme")
    return [*previous.get("history", []), last]


def card_markdown(card: dict) -> str:
    t = card.get("test_common")
    p = card.get("paper")
    pr = card.get("pruning")
    gen = card.get("generator") or "LaplaceKL-paper recombinator generator"
    intro = (f"{gen} at width {card['width']}, trained with the "
             f"`{card['loss']}` loss" + (" and the adversarial term on unlabelled faces (+D)."
                                         if card.get("adversarial") else ".") if not pr else
             f"`{pr['parent']}` ({'the' + gen[3:] if gen.startswith('The ') else gen}, width {card['width']}, "
             f"`{card['loss']}` "
             f"loss) with whole channels pruned away by the `{pr['config'].get('criterion')}` criterion, then "
             f"fine-tuned: a smaller dense model, not masked zeros.")
    if card.get("stages"):
        intro += " Then, inside the same graph: " + ", then ".join(STAGE_TEXT[s] for s in card["stages"]) + "."
    arch = (f"| channels per branch | {card['channels']} |" if card.get("channels") else
            f"| {card['architecture'][0]} | {card['architecture'][1]} |" if card.get("architecture") else
            f"| channels per block (mid, out) | {json.dumps(card['block_channels'])} |")
    lines = [f"# {card['name']}", "", intro, "",
             "| | |", "|---|---|",
             f"| parameters | {card['params']:,} |", f"| weights file | {card['bytes']:,} bytes (fp32) |",
             arch,
             f"| epochs trained | {card['training']['epochs_trained']} of {card['training']['epochs_planned']} "
             f"(best on validation: {card['training']['best_epoch']})"
             + (f", {card['training']['steps']:,} optimizer steps planned" if card['training'].get('steps') else "")
             + " |",
             f"| validation NME | {card['training']['val_nme']:.3f} |"]
    if t:
        lines.append(f"| 300-W common NME | {t['nme']:.3f} (AUC@8 {t['auc8']:.4f}, FR@8 {100 * t['fr8']:.2f}%, "
                     f"n={t['n']}) |")
    if p:
        lines.append(f"| paper (full set, 3148 training faces) | NME {p['nme_full']}"
                     + (f", {p['params']:,.0f} params |" if p["params"] else " |"))
    if pr:
        lines.append(f"| parent | `{pr['parent']}`: {pr['parent_params']:,} params"
                     + (f", 300-W common NME {pr['parent_test_common_nme']:.3f}" if pr.get("parent_test_common_nme")
                        else "") + " |")
        lines += ["", "## Pruning", "", f"Config: `{json.dumps(pr['config'])}`", "", f"    {pr['prune_command']}",
                  "", f"then fine-tuned for {pr['finetune_epochs']} epochs (best on validation: "
                  f"{card['training']['best_epoch']}):", "", f"    {pr['finetune_command']}"]
    stages = card.get("history") or []
    if stages:
        lines += ["", "## Training history", "", "Earlier stages, each initialising the next:", ""]
        for i, h in enumerate(stages, 1):
            lines += [f"{i}. {h.get('epochs_trained')} epochs, val NME {_fmt(h.get('val_nme'))}, test_common NME "
                      f"{_fmt(h.get('test_common_nme'))}:", "", f"        {h.get('command')}", ""]
    lines += ["", "## Training" + (" (last stage)" if stages else ""), "", card["training"]["data"], "",
              f"    {card['training']['command']}", "",
              card["training"]["optimizer"], ""]
    a = card.get("adversarial")
    if a:
        lines += [f"Semi-supervised (+D): PatchGAN discriminator with base {a['d_base']} channels (the paper's: 64), "
                  f"lambda {a['adv_weight']}, D learning rate {a['d_lr']}, {a['adv_batch']} labelled + "
                  f"{a['adv_batch']} unlabelled faces per discriminator step, {a['num_unlabeled']} unlabelled faces "
                  f"from `{a['unlabeled']}` (UTKFace, non-commercial research use)"
                  + (f"; fine-tuned from `{a['init_from']}`." if a.get("init_from") else "."), ""]
    sm = card.get("shape_model")
    if sm:
        lines += ["## Shape model", "",
                  f"PCA of {sm['shapes']} training shapes ({sm['components']} modes, {100 * sm['explained_variance']:.1f}% "
                  f"of the variance), outlier threshold {sm['threshold']} chosen on {', '.join(sm['val_data'])}: "
                  f"validation NME {sm['val_nme_without']:.3f} without the shape model, "
                  f"{sm['val_nme_by_threshold'][str(sm['threshold'])]:.3f} with it.", "", f"    {sm['command']}", ""]
    lines += ["## Parameters vs the paper", "", card["param_note"], "",
              "## Preprocessing contract", "", "```json", json.dumps(card["contract"], indent=2), "```", ""]
    if t:
        lines += ["Regenerate the test number:", "", f"    {t['command']}", ""]
    return "\n".join(lines)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


@cli_main
def main(argv=None):
    ap = cli.ArgumentParser(prog="python -m edge_lmk.ship", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="training run folder with best.pt")
    ap.add_argument("--name", default=None, help="registry name (default: from the run's config)")
    ap.add_argument("--test", default=None, help="300-W folder for the card's test number")
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args(argv)
    run = Path(args.run)
    if not (run / "best.pt").is_file():
        raise UserError(f"--run {run}: no best.pt there (not a finished training run folder)")
    model, spec, ckpt = load_checkpoint(run / "best.pt")  # ModelLoadError naming the file if it is not one
    name = args.name or spec.name
    if name not in REGISTRY:
        raise SystemExit(f"{name}: not a registry name")
    dest = WEIGHTS_DIR / f"{name}.pt"
    reg = REGISTRY[name]
    if (reg.loss, reg.width, reg.adversarial, reg.family, reg.arch) != (spec.loss, spec.width, spec.adversarial,
                                                                        spec.family, spec.arch):
        raise SystemExit(f"{name}: the run is {spec.label} at width {spec.width} ({spec.family}, architecture "
                         f"{spec.arch or 'plain'}), registry {name} is {reg.label} at width {reg.width} ({reg.family}, "
                         f"architecture {reg.arch or 'plain'}; edge_lmk/models/<family>/family.py)")
    init_from = (ckpt.get("train_args") or {}).get("init_from")
    previous = None
    if init_from and _is_shipped(init_from):
        src_card = Path(checkpoint_path(init_from)).resolve().with_suffix(".json")
        previous = json.loads(src_card.read_text()) if src_card.is_file() else None
    elif init_from and Path(init_from).is_file():
        previous = run_stage_card(Path(init_from))
    save_checkpoint(dest, model, replace(spec, name=name, contract=PreprocessContract.from_dict(ckpt["contract"])))
    test = None
    if not args.no_eval:
        from .evaluation import evaluate

        data = args.test or default_test_dir()
        test = evaluate(name, data)
    card = build_card(name, ckpt, test, dest, run, previous)
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.json", json.dumps(card, indent=2).encode())
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.md", card_markdown(card).encode())
    print(f"shipped {name}: {dest} ({card['bytes']} bytes)" +
          (f", test_common NME {test['nme']:.3f}" if test else ""))


if __name__ == "__main__":
    main()
