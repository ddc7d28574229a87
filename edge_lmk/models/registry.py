"""Registry of named model variants (timm style): each carries its preprocessing contract.

A variant is *shipped* when its weights file exists in ``edge_lmk/weights``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch

from ..contract import DEFAULT_CONTRACT, PreprocessContract
from ..losses import get_loss
from .generator import LandmarkNet, branch_channels, count_params

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
    adversarial: bool = False  # trained with the discriminator on unlabelled faces (LaplaceKL+D)

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
        cfg = {"name": self.name, "width": str(self.width), "loss": self.loss, "beta": self.beta,
               "target_scale": self.target_scale, "scale_kind": self.scale_kind,
               "channels": list(branch_channels(self.width))}
        if self.adversarial:
            cfg["adversarial"] = True
        return cfg

    def build(self, dropout: float = 0.2) -> LandmarkNet:
        return LandmarkNet(self.width, self.scale_kind, self.beta, self.contract.num_landmarks, dropout)

    def load(self) -> LandmarkNet:
        if not self.shipped:
            raise ModelLoadError(f"{self.name}: no shipped weights at {self.weights_path}")
        return load_checkpoint(self.weights_path)[0]

    def card(self) -> dict:
        return json.loads(self.card_path.read_text()) if self.card_path.is_file() else {}

    def describe(self) -> dict:
        params = count_params(self.build())
        w = self.weights_path
        return {**self.config(), "params": params, "shipped": self.shipped,
                "bytes": w.stat().st_size if w.is_file() else None,
                "weights": str(w.relative_to(WEIGHTS_DIR.parent.parent)) if w.is_file() else None,
                "contract": self.contract.to_dict(), "card": self.card()}


def spec_from_config(cfg: dict, contract: dict | None = None) -> ModelSpec:
    return ModelSpec(cfg.get("name", "custom"), Fraction(cfg["width"]), cfg["loss"], float(cfg.get("beta", 1.0)),
                     float(cfg.get("target_scale", 1.0)),
                     PreprocessContract.from_dict(contract) if contract else DEFAULT_CONTRACT,
                     bool(cfg.get("adversarial", False)))


REGISTRY: dict[str, ModelSpec] = {}
for _loss in LOSS_NAMES:
    for _w in WIDTHS:
        _name = model_name(_loss, _w)
        REGISTRY[_name] = ModelSpec(_name, _w, _loss)
for _loss in ADVERSARIAL_LOSSES:
    for _w in WIDTHS:
        _name = model_name(_loss, _w, True)
        REGISTRY[_name] = ModelSpec(_name, _w, _loss, adversarial=True)


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
    """Load an edge-lmk checkpoint -> (eval-mode model, spec, raw payload)."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle, wrong file type
        raise ModelLoadError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"{path}: not an edge-lmk checkpoint (missing format {CHECKPOINT_FORMAT!r})")
    spec = spec_from_config(payload["config"], payload.get("contract"))
    model = spec.build()
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise ModelLoadError(f"{path}: weights do not match {spec.name} ({e})") from None
    return model.eval(), spec, payload


def resolve(name_or_path: str) -> tuple[LandmarkNet, ModelSpec]:
    """Registry name or checkpoint path -> (eval-mode model, spec)."""
    if name_or_path in REGISTRY:
        spec = REGISTRY[name_or_path]
        return spec.load(), spec
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        model, spec, _ = load_checkpoint(p)
        return model, spec
    raise ModelLoadError(f"{name_or_path}: not a registry name or checkpoint file; known names: "
                         f"{', '.join(s.name for s in list_models()) or '(none shipped)'}")
