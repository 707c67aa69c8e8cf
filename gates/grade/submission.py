"""What a student handed in, as the grader grades it: one main file and its siblings.

Students hand in gate classes in many honest forms, and every one of them must be
graded as Python would run it:

* a ``.py`` file in any encoding Python reads: UTF-8 with or without a byte-order mark
  (Windows Notepad writes one), any line ends (CRLF), or the encoding its ``# -*-
  coding: ... -*-`` line declares (:func:`decode_source`, which is what Python's own
  import does, via :func:`tokenize.detect_encoding`);
* a Jupyter/Colab notebook (``.ipynb``): its code cells, in order, with IPython's
  ``%magic`` and ``!shell`` lines and ``%%cell`` magics left out (:func:`notebook_source`);
* a zip of any of these;
* several ``.py`` files (``from helpers import unbroadcast``): the file that defines the
  most expected gate classes is the main file, and the other Python files beside it are
  importable when it runs.

:class:`Submission` holds the files by module file name (``helpers.py``) with their
bytes as handed in (a notebook becomes the UTF-8 text of its code cells), the main
file's name, and notes about what was left out.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .archive import ArchiveError, SubmittedFile, read_folder, read_zip

#: The suffixes a submission's files may have; anything else is left out.
SOURCE_SUFFIXES = (".py", ".ipynb")


class SubmissionError(ValueError):
    """Nothing gradable in what was handed in (no Python file, an unreadable zip)."""


def decode_source(data: bytes) -> str:
    """The text of Python source ``data`` as Python's import reads it: a UTF-8
    byte-order mark dropped, an encoding declaration honoured, UTF-8 otherwise
    (undecodable bytes replaced, so the scan still sees the rest)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:      # an encoding declaration naming no codec Python knows
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8-sig", errors="replace")


#: An IPython line magic (``%matplotlib inline``), shell escape (``!pip install``) or
#: help request (``np.sum?``), which plain Python cannot run.
_IPYTHON_LINE = re.compile(r"^\s*(%|!)|\?\s*$")


