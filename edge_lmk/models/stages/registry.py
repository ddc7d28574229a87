"""``@register_stage(name, suffix)``: the post-head stages a model may carry, by name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn


@dataclass(frozen=True)
class Stage:
    name: str
    build: Callable[[int], nn.Module]  # (num_landmarks) -> module
    suffix: str  # appended to the first stage's model name (``laplacekl_w1_8_lg_pca``)


STAGES: dict[str, Stage] = {}


def register_stage(name: str, suffix: str) -> Callable:
    def deco(builder: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        if name in STAGES:
            raise ValueError(f"stage {name!r} registered twice")
        STAGES[name] = Stage(name, builder, suffix)
        return builder
    return deco


def build_stages(names: tuple[str, ...], num_landmarks: int) -> nn.ModuleList:
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(STAGES))}")
    return nn.ModuleList(STAGES[n].build(num_landmarks) for n in names)


def stage_suffix(names: tuple[str, ...]) -> str:
    return "".join(STAGES[n].suffix for n in names)
