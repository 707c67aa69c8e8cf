"""What a student handed in, as the grader grades it: one main file and its siblings.

Students hand in gate classes in many honest forms, and every one of them must be
graded as Python would run it:

* a ``.py`` file in any encoding Python reads: UTF-8 with or without a byte-order mark
  (Windows Notepad writes one), any line ends (CRLF), or the encoding its ``# -*-
  coding: ... -*-`` line declares (:func:`decode_source`, which is what Python's own
  import does, via :func:`tokenize.detect_encoding`);
* a Jupyter/Colab notebook (``.ipynb``): its code cells, in order, IPython's magics
  made harmless and each top-level statement allowed to fail alone
  (:func:`notebook_files`);
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

from gates.i18n import tr

from .archive import ArchiveError, SubmittedFile, read_folder, read_zip
from .request import read_submission
from .scan import FRAMEWORKS as FRAMEWORK_NAMES
from .scan import module_level

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


#: Cell magics whose body is plain Python that runs as it would without them.
_TRANSPARENT_CELL_MAGICS = ("time", "timeit", "capture", "prun")

#: Put before a notebook's cells: the two names IPython gives every notebook, and what
#: a cell that fails calls (it is said in the output, and the next cells still run).
_NOTEBOOK_PRELUDE = """# -*- coding: utf-8 -*-
# The code cells of a notebook, as compgraph's grader runs them.
def display(*objects, **options):
    pass


def get_ipython():
    return None


def __compgraph_cell_failed__(cell, error):
    import sys
    print(f"[notebook cell {cell}: a statement failed and was skipped: "
          f"{type(error).__name__}: {error}]", file=sys.stderr)
"""


def _notebook_prelude() -> str:
    """:data:`_NOTEBOOK_PRELUDE` with what a failed cell prints in the current language
    (it is written into an f-string: a translation that could break it is not used)."""
    english = "notebook cell {cell}: a statement failed and was skipped"
    said = tr("notebook cell {cell}: a statement failed and was skipped")
    if any(c in said for c in '"\\\n') or said.replace("{cell}", "").count("{") \
            or said.replace("{cell}", "").count("}"):
        said = english
    return _NOTEBOOK_PRELUDE.replace(english, said)


def _cell_text(cell, number: int, name: str) -> str | None:
    """The source of a code cell as text (None: not a code cell)."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return None
    source = cell.get("source", cell.get("input", ""))
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise SubmissionError(tr("{name} is not a Jupyter notebook (cell {number}'s source is "
                             "not text)").format(name=name, number=number))


def _ipython_lines(text: str) -> set[int]:
    """Indices of the lines of ``text`` that are IPython, not Python: a logical line
    (outside brackets and strings) that starts with ``%`` or ``!`` or ends with ``?``.
    A line the tokenizer cannot read past is judged by its first character."""
    lines = text.splitlines()
    found, depth, start, last = set(), 0, True, None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind, value = tok.type, tok.string
            if kind in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if last is not None and last.string == "?" and depth == 0:
                    found.add(last.start[0] - 1)
                start, last = True, None
                continue
            if kind in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                continue
            if start and depth == 0 and value in ("%", "!"):
                found.update(range(tok.start[0] - 1, tok.start[0]))
            if value in "([{" and kind == tokenize.OP:
                depth += 1
            elif value in ")]}" and kind == tokenize.OP:
                depth = max(0, depth - 1)
            start, last = False, tok
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found |= {k for k, line in enumerate(lines) if line.lstrip()[:1] in ("%", "!")}
    return found


def _string_lines(text: str) -> set[int]:
    """Indices of the lines inside a multi-line string (after its first line): the
    string's own text, which must not be indented."""
    inside = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