def notebook_source(data: bytes, name: str = "notebook.ipynb") -> str:
    """The Python code of notebook ``data``: its code cells in order, separated by a
    ``# cell N`` comment, without IPython's magics and shell lines (a cell that starts
    with ``%%`` is left out whole: it is not Python). SubmissionError if it is not a
    notebook."""
    try:
        nb = json.loads(decode_source(data))
    except ValueError as exc:
        raise SubmissionError(f"{name} is not a Jupyter notebook (not JSON: {exc})") from None
    except RecursionError:
        raise SubmissionError(f"{name} is not a Jupyter notebook (JSON nested too deep)") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if cells is None and isinstance(nb, dict) and isinstance(nb.get("worksheets"), list):
        cells = [c for w in nb["worksheets"] if isinstance(w, dict)
                 for c in w.get("cells", [])]        # nbformat 3
    if not isinstance(cells, list):
        raise SubmissionError(f"{name} is not a Jupyter notebook (no cells)")
    parts = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        text = "".join(source) if isinstance(source, list) else str(source)
        if text.lstrip().startswith("%%"):
            continue
        lines = [("pass  # " + line.strip()) if _IPYTHON_LINE.search(line) else line
                 for line in text.splitlines()]
        parts.append(f"# cell {number}\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def module_name(filename: str) -> str:
    """``filename``'s module name, made importable: ``Bài tập (1).ipynb`` -> ``Bai_tap_1``."""
    stem = unicodedata.normalize("NFKD", PurePosixPath(filename).stem)
    stem = re.sub(r"\W+", "_", stem.encode("ascii", "ignore").decode()).strip("_")
    return stem if stem.isidentifier() else f"m_{stem}"


def defined_classes(text: str) -> list[str]:
    """The names of the classes ``text`` defines at its top level (a source that does not
    parse: those a regular expression finds)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return re.findall(r"^class\s+(\w+)", text, re.MULTILINE)
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef)]


@dataclass
class Submission:
    """The files of one submission by module file name, the main one, where it came from."""

    files: dict
    main: str
    origin: str
    notes: list = field(default_factory=list)

    def text(self, name: str | None = None) -> str:
        """The decoded source of file ``name`` (default: the main file)."""
        return decode_source(self.files[name or self.main])

    @property
    def display(self) -> str:
        """How reports name it: the origin, and the main file when it is not the origin."""
        return self.origin if Path(self.origin).name == self.main else \
            f"{self.origin} ({self.main})"


def _expand(files: list[SubmittedFile], notes: list) -> list[SubmittedFile]:
    """Zips inside the list replaced by their source files (one level down)."""
    out = []
    for f in files:
        if f.name.lower().endswith(".zip"):
            try:
                inner, inner_notes = read_zip(f.data, keep=_is_source)
            except ArchiveError as exc:
                notes.append(f"{f.name} left out: {exc}")
                continue
            notes += [f"{f.name}: {n}" for n in inner_notes]
            out += [SubmittedFile(f"{f.name[:-4]}/{g.name}", g.data) for g in inner]
        elif _is_source(f.name):
            out.append(f)
    return out


def _is_source(name: str) -> bool:
    return name.lower().endswith(SOURCE_SUFFIXES + (".zip",))


def assemble(files: list[SubmittedFile], gate_names, origin: str,
             prefer: str | None = None) -> Submission:
    """The submission made of ``files`` (as a student's folder or zip holds them): its
    main file is the one named ``prefer`` if there is one, else the one defining the
    most classes named in ``gate_names`` (ties: a ``.py`` before a notebook, then the
    shorter path), and the other Python files in the same folder come with it.
    SubmissionError when there is no Python file."""
    notes: list = []
    candidates = []
    for f in _expand(files, notes):
        path = PurePosixPath(f.name)
        if path.suffix.lower() == ".ipynb":
            try:
                data = notebook_source(f.data, f.name).encode("utf-8")
            except SubmissionError as exc:
                notes.append(f"{f.name} left out: {exc}")
                continue
            target = module_name(f.name) + ".py"
        elif path.suffix == ".py":
            data = f.data
            target = path.name if path.stem.isidentifier() else module_name(f.name) + ".py"
        else:
            continue
        count = len(set(defined_classes(decode_source(data))) & set(gate_names))
        candidates.append((path, target, data, count))
    if not candidates:
        raise SubmissionError(f"no Python file (.py or .ipynb) in {origin}")
    main = max(candidates, key=lambda c: (c[0].name == prefer, c[3], c[0].suffix == ".py",
                                          -len(c[0].parts), -len(str(c[0]))))
    chosen = {main[1]: main[2]}
    for path, target, data, _ in candidates:
        if path == main[0] or path.parent != main[0].parent:
            continue
        if target in chosen or not target[:-3].isidentifier():
            notes.append(f"{path} left out: another file is importable as {target[:-3]}")
            continue
        chosen[target] = data
    if main[0].suffix.lower() == ".ipynb":
        notes.append(f"graded the code cells of the notebook {main[0]} (magics and shell "
                     f"lines left out)")
    return Submission(chosen, main[1], origin, notes)


def load(path, gate_names, prefer: str | None = None) -> Submission:
    """The submission at ``path``: a ``.py`` file, a notebook, a zip, or a folder (the
    hostile-input rules of :mod:`.archive` apply: no symlink followed, no FIFO read).
    SubmissionError if nothing in it can be graded."""
    from .grader import read_submission

    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        files, notes = read_folder(path, keep=_is_source)
    else:
        data = read_submission(path)     # GradingError for a symlink, FIFO, huge file
        files, notes = [SubmittedFile(path.name, data)], []
    try:
        submission = assemble(files, gate_names, str(path), prefer)
    except ArchiveError as exc:
        raise SubmissionError(str(exc)) from None
    submission.notes[:0] = notes
    return submission
