"""Structured (channel) pruning of the recombinator generator: ``prune_(model, PruneConfig(...))`` (the
fast family's: ``prune_fast.py``, through the same CLI).

Whole output channels of the 3x3 convs are removed, with their BatchNorm entries and the
matching input channels of every conv that reads them, so the result is a smaller *dense*
``LandmarkNet`` (fewer channels, not masked zeros) that every exporter handles unchanged.

The surgery knows this one architecture (``generator.BLOCKS``): each block is
conv->BN->LeakyReLU twice; a block's first conv feeds only its second; the encoder outputs
e0, e1, e2 feed the next encoder *and* (as the second half of a concatenation) the decoder
at the same resolution; decoder outputs feed the next decoder's first half; the last
decoder feeds the 1x1 ``to_heatmaps`` conv, whose 68 outputs are fixed.

Criteria (importance of one output channel; the lowest are removed in each conv):

- ``l1``: L1 norm of the BN-folded filter, ``|gamma| / sqrt(var + eps) * sum |W|``
  (Li et al. 2017, on the filter the deployed model actually applies);
- ``bn_scale``: ``|gamma|`` of the channel's BatchNorm (network slimming, Liu et al. 2017);
- ``taylor``: gradient-based, first-order Taylor estimate of the loss change when the channel's
  activation is removed, ``|sum_hw a * dL/da|`` averaged over calibration faces (Molchanov et
  al. 2017); needs ``calibrate``, a callable that runs forward/backward on some batches.

How many channels each conv keeps: ``amount`` (fraction removed from every conv),
``target_params`` (the largest uniform keep ratio whose model has at most that many
parameters), or explicit ``channels`` (``{"enc0": (mid, out), ...}``).

With ``compensate`` the removed channels' mean activation (measured during calibration, else
``LeakyReLU(beta)``, the BN output at its running mean) is folded into the consumer's BN
running mean or bias, so the pruned model starts closer to the original before fine-tuning.
Without it, the pruned model equals the original with those activations set to zero
(``mask_activations``), exactly.

CLI (prune a shipped model, write a checkpoint that ``python -m edge_lmk.train --init-from``
fine-tunes)::

    python -m edge_lmk.compress.prune --model laplacekl_w1_4 --target-params 60000 \\
        --criterion taylor --out runs/prune/laplacekl_w1_4_p50.pt
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..models.net import LandmarkNet, count_params
from ..models.recombinator.generator import (BLOCKS, LEAKY_SLOPE, RecombinatorGenerator, block_channels_dict,
                                             block_inputs, normalize_block_channels)

CRITERIA = ("l1", "bn_scale", "taylor")
# (block, conv index within the block) for the 14 prunable convs, in forward order.
CONVS = tuple((b, i) for b in BLOCKS for i in (0, 1))


@dataclass(frozen=True)
class PruneConfig:
    """One structured-pruning step. Give exactly one of ``amount``, ``target_params``, ``channels``."""

    amount: float | None = None  # fraction of output channels removed from every prunable conv
    target_params: int | None = None  # or: largest uniform keep ratio with at most this many parameters
    channels: dict | None = None  # or: exact {"enc0": (mid, out), ...} to keep
    criterion: str = "l1"  # "l1" | "bn_scale" | "taylor"
    min_channels: int = 2
    compensate: bool = True
    recalibrate_bn: bool = True  # with calibration data: re-estimate BN statistics of the pruned model

    def __post_init__(self):
        given = [k for k in ("amount", "target_params", "channels") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"PruneConfig: give exactly one of amount, target_params, channels (got {given or 'none'})")
        if self.criterion not in CRITERIA:
            raise ValueError(f"PruneConfig: unknown criterion {self.criterion!r}; expected one of {CRITERIA}")
        if self.amount is not None and not 0 <= self.amount < 1:
            raise ValueError(f"PruneConfig: amount must be in [0, 1), got {self.amount}")
        if self.min_channels < 1:
            raise ValueError("PruneConfig: min_channels must be >= 1")

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["channels"] is not None:
            d["channels"] = block_channels_dict(normalize_block_channels(d["channels"]))
        return d


# ---------------------------------------------------------------------------------------------------- layout


def _generator(model: nn.Module) -> RecombinatorGenerator:
    gen = model.generator if isinstance(model, LandmarkNet) else model
    if not isinstance(gen, RecombinatorGenerator):
        raise TypeError(f"prune_ expects a LandmarkNet or RecombinatorGenerator, got {type(model).__name__}")
    return gen


def _conv_bn(gen: RecombinatorGenerator, block: str, i: int) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    cb = getattr(gen, block)[i]
    conv, bn = cb[0], cb[1]
    if not isinstance(bn, nn.BatchNorm2d):
        raise ValueError("prune_ needs the BatchNorm layers: prune before fold_batchnorm")
    return conv, bn


def _consumers(bc) -> dict[tuple[str, int], list[tuple[str, int]]]:
    """Producer conv -> [(consumer, input offset)]; consumer is (block, i) or ("to_heatmaps", 0)."""
    out = {b: o for b, (_, o) in zip(BLOCKS, bc)}
    cons = {(b, 0): [((b, 1), 0)] for b in BLOCKS}
    cons.update({
        ("enc0", 1): [(("enc1", 0), 0), (("dec0", 0), out["dec1"])],
        ("enc1", 1): [(("enc2", 0), 0), (("dec1", 0), out["dec2"])],
        ("enc2", 1): [(("enc3", 0), 0), (("dec2", 0), out["enc3"])],
        ("enc3", 1): [(("dec2", 0), 0)],
        ("dec2", 1): [(("dec1", 0), 0)],
        ("dec1", 1): [(("dec0", 0), 0)],
        ("dec0", 1): [(("to_heatmaps", 0), 0)],
    })
    return cons


def _input_index(bc, keep: dict, consumer: tuple[str, int]) -> torch.Tensor:
    """Original input-channel indices that the pruned ``consumer`` conv keeps."""
    if consumer == ("enc0", 0):
        return torch.arange(3)
    parts = [keep[p] + off for p, cs in _consumers(bc).items() for c, off in cs if c == consumer]
    return torch.sort(torch.cat(parts)).values


def params_for(block_channels, num_landmarks: int = 68) -> int:
    """Parameter count of a generator with these per-block channels (conv weights, BN affine, head conv)."""
    bc = normalize_block_channels(block_channels)
    cin = block_inputs(bc)
    n = 0
    for b, (mid, out) in zip(BLOCKS, bc):
        n += cin[b] * mid * 9 + 2 * mid + mid * out * 9 + 2 * out
    return n + bc[-1][1] * num_landmarks + num_landmarks


def uniform_channels(bc, keep_ratio: float, min_channels: int = 2) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(min(c, max(min_channels, round(c * keep_ratio))) for c in pair) for pair in bc)


def plan_channels(bc, config: PruneConfig, num_landmarks: int = 68) -> tuple[tuple[int, int], ...]:
    """Per-block channels to keep under ``config`` (before choosing *which* channels)."""
    if config.channels is not None:
        want = normalize_block_channels(config.channels)
        bad = [b for b, w, c in zip(BLOCKS, want, bc) if w[0] > c[0] or w[1] > c[1]]
        if bad:
            raise ValueError(f"PruneConfig.channels exceed the model's in {bad}: {want} vs {bc}")
        return want
    if config.amount is not None:
        return uniform_channels(bc, 1 - config.amount, config.min_channels)
    if params_for(uniform_channels(bc, 0.0, config.min_channels), num_landmarks) > config.target_params:
        raise ValueError(f"target_params {config.target_params} is below the smallest model "
                         f"(min_channels {config.min_channels})")
    lo, hi = 0.0, 1.0  # largest keep ratio whose model fits (params grow monotonically with the ratio)
    for _ in range(40):
        mid = (lo + hi) / 2
        if params_for(uniform_channels(bc, mid, config.min_channels), num_landmarks) <= config.target_params:
            lo = mid
        else:
            hi = mid
    return uniform_channels(bc, lo, config.min_channels)


# ---------------------------------------------------------------------------------------------- importance


@contextlib.contextmanager
def _activation_hooks(gen: RecombinatorGenerator, want_grad: bool) -> Iterator[dict]:
    """Record, per conv, sum over samples of |sum_hw a * dL/da| (if ``want_grad``), the activation sum, and the
    number of samples/pixels seen, at each ConvBlock's output (after LeakyReLU)."""
    stats = {k: {"taylor": 0.0, "sum": 0.0, "n": 0, "pix": 0} for k in CONVS}
    handles = []
    for key in CONVS:
        block, i = key

        def hook(mod, inp, out, key=key):
            s = stats[key]
            s["sum"] = s["sum"] + out.detach().sum((0, 2, 3)).double()
            s["pix"] += out.shape[0] * out.shape[2] * out.shape[3]
            s["n"] += out.shape[0]
            if want_grad and out.requires_grad:
                def grad_hook(g, out=out.detach()):
                    s["taylor"] = s["taylor"] + (out * g).sum((2, 3)).abs().sum(0).double()
                out.register_hook(grad_hook)

        handles.append(getattr(gen, block)[i].register_forward_hook(hook))
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()


