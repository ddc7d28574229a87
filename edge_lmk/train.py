"""Train a width-reduced generator: ``python -m edge_lmk.train --width 1/16 --loss laplacekl --out runs/x``.

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
any other difference is refused, naming the folder and the arguments (``edge_lmk/resume.py``).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .cli import (ArgumentParser, cli_main, nonnegative_float, nonnegative_int, positive_float, positive_int, unit_interval,
                  width_arg, writable_dir)
from .data import scan_folders, scan_unlabeled, split_train_val
from .data.augment import NO_AUGMENT, AugmentConfig, crop_batch
from .data.canvas import load_canvases, load_unlabeled
from .data.pts import atomic_write_bytes
from .losses import get_loss
from .metrics import nme_per_face
from .models import FAMILIES
from .models.registry import REGISTRY, ModelSpec, load_checkpoint, model_name, save_checkpoint
from .paths import default_train_dirs
from .resume import check_resume


def parse_args(argv=None):
    ap = ArgumentParser(prog="python -m edge_lmk.train", description=__doc__,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--width", type=width_arg, default="1/16", help="width multiplier: 1/16, 1/8, 1/4, 1/2 or 1")
    ap.add_argument("--loss", default="laplacekl", choices=["laplacekl", "softargmax", "gaussiankl"])
    ap.add_argument("--beta", type=positive_float, default=None,
                    help="softmax inverse temperature (default: the --init-from checkpoint's, else 1)")
    ap.add_argument("--target-scale", type=positive_float, default=1.0, help="b of the target distribution (KL losses)")
    ap.add_argument("--data", nargs="+", default=None, help="300-W layout folders (default: shared train set)")
    ap.add_argument("--val-fraction", type=unit_interval, default=0.1,
                    help="fraction of --data held out for validation (ignored with --val-data)")
    ap.add_argument("--limit-train", type=positive_int, default=None,
                    help="use only the first N training faces (after the validation split; for smoke tests)")
    ap.add_argument("--epochs", type=positive_int, default=150)
    ap.add_argument("--batch-size", type=positive_int, default=32)
    ap.add_argument("--lr", type=positive_float, default=1e-3)
    ap.add_argument("--weight-decay", type=nonnegative_float, default=1e-5)
    ap.add_argument("--warmup-epochs", type=nonnegative_float, default=2.0)
    ap.add_argument("--dropout", type=unit_interval, default=0.2)
    ap.add_argument("--ema", type=unit_interval, default=0.998,
                    help="EMA decay of weights used for validation (0 = off)")
    ap.add_argument("--val-data", nargs="+", default=None,
                    help="validation folders (e.g. ../shared/data/extra_udacity/val): then every --data face trains")
    ap.add_argument("--extra-data", nargs="+", default=None,
                    help="extra labelled folders with noisier labels (e.g. ../shared/data/extra_udacity/train), "
                         "mixed into the batches with loss weight --extra-weight")
    ap.add_argument("--extra-weight", type=nonnegative_float, default=0.5, help="loss weight of an --extra-data face")
    ap.add_argument("--family", default="recombinator", choices=sorted(FAMILIES),
                    help="generator: this kit's recombinator variant or the paper's Table 1 (names end in _t1)")
    ap.add_argument("--cache-dir", default="runs/cache",
                    help="face canvases cached here, keyed on the files' contents (delete the folder to clear it)")
    ap.add_argument("--no-cache", action="store_true", help="neither read nor write the canvas cache")
    ap.add_argument("--steps", type=positive_int, default=None,
                    help="train for at least this many optimizer steps (sets --epochs from the batches per epoch)")
    ap.add_argument("--no-augment", action="store_true", help="train on plain crops (the paper's setting)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="run folder (default runs/LOSS_WIDTH)")
    ap.add_argument("--init-from", default=None,
                    help="start from these weights (new optimizer); a pruned checkpoint "
                         "(python -m edge_lmk.compress.prune) also sets the architecture and name, and --width "
                         "and --loss are ignored")
    ap.add_argument("--max-minutes", type=positive_float, default=None,
                    help="stop cleanly after this long (resume later)")
    ap.add_argument("--unlabeled", default=None, help="unlabelled face folder: enables LaplaceKL+D adversarial training")
    ap.add_argument("--num-unlabeled", type=positive_int, default=10000, help="use at most this many unlabelled faces")
    ap.add_argument("--unlabeled-extent", type=positive_float, default=0.58,
                    help="landmark extent / image side of the unlabelled faces (calibrate with "
                         "python -m edge_lmk.unlabeled_scale)")
    ap.add_argument("--adv-weight", type=nonnegative_float, default=1e-3, help="lambda of the adversarial term")
    ap.add_argument("--d-lr", type=positive_float, default=1e-4)
    ap.add_argument("--head-hidden", type=nonnegative_int, default=0,
                    help="add a per-pixel MLP branch with this many hidden channels to the heatmap head "
                         "(0 = the paper's linear 1x1 head); --init-from a linear-head checkpoint starts it at zero")
    ap.add_argument("--d-base", type=positive_int, default=64,
                    help="discriminator base channels (the paper's PatchGAN: 64)")
    ap.add_argument("--adv-batch", type=positive_int, default=None,
                    help="labelled and unlabelled faces per discriminator step (default: --batch-size, the paper's "
                         "setting); D sees 71x80x80 inputs, so on a CPU this, not --d-base, sets the cost of +D")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=positive_int, default=None)
    return ap.parse_args(argv)


def make_spec(args) -> ModelSpec:
    init = load_checkpoint(args.init_from)[1] if args.init_from else None
    beta = args.beta if args.beta is not None else (init.beta if init else 1.0)
    if init is not None and init.block_channels is not None:
        # Fine-tuning a pruned (explicit-channel) model: its architecture, name and parent come with it.
        return replace(init, beta=beta, target_scale=args.target_scale)
    w = Fraction(args.width)
    adversarial = bool(args.unlabeled)
    name = model_name(args.loss, w, adversarial)
    if args.head_hidden:
        name = f"{name}_h{args.head_hidden}"
    name += FAMILIES[args.family].suffix
    base = REGISTRY.get(name, ModelSpec(name, w, args.loss))
    return ModelSpec(base.name, w, args.loss, beta, args.target_scale, base.contract, head_hidden=args.head_hidden,
                     adversarial=adversarial, family=args.family)


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))  # warm-up so early epochs are usable
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)


@torch.no_grad()
def validate(model, images, pts, crop_scale, out_size, device, batch=128) -> np.ndarray:
    model.eval()
    nmes = []
    for i in range(0, len(images), batch):
        x, t = crop_batch(images[i:i + batch].to(device), pts[i:i + batch].to(device), out_size, crop_scale)
        mean, _ = model(x)
        nmes.append(nme_per_face(mean.cpu().numpy(), t.cpu().numpy()))
    return np.concatenate(nmes)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * prog))


@cli_main
def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    spec = make_spec(args)
    args.beta = spec.beta  # recorded in args.json and the card as the value actually used
    out = Path(args.out or f"runs/{spec.name}")
    check_resume(out, vars(args), vars(parse_args([])), spec.config())  # before anything is loaded or written
    writable_dir(out, "--out")
    last_path, best_path = out / "last.pt", out / "best.pt"

    data_dirs = [Path(d) for d in (args.data or default_train_dirs())]
    records = scan_folders(data_dirs)
    if args.val_data:
        train_recs, val_recs = records, scan_folders([Path(d) for d in args.val_data])
    else:
        train_recs, val_recs = split_train_val(records, args.val_fraction, seed=0)
    if args.limit_train:
        train_recs = train_recs[:args.limit_train]
    n_main = len(train_recs)
    if args.extra_data:
        train_recs = train_recs + scan_folders([Path(d) for d in args.extra_data])
    if not train_recs or not val_recs:
        raise SystemExit(f"need both train and validation faces, got {len(train_recs)} / {len(val_recs)}")
    cache = None if args.no_cache else Path(args.cache_dir)
    tr_img, tr_pts = load_canvases(train_recs, cache, "train")
    va_img, va_pts = load_canvases(val_recs, cache, "val")
    tr_img, tr_pts = torch.from_numpy(tr_img), torch.from_numpy(tr_pts)
    va_img, va_pts = torch.from_numpy(va_img), torch.from_numpy(va_pts)
    # per-face loss weights: 1 for --data faces, --extra-weight for the noisier --extra-data ones
    tr_w = torch.ones(len(train_recs))
    tr_w[n_main:] = args.extra_weight
    print(f"{spec.name}: {n_main} train faces from {', '.join(map(str, data_dirs))}"
          + (f" + {len(train_recs) - n_main} extra (weight {args.extra_weight})" if args.extra_data else "")
          + f" / {len(val_recs)} val faces{' from ' + ', '.join(args.val_data) if args.val_data else ''}; "
          f"device {device}")

    loss_fn, _ = get_loss(spec.loss)
    crop_scale, size = spec.contract.crop_scale, spec.contract.input_size
    aug = NO_AUGMENT if args.no_augment else AugmentConfig()
    # Seed before any module exists: initial weights must follow --seed (a resume overwrites them and the RNG state).
    seed_everything(args.seed)
    # channels_last: ~40% faster convolutions on CPU for these thin layers
    model = spec.build(args.dropout).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train_recs) / args.batch_size)
    if args.steps:
        args.epochs = math.ceil(args.steps / steps_per_epoch)
    total_steps = steps_per_epoch * args.epochs
    warmup = int(args.warmup_epochs * steps_per_epoch)
    start_epoch, best_nme, history = 0, float("inf"), []
    ema = EMA(model, args.ema) if args.ema > 0 else None
    adv = None
    if args.unlabeled:
        from .adversarial import PatchDiscriminator

        un_files = scan_unlabeled(args.unlabeled)
        un_files = [un_files[i] for i in torch.randperm(len(un_files), generator=torch.Generator().manual_seed(0))[
            :args.num_unlabeled].tolist()]
        un_img, un_box = load_unlabeled(un_files, args.unlabeled_extent, cache, "unlabeled")
        disc = PatchDiscriminator(spec.contract.num_landmarks, base=args.d_base).to(device)
        adv = {"D": disc, "opt": torch.optim.Adam(disc.parameters(), lr=args.d_lr, betas=(0.5, 0.999)),
               "img": torch.from_numpy(un_img), "box": torch.from_numpy(un_box)}
        print(f"adversarial: {len(un_files)} unlabelled faces from {args.unlabeled}, lambda {args.adv_weight}, "
              f"D base {args.d_base}")

    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        if ema and state.get("ema_state_dict"):
            ema.model.load_state_dict(state["ema_state_dict"])
            ema.updates = state.get("ema_updates", 0)
        if adv and state.get("disc"):
            adv["D"].load_state_dict(state["disc"])
            adv["opt"].load_state_dict(state["disc_opt"])
        start_epoch, best_nme, history = state["epoch"], state["best_val_nme"], state["history"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        print(f"resumed from {last_path} at epoch {start_epoch} (best val NME {best_nme:.3f})")
    else:
        if args.init_from:
            missing, unexpected = model.load_state_dict(load_checkpoint(args.init_from)[0].state_dict(), strict=False)
            # Only a new, zero-initialised head branch may be absent from the source checkpoint.
            if unexpected or any(not k.startswith("generator.head_mlp.") for k in missing):
                raise SystemExit(f"{args.init_from}: weights do not fit {spec.name} "
                                 f"(missing {missing}, unexpected {unexpected})")
            if ema:
                ema.model.load_state_dict(model.state_dict())
            print(f"initialised from {args.init_from}")
    atomic_write_bytes(out / "args.json", json.dumps(vars(args), indent=2).encode())

    stop = {"flag": False}

    def request_stop(signum, frame):
        stop["flag"] = True
        print(f"\nsignal {signum}: finishing this epoch, then saving")

    signal.signal(signal.SIGTERM, request_stop)
    t_start = time.time()
    eval_model = ema.model if ema else model
    for epoch in range(start_epoch, args.epochs):
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 100003 + epoch)
        order = torch.randperm(len(tr_img), generator=gen)
        # unlabelled sampling has its own stream: labelled batches and augmentation match a run without D
        ugen = torch.Generator().manual_seed(args.seed * 100003 + epoch + 7919)
        t0 = time.time()
        run_loss = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", leave=False,
                   mininterval=1.0 if os.isatty(2) else 30.0)
        try:
            for b in bar:
                idx = order[b * args.batch_size:(b + 1) * args.batch_size]
                x, t = crop_batch(tr_img[idx].to(device), tr_pts[idx].to(device), size, crop_scale, aug, gen)
                x = x.contiguous(memory_format=torch.channels_last)
                step = epoch * steps_per_epoch + b
                for g in opt.param_groups:
                    g["lr"] = args.lr * lr_factor(step, total_steps, warmup)
                mean, spread, _ = model.forward_train(x)
                if args.extra_data:
                    w = tr_w[idx].to(device)
                    loss = (loss_fn(mean, spread, t, args.target_scale, per_face=True) * w).sum() / w.sum()
                else:
                    loss = loss_fn(mean, spread, t, args.target_scale)
                if adv:
                    loss = loss + args.adv_weight * adversarial_step(adv, model, x, t, size, crop_scale, aug, ugen,
                                                                     args.target_scale, device, args.adv_batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if ema:
                    ema.update(model)
                run_loss += loss.item()
                bar.set_postfix(loss=f"{run_loss / (b + 1):.4f}", refresh=False)
        except KeyboardInterrupt:
            print("\ninterrupted: the last completed epoch is saved in", last_path)
            return
        val = validate(eval_model, va_img, va_pts, crop_scale, size, device)
        row = {"epoch": epoch + 1, "loss": run_loss / steps_per_epoch, "val_nme": float(val.mean()),
               "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
        history.append(row)
        improved = row["val_nme"] < best_nme
        if improved:
            best_nme = row["val_nme"]
            save_checkpoint(best_path, eval_model, spec, {"epoch": epoch + 1, "val_nme": best_nme,
                                                          "train_args": vars(args)})
        save_checkpoint(last_path, model, spec, {
            "optimizer": opt.state_dict(), "ema_state_dict": ema.model.state_dict() if ema else None,
            "ema_updates": ema.updates if ema else 0,
            "disc": adv["D"].state_dict() if adv else None, "disc_opt": adv["opt"].state_dict() if adv else None,
            "epoch": epoch + 1, "best_val_nme": best_nme, "history": history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}})
        write_logs(out, history)
        print(f"epoch {epoch + 1:3d}/{args.epochs} loss {row['loss']:.4f} val NME {row['val_nme']:.3f} "
              f"{'*' if improved else ' '} ({row['seconds']:.1f}s)")
        if stop["flag"] or (args.max_minutes and (time.time() - t_start) / 60 > args.max_minutes):
            print(f"stopping after epoch {epoch + 1}; re-run the same command to resume")
            return
    print(f"done: best val NME {best_nme:.3f} -> {best_path}")


def adversarial_step(adv, model, x, t, size, crop_scale, aug, gen, b, device, n: int | None = None) -> torch.Tensor:
    """One discriminator update, then the generator's adversarial loss on unlabelled crops (Algorithm 1).

    ``n``: use the first ``n`` labelled faces of the batch as real pairs and draw ``n`` unlabelled faces
    (default: the whole batch)."""
    from .adversarial import d_loss, g_adv_loss, render_laplace

    D, optD = adv["D"], adv["opt"]
    if n:
        x, t = x[:n], t[:n]
    idx = torch.randint(len(adv["img"]), (len(x),), generator=gen)
    xu, _ = crop_batch(adv["img"][idx].to(device), adv["box"][idx].to(device), size, crop_scale, aug, gen)
    xu = xu.contiguous(memory_format=torch.channels_last)
    with frozen_bn_stats(model):  # the unlabelled pass must not move the running statistics used at test time
        _, _, pu = model.forward_train(xu)
    real = render_laplace(t, size, b)
    D.train()
    loss_d = d_loss(D(x.detach(), real), D(xu.detach(), pu.detach()))
    optD.zero_grad(set_to_none=True)
    loss_d.backward()
    optD.step()
    return g_adv_loss(D(xu, pu))


@contextlib.contextmanager
def frozen_bn_stats(model: torch.nn.Module):
    """Batch norm still normalises with the batch's statistics, but its running mean/var are left untouched.

    Without this the unlabelled batches (another image distribution, and only --adv-batch faces) are mixed into
    the running statistics that evaluation and export use, which the supervised control does not do."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


def write_logs(out: Path, history: list[dict]) -> None:
    tmp = out / ".log.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, out / "log.csv")
    tmp = out / ".log.json.tmp"
    tmp.write_text(json.dumps(history, indent=1))
    os.replace(tmp, out / "log.json")


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
