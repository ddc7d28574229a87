"""The preprocessing contract every model and exported artifact carries.

Downstream code (exporters, runtimes, the Android app) reads this instead of guessing
input size, normalisation or the crop rule.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


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
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


DEFAULT_CONTRACT = PreprocessContract()
