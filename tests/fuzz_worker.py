"""Child process for tests/test_data_fuzz.py: runs one reader per request, so a native crash in a decoder
(OpenCV, Pillow, PyTorch's zip reader) kills this process, not the test run, and is reported as a failure.

Protocol (stdin -> stdout), repeated: 4-byte big-endian length + UTF-8 JSON ``{"kind", "suffix"}``, then
4-byte length + the file's bytes. Reply: one JSON line, ``{"ok": {...}}`` or
``{"error": class name, "own": bool (the project's own error type), "message": str}``.
"""
import json
import struct
import sys
from pathlib import Path


def _readers():
    from edge_lmk.data import ImageFileError, LandmarkFileError, read_image, read_pts
    from edge_lmk.models.registry import ModelLoadError, load_checkpoint

    def image(p):
        img = read_image(p)
        return {"shape": list(img.shape), "dtype": str(img.dtype)}

    def pts(p):
        a = read_pts(p)
        return {"shape": list(a.shape), "finite": bool((a == a).all())}

    def checkpoint(p):
        import torch

        model, spec, _ = load_checkpoint(p)
        finite = all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())
        return {"name": spec.name, "finite": finite}

    def abort(p):  # the harness's self-test: what a native crash in a decoder looks like
        import os

        os.abort()

    return {"image": (image, ImageFileError), "pts": (pts, LandmarkFileError),
            "checkpoint": (checkpoint, ModelLoadError), "abort": (abort, RuntimeError)}


def _read_exact(n: int) -> bytes:
    buf = sys.stdin.buffer.read(n)
    if len(buf) != n:
        raise EOFError
    return buf


def main() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash under test leaves no core file behind
    workdir = Path(sys.argv[1])
    readers = _readers()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    n = 0
    while True:
        try:
            head = json.loads(_read_exact(struct.unpack(">I", _read_exact(4))[0]))
            data = _read_exact(struct.unpack(">I", _read_exact(4))[0])
        except EOFError:
            return
        n += 1
        path = workdir / f"case{n}{head['suffix']}"
        path.write_bytes(data)
        fn, own = readers[head["kind"]]
        try:
            reply = {"ok": fn(path)}
        except Exception as e:  # noqa: BLE001 - reported to the test, which decides
            reply = {"error": type(e).__name__, "own": isinstance(e, own), "message": str(e), "path": str(path)}
        path.unlink()
        out.write("REPLY " + json.dumps(reply) + "\n")  # libraries may print too: replies are marked
        out.flush()


if __name__ == "__main__":
    main()
