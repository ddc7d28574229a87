"""Registry of named model variants (timm style): each carries its preprocessing contract.

A variant is *shipped* when its weights file exists in ``edge_lmk/weights``.

Width-ladder variants are ``LOSS_wN_D`` (channels from the width multiplier). Structurally
pruned variants (``edge_lmk.compress.prune``) carry explicit per-block channels and their
parent: ``PARENT_pNN`` where NN is the percentage of the parent's parameters removed
(``laplacekl_w1_4_p50``: laplacekl_w1_4 with half of its parameters pruned away, fine-tuned).
They are listed in PRUNED below with the exact channels of their shipped weights.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import torch

from ..contract import DEFAULT_CONTRACT, PreprocessContract
from ..losses import get_loss
from .family import FAMILIES, build_generator
from .net import LandmarkNet, count_params
from .stages import build_stages, stage_suffix

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
CHECKPOINT_FORMAT = "edge-lmk-checkpoint/1"
WIDTHS = (Fraction(1, 16), Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1))
LOSS_NAMES = ("laplacekl", "softargmax", "gaussiankl")
ADVERSARIAL_LOSSES = ("laplacekl", "softargmax")  # "+D" variants (semi-supervised, Algorithm 1): NAME = LOSS_d_WIDTH


class ModelLoadError(ValueError):
    """A model name or file that cannot be loaded; the message names it."""


def width_tag(width: Fraction) -> str:
    return "w1" if width == 1 else f"w{width.numerator}_{width.denominator}"


def model_name(loss: str, width: Fraction, adversarial: bool = False) -> str:
    return f"{loss}_{'d_' if adversarial else ''}{width_tag(Fraction(width))}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    width: Fraction
    loss: str
    beta: float = 1.0
    target_scale: float = 1.0
    contract: PreprocessContract = field(default=DEFAULT_CONTRACT)
    # Pruned variants: the registry name they were pruned from (``width`` is the parent's) and the
    # PruneConfig that produced them (a plain dict, as in the checkpoint).
    parent: str | None = None
    pruning: dict | None = field(default=None, hash=False)
    adversarial: bool = False  # trained with the discriminator on unlabelled faces (LaplaceKL+D)
    # Generator family (``family.FAMILIES``): its folder under models/ builds the generator from this spec.
    family: str = "recombinator"
    # Post-head stages in order (``models/stages``): "shape" (PCA shape model), "cascade" (refinement)
    stages: tuple[str, ...] = ()
    # The family's own architecture arguments beyond the width (timm's model kwargs), which only the family
    # reads; empty for a family's plain ladder. The recombinator's: ``block_channels`` (explicit per-block
    # channels of pruned models), ``head_hidden`` (the per-pixel MLP branch of the heatmap head).
    arch: dict = field(default_factory=dict, hash=False)

    def __post_init__(self):
        family = FAMILIES.get(self.family)
        if family is not None and family.normalize_arch is not None:
            object.__setattr__(self, "arch", family.normalize_arch(self))

    @property
    def pruned(self) -> bool:
        return self.parent is not None

    @property
    def label(self) -> str:
        return self.loss + ("+D" if self.adversarial else "")

    @property
    def scale_kind(self) -> str:
        return get_loss(self.loss)[1]

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def card_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.json"

    @property
    def shipped(self) -> bool:
        return self.weights_path.is_file()

    def config(self) -> dict:
        """What a checkpoint stores to rebuild the model: the generic fields, then the family's architecture
        entries (``Family.arch_config``; by default ``arch`` as it is)."""
        cfg = {"name": self.name, "width": str(self.width), "loss": self.loss, "beta": self.beta,
               "target_scale": self.target_scale, "scale_kind": self.scale_kind}
        family = FAMILIES.get(self.family)
        if family is not None and family.arch_config is not None:
            cfg.update(family.arch_config(self))
        elif self.arch:
            cfg["arch"] = dict(self.arch)
        if self.parent is not None:
            cfg["parent"] = self.parent
            cfg["pruning"] = self.pruning
        if self.adversarial:
            cfg["adversarial"] = True
        if self.family != "recombinator":
            cfg["family"] = self.family
        if self.stages:
            cfg["stages"] = list(self.stages)
        return cfg

    def build(self, dropout: float = 0.2) -> LandmarkNet:
        try:
            generator = build_generator(self, dropout)
        except ValueError as e:  # an unknown family in a checkpoint: say so by name
            raise ModelLoadError(str(e)) from None
        try:
            stages = build_stages(self.stages, self.contract.num_landmarks)
        except ValueError as e:
            raise ModelLoadError(f"{self.name}: {e}") from None
        return LandmarkNet(self.width, self.scale_kind, self.beta, self.contract.num_landmarks, dropout,
                           generator=generator, stages=stages)

    def load(self) -> LandmarkNet:
        return self.load_with_spec()[0]

    def load_with_spec(self) -> tuple[LandmarkNet, "ModelSpec"]:
        """-> (eval-mode model, the checkpoint's spec). The checkpoint is the one source of truth for the
        configuration (beta, target_scale, contract, ...); this entry only names it, and the two must
        agree on what the registry states (name, width, loss, channels, head)."""
        if not self.shipped:
            raise ModelLoadError(f"{self.name}: no shipped weights at {self.weights_path}")
        model, spec, _ = load_checkpoint(self.weights_path)
        fields = ("name", "width", "loss", "family", "arch", "stages")
        differ = [f for f in fields if getattr(spec, f) != getattr(self, f)]
        if differ:
            raise ModelLoadError(f"{self.weights_path}: checkpoint disagrees with the registry entry {self.name} on "
                                 + ", ".join(f"{f} ({getattr(spec, f)} vs {getattr(self, f)})" for f in differ))
        return model, spec

    def card(self) -> dict:
        return json.loads(self.card_path.read_text()) if self.card_path.is_file() else {}

    def describe(self) -> dict:
        params = count_params(self.build())
        w = self.weights_path
        truth = self.load_with_spec()[1] if self.shipped else self  # a shipped model's config is its checkpoint's
        return {**truth.config(), "params": params, "shipped": self.shipped,
                "bytes": w.stat().st_size if w.is_file() else None,
                "weights": str(w.relative_to(WEIGHTS_DIR.parent.parent)) if w.is_file() else None,
                "contract": self.contract.to_dict(), "card": self.card()}


def spec_from_config(cfg: dict, contract: dict | None = None) -> ModelSpec:
    """Checkpoint config -> spec. The family reads its own architecture entries back (``Family.arch_from_config``;
    by default the ``arch`` entry); the spec normalizes them (``Family.normalize_arch``)."""
    family_name = cfg.get("family", "recombinator")
    family = FAMILIES.get(family_name)
    arch = (family.arch_from_config(cfg) if family is not None and family.arch_from_config is not None
            else dict(cfg.get("arch") or {}))
    return ModelSpec(cfg.get("name", "custom"), Fraction(cfg["width"]), cfg["loss"], float(cfg.get("beta", 1.0)),
                     float(cfg.get("target_scale", 1.0)),
                     PreprocessContract.from_dict(contract) if contract else DEFAULT_CONTRACT,
                     parent=cfg.get("parent"), pruning=cfg.get("pruning"),
                     adversarial=bool(cfg.get("adversarial", False)), family=family_name,
                     stages=tuple(cfg.get("stages", ())), arch=arch)


def pruned_name(parent: str, params_removed: float) -> str:
    """``laplacekl_w1_4`` with 50% of its parameters removed -> ``laplacekl_w1_4_p50``."""
    return f"{parent}_p{round(100 * params_removed):02d}"


REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a named variant (a family's ``family.py`` calls this for each of its names)."""
    if spec.name in REGISTRY:
        raise ValueError(f"model {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def register_ladder(family: str) -> None:
    """A registered family's width ladder: ``LOSS_wN_D`` + the family's suffix, for every loss and width."""
    suffix = FAMILIES[family].suffix
    for loss in LOSS_NAMES:
        for w in WIDTHS:
            register_model(ModelSpec(model_name(loss, w) + suffix, w, loss, family=family))


def register_staged(base: str, stages: tuple[str, ...]) -> ModelSpec:
    """``base`` (a registered name) followed by post-head ``stages``: ``laplacekl_w1_8_lg`` + shape ->
    ``laplacekl_w1_8_lg_pca``."""
    spec = REGISTRY[base]
    return register_model(replace(spec, name=base + stage_suffix(stages), stages=spec.stages + tuple(stages)))


def list_models(shipped_only: bool = True) -> list[ModelSpec]:
    return [s for s in REGISTRY.values() if s.shipped or not shipped_only]


def default_model(width: Fraction = Fraction(1, 8)) -> str:
    return f"laplacekl_{width_tag(width)}"


def save_checkpoint(path: str | os.PathLike, model: LandmarkNet, spec: ModelSpec, extra: dict | None = None) -> None:
    """Atomic save of weights + config + contract (+ training state in ``extra``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "config": spec.config(), "contract": spec.contract.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if extra:
        payload.update(extra)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[LandmarkNet, ModelSpec, dict]:
    """Load an edge-lmk checkpoint -> (eval-mode model, spec, raw payload).

    Anything unusable (unreadable file, wrong payload, a config that builds no model, weights that do
    not fit or are not finite) raises ``ModelLoadError`` with a one-line message naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle, wrong file type
        raise ModelLoadError(f"{path}: not a readable checkpoint ({type(e).__name__}: {_one_line(e)})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"{path}: not an edge-lmk checkpoint (missing format {CHECKPOINT_FORMAT!r})")
    state = payload.get("state_dict")
    if not isinstance(payload.get("config"), dict) or not isinstance(state, dict) or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path}: not an edge-lmk checkpoint (config or state_dict missing or malformed)")
    try:
        spec = spec_from_config(payload["config"], payload.get("contract"))
        model = spec.build()
    except Exception as e:  # a config that names no buildable model: missing keys, bad width/contract values
        raise ModelLoadError(f"{path}: bad model config ({type(e).__name__}: {_one_line(e)})") from None
    # NaN/inf weights give NaN landmarks for every face: refuse them here, by name, not as "NME nan" later.
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelLoadError(f"{path}: non-finite weights in {len(bad)} tensor(s) ({', '.join(bad[:3])}"
                             f"{', ...' if len(bad) > 3 else ''})")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelLoadError(f"{path}: weights do not match {spec.name} ({_one_line(e)})") from None
    return model.eval(), spec, payload


def _one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (CLIs print one line per error), at most ``limit`` characters."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def checkpoint_path(name_or_path: str) -> str:
    """A shipped registry name -> its weights file; anything else is taken as a path (``--init-from``)."""
    spec = REGISTRY.get(name_or_path)
    return str(spec.weights_path) if spec is not None and spec.shipped else name_or_path


def resolve(name_or_path: str) -> tuple[LandmarkNet, ModelSpec]:
    """Registry name or checkpoint path -> (eval-mode model, spec)."""
    if name_or_path in REGISTRY:
        return REGISTRY[name_or_path].load_with_spec()
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        model, spec, _ = load_checkpoint(p)
        return model, spec
    raise ModelLoadError(f"{name_or_path}: not a registry name or checkpoint file; known names: "
                         f"{', '.join(s.name for s in list_models()) or '(none shipped)'}")
