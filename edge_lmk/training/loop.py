"""The training loop: ``train(TrainConfig)``, what ``python -m edge_lmk.train`` (``edge_lmk/train.py``, whose
docstring describes resuming, the face cache and data errors), ``campaign`` and the tests call."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
import signal
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..cli import UserError, writable_dir
from ..data import scan_folders, scan_unlabeled, split_train_val
from ..data.augment import NO_AUGMENT, AugmentConfig, crop_batch
from ..data.canvas import load_canvases, load_unlabeled
from . import distributed
from ..files import atomic_write_bytes
from ..losses import get_loss
from ..metrics import nme_per_face
from ..models import FAMILIES
from ..models.registry import REGISTRY, ModelSpec, checkpoint_path, load_checkpoint, model_name, save_checkpoint
from ..models.net import run_stages
from ..models.stages import stage_suffix
from ..models.stages.cascade import ohem_loss
from ..paths import default_train_dirs
from .resume import check_resume
from .config import DEFAULTS, TrainConfig


def make_spec(cfg: TrainConfig) -> ModelSpec:
    init = load_checkpoint(checkpoint_path(cfg.init_from))[1] if cfg.init_from else None
    beta = cfg.beta if cfg.beta is not None else (init.beta if init else 1.0)
    if init is not None and (init.pruned or init.arch.get("block_channels")):
        # A pruned model, or a layout with chosen channels (``models/fast20``'s SLIM): its architecture,
        # name and parent come with the checkpoint.
        return replace(init, beta=beta, target_scale=cfg.target_scale)
    w = Fraction(cfg.width)
    adversarial = bool(cfg.unlabeled)
    name = model_name(cfg.loss, w, adversarial)
    if cfg.head_hidden:
        name = f"{name}_h{cfg.head_hidden}"
    name += FAMILIES[cfg.family].suffix
    if cfg.stages:
        if init is None:
            raise UserError("--stages trains a stage after a trained first stage: give that model with --init-from")
        if (init.family, init.width, init.loss) != (cfg.family, w, cfg.loss):
            raise UserError(f"--init-from {cfg.init_from} is {init.name} ({init.family}, width {init.width}, "
                            f"{init.loss}); pass its --family, --width and --loss")
        return replace(init, name=init.name + stage_suffix(cfg.stages), stages=init.stages + tuple(cfg.stages),
                       target_scale=cfg.target_scale)
    base = REGISTRY.get(name, ModelSpec(name, w, cfg.loss))
    return ModelSpec(base.name, w, cfg.loss, beta, cfg.target_scale, base.contract, adversarial=adversarial,
                     family=cfg.family, arch={"head_hidden": cfg.head_hidden} if cfg.head_hidden else {})


def make_ema(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """Exponential moving average of the weights and buffers (batch-norm statistics), validated and
    saved as ``best.pt``: torch's ``AveragedModel`` with a decay that warms up as min(decay,
    (1 + k) / (10 + k)) at the k-th update, so early epochs are usable. The first update copies the
    model; integer buffers (BN's ``num_batches_tracked``) are copied, not averaged."""
    from torch.optim.swa_utils import AveragedModel

    def ema_avg(avg: torch.Tensor, current: torch.Tensor, n_averaged: torch.Tensor) -> torch.Tensor:
        if not avg.is_floating_point():
            return current
        d = min(decay, (2 + float(n_averaged)) / (11 + float(n_averaged)))  # update k = n_averaged + 1
        return avg * d + current * (1 - d)

    ema = AveragedModel(model, avg_fn=ema_avg, use_buffers=True).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


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


def prepare_run(cfg: TrainConfig) -> tuple[TrainConfig, ModelSpec, Path]:
    """The model, the config as recorded (beta resolved) and the run folder; UserError if the folder holds a run
    this config would not continue. Runs before any data is loaded and writes nothing."""
    spec = make_spec(cfg)
    stride = spec.build().head.stride if cfg.unlabeled else 1  # only the +D branch needs to know
    if stride != 1:
        # the discriminator judges (crop, heatmaps) pairs at the crop's resolution
        raise UserError(f"--unlabeled (the LaplaceKL+D branch) needs heatmaps at the crop's resolution; the "
                        f"{cfg.family} family's are {stride}x coarser")
    cfg = replace(cfg, beta=spec.beta)  # recorded in args.json and the card as the value actually used
    out = Path(cfg.out or f"runs/{spec.name}")
    check_resume(out, cfg.to_json(), DEFAULTS.to_json(), spec.config())
    return cfg, spec, out


class TrainStep(torch.nn.Module):
    """One batch's loss as a module, so ``DistributedDataParallel`` can wrap it (DDP syncs the gradients of
    what its ``forward`` ran). The loss is this process's faces' share of the global batch's weighted mean,
    times the number of processes: DDP averages the gradients, which then equal one process's."""

    def __init__(self, model, loss_fn, target_scale: float, stages: list, world: int = 1, teacher=None,
                 distill_weight: float = 0.0):
        super().__init__()
        self.model, self.loss_fn, self.target_scale, self.world = model, loss_fn, target_scale, world
        self.stages = stages
        # a plain attribute, not a submodule: the teacher is frozen and never saved with the student
        self.__dict__["teacher"] = teacher
        self.distill_weight = distill_weight

    def forward(self, x: torch.Tensor, t: torch.Tensor, w: torch.Tensor, total_weight: torch.Tensor):
        if self.stages:  # OHEM over this process's share of the batch
            return stage_loss(self.model, self.stages, x, t, w)
        mean, spread, _ = self.model.forward_train(x)
        per_face = self.loss_fn(mean, spread, t, self.target_scale, per_face=True)
        aux = self.model.auxiliary_loss(t, self.loss_fn, self.target_scale)
        if aux is not None:
            per_face = per_face + aux
        if self.teacher is not None:
            per_face = per_face + self.distill_weight * distill_loss(self.teacher, x, mean, spread)
        return (per_face * w).sum() / total_weight * self.world


DISTILL_MIN_SPREAD = 0.25  # crop px: a very sure teacher must not turn the KL into a huge L1


def distill_loss(teacher, x: torch.Tensor, mean: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """(B,) KL(student Laplace || teacher Laplace) per face, summed over axes and averaged over landmarks:
    the LaplaceKL with the teacher's mean and spread as the target (any heatmap resolution: both are in crop
    pixels)."""
    from ..losses import laplace_kl

    with torch.no_grad():
        t_mean, t_spread, _ = teacher.forward_train(x)
    return laplace_kl(mean, spread, t_mean, t_spread.clamp_min(DISTILL_MIN_SPREAD), per_face=True)


def train(cfg: TrainConfig) -> None:
    """Train (or resume) the run ``cfg`` describes; returns when it is done, stopped or interrupted.
    Under ``torchrun`` every process runs this (``edge_lmk/training/distributed.py``); the first one validates,
    saves and prints."""
    ctx = distributed.from_env()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    if device.type == "cuda" and ctx.world > 1:
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if ctx.world > 1:
        if cfg.unlabeled:
            raise UserError("--unlabeled (the +D branch) runs in one process only; start it without torchrun")
        if cfg.batch_size % ctx.world:
            raise UserError(f"--batch-size {cfg.batch_size} is the global batch: it must divide among the "
                            f"{ctx.world} processes")
    cfg, spec, out = prepare_run(cfg)
    if ctx.main:
        writable_dir(out, "--out")
    distributed.init(ctx, device)
    try:
        _train(cfg, spec, out, device, ctx)
    finally:
        distributed.shutdown(ctx)


def _train(cfg: TrainConfig, spec: ModelSpec, out: Path, device: torch.device, ctx: distributed.Context) -> None:
    last_path, best_path = out / "last.pt", out / "best.pt"

    data_dirs = [Path(d) for d in (cfg.data or default_train_dirs())]
    records = scan_folders(data_dirs)
    if cfg.val_data:
        train_recs, val_recs = records, scan_folders([Path(d) for d in cfg.val_data])
    else:
        train_recs, val_recs = split_train_val(records, cfg.val_fraction, seed=0)
    if cfg.limit_train:
        train_recs = train_recs[:cfg.limit_train]
    n_main = len(train_recs)
    if cfg.extra_data:
        train_recs = train_recs + scan_folders([Path(d) for d in cfg.extra_data])
    if not train_recs or not val_recs:
        raise SystemExit(f"need both train and validation faces, got {len(train_recs)} / {len(val_recs)}")
    cache = None if cfg.no_cache else Path(cfg.cache_dir)
    tr_img, tr_pts = load_canvases(train_recs, cache, "train")
    va_img, va_pts = load_canvases(val_recs, cache, "val")
    tr_img, tr_pts = torch.from_numpy(tr_img), torch.from_numpy(tr_pts)
    va_img, va_pts = torch.from_numpy(va_img), torch.from_numpy(va_pts)
    # per-face loss weights: 1 for --data faces, --extra-weight for the noisier --extra-data ones
    tr_w = torch.ones(len(train_recs))
    tr_w[n_main:] = cfg.extra_weight
    if device.type == "cuda":  # the faces go to the GPU once; cropping and augmentation run there (crop_batch)
        tr_img, tr_pts, tr_w = tr_img.to(device), tr_pts.to(device), tr_w.to(device)
        va_img, va_pts = va_img.to(device), va_pts.to(device)
    log = print if ctx.main else (lambda *a, **k: None)
    log(f"{spec.name}: {n_main} train faces from {', '.join(map(str, data_dirs))}"
          + (f" + {len(train_recs) - n_main} extra (weight {cfg.extra_weight})" if cfg.extra_data else "")
          + f" / {len(val_recs)} val faces{' from ' + ', '.join(cfg.val_data) if cfg.val_data else ''}; "
          f"device {device}" + (f", {ctx.world} processes" if ctx.world > 1 else ""))

    loss_fn, _ = get_loss(spec.loss)
    crop_scale, size = spec.contract.crop_scale, spec.contract.input_size
    aug = NO_AUGMENT if cfg.no_augment else AugmentConfig()
    # Seed before any module exists: initial weights must follow --seed (a resume overwrites them and the RNG state).
    seed_everything(cfg.seed)
    # channels_last: ~40% faster convolutions on CPU for these thin layers
    model = spec.build(cfg.dropout).to(device, memory_format=torch.channels_last)
    if ctx.world > 1:  # batch norm over the global batch, as in one process
        distributed.convert_batchnorm(model, device)
    # --stages: the first stage (generator, earlier stages) is frozen, in eval mode; only the new stages learn
    train_stages = list(model.stages)[len(model.stages) - len(cfg.stages):] if cfg.stages else []
    if train_stages:
        for p in model.parameters():
            p.requires_grad_(False)
        for st in train_stages:
            for p in st.parameters():
                p.requires_grad_(True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                           weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_recs) / cfg.batch_size)
    if cfg.steps:
        cfg = replace(cfg, epochs=math.ceil(cfg.steps / steps_per_epoch))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, best_nme, history = 0, float("inf"), []
    ema = make_ema(model, cfg.ema) if cfg.ema > 0 else None
    adv = None
    if cfg.unlabeled:
        from .adversarial import PatchDiscriminator

        un_files = scan_unlabeled(cfg.unlabeled)
        un_files = [un_files[i] for i in torch.randperm(len(un_files), generator=torch.Generator().manual_seed(0))[
            :cfg.num_unlabeled].tolist()]
        un_img, un_box = load_unlabeled(un_files, cfg.unlabeled_extent, cache, "unlabeled")
        disc = PatchDiscriminator(spec.contract.num_landmarks, base=cfg.d_base).to(device)
        adv = {"D": disc, "opt": torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.999)),
               "img": torch.from_numpy(un_img), "box": torch.from_numpy(un_box)}
        log(f"adversarial: {len(un_files)} unlabelled faces from {cfg.unlabeled}, lambda {cfg.adv_weight}, "
              f"D base {cfg.d_base}")

    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        if ema and state.get("ema_state_dict"):
            ema.module.load_state_dict(state["ema_state_dict"])
            ema.n_averaged.fill_(state.get("ema_updates", 0))
        if adv and state.get("disc"):
            adv["D"].load_state_dict(state["disc"])
            adv["opt"].load_state_dict(state["disc_opt"])
        start_epoch, best_nme, history = state["epoch"], state["best_val_nme"], state["history"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        log(f"resumed from {last_path} at epoch {start_epoch} (best val NME {best_nme:.3f})")
    else:
        if cfg.init_from:
            missing, unexpected = model.load_state_dict(load_checkpoint(checkpoint_path(cfg.init_from))[0].state_dict(),
                                                        strict=False)
            # Only a new, zero-initialised head branch or a new stage may be absent from the source checkpoint.
            new = ("generator.head_mlp.",) + tuple(f"stages.{i}." for i in range(len(model.stages) - len(cfg.stages or ()),
                                                                                  len(model.stages)))
            if unexpected or any(not k.startswith(new) for k in missing):
                raise SystemExit(f"{cfg.init_from}: weights do not fit {spec.name} "
                                 f"(missing {missing}, unexpected {unexpected})")
            if ema:
                ema.module.load_state_dict(model.state_dict())
            log(f"initialised from {cfg.init_from}")
    if ctx.main:
        atomic_write_bytes(out / "args.json", json.dumps(cfg.to_json(), indent=2).encode())
    teacher = None
    if cfg.teacher:
        if train_stages:
            raise UserError("--teacher distils the first stage; it does not combine with --stages")
        teacher = load_checkpoint(checkpoint_path(cfg.teacher))[0].to(device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        log(f"distilling from {cfg.teacher} (weight {cfg.distill_weight})")
    step_module = TrainStep(model, loss_fn, cfg.target_scale, train_stages, ctx.world, teacher, cfg.distill_weight)
    if ctx.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(step_module, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        runner = step_module

    stop = {"flag": False}

    def request_stop(signum, frame):
        stop["flag"] = True
        print(f"\nsignal {signum}: finishing this epoch, then saving")

    signal.signal(signal.SIGTERM, request_stop)
    t_start = time.time()
    eval_model = ema.module if ema else model
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if train_stages:  # frozen parts keep their batch-norm statistics and drop no units
            model.eval()
            for st in train_stages:
                st.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        order = torch.randperm(len(tr_img), generator=gen)
        # unlabelled sampling has its own stream: labelled batches and augmentation match a run without D
        ugen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch + 7919)
        t0 = time.time()
        run_loss = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   mininterval=1.0 if os.isatty(2) else 30.0, disable=not ctx.main)
        try:
            for b in bar:
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                x, t = crop_batch(tr_img[idx].to(device), tr_pts[idx].to(device), size, crop_scale, aug, gen)
                w = tr_w[idx].to(device)
                total_weight = w.sum()
                if ctx.world > 1:  # every process cut the global batch with the same draws; keep this one's share
                    share = ctx.share(len(idx))
                    x, t, w = x[share], t[share], w[share]
                x = x.contiguous(memory_format=torch.channels_last)
                step = epoch * steps_per_epoch + b
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(step, total_steps, warmup)
                loss = runner(x, t, w, total_weight)
                if adv:
                    loss = loss + cfg.adv_weight * adversarial_step(adv, model, x, t, size, crop_scale, aug, ugen,
                                                                     cfg.target_scale, device, cfg.adv_batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if ema:
                    ema.update_parameters(model)
                run_loss += loss.item()
                bar.set_postfix(loss=f"{run_loss / (b + 1):.4f}", refresh=False)
        except KeyboardInterrupt:
            log("\ninterrupted: the last completed epoch is saved in", last_path)
            return
        stop_now = stop["flag"] or bool(cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes)
        if ctx.world > 1:  # the global batch's mean loss, and one decision to stop for all processes
            import torch.distributed as dist

            agg = torch.tensor([run_loss / ctx.world, float(stop_now)], dtype=torch.float64, device=device)
            dist.all_reduce(agg)
            run_loss, stop_now = float(agg[0]), bool(agg[1] > 0)
            if not ctx.main:
                ctx.barrier()  # wait until the first process has written this epoch's checkpoint
                if stop_now:
                    return
                continue
        val = validate(eval_model, va_img, va_pts, crop_scale, size, device)
        row = {"epoch": epoch + 1, "loss": run_loss / steps_per_epoch, "val_nme": float(val.mean()),
               "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
        history.append(row)
        improved = row["val_nme"] < best_nme
        if improved:
            best_nme = row["val_nme"]
            save_checkpoint(best_path, eval_model, spec, {"epoch": epoch + 1, "val_nme": best_nme,
                                                          "train_args": cfg.to_json()})
        save_checkpoint(last_path, model, spec, {
            "optimizer": opt.state_dict(), "ema_state_dict": ema.module.state_dict() if ema else None,
            "ema_updates": int(ema.n_averaged) if ema else 0,
            "disc": adv["D"].state_dict() if adv else None, "disc_opt": adv["opt"].state_dict() if adv else None,
            "epoch": epoch + 1, "best_val_nme": best_nme, "history": history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}})
        write_logs(out, history)
        ctx.barrier()
        print(f"epoch {epoch + 1:3d}/{cfg.epochs} loss {row['loss']:.4f} val NME {row['val_nme']:.3f} "
              f"{'*' if improved else ' '} ({row['seconds']:.1f}s)")
        if stop_now:
            print(f"stopping after epoch {epoch + 1}; re-run the same command to resume")
            return
    log(f"done: best val NME {best_nme:.3f} -> {best_path}")


def stage_loss(model, stages, x: torch.Tensor, t: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """The trainable post-head stages' loss: OHEM over the faces' mean point error after the last stage
    (the frozen first stage and earlier stages run without gradients)."""
    n_frozen = len(model.stages) - len(stages)
    with torch.no_grad():
        landmarks, scale = run_stages(list(model.stages)[:n_frozen], x, *model.first_stage(x))
    return ohem_loss(run_stages(stages, x, landmarks, scale)[0], t, w)


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
    """``log.csv`` and ``log.json``, each written atomically (a run killed mid-write keeps the previous one)."""
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=list(history[0]))
    w.writeheader()
    w.writerows(history)
    atomic_write_bytes(out / "log.csv", text.getvalue().encode())
    atomic_write_bytes(out / "log.json", json.dumps(history, indent=1).encode())
