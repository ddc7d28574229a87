"""Property-based tests (hypothesis) of the readers of faces, images, labels and checkpoints.

For arbitrary bytes and for mutations of real files (a bundled sample face, a shipped checkpoint),
the only acceptable outcomes are a valid result or the project's own error naming the file. Readers
with native code underneath (image decoders, PyTorch's zip reader) run in a child process
(tests/fuzz_worker.py), so a native crash fails the test with its input instead of killing the run.
Examples are derandomized so every machine runs the same cases.
"""
import json
import os
import select
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_lmk.data import LandmarkFileError, read_pts, scan_folder, write_pts
from edge_lmk.data.images import MAX_IMAGE_PIXELS
from edge_lmk.data.pts import MAX_ABS_COORD, MIN_EXTENT, MIN_IOD
from edge_lmk.models.registry import ModelLoadError, load_checkpoint
from edge_lmk.paths import REPO_DIR, SAMPLE_TEST

WEIGHTS = REPO_DIR / "edge_lmk" / "weights" / "laplacekl_w1_16.pt"
REPLY_TIMEOUT_S = 60  # a hang is a failure too

FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Worker:
    """The reader child process; restarted after a crash so the next example still runs."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fuzz_worker.py")),
                                      str(self.workdir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO_DIR)})
        assert self._line() == "ready"

    def _line(self) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], REPLY_TIMEOUT_S)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(f"reader hung for more than {REPLY_TIMEOUT_S} s")
        line = self.proc.stdout.readline().decode()
        if not line:
            rc = self.proc.wait()
            self.proc = None
            raise AssertionError(f"reader process crashed (exit status {rc}; negative = killed by that signal)")
        return line.strip()

    def read(self, kind: str, suffix: str, data: bytes) -> dict:
        if self.proc is None:
            self._start()
        head = json.dumps({"kind": kind, "suffix": suffix}).encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(head)) + head + struct.pack(">I", len(data)) + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.proc = None
            raise AssertionError("reader process died") from None
        while True:
            line = self._line()
            if line.startswith("REPLY "):
                return json.loads(line[6:])

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = Worker(tmp_path_factory.mktemp("fuzz"))
    yield w
    w.close()


def assert_own_error_or_ok(reply: dict) -> dict | None:
    """-> the ok payload, or None after checking the error is the project's own and names the file."""
    if "ok" in reply:
        return reply["ok"]
    assert reply["own"], f"foreign exception {reply['error']}: {reply['message']}"
    assert reply["path"] in reply["message"], reply["message"]
    return None


@st.composite
def mutated(draw, seed: bytes, head: int = 1024, structural: bool = True, lo: int = 0):
    """``seed`` with 1-8 edits (bit flips, byte sets and, if ``structural``, inserts, deletes, a truncation),
    half of them in the first ``head`` bytes where the headers a parser trusts live. Without structural
    edits the file mostly stays parseable, so the edits reach pixel and weight data. Edits land at or
    after byte ``lo``."""
    data = bytearray(seed)
    ops = ["flip", "set", "insert", "delete", "truncate"] if structural else ["flip", "set"]
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        last = len(data) - 1
        lo_ = min(lo, last)
        i = draw(st.one_of(st.integers(lo_, max(lo_, min(head, last))), st.integers(lo_, last)))
        op = draw(st.sampled_from(ops))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        else:
            del data[i:]
    return bytes(data)


# -- .pts reader (pure Python: in process) -------------------------------------------------------------

SAMPLE_PTS = scan_folder(SAMPLE_TEST)[0].pts


def _check_pts_outcome(path: Path) -> None:
    try:
        pts = read_pts(path)
    except LandmarkFileError as e:
        assert str(path) in str(e)
        return
    assert pts.shape == (68, 2) and np.isfinite(pts).all() and np.abs(pts).max() <= MAX_ABS_COORD + 1
    assert _plausible(pts)  # a parse that succeeds is a usable face


@settings(FUZZ, max_examples=150)
@given(data=st.one_of(st.binary(max_size=3000), mutated(SAMPLE_PTS.read_bytes(), head=64)))
def test_pts_reader_on_arbitrary_and_mutated_bytes(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz.pts"
    path.write_bytes(data)
    _check_pts_outcome(path)


_TOKEN = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                   st.sampled_from(["{", "}", "version: 1", "n_points: 68", "n_points: x", "", "1e999", "-0"]),
                   st.text(max_size=8))


_LINE = st.one_of(st.tuples(_TOKEN, _TOKEN).map(" ".join), _TOKEN,
                  st.tuples(st.floats(-2e6, 2e6), st.floats(-2e6, 2e6)).map(lambda xy: f"{xy[0]} {xy[1]}"))
SAMPLE_LINES = SAMPLE_PTS.read_text().splitlines()


@settings(FUZZ, max_examples=150)
@given(edits=st.lists(st.tuples(st.integers(0, len(SAMPLE_LINES)), _LINE, st.booleans()), min_size=1, max_size=5))
def test_pts_reader_on_edited_real_files(tmp_path_factory, edits):
    """The sample .pts with lines replaced or inserted (numbers, NaN, huge values, junk, braces, headers)."""
    lines = list(SAMPLE_LINES)
    for i, line, insert in edits:
        if insert or i == len(lines):
            lines.insert(i, line)
        else:
            lines[i] = line
    path = tmp_path_factory.getbasetemp() / "text.pts"
    path.write_text("\n".join(lines), encoding="utf-8")
    _check_pts_outcome(path)


