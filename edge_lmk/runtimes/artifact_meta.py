"""Where an exported artifact's preprocessing contract comes from, shared by the artifact runtimes.

Two records describe an artifact: the sidecar ``<artifact>.json`` written by ``python -m export.all``
(carries the sha256 of the whole file) and the metadata embedded in the artifact itself (ONNX
``metadata_props``, .tflite metadata, a constant method of a .pte; carries the integrity seal,
``integrity.py``). Both are validated (``SidecarSchema``, ``PreprocessContract.from_dict``). When
both are there they must agree on the contract and on the model, format and precision: an
edited sidecar is an error, not a silent change of the crop. With neither, the default contract
is assumed with a warning (the crop rule cannot be read off a bare graph).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ..files import sha256
from ..contract import DEFAULT_CONTRACT, ContractError, PreprocessContract
from .base import ArtifactError

EMBEDDED_KEY = "edge_lmk"  # ONNX metadata_props key / .tflite metadata name / .pte constant method
COMPARED = ("model", "format", "precision")  # identity fields a sidecar and the embedded record must share


class SidecarSchema(BaseModel):
    """The fields of a sidecar that loaders rely on; the rest (op precision, tools, ...) is free-form."""

    model_config = ConfigDict(extra="allow", strict=True)

    contract: dict
    # Optional (contract-only sidecars, e.g. Android assets); an artifact without it is verified by its seal.
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    artifact: StrictStr | None = None
    model: StrictStr | None = None
    format: StrictStr | None = None
    precision: StrictStr | None = None
    bytes: StrictInt | None = Field(default=None, ge=0)
    config: dict | None = None


def _problems(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'sidecar'}: {err['msg']}" for err in e.errors())


def parse_contract(where: str, raw) -> PreprocessContract:
    """A contract dict -> PreprocessContract; any problem -> ArtifactError naming ``where``."""
    try:
        return PreprocessContract.from_dict(raw)
    except ContractError as e:
        raise ArtifactError(f"{where}: invalid preprocessing contract ({e})") from None


def parse_sidecar(side: Path, text: str | bytes) -> dict:
    """Sidecar text -> validated dict (``SidecarSchema`` + a valid contract); ArtifactError naming ``side``."""
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ArtifactError(f"{side}: unreadable sidecar ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or "contract" not in meta:
        raise ArtifactError(f"{side}: sidecar has no 'contract' entry")
    try:
        SidecarSchema.model_validate(meta)
    except ValidationError as e:
        raise ArtifactError(f"{side}: invalid sidecar ({_problems(e)})") from None
    parse_contract(str(side), meta["contract"])
    return meta


def sidecar_file(path: Path) -> Path:
    return Path(f"{path}.json")


def read_sidecar(path: Path) -> dict | None:
    side = sidecar_file(path)
    if not side.is_file():
        return None
    try:
        text = side.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{side}: unreadable sidecar for {Path(path).name} ({e})") from None
    return parse_sidecar(side, text)


def parse_embedded(path: Path, text: str | bytes | None) -> dict | None:
    """The embedded record, validated; None when the artifact has none (or only foreign metadata)."""
    if not text:
        return None
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ArtifactError(f"{path}: embedded {EMBEDDED_KEY!r} metadata is not JSON ({e})") from None
    if not (isinstance(meta, dict) and "contract" in meta):
        return None
    parse_contract(f"{path} (embedded metadata)", meta["contract"])
    return meta


def check_sidecar_hash(path: Path, meta: dict | None, data: bytes | None = None) -> None:
    """A file that differs from what was exported (truncated copy, edited) is refused.
    ``data``: the bytes about to be handed to the runtime (hashed instead of re-reading the file)."""
    if not meta or not meta.get("sha256"):
        return
    got = hashlib.sha256(data).hexdigest() if data is not None else sha256(path)
    if got != meta["sha256"]:
        raise ArtifactError(f"{path}: sha256 does not match its sidecar {Path(path).name}.json "
                            f"(truncated, modified, or the sidecar belongs to another export)")


def compare_records(path: Path, sidecar: dict, embedded: dict) -> None:
    """The sidecar must say what the artifact itself says (contract, model, format, precision)."""
    side_c = parse_contract(str(sidecar_file(path)), sidecar["contract"])
    emb_c = parse_contract(f"{path} (embedded metadata)", embedded["contract"])
    if side_c != emb_c:
        diff = sorted(k for k, v in side_c.to_dict().items() if emb_c.to_dict().get(k) != v)
        raise ArtifactError(f"{sidecar_file(path)}: contract differs from the one embedded in {Path(path).name} "
                            f"({', '.join(f'{k}: sidecar {side_c.to_dict()[k]!r}, artifact {emb_c.to_dict()[k]!r}' for k in diff)}); "
                            "the sidecar was edited or belongs to another artifact")
    for key in COMPARED:
        if key in sidecar and key in embedded and sidecar[key] != embedded[key]:
            raise ArtifactError(f"{sidecar_file(path)}: {key} {sidecar[key]!r} differs from the artifact's own "
                                f"{embedded[key]!r}; the sidecar was edited or belongs to another artifact")


def resolve_meta(path: Path, embedded: dict | None, input_shape: tuple[int, ...] | None,
                 sidecar: dict | None | bool = False) -> tuple[dict, PreprocessContract]:
    """-> (metadata dict, contract). ``input_shape`` is the artifact's own input, checked against the contract.
    ``sidecar``: the already-read sidecar (None = there is none); read here when not given."""
    if sidecar is False:
        sidecar = read_sidecar(path)
    if sidecar is not None and embedded is not None:
        compare_records(path, sidecar, embedded)
    meta = sidecar or embedded
    if meta is None:
        warnings.warn(f"{path}: no sidecar {Path(path).name}.json and no embedded contract; assuming the default "
                      f"preprocessing contract", stacklevel=3)
        meta = {"contract": DEFAULT_CONTRACT.to_dict()}
    contract = parse_contract(str(path), meta["contract"])
    if input_shape is not None:
        s = contract.input_size
        if tuple(input_shape)[1:] != (3, s, s):
            raise ArtifactError(f"{path}: artifact input {tuple(input_shape)} does not match its contract "
                                f"(N, 3, {s}, {s})")
    return meta, contract
