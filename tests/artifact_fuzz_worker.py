"""Hypothesis batch run by ``tests/test_artifact_integrity.py`` in a subprocess: every artifact loader on
arbitrary and mutated bytes.

    python tests/artifact_fuzz_worker.py ARTIFACT_DIR WORK_DIR EXAMPLES_PER_LOADER

``ARTIFACT_DIR`` holds one real export per suffix (``*.pte``, ``*.tflite``, ``*.onnx``, ``*.mlpackage``)
with its sidecar. Each example writes a damaged copy (truncated, bytes flipped, random bytes, gzip of
it, or arbitrary bytes; with or without the sidecar beside it) and loads it with ``load_predictor``.
Allowed outcomes: ``ArtifactError`` whose message names the file, or a load whose predictions equal
the original's (the mutation changed nothing that matters). A native crash kills this process; the
parent sees the signal in the return code and the last ``CASE`` line says which input did it.
"""
from __future__ import annotations

import gzip
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_lmk.runtimes import ArtifactError, load_predictor

SUFFIXES = (".pte", ".tflite", ".onnx", ".mlpackage")
X = np.random.default_rng(0).random((1, 3, 80, 80), dtype=np.float32)

mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)),
                                        min_size=1, max_size=64)),
    st.tuples(st.just("random"), st.binary(max_size=2048)),
    st.tuples(st.just("gzip"), st.none()),
    # the real header (magic bytes pass) followed by garbage: only the seal / hashes can refuse it
    st.tuples(st.just("header+random"), st.tuples(st.integers(4, 64), st.binary(min_size=1, max_size=4096))),
)


def mutate(data: bytes, how: tuple) -> bytes:
    kind, arg = how
    if kind == "truncate":
        return data[: int(len(data) * arg)]
    if kind == "flip":
        out = bytearray(data)
        for where, mask in arg:
            if out:
                out[int(where * len(out))] ^= mask
        return bytes(out)
    if kind == "random":
        return arg
    if kind == "header+random":
        return data[: arg[0]] + arg[1]
    return gzip.compress(data, mtime=0)


def predictions(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cannot be verified" / default-contract warnings are allowed outcomes
        return load_predictor(str(path)).predict(X)[0]


def check(path: Path, reference: np.ndarray, outcomes: dict) -> None:
    try:
        got = predictions(path)
    except ArtifactError as e:
        assert str(path) in str(e), f"ArtifactError does not name {path}: {e}"
        outcomes["refused"] += 1
        return
    # Anything else that loads must compute what the original computes.
    np.testing.assert_allclose(got, reference, atol=1e-4, err_msg=f"{path} loaded but predicts differently")
    outcomes["loaded"] += 1


def run(source: Path, work: Path, n: int) -> dict:
    reference = predictions(source)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    sidecar = Path(f"{source}.json")
    outcomes = {"refused": 0, "loaded": 0}
    counter = iter(range(10**9))

    @settings(max_examples=n, deadline=None, database=None, derandomize=True, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(how=mutations, which=st.integers(0, len(files) - 1), keep_sidecar=st.booleans(),
           whole=st.booleans())
    def case(how, which, keep_sidecar, whole):
        k = next(counter)
        folder = work / f"{source.suffix[1:]}_{k}"
        folder.mkdir(parents=True)
        bad = folder / source.name
        if source.is_dir() and not whole:
            shutil.copytree(source, bad)
            target = bad / files[which].relative_to(source)
            target.write_bytes(mutate(target.read_bytes(), how))
            what = f"{files[which].relative_to(source)} {how[0]}"
        else:  # a .mlpackage "file" of bytes is as possible a user mistake as a damaged directory
            raw = files[0].read_bytes() if not source.is_dir() else json.dumps({}).encode()
            bad.write_bytes(mutate(raw, how))
            what = how[0]
        if keep_sidecar:
            shutil.copy(sidecar, Path(f"{bad}.json"))
        print(f"CASE {bad} {what} sidecar={keep_sidecar}", flush=True)
        check(bad, reference, outcomes)
        shutil.rmtree(folder)

    case()
    return outcomes


def main(argv: list[str]) -> int:
    artifacts, work, n = Path(argv[0]), Path(argv[1]), int(argv[2])
    summary = {}
    for suffix in SUFFIXES:
        source = next(artifacts.glob(f"*{suffix}"))
        summary[suffix] = run(source, work, n)
        print(f"DONE {suffix} {json.dumps(summary[suffix])}", flush=True)
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