def _guarded(text: str, number: int) -> str:
    """A cell whose every top-level statement is wrapped so that its error (a missing
    ``matplotlib``, a plot, a check that calls torch) skips that statement only: what
    ran in the student's notebook, the classes above all, is still defined. A cell
    that is not valid Python is kept as it is, for the import to report."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    spans = []
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if spans and first <= spans[-1][1]:          # statements sharing a line (a; b)
            spans[-1][1] = max(spans[-1][1], node.end_lineno)
        else:
            spans.append([first, node.end_lineno])
    lines, keep, out, done = text.splitlines(), _string_lines(text), [], 0
    for first, last in spans:
        out += lines[done:first - 1]
        out.append("try:")
        out += [line if k in keep or not line.strip() else "    " + line
                for k, line in enumerate(lines[first - 1:last], first - 1)]
        out += ["except Exception as __compgraph_error__:",
                f"    __compgraph_cell_failed__({number}, __compgraph_error__)"]
        done = last
    return "\n".join(out + lines[done:])


def notebook_files(data: bytes, name: str = "notebook.ipynb") -> tuple[str, dict]:
    """The Python code of notebook ``data``, and the files its ``%%writefile X.py`` cells
    write. The code is its code cells in order, each after a ``# cell N`` comment, each
    top-level statement run so that its error skips that statement only; IPython's ``%magic``,
    ``!shell`` and ``help?`` lines become ``pass`` (indentation kept); a ``%%time``,
    ``%%capture``, ... cell keeps its body, any other ``%%`` cell is left out.
    SubmissionError if it is not a notebook."""
    try:
        nb = json.loads(decode_source(data))
    except ValueError as exc:
        raise SubmissionError(tr("{name} is not a Jupyter notebook (not JSON: {error})")
                              .format(name=name, error=exc)) from None
    except RecursionError:
        raise SubmissionError(tr("{name} is not a Jupyter notebook (JSON nested too deep)")
                              .format(name=name)) from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if cells is None and isinstance(nb, dict) and isinstance(nb.get("worksheets"), list):
        cells = [c for w in nb["worksheets"] if isinstance(w, dict)
                 and isinstance(w.get("cells"), list) for c in w["cells"]]   # nbformat 3
    if not isinstance(cells, list):
        raise SubmissionError(tr("{name} is not a Jupyter notebook (no cells)").format(
            name=name))
    parts, files, future = [_notebook_prelude()], {}, []
    for number, cell in enumerate(cells, 1):
        text = _cell_text(cell, number, name)
        if text is None:
            continue
        first, _, rest = text.lstrip().partition("\n")
        if first.startswith("%%"):
            magic = first[2:].split()
            if magic[:1] == ["writefile"] and len(magic) >= 2 and \
                    magic[-1].endswith(".py") and magic[-1][:-3].isidentifier():
                files[magic[-1]] = rest.encode("utf-8")
                continue
            if magic[:1] and magic[0] in _TRANSPARENT_CELL_MAGICS:
                text = rest
            else:
                continue
        # ``from __future__`` must open the file: it moves there from its cell
        lines = [line for line in text.splitlines()
                 if not (_FUTURE.match(line) and not future.append(line.strip()))]
        text = "\n".join(lines)
        for k in _ipython_lines(text):
            if k < len(lines):
                indent = lines[k][:len(lines[k]) - len(lines[k].lstrip())]
                lines[k] = f"{indent}pass  # IPython: {lines[k].strip()}"
        parts.append(f"# cell {number}\n" + _guarded("\n".join(lines), number))
    if future:
        parts[0] = parts[0].replace("\n", "\n" + "\n".join(dict.fromkeys(future)) + "\n", 1)
    return "\n\n".join(parts) + "\n", files


_FUTURE = re.compile(r"^from\s+__future__\s+import\s")


def notebook_source(data: bytes, name: str = "notebook.ipynb") -> str:
    """The Python code of notebook ``data`` (:func:`notebook_files` without the files)."""
    return notebook_files(data, name)[0]


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
    return [n.name for n in module_level(tree) if isinstance(n, ast.ClassDef)]


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


#: What one student's zips may unpack to, all of them together (gate files are a few kB).
STUDENT_BUDGET = 16 << 20


def _expand(files: list[SubmittedFile], notes: list) -> list[SubmittedFile]:
    """Zips among ``files`` replaced by their source files: one level only (a zip in the
    zip is left out), on one budget of :data:`STUDENT_BUDGET` bytes for all of them."""
    out, budget = [], STUDENT_BUDGET
    for f in files:
        if f.name.lower().endswith(".zip"):
            if budget <= 0:
                notes.append(tr("{name} left out: the submission's zips unpack to more "
                                "than {mb} MB").format(name=f.name, mb=STUDENT_BUDGET >> 20))
                continue
            try:
                inner, inner_notes = read_zip(f.data, max_total=budget, max_members=500,
                                              keep=lambda n: n.lower().endswith(SOURCE_SUFFIXES))
            except ArchiveError as exc:
                notes.append(tr("{name} left out: {why}").format(name=f.name, why=exc))
                continue
            budget -= sum(len(g.data) for g in inner)
            notes += [f"{f.name}: {n}" for n in inner_notes]
            out += [SubmittedFile(f"{f.name[:-4]}/{g.name}", g.data) for g in inner]
        elif f.name.lower().endswith(SOURCE_SUFFIXES):
            out.append(f)
    return out


def _is_source(name: str) -> bool:
    return name.lower().endswith(SOURCE_SUFFIXES + (".zip",))


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: '-1' that Canvas adds to a file uploaded again: 'helpers-1.py' is still 'helpers'
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-[0-9]+$")


def _importable_name(path: PurePosixPath) -> str:
    """The file name a file is written under for the child: its own when it is a module
    name (``helpers.py``), without Canvas's ``-1`` (``helpers-1.py``), else made one."""
    stem = path.stem
    again = _RESUBMITTED.match(stem)
    if again and again["stem"].isidentifier():
        stem = again["stem"]
    return f"{stem}.py" if stem.isidentifier() else module_name(path.name) + ".py"


