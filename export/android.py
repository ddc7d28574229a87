"""Put exported models, their contracts, the face detector and benchmark faces into the
Android demo's assets folder.

    python -m export.android --artifacts artifacts --dest android_demo/app/src/main/assets \
        [--models laplacekl_w1_8 ...] [--detector-wheel mediapipe-0.10.14-...whl | --detector FILE]

What lands in ``dest`` (the layout ``android_demo/app`` reads):
  ``<artifact>.pte`` / ``<artifact>.tflite``  the chosen models, copied unchanged;
  ``<artifact>.pte.json`` / ``.tflite.json``  each model's preprocessing-contract sidecar
                                              (the app reads it instead of hard-coding);
  ``face_detection_short_range.tflite``       MediaPipe BlazeFace short-range (Apache-2.0),
                                              taken from the mediapipe==0.10.14 wheel;
  ``bench/index.json`` + ``bench/faces/*``    sample faces with ground truth for the
                                              benchmark mode, plus the PyTorch reference NME.
Nothing is downloaded here or by the app; the wheel comes from ``pip download`` (README).
"""
from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from edge_lmk.files import sha256
from edge_lmk.runtimes.table import ANDROID_SUFFIXES

MODEL_SUFFIXES = ANDROID_SUFFIXES  # the runtime table's rows the app embeds (edge_lmk.runtimes.table)
DETECTOR_NAME = "face_detection_short_range.tflite"
DETECTOR_IN_WHEEL = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
# sha256 of the file in mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64 (checked here)
DETECTOR_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
CONTRACT_KEYS = ("input_size", "num_landmarks", "color", "layout", "dtype", "pixel_scale", "crop_rule", "crop_scale")
FACES_FORMAT = "edge-lmk-faces/1"


class PlacementError(ValueError):
    """Artifacts that cannot be placed; the message names the file or model."""


def _contract_of(sidecar: dict) -> dict | None:
    c = sidecar.get("contract", sidecar) if isinstance(sidecar, dict) else None
    return c if isinstance(c, dict) and all(k in c for k in CONTRACT_KEYS) else None


def _find_in_manifest(manifest: Path) -> list[tuple[Path, dict | None]]:
    """Every .pte/.tflite path named anywhere in a manifest JSON (schema-agnostic), with the
    contract of the object that names it when that object carries one."""
    data = json.loads(manifest.read_text())
    found: list[tuple[Path, dict | None]] = []

    def walk(node, contract):
        if isinstance(node, dict):
            contract = _contract_of(node.get("contract", {})) or contract
            for v in node.values():
                walk(v, contract)
        elif isinstance(node, list):
            for v in node:
                walk(v, contract)
        elif isinstance(node, str) and node.endswith(MODEL_SUFFIXES):
            p = Path(node)
            found.append((p if p.is_absolute() else manifest.parent / p, contract))

    walk(data, None)
    return found


def find_artifacts(source: str | Path) -> list[tuple[Path, dict | None]]:
    """(artifact path, contract from a manifest or None) for a folder or a manifest JSON."""
    source = Path(source)
    if source.is_dir():
        return [(p, None) for p in sorted(source.rglob("*")) if p.suffix in MODEL_SUFFIXES and p.name != DETECTOR_NAME]
    if source.is_file() and source.suffix == ".json":
        return _find_in_manifest(source)
    raise PlacementError(f"{source}: not an artifacts folder or a manifest .json")


