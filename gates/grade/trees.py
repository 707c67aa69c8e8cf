"""Folders a submission made or a class uploaded, walked, measured and removed whatever
they hold: trees deeper than Python's recursion limit or than PATH_MAX, folders
without permissions, symlinks (never followed), FIFOs. Nothing here recurses, and
nothing raises because of what it finds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator


def walk_files(top, max_depth: int | None = None,
               skip_hidden: bool = False) -> Iterator[os.DirEntry]:
    """Every entry below ``top`` that is not a folder (files, symlinks, FIFOs), at most
    ``max_depth`` folders down (None: any depth); symlinked folders are not entered,
    hidden ones (``.git``) skipped with ``skip_hidden``; unreadable folders passed over."""
    pending = [(os.fspath(top), 0)]
    while pending:
        here, depth = pending.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if not is_dir:
                yield entry
            elif (max_depth is None or depth < max_depth) and \
                    not (skip_hidden and entry.name.startswith(".")):
                pending.append((entry.path, depth + 1))


def folder_bytes(path, stop_after: int) -> int:
    """The bytes of the files below ``path``, counted only until they pass ``stop_after``."""
    total = 0
    for entry in walk_files(path):
        try:
            total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
        if total > stop_after:
            break
    return total


def remove_tree(path) -> bool:
    """Remove ``path`` and all below it; never raises. True if nothing is left."""
    path = Path(path)
    if not os.path.lexists(path):
        return True
    try:
        shutil.rmtree(path)
    except Exception:  # noqa: BLE001  (RecursionError on a deep tree included)
        for command in (["chmod", "-R", "u+rwx", "--", str(path)],
                        ["rm", "-rf", "--one-file-system", "--", str(path)]):
            try:
                subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=120, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass
    return not os.path.lexists(path)