def assemble(files: list[SubmittedFile], gate_names, origin: str,
             prefer: str | None = None) -> Submission:
    """The submission made of ``files`` (as a student's folder or zip holds them): its
    main file is the one named ``prefer`` if there is one, else the one defining the
    most classes named in ``gate_names`` (ties: a ``.py`` before a notebook, then the
    shorter path), and the other Python files in the same folder come with it (and the
    files a notebook's ``%%writefile`` cells write). SubmissionError when there is no
    Python file."""
    notes: list = []
    candidates = []
    for f in _expand(files, notes):
        path = PurePosixPath(f.name)
        suffix = path.suffix.lower()
        if suffix == ".ipynb":
            try:
                text, written = notebook_files(f.data, f.name)
            except SubmissionError as exc:
                notes.append(tr("{name} left out: {why}").format(name=f.name, why=exc))
                continue
            for extra, data in written.items():
                candidates.append((path.parent / extra, extra, data, 0))
            data, target = text.encode("utf-8"), module_name(f.name) + ".py"
        elif suffix == ".py":
            data, target = f.data, _importable_name(path)
            if data.startswith(_UTF16_BOMS):
                # Python cannot import UTF-16 (old Notepad's "Unicode"): as UTF-8
                data = data.decode("utf-16").encode("utf-8")
                notes.append(tr("{name} was saved as UTF-16; graded as UTF-8").format(
                    name=f.name))
        else:
            continue
        count = len(set(defined_classes(decode_source(data))) & set(gate_names))
        candidates.append((path, target, data, count))
    if not candidates:
        raise SubmissionError(tr("no Python file (.py or .ipynb) in {origin}").format(
            origin=origin) + "".join(f"; {n}" for n in notes))
    main = max(candidates, key=lambda c: (c[0].name == prefer, c[3],
                                          c[0].suffix.lower() == ".py",
                                          -len(c[0].parts), -len(str(c[0]))))
    chosen = {main[1]: main[2]}
    for path, target, data, count in candidates:
        if path == main[0] or path.parent != main[0].parent:
            if count and path != main[0]:
                notes.append(tr("{path} defines gate classes too, but only {main} is "
                                "graded (import them into it)").format(path=path, main=main[0]))
            continue
        if target in chosen:
            notes.append(tr("{path} left out: another file is importable as {module}")
                         .format(path=path, module=target[:-3]))
            continue
        if target[:-3] in FRAMEWORK_NAMES:
            notes.append(tr("your file {name} has the name of an autodiff framework: "
                            "graded code imports a placeholder instead; rename it")
                         .format(name=path.name))
        chosen[target] = data
    if main[0].suffix.lower() == ".ipynb":
        notes.append(tr("graded the code cells of the notebook {path} (magics and shell "
                        "lines left out; a statement that fails is skipped)")
                     .format(path=main[0]))
    return Submission(chosen, main[1], origin, notes)


def load(path, gate_names, prefer: str | None = None) -> Submission:
    """The submission at ``path``: a ``.py`` file, a notebook, a zip, or a folder (the
    hostile-input rules of :mod:`.archive` apply: no symlink followed, no FIFO read).
    SubmissionError if nothing in it can be graded."""
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
