"""How every command-line tool reports an ordinary user mistake: one line on stderr, exit status 2.

    @cli_main
    def main(argv=None): ...

What counts as a user mistake (no traceback; the message names the file or argument):

- ``UserError``, raised by a tool for a bad combination of arguments;
- the project's own errors about inputs: any exception class defined in ``edge_lmk``, ``export``
  or ``benchmarks`` that subclasses ``ValueError`` or ``OSError`` (``ModelLoadError``,
  ``ArtifactError``, ``DatasetError``, ``ImageFileError``, ``LandmarkFileError``, ...), so
  error classes added to the readers later are covered without being listed here;
- ``OSError`` (a folder that cannot be created, a full disk, a permission denied);
- ``SystemExit`` with a message (``raise SystemExit("...")``, the older idiom in the tools);
- argparse's errors (unknown option, bad value), shortened to one line by ``ArgumentParser``.

Anything else is a bug and keeps its traceback. ``EDGE_LMK_TRACEBACK=1`` keeps tracebacks for
user mistakes too (for debugging).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Callable, NoReturn, TypeVar

T = TypeVar("T")
EXIT_USAGE = 2
PROJECT_PACKAGES = ("edge_lmk", "export", "benchmarks")
MAX_MESSAGE = 2000  # a state_dict mismatch can run to pages; one line stays readable


class UserError(ValueError):
    """An ordinary user mistake (bad argument, conflicting run folder); the message names it."""


def one_line(message: str) -> str:
    """Collapse whitespace (multi-line library messages) and cap the length."""
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def is_user_error(e: BaseException) -> bool:
    if isinstance(e, (UserError, OSError)):
        return True
    return isinstance(e, ValueError) and type(e).__module__.split(".")[0] in PROJECT_PACKAGES


def describe(e: BaseException) -> str:
    """The one-line message for a user error; OSErrors as ``path: reason``."""
    if isinstance(e, OSError) and e.filename is not None and type(e).__module__ == "builtins":
        where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else str(e.filename)
        return f"{where}: {e.strerror or e}"
    return str(e) or type(e).__name__


def fail(message: str) -> NoReturn:
    print(f"error: {one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def cli_main(main: Callable[..., T]) -> Callable[..., T]:
    """Decorate a tool's ``main(argv)``: user mistakes become ``error: ...`` on stderr and SystemExit(2)."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except SystemExit as e:
            if isinstance(e.code, str) and not os.environ.get("EDGE_LMK_TRACEBACK"):
                fail(e.code)
            raise
        except Exception as e:
            if not is_user_error(e) or os.environ.get("EDGE_LMK_TRACEBACK"):
                raise
            fail(describe(e))

    return wrapper


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its errors on one line (``error: argument --width: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# ----- argument types (argparse turns their ValueError/ArgumentTypeError into "argument --x: ...")

def positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be an integer >= 1")
    return v


def nonnegative_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be an integer >= 0")
    return v


def positive_float(text: str) -> float:
    v = float(text)
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number > 0")
    return v


def nonnegative_float(text: str) -> float:
    v = float(text)
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number >= 0")
    return v


def unit_interval(text: str) -> float:
    """A fraction in [0, 1) (dropout, EMA decay, validation share)."""
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be in [0, 1)")
    return v


def width_arg(text: str) -> str:
    """A width of the model ladder (``1/16`` ... ``1``), normalised to the registry's spelling."""
    from .models.registry import WIDTHS

    try:
        w = Fraction(text)
    except (ValueError, ZeroDivisionError):
        w = None
    if w not in WIDTHS:
        raise argparse.ArgumentTypeError(f"{text!r}: not a width of the ladder ({', '.join(map(str, WIDTHS))})")
    return str(w)


# ----- output locations, checked before the work instead of failing after it

def _unwritable(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created with its parents if missing), or None."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as e:
        return f"cannot write in {e.filename or folder}: {e.strerror or e}"
    return None


def writable_dir(path: str | os.PathLike, arg: str) -> Path:
    """Create the output folder ``path`` and check a file can be written in it; UserError naming ``arg`` if not."""
    path = Path(path)
    why = _unwritable(path)
    if why:
        raise UserError(f"{arg} {path}: {why}")
    return path


def writable_file(path: str | os.PathLike, arg: str) -> Path:
    """Check that the output file ``path`` can be written later (its folder is created now); UserError if not."""
    path = Path(path)
    why = "is a folder, expected a file name" if path.is_dir() else _unwritable(path.parent)
    if why:
        raise UserError(f"{arg} {path}: {why}")
    return path
