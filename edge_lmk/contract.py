"""The preprocessing contract every model and exported artifact carries.

Downstream code (exporters, runtimes, the Android app) reads this instead of guessing
input size, normalisation or the crop rule.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator, \
    model_validator


class ContractError(ValueError):
    """A contract whose values have the wrong type, are out of range or contradict each other."""


@dataclass(frozen=True)
class PreprocessContract:
    input_size: int = 80
    num_landmarks: int = 68
    color: str = "RGB"
    layout: str = "NCHW"
    dtype: str = "float32"
    pixel_scale: float = 1.0 / 255.0  # model input = RGB uint8 * pixel_scale, no mean/std
    crop_rule: str = "landmark_bbox_square"
    crop_scale: float = 1.3  # square side = crop_scale * max(bbox w, bbox h), centred on bbox centre
    interpolation: str = "bilinear at pixel centres, zeros outside; integer box pre-shrink when side >= 2*input_size"
    coordinates: str = "continuous, pixel i spans [i, i+1); iBUG .pts are 1-based Matlab, subtract 0.5"
    inputs: dict = field(default_factory=lambda: {"image": [1, 3, 80, 80]})
    outputs: dict = field(
        default_factory=lambda: {
            "landmarks": {"shape": [1, 68, 2], "units": "crop pixels (x, y), continuous"},
            "scale": {"shape": [1, 68], "units": "crop pixels; predicted spread, lower = more confident"},
        }
    )

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessContract":
        """Validated (``ContractSchema``): wrong types, out-of-range values or inconsistent shapes raise
        ``ContractError``; missing keys take the defaults and unknown keys are ignored (older/newer writers)."""
        if not isinstance(d, dict):
            raise ContractError(f"a contract is a JSON object, got {type(d).__name__}")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        try:
            ContractSchema.model_validate({**asdict(DEFAULT_CONTRACT), **_default_shapes(known), **known})
        except ValidationError as e:
            raise ContractError("; ".join(f"{'.'.join(map(str, err['loc'])) or 'contract'}: {err['msg']}"
                                          for err in e.errors())) from None
        return cls(**known)


def _default_shapes(known: dict) -> dict:
    """``inputs``/``outputs`` implied by a contract that gives ``input_size``/``num_landmarks`` but not them."""
    s, k = known.get("input_size", DEFAULT_CONTRACT.input_size), known.get("num_landmarks", 68)
    if not (isinstance(s, int) and isinstance(k, int)):
        return {}
    return {"inputs": {"image": [1, 3, s, s]},
            "outputs": {"landmarks": {"shape": [1, k, 2]}, "scale": {"shape": [1, k]}}}


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be finite")
    return v


class ContractSchema(BaseModel):
    """What a contract may say. Only values the code implements are allowed (one crop rule, RGB NCHW
    float32); ranges are wide enough for any sensible model and exclude what cannot work (a zero
    pixel scale, a crop smaller than the face box)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    input_size: StrictInt
    num_landmarks: StrictInt
    color: Literal["RGB"]
    layout: Literal["NCHW"]
    dtype: Literal["float32"]
    pixel_scale: StrictFloat
    crop_rule: Literal["landmark_bbox_square"]
    crop_scale: StrictFloat | StrictInt
    interpolation: StrictStr
    coordinates: StrictStr
    inputs: dict
    outputs: dict

    @field_validator("input_size")
    @classmethod
    def _size(cls, v: int) -> int:
        if not 8 <= v <= 2048:
            raise ValueError("must be an integer in [8, 2048]")
        return v

    @field_validator("num_landmarks")
    @classmethod
    def _k(cls, v: int) -> int:
        if not 1 <= v <= 1000:
            raise ValueError("must be an integer in [1, 1000]")
        return v

    @field_validator("pixel_scale")
    @classmethod
    def _pixel_scale(cls, v: float) -> float:
        if not 0 < _finite(v) <= 1:
            raise ValueError("must be in (0, 1] (model input = uint8 pixel * pixel_scale)")
        return v

    @field_validator("crop_scale")
    @classmethod
    def _crop_scale(cls, v: float) -> float:
        if not 1 <= _finite(float(v)) <= 4:
            raise ValueError("must be in [1, 4] (square side / landmark box side)")
        return v

    @model_validator(mode="after")
    def _shapes(self) -> "ContractSchema":
        s, k = self.input_size, self.num_landmarks
        if self.inputs.get("image") != [1, 3, s, s] or len(self.inputs) != 1:
            raise ValueError(f"inputs must be {{'image': [1, 3, {s}, {s}]}} for input_size {s}, got {self.inputs}")
        shapes = {n: (o.get("shape") if isinstance(o, dict) else None) for n, o in self.outputs.items()}
        if shapes != {"landmarks": [1, k, 2], "scale": [1, k]}:
            raise ValueError(f"outputs must be landmarks [1, {k}, 2] and scale [1, {k}], got {shapes}")
        return self


DEFAULT_CONTRACT = PreprocessContract()