def sidecar_for(artifact: Path) -> Path | None:
    """``<artifact>.json`` (model.pte.json) or, failing that, ``model.json`` beside it."""
    for cand in (artifact.with_name(artifact.name + ".json"), artifact.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def _model_name(artifact: Path, sidecar: dict) -> str:
    """Registry model name of an artifact: the sidecar's ``model``/``name``, else the longest
    registry name the file name starts with, else the file stem."""
    for key in ("model", "name"):
        if isinstance(sidecar.get(key), str):
            return sidecar[key]
    from edge_lmk.models.registry import REGISTRY

    matches = [n for n in REGISTRY if artifact.stem == n or artifact.stem.startswith(n + "_")]
    return max(matches, key=len) if matches else artifact.stem


def _wanted(artifact: Path, name: str, models: list[str] | None) -> bool:
    return models is None or any(m in (name, artifact.stem, artifact.name) for m in models)


def place_models(source: str | Path, dest: str | Path, models: list[str] | None = None, clean: bool = True) -> list[dict]:
    """Copy the chosen artifacts and their contract sidecars into ``dest``; returns one entry
    per placed model. Raises naming the artifact when its contract is missing or incomplete,
    and naming the model when a requested one is not among the artifacts."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    placed, seen = [], set()
    candidates = find_artifacts(source)
    if not candidates:
        raise PlacementError(f"{source}: no .pte or .tflite artifacts found")
    if clean:  # stale models from an earlier placement would show up in the app and the bench
        for old in dest.iterdir():
            if old.is_file() and old.name != DETECTOR_NAME and (old.suffix in MODEL_SUFFIXES or old.name.endswith(
                    tuple(s + ".json" for s in MODEL_SUFFIXES))):
                old.unlink()
    for artifact, manifest_contract in candidates:
        if not artifact.is_file():
            raise PlacementError(f"{artifact}: named in the manifest but not found")
        side_path = sidecar_for(artifact)
        sidecar = json.loads(side_path.read_text()) if side_path else {}
        name = _model_name(artifact, sidecar)
        if not _wanted(artifact, name, models):
            continue
        contract = _contract_of(sidecar) or manifest_contract
        if contract is None:
            where = side_path or artifact.with_name(artifact.name + ".json")
            raise PlacementError(f"{artifact}: no preprocessing contract (expected {CONTRACT_KEYS} in {where})")
        if artifact.name in seen:
            raise PlacementError(f"{artifact}: two artifacts named {artifact.name}; the assets folder is flat")
        seen.add(artifact.name)
        shutil.copy2(artifact, dest / artifact.name)
        # one sidecar shape in the assets: {"contract": {...}, other exporter fields...}
        if isinstance(sidecar.get("contract"), dict):
            out_sidecar = dict(sidecar)
        elif _contract_of(sidecar):
            out_sidecar = {"contract": sidecar}
        else:
            out_sidecar = {**sidecar, "contract": contract}
        out_sidecar.setdefault("model", name)
        (dest / f"{artifact.name}.json").write_text(json.dumps(out_sidecar, indent=2, sort_keys=True) + "\n")
        placed.append({"model": name, "file": artifact.name, "format": artifact.suffix[1:], "bytes": artifact.stat().st_size})
    if models is not None:
        missing = [m for m in models if not any(m in (p["model"], Path(p["file"]).stem, p["file"]) for p in placed)]
        if missing:
            raise PlacementError(f"model(s) {', '.join(missing)} not among the artifacts in {source} "
                                 f"(found: {', '.join(sorted({a.name for a, _ in candidates}))})")
    return placed


def place_detector(dest: str | Path, detector: str | Path | None = None, wheel: str | Path | None = None) -> Path:
    """Copy BlazeFace short-range into ``dest`` from a file or straight out of the mediapipe wheel."""
    out = Path(dest) / DETECTOR_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    if wheel is not None:
        with zipfile.ZipFile(wheel) as z:
            try:
                out.write_bytes(z.read(DETECTOR_IN_WHEEL))
            except KeyError:
                raise PlacementError(f"{wheel}: no {DETECTOR_IN_WHEEL} inside (use the mediapipe==0.10.14 wheel)") from None
    elif detector is not None:
        shutil.copy2(detector, out)
    else:
        raise PlacementError("give the detector file or the mediapipe wheel")
    digest = sha256(out)
    if digest != DETECTOR_SHA256:
        print(f"warning: {out.name} sha256 {digest[:12]}... differs from mediapipe 0.10.14's; decoding assumes that model")
    return out


def place_bench_faces(dest: str | Path, n: int = 64, models: list[str] = ()) -> Path:
    """Write ``n`` bundled test faces (raw RGB + ground truth, the Kotlin FaceSet layout) to
    ``dest/bench`` with the PyTorch NME of each shipped registry model on them: the number the
    on-device NME should reproduce."""
    from edge_lmk.data import load_face, scan_folder
    from edge_lmk.paths import SAMPLE_TEST

    bench = Path(dest) / "bench"
    if bench.exists():
        shutil.rmtree(bench)
    (bench / "faces").mkdir(parents=True)
    records = scan_folder(SAMPLE_TEST)[:n]
    faces, images, gts = [], [], []
    for i, r in enumerate(records):
        img, gt = load_face(r)
        np.ascontiguousarray(img, np.uint8).tofile(bench / "faces" / f"{i:03d}.u8")
        np.ascontiguousarray(gt, "<f8").tofile(bench / "faces" / f"{i:03d}.f64")
        faces.append({"name": f"{r.subset}/{r.image.name}", "width": int(img.shape[1]), "height": int(img.shape[0]),
                      "image": f"faces/{i:03d}.u8", "landmarks": f"faces/{i:03d}.f64"})
        images.append(img)
        gts.append(gt)
    index = {"format": FACES_FORMAT, "source": "edge_lmk/sample/test_common (research use only, see its README)",
             "faces": faces, "reference_nme": _reference_nme(images, gts, models)}
    (bench / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return bench


def _reference_nme(images, gts, models) -> dict:
    """Mean NME of the PyTorch model on these faces, cropped by the contract from ground truth."""
    import torch

    from edge_lmk.metrics import nme_per_face
    from edge_lmk.models.registry import REGISTRY
    from edge_lmk.preprocess import crop_face, crop_to_photo, face_square, to_input

    out = {}
    for name in sorted(set(models)):
        spec = REGISTRY.get(name)
        if spec is None or not spec.shipped:
            continue
        model, c = spec.load(), spec.contract
        preds = []
        for img, gt in zip(images, gts):
            crop, A = crop_face(img, face_square(gt, c.crop_scale), c.input_size)
            with torch.no_grad():
                lm, _ = model(torch.from_numpy(to_input(crop, c.pixel_scale)))
            preds.append(crop_to_photo(lm.numpy()[0], A))
        out[name] = {"runtime": "pytorch", "nme": float(nme_per_face(np.stack(preds), np.stack(gts)).mean()),
                     "weights_sha256": sha256(spec.weights_path)}
    return out


def place_for_android(manifest_path_or_artifacts_dir: str | Path, dest_dir: str | Path, models: list[str] | None = None,
                      bench_faces: int = 64, detector: str | Path | None = None,
                      detector_wheel: str | Path | None = None) -> dict:
    """Everything the app needs in ``dest_dir``; returns a summary of what was placed."""
    placed = place_models(manifest_path_or_artifacts_dir, dest_dir, models)
    summary = {"dest": str(dest_dir), "models": placed}
    if detector is not None or detector_wheel is not None:
        summary["detector"] = str(place_detector(dest_dir, detector, detector_wheel))
    if bench_faces > 0:
        summary["bench"] = str(place_bench_faces(dest_dir, bench_faces, [p["model"] for p in placed]))
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", default="artifacts", help="artifacts folder or manifest .json")
    ap.add_argument("--dest", default="android_demo/app/src/main/assets")
    ap.add_argument("--models", nargs="*", help="model names or artifact file names (default: all)")
    ap.add_argument("--bench-faces", type=int, default=64, help="sample faces for the benchmark mode (0: none)")
    ap.add_argument("--detector", help="face_detection_short_range.tflite to copy")
    ap.add_argument("--detector-wheel", help="mediapipe-0.10.14 wheel to take the detector from")
    args = ap.parse_args(argv)
    try:
        s = place_for_android(args.artifacts, args.dest, args.models, args.bench_faces, args.detector, args.detector_wheel)
    except PlacementError as e:
        raise SystemExit(f"error: {e}") from None
    for p in s["models"]:
        print(f"placed {p['file']} ({p['model']}, {p['bytes'] / 1024:.0f} KiB) + {p['file']}.json")
    if "detector" in s:
        print(f"placed {s['detector']}")
    if "bench" in s:
        print(f"bench faces -> {s['bench']}")


if __name__ == "__main__":
    main()