def _plausible(p: np.ndarray) -> bool:
    return bool((p.max(0) - p.min(0)).max() >= MIN_EXTENT and np.linalg.norm(p[36] - p[45]) >= MIN_IOD)


@settings(FUZZ, max_examples=100)
@given(pts=arrays(np.float64, (68, 2), elements=st.floats(-1e5, 1e5, allow_nan=False)).filter(_plausible))
def test_pts_round_trip(tmp_path_factory, pts):
    """write_pts keeps 3 decimals of the 1-based value: read back within 5e-4 px (+ float64 rounding)."""
    path = tmp_path_factory.getbasetemp() / "round.pts"
    write_pts(path, pts)
    np.testing.assert_allclose(read_pts(path), pts, rtol=0, atol=5e-4 + 1e-10 * 1e5)


# -- image reader (native decoders: in the worker) -----------------------------------------------------

def _sample_images() -> dict[str, bytes]:
    """A real 192 px sample JPEG, and the same face as a 64 px PNG (small, so mutations reach its data)."""
    import cv2

    jpg = scan_folder(SAMPLE_TEST)[0].image
    small = cv2.resize(cv2.imread(str(jpg)), (64, 64), interpolation=cv2.INTER_AREA)
    return {".jpg": jpg.read_bytes(), ".png": cv2.imencode(".png", small)[1].tobytes()}


IMAGES = _sample_images()
MAGICS = [b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*",
          b"RIFF\x00\x00\x00\x00WEBPVP8 "]


def _check_image(worker, suffix: str, data: bytes) -> None:
    ok = assert_own_error_or_ok(worker.read("image", suffix, data))
    if ok is not None:
        h, w, c = ok["shape"]
        assert c == 3 and ok["dtype"] == "uint8" and 0 < h * w <= MAX_IMAGE_PIXELS


@settings(FUZZ, max_examples=150)
@given(case=st.one_of(
    st.sampled_from(list(IMAGES)).flatmap(lambda k: st.tuples(st.just(k), mutated(IMAGES[k], structural=False))),
    st.sampled_from(list(IMAGES)).flatmap(lambda k: st.tuples(st.just(k), mutated(IMAGES[k]))),
    st.tuples(st.sampled_from([".jpg", ".png", ".bmp", ".tif", ".webp"]),
              st.tuples(st.sampled_from(MAGICS), st.binary(max_size=600)).map(b"".join)),
    st.tuples(st.just(".jpg"), st.binary(max_size=600))))
def test_image_reader_on_arbitrary_and_mutated_bytes(worker, case):
    _check_image(worker, *case)


def test_image_reader_reads_the_unmutated_samples(worker):
    assert worker.read("image", ".jpg", IMAGES[".jpg"])["ok"]["shape"] == [192, 192, 3]
    assert worker.read("image", ".png", IMAGES[".png"])["ok"]["shape"] == [64, 64, 3]


# -- checkpoint loading (PyTorch's zip reader and unpickler: in the worker) -----------------------------

def _tensor_data_start(path: Path) -> int:
    """Offset of the first tensor record in a torch zip checkpoint (after the pickled config)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return min(i.header_offset for i in z.infolist() if "/data/" in i.filename)


WEIGHT_BYTES, TENSOR_DATA = WEIGHTS.read_bytes(), _tensor_data_start(WEIGHTS)


@settings(FUZZ, max_examples=80)
@given(data=st.one_of(mutated(WEIGHT_BYTES, head=len(WEIGHT_BYTES), structural=False, lo=TENSOR_DATA), mutated(WEIGHT_BYTES, head=4096),
                      st.binary(max_size=2000),
                      st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b)))
def test_checkpoint_loading_on_arbitrary_and_mutated_bytes(worker, data):
    ok = assert_own_error_or_ok(worker.read("checkpoint", ".pt", data))
    if ok is not None:
        assert ok["finite"], "a checkpoint with non-finite weights was loaded"


_STATE = torch.load(WEIGHTS, weights_only=True)
_FLOAT_KEYS = [k for k, v in _STATE["state_dict"].items() if v.is_floating_point()]


@settings(FUZZ, max_examples=15)
@given(key=st.sampled_from(_FLOAT_KEYS), value=st.sampled_from([float("nan"), float("inf"), float("-inf")]),
       where=st.floats(0, 1, exclude_max=True))
def test_checkpoint_with_a_non_finite_weight_is_refused(tmp_path_factory, key, value, where):
    payload = {**_STATE, "state_dict": {k: v.clone() for k, v in _STATE["state_dict"].items()}}
    t = payload["state_dict"][key].view(-1)
    t[int(where * t.numel())] = value
    path = tmp_path_factory.getbasetemp() / "nonfinite.pt"
    torch.save(payload, path)
    with pytest.raises(ModelLoadError, match=rf"{path.name}: non-finite weights in 1 tensor\(s\) \({key}\)"):
        load_checkpoint(path)


def test_a_native_crash_fails_the_case_not_the_run(worker):
    """The harness itself: a reader that aborts (as a decoder's native crash would) is reported as a failure."""
    with pytest.raises(AssertionError, match=r"crashed \(exit status -6"):
        worker.read("abort", ".jpg", b"")
    assert worker.read("image", ".png", IMAGES[".png"])["ok"]["shape"] == [64, 64, 3]  # restarted
