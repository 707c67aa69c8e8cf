"""Small utilities every package may import (``gates`` is the bottom of the dependency
order ``experiments -> graph -> gates``): atomic file writes, the rule against replacing
a file the user named, printable text, and counted nouns.

Atomic output writes beside the target, then renames over it: one writer for the whole
project (the grader's reports, a graph's parameter files, training outputs, downloads).
``os.replace`` is atomic on one file system, so a reader (or the next run) sees either
the old file or the complete new one, never a half-written file, and an interrupted
write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "OverwriteError",
           "refuse_overwrite", "printable", "plural"]


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    ``suffix`` is appended to the temporary name for writers that choose the format
    from the extension (``".png"`` for matplotlib, ``".npz"`` for numpy). On an
    exception the temporary file is removed and the exception propagates.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part" + suffix)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions open() would
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


class OverwriteError(FileExistsError):
    """A file the user named exists already and ``--force`` was not given: a finished
    homework is not overwritten by a new skeleton, a report not by the next run."""


def refuse_overwrite(*paths, force: bool = False) -> None:
    """Raise OverwriteError naming the existing ones among ``paths`` (None is skipped)
    unless ``force``; a folder where a file should go is refused even with ``force``."""
    existing = [Path(p) for p in paths if p is not None and Path(p).exists()]
    folders = [p for p in existing if p.is_dir()]
    if folders:
        raise OverwriteError(f"{folders[0]} is a folder; give a file name")
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise OverwriteError(f"{names} already exist{'s' if len(existing) == 1 else ''}; "
                             f"pass --force to replace "
                             f"{'it' if len(existing) == 1 else 'them'}, or choose another name")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for a terminal or a file a person opens: control characters
    (escape sequences, carriage returns) and bidirectional overrides (which reorder
    what is shown) as ``\\x1b``/``\\u202e``-style escapes, newlines and tabs kept,
    and lone surrogates (which no encoding can write) as ``\\ud800``."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                   else f"\\u{ord(m.group()):04x}"), text)


def plural(count: int, noun: str) -> str:
    """``"1 run"``, ``"4 runs"``: the count and the noun, plural when not 1 (nouns whose
    plural adds an s: gate, run, input)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
