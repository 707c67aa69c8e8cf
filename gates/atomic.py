"""Atomic file output: write beside the target, then rename over it.

One writer for the whole project (the grader's reports, a graph's parameter files,
training outputs and downloads), kept in ``gates`` because every package may use it.

``os.replace`` is atomic on one file system, so a reader (or the next run) sees either
the old file or the complete new one, never a half-written file, and an interrupted
write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


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
