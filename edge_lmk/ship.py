"""Ship a trained run as a registry model with its model card.

    python -m edge_lmk.ship --run runs/laplacekl_w1_8 [--name laplacekl_w1_8] [--test DIR]

Copies ``RUN/best.pt`` (weights, config and contract only; no optimizer state) to
``edge_lmk/weights/NAME.pt``, evaluates it on the test folder (default: the shared
300-W common set) and writes the card ``NAME.json`` (read by ``python -m edge_lmk.models``)
and ``NAME.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from pathlib import Path

import torch

from .contract import PreprocessContract
from .data.pts import atomic_write_bytes
from .models.generator import branch_channels, count_params
from .models.registry import REGISTRY, WEIGHTS_DIR, load_checkpoint, save_checkpoint
from .paths import default_test_dir

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


def train_command(cfg: dict, args: dict, run: Path) -> str:
    """The train command that reproduces a run: width, loss, epochs, seed, out, plus every non-default option."""
    from .train import parse_args

    defaults = vars(parse_args([]))
    parts = [("width", cfg["width"]), ("loss", cfg["loss"]), ("epochs", args.get("epochs")), ("seed", args.get("seed"))]
    skip = {"width", "loss", "epochs", "seed", "out", "device", "max_minutes", "beta"}
    for k, v in args.items():
        if k in skip or k not in defaults or v == defaults[k] or v is None:
            continue
        if v is True:
            parts.append((k, ""))
        else:
            parts.append((k, " ".join(str(portable(x)) for x in v) if isinstance(v, list) else portable(v)))
    if args.get("beta") not in (None, 1.0) and not args.get("init_from"):
        parts.append(("beta", args["beta"]))
    parts.append(("out", str(run)))
    return "python -m edge_lmk.train " + " ".join(
        f"--{k.replace('_', '-')}" + (f" {shlex.quote(str(v))}" if v != "" else "") for k, v in parts if v is not None)


def build_card(name: str, ckpt: dict, test: dict | None, weights: Path, run: Path) -> dict:
    cfg = ckpt["config"]
    args = ckpt.get("train_args", {})
    hist_path = run / "log.json"
    history = json.loads(hist_path.read_text()) if hist_path.exists() else []
    cmd = train_command(cfg, args, run)
    model, spec, _ = load_checkpoint(weights)
    paper = PAPER.get(spec.label, {}).get(cfg["width"])
    card = {
        "name": name, "width": cfg["width"], "loss": cfg["loss"], "channels": list(branch_channels(
            __import__("fractions").Fraction(cfg["width"]))),
        "params": count_params(model), "bytes": weights.stat().st_size,
        "training": {"data": DATA_NOTE, "command": cmd, "epochs_planned": args.get("epochs"),
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
        "contract": ckpt["contract"],
    }
    if test:
        card["test_common"] = {k: test[k] for k in ("nme", "auc8", "fr8", "n")}
        card["test_common"]["command"] = f"python -m edge_lmk.evaluate --model {name} --data {test['data']}"
    return card


def card_markdown(card: dict) -> str:
    t = card.get("test_common")
    p = card.get("paper")
    lines = [f"# {card['name']}", "",
             f"LaplaceKL-paper recombinator generator at width {card['width']}, trained with the "
             f"`{card['loss']}` loss" + (" and the adversarial term on unlabelled faces (+D)." if card.get("adversarial")
                                         else "."), "",
             "| | |", "|---|---|",
             f"| parameters | {card['params']:,} |", f"| weights file | {card['bytes']:,} bytes (fp32) |",
             f"| channels per branch | {card['channels']} |",
             f"| epochs trained | {card['training']['epochs_trained']} of {card['training']['epochs_planned']} "
             f"(best on validation: {card['training']['best_epoch']}) |",
             f"| validation NME | {card['training']['val_nme']:.3f} |"]
    if t:
        lines.append(f"| 300-W common NME | {t['nme']:.3f} (AUC@8 {t['auc8']:.4f}, FR@8 {100 * t['fr8']:.2f}%, "
                     f"n={t['n']}) |")
    if p:
        lines.append(f"| paper (full set, 3148 training faces) | NME {p['nme_full']}"
                     + (f", {p['params']:,.0f} params |" if p["params"] else " |"))
    lines += ["", "## Training", "", card["training"]["data"], "", f"    {card['training']['command']}", "",
              card["training"]["optimizer"], ""]
    a = card.get("adversarial")
    if a:
        lines += [f"Semi-supervised (+D): PatchGAN discriminator with base {a['d_base']} channels (the paper's: 64), "
                  f"lambda {a['adv_weight']}, D learning rate {a['d_lr']}, {a['adv_batch']} labelled + "
                  f"{a['adv_batch']} unlabelled faces per discriminator step, {a['num_unlabeled']} unlabelled faces "
                  f"from `{a['unlabeled']}` (UTKFace, non-commercial research use)"
                  + (f"; fine-tuned from `{a['init_from']}`." if a.get("init_from") else "."), ""]
    lines += ["## Parameters vs the paper", "", card["param_note"], "",
              "## Preprocessing contract", "", "```json", json.dumps(card["contract"], indent=2), "```", ""]
    if t:
        lines += ["Regenerate the test number:", "", f"    {t['command']}", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.ship", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="training run folder with best.pt")
    ap.add_argument("--name", default=None, help="registry name (default: from the run's config)")
    ap.add_argument("--test", default=None, help="300-W folder for the card's test number")
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args(argv)
    run = Path(args.run)
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    model, spec, _ = load_checkpoint(run / "best.pt")
    name = args.name or spec.name
    if name not in REGISTRY:
        raise SystemExit(f"{name}: not a registry name")
    dest = WEIGHTS_DIR / f"{name}.pt"
    if (REGISTRY[name].loss, REGISTRY[name].width, REGISTRY[name].adversarial) != (spec.loss, spec.width,
                                                                                    spec.adversarial):
        raise SystemExit(f"{name}: the run is {spec.label} at width {spec.width}, registry {name} is "
                         f"{REGISTRY[name].label} at width {REGISTRY[name].width}")
    save_checkpoint(dest, model, dataclasses.replace(REGISTRY[name], beta=spec.beta, target_scale=spec.target_scale,
                                                     contract=PreprocessContract.from_dict(ckpt["contract"])))
    test = None
    if not args.no_eval:
        from .evaluate import evaluate

        data = args.test or default_test_dir()
        test = evaluate(name, data)
    card = build_card(name, ckpt, test, dest, run)
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.json", json.dumps(card, indent=2).encode())
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.md", card_markdown(card).encode())
    print(f"shipped {name}: {dest} ({card['bytes']} bytes)" +
          (f", test_common NME {test['nme']:.3f}" if test else ""))


if __name__ == "__main__":
    main()
