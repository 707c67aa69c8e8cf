"""Reading what a class uploaded (a zip of submissions, an LMS export, an unzipped
folder of them) into memory, without trusting any of it.

A zip is written by whoever made it, so its member names, sizes and types are claims,
not facts: a name may climb out of the folder (``../evil.py``, ``/etc/passwd``,
``C:\\x``), a member may be a symbolic link, its header may say 10 bytes and inflate
to gigabytes, and there may be millions of members. A folder someone unzipped may hold
symbolic links to the teacher's files, FIFOs that block whoever reads them, or device
files. Everything here reads such input into :class:`SubmittedFile` objects held in
memory (nothing is ever written to disk, so no path can escape), under caps on the
size of each file, the bytes read in all and the number of entries looked at. What
is not read is said in a note, never raised: one hostile member must not hide the
rest of the class. Only a zip that cannot be read at all raises :class:`ArchiveError`.
"""

from __future__ import annotations

import io
import os
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .trees import walk_files

__all__ = ["SubmittedFile", "Note", "ArchiveError", "read_zip", "read_folder", "safe_name",
           "MAX_MEMBER", "MAX_TOTAL", "MAX_MEMBERS"]

#: Default caps: bytes of one file, bytes of all files, entries looked at.
MAX_MEMBER = 2 << 20
MAX_TOTAL = 64 << 20
MAX_MEMBERS = 5000


@dataclass
class SubmittedFile:
    """One file of a submission, held in memory.

    ``name`` is a '/'-separated relative path (never absolute, never '..' or '.', no
    empty parts, no backslash, NUL or control character), NFC-normalised so that a name
    typed on a Mac (decomposed 'ễ') equals the same name typed elsewhere."""
    name: str
    data: bytes


class Note(str):
    """A note on something not read: the text a teacher reads, plus ``path``, the
    entry's name as the archive or folder gave it (None for a note on the whole
    archive), so a caller can tell which student's entry it was about."""
    path: str | None

    def __new__(cls, text: str, path: str | None = None):
        note = super().__new__(cls, text)
        note.path = path
        return note


class ArchiveError(ValueError):
    """A zip that cannot be read at all (not a zip, truncated, corrupt directory)."""