def importance(model: nn.Module, criterion: str, calibrate: Callable[[nn.Module], None] | None = None
               ) -> tuple[dict, dict | None]:
    """Per-conv channel importance (higher = keep) and, when ``calibrate`` ran, mean activations."""
    gen = _generator(model)
    if criterion == "taylor" and calibrate is None:
        raise ValueError("criterion 'taylor' needs calibrate(model): forward + backward on some batches")
    means = None
    taylor = None
    if calibrate is not None:
        was_training = model.training
        model.eval()  # BN running statistics and no dropout: the deployed function
        with _activation_hooks(gen, want_grad=criterion == "taylor") as stats, torch.enable_grad():
            model.zero_grad(set_to_none=True)
            calibrate(model)
            model.zero_grad(set_to_none=True)
        model.train(was_training)
        if stats[CONVS[0]]["n"] == 0:
            raise ValueError("calibrate(model) ran no forward pass")
        means = {k: (s["sum"] / s["pix"]).float() for k, s in stats.items()}
        if criterion == "taylor":
            if not torch.is_tensor(stats[CONVS[0]]["taylor"]):
                raise ValueError("criterion 'taylor': calibrate(model) must call backward()")
            taylor = {k: (s["taylor"] / s["n"]).float() for k, s in stats.items()}
    scores = {}
    for key in CONVS:
        conv, bn = _conv_bn(gen, *key)
        g = bn.weight.detach().abs()
        if criterion == "l1":
            scores[key] = l1_score(conv, bn)
        elif criterion == "bn_scale":
            scores[key] = g.clone()
        else:
            scores[key] = taylor[key]
    return scores, means


