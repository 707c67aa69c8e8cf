"""The layouts teachers download from an LMS: one :class:`Student` per person.

Moodle's "Download all submissions" and Canvas's "Download Submissions" name every file
after the student who sent it; :func:`read_export` turns either (or a plain folder of
files or per-student folders, or a mix) into one :class:`Student` each, and
:func:`find_student` finds one again (``--only``). The formats are those of the LMS
sources: Moodle 4.1+ ``mod_assign\\downloader`` (and 3.1-4.0's folders ending in
``_``), Canvas ``ContentZipper``. An export is read as hostile (:mod:`.archive`:
nothing followed, nothing extracted). Writing back to the LMS is :mod:`.lms`'s job.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .archive import (MAX_MEMBER, Note, SubmittedFile, read_folder, read_zip,
                      safe_name)

__all__ = ["Student", "read_export", "find_student"]

#: 'Full Name_1234567_assignsubmission_file' (a folder; 3.1-4.0 add a trailing '_') or
#: 'Full Name_1234567_assignsubmission_file_hw.py' (flat). Moodle turns '_' in names into
#: spaces, but the first '_<digits>_assign...' is taken in case a name kept one.
_MOODLE = re.compile(r"(?P<name>.*?)_(?P<id>[0-9]+)_(?P<plugin>assign(?:submission|feedback)_"
                     r"[a-z][a-z0-9]*)(?P<tail>_.*)?", re.S)
_SOURCES = (".py", ".ipynb", ".zip")
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class Student:
    """One student of an export: ``key`` is unique in it and safe as a file name (Moodle
    participant id, ``canvas-<user id>``, or the ASCII form of a plain entry's name),
    ``name`` as the LMS wrote it (NFC), ``files`` named relative to the submission,
    ``notes`` on what was skipped or is worth knowing (late, online text)."""
    key: str
    name: str
    lms: str | None
    lms_id: str | None
    files: list[SubmittedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    moodle_prefix: str | None = None


def _slug(text: str) -> str:
    """ASCII letters, digits, '-' and '_' only: 'Nguyễn Văn An' -> 'Nguyen-Van-An'."""
    text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:100] or "student"


def _canvas(name: str):
    """(user key, display name, late, file name) for a Canvas file name, else None:
    'lastfirst[_LATE]_<user id>_<attachment id>_<file>' or '..._<user id>_text.html'
    (older Canvas writes 'late'; anonymous grading writes 'anon_<id>' for the name)."""
    parts = name.split("_")
    for i, part in enumerate(parts):
        anon = part == "anon" and i + 2 < len(parts) and parts[i + 1].isalnum()
        j = i + 2 if anon else i + 1
        if not (anon or _DIGITS.fullmatch(part)) or j >= len(parts):
            continue
        rest = parts[j:]
        if _DIGITS.fullmatch(rest[0]) and len(rest) > 1:
            file = "_".join(rest[1:])
        elif rest in (["text.html"], ["link.html"]):
            file = rest[0]
        else:
            continue
        late = i > 0 and parts[i - 1] in ("LATE", "late")
        who = "_".join(parts[:i - 1 if late else i])
        uid = f"anon-{parts[i + 1]}" if anon else part
        return uid, who or (f"anon_{parts[i + 1]}" if anon else uid), late, file
    return None


class _Entry:
    """A top-level entry of the export: its files (names below it) and notes."""
    def __init__(self, name):
        self.name, self.data, self.files, self.notes = name, None, [], []


def _entries(files, notes, loose) -> dict[str, _Entry]:
    tops: dict[str, _Entry] = {}
    for f in files:
        head, _, rest = f.name.partition("/")
        entry = tops.setdefault(head, _Entry(head))
        if rest:
            entry.files.append(SubmittedFile(rest, f.data))
        else:
            entry.data = f.data
    for n in notes:
        head = (n.path or "").split("/")[0] if isinstance(n, Note) else ""
        head = safe_name(head)[0] if head else None
        if head is None:
            loose.append(str(n))
        else:
            tops.setdefault(head, _Entry(head)).notes.append(str(n))
    if len(tops) == 1:       # one folder around the whole export: look inside it
        (top,) = tops.values()
        inner = {f.name.split("/")[0] for f in top.files}
        if top.data is None and not _MOODLE.fullmatch(top.name) and \
                any(_MOODLE.fullmatch(i) or _canvas(i) for i in inner):
            cut = len(top.name) + 1
            inside = [Note(n, n.path[cut:]) if isinstance(n, Note) and n.path and
                      n.path.startswith(top.name + "/") else n for n in notes]
            return _entries([SubmittedFile(f.name[cut:], f.data) for f in files], inside, loose)
    return tops


def read_export(path, *, max_member: int = MAX_MEMBER, max_total: int = 256 << 20,
                max_members: int = 20000, notes: list | None = None) -> list[Student]:
    """The students of the export ``path`` (a zip or a folder), sorted by name then key.

    Each top-level entry is classified on its own: Moodle (``Name_<participant id>_
    assignsubmission_<plugin>`` as a folder, or ``..._<file>`` flat; every plugin of a
    participant is one student, files of other plugins than ``file`` go under
    ``<plugin>/``), Canvas (``lastfirst[_LATE]_<user id>_<attachment id>_<file>``; one
    student per user id), else plain (a ``.py``/``.ipynb`` file, a ``.zip`` read as that
    student's files, or a folder of files). The export is hostile (:mod:`.archive`): a
    symlink or FIFO is never followed or opened; a top-level one gives a student with no
    files and a note saying why. Notes on entries no student owns (``../evil.py``,
    hidden files, caps) go to ``notes`` if given. ArchiveError for an unreadable zip."""
    caps = dict(max_member=max_member, max_total=max_total, max_members=max_members, label="")
    if os.path.isdir(path):
        files, found = read_folder(path, **caps)
    else:
        files, found = read_zip(path, **caps)
    loose: list[str] = []
    students: dict[tuple, Student] = {}

    def student(ident, name, lms, lms_id, prefix=None) -> Student:
        if ident not in students:
            students[ident] = Student("", name, lms, lms_id, moodle_prefix=prefix)
        return students[ident]

    entries = _entries(files, found, loose)
    if os.path.isdir(path):
        # a student's empty folder is still a student: a row saying nothing came
        for e in os.scandir(path):
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False) and \
                    e.name not in entries:
                entries[e.name] = _Entry(e.name)
    for entry in entries.values():
        m, c = _MOODLE.fullmatch(entry.name), _canvas(entry.name)
        flat_file = entry.data is not None and not entry.files
        if m:
            s = student(("moodle", m["id"]), m["name"], "moodle", m["id"],
                        # as Moodle writes it (a '_' in the name is a space): its
                        # feedback importer splits the prefix on '_'
                        f"{m['name'].replace('_', ' ')}_{m['id']}")
            base, plugin = (m["tail"] or "_")[1:], m["plugin"]
            named = [(base, entry.data)] if entry.data is not None and base else []
            named += [(f"{base}/{f.name}" if base else f.name, f.data) for f in entry.files]
            if plugin != "assignsubmission_file":
                named = [(f"{plugin}/{n}", d) for n, d in named]
                if named and not any(plugin in n for n in s.notes):
                    s.notes.append(f"{plugin.split('_', 1)[1]} submission present ({plugin})")
        elif c and flat_file:
            uid, name, late, file = c
            s = student(("canvas", uid), name, "canvas", uid)
            named = [(file, entry.data)]
            extra = ["submitted late (Canvas marked it LATE)"] if late else []
            extra += {"text.html": ["online text entry present (text.html)"],
                      "link.html": ["website URL submission (link.html)"]}.get(file, [])
            s.notes += [n for n in extra if n not in s.notes]
        else:
            suffix = PurePosixPath(entry.name).suffix.lower()
            if entry.data is not None and not entry.files and suffix not in _SOURCES:
                loose.append(f"{entry.name}: not a submission (not .py, .ipynb, .zip or a "
                             f"folder); left out")
                continue
            stem = entry.name[:-len(suffix)] if suffix in _SOURCES else entry.name
            s = student(("plain", entry.name), stem, None, None)
            named = [(f.name, f.data) for f in entry.files]
            if entry.data is not None:
                # a zip stays one file here: the submission opens it, once, on a budget
                # of its own (:func:`.submission.assemble`)
                named.append((entry.name, entry.data))
        s.notes += entry.notes
        have = {f.name for f in s.files}
        for name, data in named:
            if name in have:
                s.notes.append(f"{name}: a second file with this name (the first was kept)")
            else:
                have.add(name)
                s.files.append(SubmittedFile(name, data))
    if notes is not None:
        notes += loose
    return _keyed(list(students.values()))


def _keyed(students: list[Student]) -> list[Student]:
    """Give each student a unique key; sort by name then key."""
    taken: set[str] = set()
    for s in sorted(students, key=lambda s: (s.lms is None, s.lms_id or "", s.name)):
        s.name = unicodedata.normalize("NFC", s.name)
        base = _slug({"moodle": s.lms_id, "canvas": f"canvas-{s.lms_id}"}.get(s.lms) or s.name)
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        s.key = key
        s.files.sort(key=lambda f: f.name)
    return sorted(students, key=lambda s: (s.name.casefold(), s.key))


def find_student(students, wanted: str) -> Student:
    """The student whose key, LMS id or name (any case) is ``wanted``; LookupError
    naming close matches when none or several are."""
    want = unicodedata.normalize("NFC", str(wanted)).strip()
    for s in students:
        if want in (s.key, s.lms_id):
            return s
    hits = [s for s in students if s.name.casefold() == want.casefold()]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise LookupError(f"{len(hits)} students are named {want!r}; give a key: "
                          + ", ".join(s.key for s in hits))
    labels = {f"{s.name} ({s.key})": s for s in students}
    close = difflib.get_close_matches(want, [s.name for s in students] + [s.key for s in
                                      students], n=5, cutoff=0.5)
    near = [label for label, s in labels.items() if s.name in close or s.key in close]
    raise LookupError(f"no student {want!r} in the export"
                      + (f"; close: {', '.join(near)}" if near else ""))
