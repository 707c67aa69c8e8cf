"""One rule for every file a command writes where the user told it to: an existing file
is never replaced without ``--force`` (a finished homework is not overwritten by a new
skeleton, a report not by the next run)."""

from __future__ import annotations

from pathlib import Path


class OverwriteError(FileExistsError):
    """A file the user named exists already and ``--force`` was not given."""


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