# ------------------------------------------------------------------------------------------------- surgery


def _removed_value(gen, key, keep_idx, means) -> torch.Tensor:
    """Constant standing in for each channel's activation: measured mean, else LeakyReLU(BN beta)."""
    if means is not None:
        return means[key]
    return resting_activation(_conv_bn(gen, *key)[1])


def surgery(model: nn.Module, keep: dict[tuple[str, int], torch.Tensor], means: dict | None = None,
            compensate: bool = True) -> RecombinatorGenerator:
    """A new, smaller generator keeping output channels ``keep[(block, i)]`` (original indices) of each conv."""
    gen = _generator(model)
    bc = gen.block_channels
    new_bc = tuple((len(keep[(b, 0)]), len(keep[(b, 1)])) for b in BLOCKS)
    dropout = next((m.p for m in gen.modules() if isinstance(m, nn.Dropout2d)), 0.0)
    num_landmarks = gen.to_heatmaps.out_channels
    new = RecombinatorGenerator(num_landmarks=num_landmarks, dropout=dropout, block_channels=new_bc)
    new.train(gen.training)
    cons = _consumers(bc)
    # Interior-exact compensation: a removed input channel j holding constant c adds sum_k W[:, j, k] * c to the
    # consumer's pre-BN output (pre-bias for to_heatmaps); take it out of the running mean (add it to the bias).
    shift = {c: torch.zeros(getattr(new, c[0]).out_channels if c[0] == "to_heatmaps" else
                            _conv_bn(gen, *c)[0].out_channels) for c in [*CONVS, ("to_heatmaps", 0)]}
    if compensate:
        for p in CONVS:
            n_out = _conv_bn(gen, *p)[0].out_channels
            dropped = torch.ones(n_out, dtype=torch.bool)
            dropped[keep[p]] = False
            if not dropped.any():
                continue
            val = _removed_value(gen, p, keep[p], means).detach() * dropped
            for c, off in cons[p]:
                w = gen.to_heatmaps.weight if c[0] == "to_heatmaps" else _conv_bn(gen, *c)[0].weight
                shift[c] += torch.einsum("oikl,i->o", w.detach()[:, off:off + n_out], val)
    with torch.no_grad():
        for key in CONVS:
            conv, bn = _conv_bn(gen, *key)
            nconv, nbn = _conv_bn(new, *key)
            copy_kept(conv, bn, nconv, nbn, keep[key], _input_index(bc, keep, key), shift[key])
        i = _input_index(bc, keep, ("to_heatmaps", 0))
        new.to_heatmaps.weight.copy_(gen.to_heatmaps.weight[:, i])
        new.to_heatmaps.bias.copy_(gen.to_heatmaps.bias + shift[("to_heatmaps", 0)])
    return new.to(gen.to_heatmaps.weight.device)


