"""Generator families (timm-style): ``@register_family`` builders and what each family tells the backends.

A family is a heatmap generator architecture: (B,3,S,S) RGB -> (B,K,S,S) heatmap logits, wrapped
by ``LandmarkNet`` with the shared soft-argmax head. Each lives in its own folder
(``edge_lmk/models/<family>/``), registers one builder here and its model names in the registry,
and describes itself to the export and compression backends through ``ExportHints``; the
backends ask the hints and never match module names or guess layers by shape.

Adding a family: a folder with the generator (implementing ``export_hints``) and an
``__init__`` that calls ``register_family`` / ``register_model``, plus one import line in
``edge_lmk/models/__init__.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn as nn

if TYPE_CHECKING:
    from .registry import ModelSpec

# ``LandmarkNet`` attribute holding the generator: the only part any backend may quantize (the
# soft-argmax head turns logits into coordinates; int8 there moves points by pixels).
QUANT_SCOPE = "generator"


@dataclass(frozen=True)
class ExportHints:
    """What a generator needs from the backends, declared by its family.

    ``logit_layers``: dotted names (inside the generator) of the convs whose outputs sum to the
    heatmap logits. ExecuTorch folds the softmax temperature into them; a compression config with
    ``heatmap_conv=False`` keeps exactly these float in every backend.
    ``nearest_upsample``: ``(attribute, channels)`` of a shared ``nn.Upsample(2, "nearest")`` and
    every channel count it sees, which the ExecuTorch rewrite may replace by a transposed conv
    (XNNPACK has no nearest-upsample kernel); None when the family has none.
    """

    logit_layers: tuple[str, ...]
    nearest_upsample: tuple[str, tuple[int, ...]] | None = None
    # ExecuTorch int8 may run the LeakyReLUs in int8 (QS8 kernels); False where the family's graph
    # does not load that way (the reason is written where a family sets it)
    int8_activations: bool = True
    # LiteRT int8 runs the generator's activations, pads and concatenations in int8 too (LeakyReLU as
    # MUL + MAXIMUM, ``compress.litert_aeq``). It costs ~1.2-1.6 KB of quantization tables per file
    # and pays only where those ops are a real share of the time, so a family opts in where measured.
    litert_int8_activations: bool = False

    def logit_modules(self, generator: nn.Module) -> list[nn.Conv2d]:
        return [generator.get_submodule(n) for n in self.logit_layers]

    def scoped(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Names inside the generator -> names inside the ``LandmarkNet``."""
        return tuple(f"{QUANT_SCOPE}.{n}" for n in names)


GeneratorBuilder = Callable[["ModelSpec", float], nn.Module]


@dataclass(frozen=True)
class CardText:
    """How a model card describes a family's model: ``generator`` (a noun phrase for the intro),
    ``architecture`` (label, value) for the card's table, ``param_note`` (parameters vs the paper)."""

    generator: str
    architecture: tuple[str, str]
    param_note: str


@dataclass(frozen=True)
class Family:
    name: str
    build: GeneratorBuilder  # (spec, dropout) -> generator
    suffix: str = ""  # appended to the ladder name of this family's models (``laplacekl_w1_8_t1``)
    # (spec, deployed parameter count) -> CardText; None: the card keeps the registry's generic text
    card_text: Callable[["ModelSpec", int], CardText] | None = None
    summary: str = ""  # one noun phrase for artifacts' descriptions when there is no ``card_text``
    # The family's architecture arguments (``ModelSpec.arch``), when it has any: ``normalize_arch(spec) -> dict``
    # (canonical form, defaults dropped, so equal architectures compare equal), ``arch_config(spec) -> dict``
    # (the checkpoint config's entries) and ``arch_from_config(cfg) -> dict`` (read back). None: ``arch`` is
    # stored as the config's ``arch`` entry as it is.
    normalize_arch: Callable[["ModelSpec"], dict] | None = None
    arch_config: Callable[["ModelSpec"], dict] | None = None
    arch_from_config: Callable[[dict], dict] | None = None


FAMILIES: dict[str, Family] = {}


def register_family(name: str, suffix: str = "", card_text: Callable[["ModelSpec", int], CardText] | None = None,
                    summary: str = "", normalize_arch: Callable[["ModelSpec"], dict] | None = None,
                    arch_config: Callable[["ModelSpec"], dict] | None = None,
                    arch_from_config: Callable[[dict], dict] | None = None
                    ) -> Callable[[GeneratorBuilder], GeneratorBuilder]:
    """Decorator: ``@register_family("table1", suffix="_t1") def build(spec, dropout) -> generator``."""
    def deco(builder: GeneratorBuilder) -> GeneratorBuilder:
        if name in FAMILIES:
            raise ValueError(f"generator family {name!r} registered twice")
        FAMILIES[name] = Family(name, builder, suffix, card_text, summary, normalize_arch, arch_config,
                                arch_from_config)
        return builder
    return deco


def build_generator(spec: "ModelSpec", dropout: float = 0.2) -> nn.Module:
    try:
        family = FAMILIES[spec.family]
    except KeyError:
        raise ValueError(f"{spec.name}: unknown generator family {spec.family!r}; known: "
                         f"{', '.join(sorted(FAMILIES))}") from None
    return family.build(spec, dropout)


def export_hints(model: nn.Module) -> ExportHints:
    """The hints of a ``LandmarkNet``'s generator (or of a generator itself)."""
    gen = getattr(model, QUANT_SCOPE, model)
    if not hasattr(gen, "export_hints"):
        raise TypeError(f"{type(gen).__name__} declares no export_hints(); every family's generator must")
    return gen.export_hints()


def architecture(spec: "ModelSpec", params: int) -> str:
    """One line naming what a model computes, as its family describes it (artifact cards and descriptions):
    the generator, the shared soft-argmax head and any post-head stages."""
    family = FAMILIES.get(spec.family)
    if family is None:
        generator = f"{spec.family} generator"
    elif family.card_text is not None:
        generator = family.card_text(spec, params).generator
    else:
        generator = family.summary or f"{family.name} generator"
    stages = "".join(f" + {name} stage" for name in spec.stages)
    return f"{generator} + soft-argmax head{stages}"