def _hidden(parts) -> bool:
    """macOS resource forks (``__MACOSX/``) and dotfiles (``.DS_Store``, ``.git/``)."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def safe_name(raw: str) -> tuple[str | None, str]:
    """(the cleaned, NFC-normalised name, "") for a relative path that stays inside its
    folder, or (None, why not) for one that does not or that a file system or a
    terminal could read differently (backslashes, drive letters, NUL, controls)."""
    if "\x00" in raw:
        return None, "its name holds a NUL byte"
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        return None, "its name holds a control character"
    if "\\" in raw:
        return None, "its name holds a backslash (a Windows path, read differently here)"
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        return None, "its name is an absolute path"
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return None, "its name is not valid UTF-8"
    name = unicodedata.normalize("NFC", raw)
    parts = name.split("/")
    if any(p in ("..", ".") for p in parts):
        return None, "its name climbs out of its folder ('..')" if ".." in parts \
            else "its name has a '.' part"
    if any(p == "" for p in parts):
        return None, "its name has an empty part"
    return name, ""


class _Reader:
    """The bookkeeping both readers share: caps, kept files, notes."""

    def __init__(self, label, max_member, max_total, max_members, keep):
        self.at, self.keep = (f"{label}: " if label else ""), keep
        self.max_member, self.max_total, self.max_members = max_member, max_total, max_members
        self.files: dict[str, SubmittedFile] = {}
        self.notes: list[Note] = []
        self.total = self.seen = self.hidden = 0
        self.stopped = False

    def note(self, raw, why):
        self.notes.append(Note(f"{self.at}skipped {raw!r}: {why}", raw))

    def count(self) -> bool:
        """Count one more entry; False (and a note, once) past ``max_members``."""
        self.seen += 1
        if self.seen > self.max_members:
            if not self.stopped:
                self.notes.append(Note(f"{self.at}stopped after {self.max_members} "
                                       f"entries; the rest were not read"))
            self.stopped = True
        return not self.stopped

    def name(self, raw: str) -> str | None:
        """The clean name of a kept entry, or None (noted, or dropped by ``keep``)."""
        name, why = safe_name(raw)
        if name is None:
            self.note(raw, why)
            return None
        if _hidden(name.split("/")):
            self.hidden += 1
            return None
        if not self.keep(name):
            return None
        if name in self.files:
            self.note(raw, "a second entry with the same name (the first was kept)")
            return None
        return name

    def add(self, raw, name, data: bytes) -> bool:
        """Keep ``data`` unless it is over a cap; False once ``max_total`` is passed."""
        if len(data) > self.max_member:
            self.note(raw, f"more than {self.max_member} bytes when read (its size was "
                           f"given as less)")
            return True
        if self.total + len(data) > self.max_total:
            self.notes.append(Note(f"{self.at}stopped at {raw!r}: the files read "
                                   f"passed {self.max_total} bytes; the rest were not read"))
            self.stopped = True
            return False
        self.total += len(data)
        self.files[name] = SubmittedFile(name, data)
        return True

    def result(self):
        if self.hidden:
            self.notes.append(Note(f"{self.at}skipped {self.hidden} hidden or macOS "
                                   f"metadata entr{'y' if self.hidden == 1 else 'ies'} "
                                   f"(dotfiles, __MACOSX/)"))
        return sorted(self.files.values(), key=lambda f: f.name), self.notes


def _zip_source(source, label):
    """A seekable file for ``source`` (bytes or a path of a regular file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    try:   # O_NONBLOCK: a FIFO named like a zip must not block the reader
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ArchiveError(f"cannot read {label}: {exc.strerror}") from None
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise ArchiveError(f"{label} is not a regular file")
    return f


def read_zip(source, *, max_member: int = MAX_MEMBER, max_total: int = MAX_TOTAL,
             max_members: int = MAX_MEMBERS, keep: Callable[[str], bool] = lambda name: True,
             label: str | None = None) -> tuple[list[SubmittedFile], list[Note]]:
    """The regular files of the zip ``source`` (a path or its bytes) whose clean name
    passes ``keep(name)``, by name, and notes on what was skipped.

    Skipped with a note, never extracted and never raising: symbolic links and other
    non-regular members (their Unix mode in ``external_attr``), names that are absolute
    or climb out ('..'), hold a backslash, NUL or control character, or have empty
    parts; encrypted members; members larger than ``max_member`` bytes, by their header
    and by reading at most ``max_member + 1`` bytes (headers lie); corrupt members;
    everything after ``max_total`` bytes read or ``max_members`` entries. Directories
    are passed over silently (their files are members of their own), hidden entries
    (dotfiles, ``__MACOSX/``) are counted in one note. Names are decoded as zipfile does
    (cp437, or UTF-8 when the member's flag says so) and NFC-normalised. ``label``
    starts each note (default: the path; none for bytes).

    ArchiveError (naming the zip) if it cannot be read at all."""
    is_path = isinstance(source, (str, os.PathLike))
    where = os.fspath(source) if is_path else "zip"
    if label is None:
        label = where if is_path else ""
    reader = _Reader(label, max_member, max_total, max_members, keep)
    try:
        with _zip_source(source, where) as f, zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                if not reader.count():
                    break
                if not _read_member(reader, zf, info):
                    break
    except ArchiveError:
        raise
    except Exception as exc:  # noqa: BLE001  (zipfile raises many kinds on a hostile directory)
        raise ArchiveError(f"{label or where}: not a readable zip file ({exc})") from None
    return reader.result()


def _read_member(reader: _Reader, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Read one member into ``reader``; False once the byte cap stops the reading."""
    raw = info.orig_filename
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return True
    name = reader.name(raw)
    if name is None:
        return True
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        reader.note(raw, f"{kind} (never followed)")
        return True
    if info.flag_bits & 0x1:
        reader.note(raw, "encrypted")
        return True
    if info.file_size > reader.max_member:
        reader.note(raw, f"{info.file_size} bytes, more than {reader.max_member}")
        return True
    try:
        with zf.open(info) as member:
            data = member.read(reader.max_member + 1)
    except Exception as exc:  # noqa: BLE001  (bad CRC, bad header, unknown compression)
        reader.note(raw, f"cannot be read ({exc})")
        return True
    return reader.add(raw, name, data)


def read_folder(folder, *, max_member: int = MAX_MEMBER, max_total: int = MAX_TOTAL,
                max_members: int = MAX_MEMBERS, keep: Callable[[str], bool] = lambda name: True,
                label: str | None = None) -> tuple[list[SubmittedFile], list[Note]]:
    """What :func:`read_zip` gives, for a folder someone unzipped: its regular files
    (names relative to ``folder``) under the same caps.

    Walked with :func:`.trees.walk_files` (no recursion, symlinked folders never
    entered); symbolic links, FIFOs, sockets and devices are noted and never opened
    (so none can block or lead outside); files are opened with O_NOFOLLOW|O_NONBLOCK,
    checked to be regular on the open descriptor, and read up to ``max_member + 1``
    bytes. Hidden entries (dotfiles, ``__MACOSX/``) are counted in one note; hidden
    folders (``.git/``) are not entered.
    A folder that cannot be listed gives no files and a note."""
    top = os.fspath(folder)
    label = top if label is None else label
    reader = _Reader(label, max_member, max_total, max_members, keep)
    if not os.path.isdir(top):
        reader.notes.append(Note(f"{reader.at}not a folder that can be read"))
        return reader.result()
    for entry in walk_files(top, skip_hidden=True):
        if not reader.count():
            break
        raw = Path(os.path.relpath(entry.path, top)).as_posix()
        if _hidden(raw.split("/")):
            reader.hidden += 1
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as exc:
            reader.note(raw, f"cannot be read ({exc.strerror})")
            continue
        if stat.S_ISLNK(mode):
            reader.note(raw, "a symbolic link (never followed)")
            continue
        if not stat.S_ISREG(mode):
            reader.note(raw, "not a regular file (a FIFO, socket or device; never opened)")
            continue
        name = reader.name(raw)
        if name is None:
            continue
        data, why = _read_regular(entry.path, reader.max_member)
        if data is None:
            reader.note(raw, why)
        elif not reader.add(raw, name, data):
            break
    return reader.result()


def _read_regular(path, max_member: int) -> tuple[bytes | None, str]:
    """(at most ``max_member + 1`` bytes of ``path``, "") or (None, why not): the file
    may have been swapped for a link or a FIFO since it was looked at."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, f"cannot be opened ({exc.strerror})"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file when opened"
        if info.st_size > max_member:
            return None, f"{info.st_size} bytes, more than {max_member}"
        try:
            return f.read(max_member + 1), ""
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror})"