def select_channels(scores: dict, new_bc) -> dict[tuple[str, int], torch.Tensor]:
    """Keep the highest-scoring channels of each conv (ties: lower index), as sorted original indices."""
    return {(b, i): top_channels(scores[(b, i)], pair[i]) for b, pair in zip(BLOCKS, new_bc) for i in (0, 1)}


# ------------------------------------------------ per-conv pieces, shared with the fast family (prune_fast.py)


def l1_score(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``l1`` importance of each output channel: the L1 norm of the BN-folded filter."""
    return conv.weight.detach().abs().sum((1, 2, 3)) * bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)


def top_channels(score: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted original indices of the ``n`` highest scores (ties: lower index)."""
    return torch.sort(torch.argsort(-score, stable=True)[:n]).values


def resting_activation(bn: nn.BatchNorm2d) -> torch.Tensor:
    """Each channel's activation at its BN's running mean, LeakyReLU(beta): what stands in for a removed
    channel when no mean activation was measured."""
    return torch.nn.functional.leaky_relu(bn.bias.detach(), LEAKY_SLOPE)


def copy_kept(conv: nn.Conv2d, bn: nn.BatchNorm2d, nconv: nn.Conv2d, nbn: nn.BatchNorm2d, out_idx: torch.Tensor,
              in_idx: torch.Tensor, mean_shift: torch.Tensor) -> None:
    """Copy the kept output (``out_idx``) and input (``in_idx``) channels of conv + BN into the smaller pair;
    ``mean_shift`` (per original output channel) is taken out of the running mean (compensation)."""
    nconv.weight.copy_(conv.weight[out_idx][:, in_idx])
    for name in ("weight", "bias", "running_var"):
        getattr(nbn, name).copy_(getattr(bn, name)[out_idx])
    nbn.running_mean.copy_((bn.running_mean - mean_shift)[out_idx])
    nbn.num_batches_tracked.copy_(bn.num_batches_tracked)
    nbn.eps, nbn.momentum = bn.eps, bn.momentum


def prune_(model: nn.Module, config: PruneConfig, calibrate: Callable[[nn.Module], None] | None = None
           ) -> nn.Module:
    """Remove whole channels from ``model`` (a LandmarkNet, or its generator) in place and return it.

    ``calibrate(model)``, if given, runs forward (and for ``taylor`` backward) passes on real faces; it is
    required by ``taylor`` and gives ``compensate`` measured mean activations.
    """
    gen = _generator(model)
    if getattr(gen, "head_mlp", None) is not None:
        raise ValueError("prune_: models with a head MLP branch (--head-hidden) cannot be pruned yet; "
                         "prune the linear-head model, then add the branch with train --head-hidden")
    new_bc = plan_channels(gen.block_channels, config, gen.to_heatmaps.out_channels)
    scores, means = importance(model, config.criterion, calibrate)
    keep = select_channels(scores, new_bc)
    new = surgery(model, keep, means, config.compensate)
    if isinstance(model, LandmarkNet):
        model.generator = new
        out = model
    else:
        out = new
    if config.recalibrate_bn and calibrate is not None:
        recalibrate_bn(out, calibrate)
    return out


def recalibrate_bn(model: nn.Module, calibrate: Callable[[nn.Module], None]) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics (cumulative average) on the calibration passes;
    weights are unchanged, dropout stays off."""
    was_training = model.training
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        with torch.enable_grad():
            calibrate(model)
    finally:
        model.zero_grad(set_to_none=True)
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.train(was_training)
    return model


@contextlib.contextmanager
def mask_activations(model: nn.Module, keep: dict[tuple[str, int], torch.Tensor]) -> Iterator[nn.Module]:
    """Zero every channel not in ``keep`` at its ConvBlock's output (the reference a pruned model must match)."""
    gen = _generator(model)
    handles = []
    for key, idx in keep.items():
        block, i = key
        mod = getattr(gen, block)[i]
        mask = torch.zeros(mod[0].out_channels)
        mask[idx] = 1
        handles.append(mod.register_forward_hook(lambda m, inp, out, mask=mask: out * mask.view(1, -1, 1, 1)))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------------------------------- CLI


def face_batches(dirs, spec, n_faces: int, batch: int = 32, seed: int = 0):
    """(x, targets) batches of plain (unaugmented) training crops, from the training split only."""
    from ..data import scan_folders, split_train_val
    from ..data.augment import crop_batch
    from ..data.canvas import load_canvases

    records = scan_folders([Path(d) for d in dirs])
    train_recs, _ = split_train_val(records, 0.1, seed=0)
    g = torch.Generator().manual_seed(seed)
    pick = [train_recs[i] for i in torch.randperm(len(train_recs), generator=g)[:n_faces].tolist()]
    img, pts = load_canvases(pick, None, "calibration")
    img, pts = torch.from_numpy(img), torch.from_numpy(pts)
    c = spec.contract
    return [crop_batch(img[i:i + batch], pts[i:i + batch], c.input_size, c.crop_scale)
            for i in range(0, len(img), batch)]


def loss_calibration(batches, loss_name: str, target_scale: float = 1.0) -> Callable[[nn.Module], None]:
    from ..losses import get_loss

    loss_fn = get_loss(loss_name)[0]

    def calibrate(model):
        for x, t in batches:
            mean, spread, _ = model.forward_train(x)
            loss_fn(mean, spread, t, target_scale).backward()

    return calibrate


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.compress.prune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="registry name or .pt checkpoint to prune")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--amount", type=float, help="fraction of channels removed from every conv")
    g.add_argument("--target-params", type=int, help="at most this many parameters")
    g.add_argument("--channels", help='JSON {"enc0": [mid, out], ...}')
    ap.add_argument("--criterion", default="taylor", choices=CRITERIA)
    ap.add_argument("--min-channels", type=int, default=2)
    ap.add_argument("--no-compensate", action="store_true")
    ap.add_argument("--calib-faces", type=int, default=256, help="training faces for taylor / compensation (0: none)")
    ap.add_argument("--data", nargs="+", default=None, help="training folders (default: shared train set)")
    ap.add_argument("--name", default=None, help="registry name of the result (default PARENT_pNN)")
    ap.add_argument("--out", required=True, help="checkpoint to write (input of train --init-from)")
    ap.add_argument("--eval", default=None, help="also report NME before/after on this 300-W folder")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from ..models.registry import REGISTRY, load_checkpoint
    from ..paths import default_train_dirs

    # the checkpoint's own spec (beta, target_scale, contract), not the registry's defaults
    path = REGISTRY[args.model].weights_path if args.model in REGISTRY else args.model
    model, spec, _ = load_checkpoint(path)
    if spec.pruned:
        parent = spec.parent  # pruning a pruned model: keep the root parent
    else:
        parent = spec.name
    if spec.family == "fast":
        return _main_fast(args, argv, model, spec, parent)
    config = PruneConfig(amount=args.amount, target_params=args.target_params,
                         channels=json.loads(args.channels) if args.channels else None, criterion=args.criterion,
                         min_channels=args.min_channels, compensate=not args.no_compensate)
    calibrate = None
    if args.calib_faces > 0 and (config.criterion == "taylor" or config.compensate):
        batches = face_batches(args.data or default_train_dirs(), spec, args.calib_faces)
        calibrate = loss_calibration(batches, spec.loss, spec.target_scale)
    before = count_params(model)
    reference = None
    if args.eval:
        import copy

        reference = copy.deepcopy(model)
    prune_(model, config, calibrate)
    name, new_spec = _write_pruned(args, argv, model, spec, parent, before, config.to_dict(),
                                   block_channels_dict(model.generator.block_channels))
    if args.eval:
        from ..evaluation import predict_photo, prepare_crops, score
        from ..data import scan_folder
        from ..runtimes.torch_runtime import TorchPredictor

        crops = prepare_crops(scan_folder(args.eval), spec.contract)
        for label, m, s in (("before", reference, spec), ("after", model, new_spec)):
            nme = score(predict_photo(TorchPredictor.from_model(m, s), crops)[0], crops)["nme"]
            print(f"  NME {label} pruning on {args.eval}: {nme:.3f}")
    print(f"wrote {args.out}; fine-tune with:\n  python -m edge_lmk.train --init-from {args.out} "
          f"--epochs 12 --lr 5e-4 --warmup-epochs 0.3 --ema 0.99 --out runs/{name}")
    return model, new_spec


def _write_pruned(args, argv, model, spec, parent, before: int, pruning: dict, channels) -> tuple[str, object]:
    """Save the pruned model as a checkpoint that carries its parent, its per-block channels and how it was
    made (``pruning``: the config, plus parameter counts and the command); print the summary line.
    -> (its name, its ``ModelSpec``)."""
    from dataclasses import replace

    from ..models.registry import pruned_name, save_checkpoint

    after = count_params(model)
    name = args.name or pruned_name(parent, 1 - after / before)
    pcfg = {**pruning, "parent_params": before, "params": after,
            "command": "python -m edge_lmk.compress.prune " + shlex.join(argv if argv is not None else
                                                                        __import__("sys").argv[1:])}
    new_spec = replace(spec, name=name, parent=parent, pruning=pcfg,
                       arch={**spec.arch, "block_channels": model.generator.block_channels})
    save_checkpoint(args.out, model, new_spec)
    print(f"{args.model} -> {name}: {before:,} -> {after:,} params ({100 * (1 - after / before):.1f}% removed), "
          f"criterion {pruning['criterion']}; channels {json.dumps(channels)}")
    return name, new_spec


def _main_fast(args, argv, model, spec, parent):
    """The CLI for the fast family (``compress/prune_fast.py``): ``--channels '{"enc3": 22, ...}'`` (blocks not
    named keep theirs) or ``--target-params`` (uniform keep ratio over every block); criterion ``l1``."""
    from .prune_fast import BLOCKS, plan_channels, prune_fast_

    if args.amount is not None:
        raise SystemExit("python -m edge_lmk.compress.prune: the fast family takes --channels or --target-params")
    if args.criterion != "l1":
        print(f"note: the fast family prunes with the l1 criterion (--criterion {args.criterion} is for the "
              "recombinator)")
    try:
        channels = (json.loads(args.channels) if args.channels else
                    plan_channels(model.generator, args.target_params, BLOCKS, args.min_channels))
        before = count_params(model)
        prune_fast_(model, channels, compensate=not args.no_compensate)
    except (ValueError, TypeError) as e:
        raise SystemExit(f"python -m edge_lmk.compress.prune: {args.model}: {e}")
    _, new_spec = _write_pruned(args, argv, model, spec, parent, before,
                                {"channels": channels, "criterion": "l1", "compensate": not args.no_compensate},
                                model.generator.block_channels)
    print(f"wrote {args.out}; fine-tune with python -m edge_lmk.train --init-from {args.out} ...")
    return model, new_spec


if __name__ == "__main__":
    main()
