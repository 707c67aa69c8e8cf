"""The files teachers upload back to an LMS.

Moodle takes grades in its offline grading worksheet (:func:`read_moodle_worksheet`,
:func:`fill_moodle_worksheet`) and feedback files in a zip
(:func:`write_moodle_feedback_zip`); Canvas takes a gradebook CSV
(:func:`read_canvas_gradebook`, :func:`canvas_import_csv`). The formats are those of
the LMS sources: Moodle's ``assignfeedback_offline`` and ``assignfeedback_file``
importers; Canvas ``GradebookExporter``/``GradebookImporter``. A worksheet is changed
only in the cells we fill, and every file is written atomically. The students
themselves come from :mod:`.exports`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .._util import atomic_write_bytes
from .archive import safe_name


_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")

__all__ = ["Worksheet", "WorksheetError", "read_moodle_worksheet", "fill_moodle_worksheet",
           "write_moodle_feedback_zip", "Gradebook", "GradebookError",
           "read_canvas_gradebook", "canvas_import_csv"]

# ---- CSV read so that it can be written back changed only where we change it ----------

@dataclass
class _Cell:
    value: str
    start: int
    end: int


def _parse_csv(text: str, delim: str, where: str, error) -> list[tuple[list[_Cell], int, int]]:
    """(cells, offset where the row's last cell ends, line number) per non-empty row;
    each cell keeps its span in ``text`` so that untouched cells are copied verbatim."""
    rows, i, n, line = [], 0, len(text), 1
    plain = re.compile(f"[^{re.escape(delim)}\r\n]*")
    while i < n:
        cells, row_line = [], line
        while True:
            start = i
            if text.startswith('"', i):
                j, parts = i + 1, []
                while True:
                    k = text.find('"', j)
                    if k < 0:
                        raise error(f"{where}: line {row_line}, column {len(cells) + 1}: a "
                                    f"quoted field is never closed")
                    parts.append(text[j:k])
                    if text.startswith('""', k):
                        parts.append('"')
                        j = k + 2
                    else:
                        break
                i = plain.match(text, k + 1).end()
                value = "".join(parts) + text[k + 1:i]
            else:
                i = plain.match(text, i).end()
                value = text[start:i]
            line += text.count("\n", start, i)
            cells.append(_Cell(value, start, i))
            if text.startswith(delim, i):
                i += 1
                continue
            break
        end = i
        i += 2 if text.startswith("\r\n", i) else 1
        line += 1
        if len(cells) > 1 or cells[0].value or cells[0].end > cells[0].start:
            rows.append((cells, end, row_line))
    return rows


def _read_text(path, error, limit: int = 32 << 20) -> tuple[str, bool, str]:
    """(text without BOM, had a BOM, line ending) of a UTF-8 CSV; ``error`` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path} is larger than {limit >> 20} MB; not a class's CSV")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{path}: line {line} is not UTF-8 (byte {exc.start}); save it as "
                    f"'CSV UTF-8' if a spreadsheet re-saved it") from None
    bom = text.startswith("\ufeff")
    text = text[1:] if bom else text
    m = re.search(r"\r\n|\n|\r", text)
    return text, bom, m.group() if m else "\n"


def _number(text: str) -> float | None:
    """'10.00', '10,00' (a decimal comma) or '1.000,50' as a float; None if not one."""
    t = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in t:
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else \
            t.replace(",", "")
    try:
        value = float(t)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _score(round_grade, fraction, top: float, who: str) -> str:
    """``round_grade(fraction * top)``, checked: ValueError naming ``who`` otherwise."""
    try:
        share = float(fraction)
    except (TypeError, ValueError):
        share = math.nan
    if not 0 <= share <= 1:
        raise ValueError(f"{who}: the fraction of full marks must be in [0, 1], not {fraction!r}")
    text = round_grade(share * top)
    if not (isinstance(text, str) and _NUMBER.fullmatch(text)):
        raise ValueError(f"{who}: round_grade gave {text!r}; the LMS needs a plain number "
                         f"with a decimal point (8.5), no thousands separator")
    return text


# ---- Moodle offline grading worksheet --------------------------------------------------

class WorksheetError(ValueError):
    """A file that is not a Moodle grading worksheet Moodle would import back."""


#: Header texts by role: English, then Vietnamese (a vi 3.11 pack; its 'recordid' is
#: English). Moodle's importer needs Identifier, Grade and Last modified (grade).
_MOODLE_HEADERS = {"identifier": ("Identifier",), "grade": ("Grade", "Điểm"),
                   "maximum": ("Maximum Grade", "Điểm tối đa"),
                   "modified": ("Last modified (grade)", "Lần cuối sửa (điểm)"),
                   "feedback": ("Feedback comments", "Bình luận phản hồi")}


@dataclass
class Worksheet:
    """A worksheet as read: its rows, where each role's column is (``columns``), and
    what writing it back needs unchanged (BOM, delimiter, line ending, quoting)."""
    path: str
    header: list[str]
    rows: list[list[str]]
    participants: list[str | None]
    columns: dict[str, int]
    bom: bool
    delimiter: str
    newline: str
    quoting: str     # "spaces" (PHP fputcsv, as Moodle writes), "all" or "minimal"
    notes: list[str] = field(default_factory=list)
    _text: str = field(default="", repr=False)
    _cells: list = field(default_factory=list, repr=False)


def _roles(header: list[str], names: dict) -> tuple[dict[str, int], list[str]]:
    """Column of each role by its exact header, else by one matched ignoring case."""
    found, notes = {}, []
    norm = [unicodedata.normalize("NFC", h).strip() for h in header]
    for role, texts in names.items():
        exact = [i for i, h in enumerate(norm) if h in texts]
        loose = [i for i, h in enumerate(norm) if h.casefold() in {t.casefold() for t in texts}]
        if exact or loose:
            found[role] = (exact or loose)[0]
        if loose and not exact:
            notes.append(f"column {header[loose[0]]!r} taken as {texts[0]!r}; the LMS "
                         f"matches headers exactly, so rename it before uploading")
    return found, notes


def read_moodle_worksheet(path) -> Worksheet:
    """The offline grading worksheet at ``path`` ("Download grading worksheet"): UTF-8,
    BOM or not, comma (or ';' or tab) separated. WorksheetError naming the file and what
    is missing (listing the headers found) for anything Moodle would not import."""
    text, bom, newline = _read_text(path, WorksheetError)
    tries = []
    for delim in (",", ";", "\t"):
        rows = _parse_csv(text, delim, str(path), WorksheetError)
        header = [c.value for c in rows[0][0]] if rows else []
        tries.append((delim, rows, header, *_roles(header, _MOODLE_HEADERS)))
        if "identifier" in tries[-1][3]:
            break
    else:
        tries.append(tries[0])
    delim, rows, header, columns, notes = tries[-1]
    for role in ("identifier", "grade", "maximum", "modified"):
        if role not in columns:
            scale = "; a 'Scale' column: grades are words on a scale, not points" if any(
                h.strip().casefold() == "scale" for h in header) else ""
            raise WorksheetError(f"{path}: no {_MOODLE_HEADERS[role][0]!r} column, which "
                                 f"Moodle's worksheet has{scale}; headers found: {header!r}")
    cells = rows[1:]
    raw = [text[c.start:c.end] for r, _, _ in rows for c in r if c.value]
    spaced = [r for r in raw if " " in r.strip('"')]
    quoting = "all" if raw and all(r.startswith('"') for r in raw) else \
        "spaces" if spaced and all(r.startswith('"') for r in spaced) else "minimal"
    ids = []
    for r, _, _ in cells:
        value = r[columns["identifier"]].value if len(r) > columns["identifier"] else ""
        m = re.search(r"([0-9]+)\s*$", value)
        ids.append(m.group(1) if m else None)
    return Worksheet(str(path), header, [[c.value for c in r] for r, _, _ in cells], ids,
                     columns, bom, delim, newline, quoting, notes, text, cells)


def _quote(value: str, ws) -> str:
    """``value`` as a cell of ``ws``'s file, quoted the way the file quotes."""
    if ws.quoting == "all" or any(c in value for c in (ws.delimiter, '"', "\r", "\n")) or \
            (ws.quoting == "spaces" and (" " in value or "\t" in value)):
        return '"' + value.replace('"', '""') + '"'
    return value


def fill_moodle_worksheet(ws: Worksheet, grades: dict, round_grade) -> tuple[str, list[str]]:
    """The worksheet's text with Grade (and Feedback comments) filled for the
    participants in ``grades`` (participant id -> (fraction of full marks, feedback)):
    grade ``round_grade(fraction * that row's Maximum Grade)``, a plain number with a
    decimal point (Moodle's ``unformat_float`` reads it in every language). Every other
    byte is the original's: other cells, rows without a grade, header, row order, BOM,
    delimiter, line ends. Notes: graded participants with no row (listed, not dropped),
    rows Moodle will skip, a missing feedback column. Empty feedback leaves the cell as
    it was (Moodle would otherwise erase a comment typed in Moodle); the text becomes
    Moodle's comment, which is HTML (``<br>`` for line breaks). Write the result with
    atomic_write_text."""
    notes = list(ws.notes)
    by_id: dict[str, list[int]] = {}
    for i, pid in enumerate(ws.participants):
        by_id.setdefault(pid, []).append(i)
    col = ws.columns
    edits: dict[int, dict[int, str]] = {}
    missing = []
    for pid, (fraction, feedback) in grades.items():
        pid = str(pid)
        rows = by_id.get(pid, [])
        if not rows:
            missing.append(pid)
            continue
        if len(rows) > 1:
            notes.append(f"participant {pid} has {len(rows)} rows; all are filled")
        for i in rows:
            row, line = ws.rows[i], ws._cells[i][2]
            cell = row[col["maximum"]] if len(row) > col["maximum"] else ""
            top = _number(cell)
            if top is None:
                notes.append(f"participant {pid} (line {line}): Maximum Grade {cell!r} is "
                             f"not a number; grade left as it was")
                continue
            new = {col["grade"]: _score(round_grade, fraction, top, f"participant {pid}")}
            if "feedback" in col and feedback:
                new[col["feedback"]] = feedback
            edits[i] = new
            locked = [j for j, h in enumerate(ws.header) if h.strip() == "Grade can be changed"]
            if locked and len(row) > locked[0] and row[locked[0]].strip() == "No":
                notes.append(f"participant {pid} (line {line}): 'Grade can be changed' is "
                             f"No; Moodle will skip this grade")
    if missing:
        notes.append(f"{len(missing)} graded participant(s) have no row in {ws.path} "
                     f"(listed, not dropped): {', '.join(sorted(missing))}")
    if "feedback" not in col and any(fb for _, fb in grades.values()):
        notes.append(f"{ws.path} has no 'Feedback comments' column, so no feedback is in it: "
                     f"enable feedback comments on the assignment and download it again")
    out, at = [], 0
    for i, new in sorted(edits.items()):
        cells, end, _ = ws._cells[i]
        for j in sorted(new):
            if j < len(cells):
                out += [ws._text[at:cells[j].start], _quote(new[j], ws)]
                at = cells[j].end
        tail = max(new) - len(cells) + 1
        if tail > 0:     # a short row: add the cells it lacks
            out += [ws._text[at:end]] + [ws.delimiter + _quote(new.get(j, ""), ws)
                                         for j in range(len(cells), max(new) + 1)]
            at = end
    out.append(ws._text[at:])
    return ("\ufeff" if ws.bom else "") + "".join(out), notes


def write_moodle_feedback_zip(path, feedback, filename: str = "feedback.txt") -> Path:
    """Write the zip "Upload multiple feedback files in a zip" takes: for each
    (moodle_prefix, text), ``<prefix>_assignfeedback_file/<filename>`` holding the text
    in UTF-8 (Moodle matches the participant id after the first '_' and the plugin, and
    stores a file directly in that folder at '/'). The assignment needs Feedback files
    on. ValueError for a prefix not 'Name_<participant id>' (Moodle's name has no '_')
    or given twice, or a file name Moodle ignores (starting with '.' or '~')."""
    if not filename or "/" in filename or filename[0] in ".~" or safe_name(filename)[0] is None:
        raise ValueError(f"feedback file name {filename!r}: Moodle ignores or refuses it")
    buf, seen = io.BytesIO(), set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for prefix, text in feedback:
            prefix = unicodedata.normalize("NFC", prefix)
            if not re.fullmatch(r"[^_/\\\x00-\x1f]*_[0-9]+", prefix) or prefix in seen:
                raise ValueError(f"feedback prefix {prefix!r}: " + (
                    "given twice" if prefix in seen else "not 'Full Name_<participant id>' as "
                    "the submissions download names it"))
            seen.add(prefix)
            zf.writestr(f"{prefix}_assignfeedback_file/{filename}", text.encode("utf-8"))
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


# ---- Canvas gradebook ------------------------------------------------------------------

class GradebookError(ValueError):
    """A file that is not a Canvas gradebook export, or lacks what the import needs."""


#: The student columns Canvas's importer reads, in the export's order.
_CANVAS_IDS = ("Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID",
               "Integration ID", "Root Account", "Section")


@dataclass
class Gradebook:
    """A Canvas gradebook export: header, its 'Points Possible' row (None if absent),
    the student rows, and the BOM, delimiter and line ending to write back with."""
    path: str
    header: list[str]
    points: list[str] | None
    students: list[list[str]]
    bom: bool
    delimiter: str
    newline: str

    @property
    def assignments(self) -> list[str]:
        """The assignment columns, 'Title (id)'."""
        return [h for h in self.header if re.fullmatch(r".*\S \([0-9]+\)", h)
                and h not in _CANVAS_IDS and not re.search(
                    r"(Current|Final|Override) (Score|Points|Grade|Status)", h)]


def read_canvas_gradebook(path) -> Gradebook:
    """The gradebook CSV Canvas exports (comma or semicolon separated, BOM or not):
    GradebookError naming the file if its first row has no 'Student' and 'ID' columns."""
    text, bom, newline = _read_text(path, GradebookError)
    for delim in (",", ";", "\t"):
        rows = [[c.value for c in r] for r, _, _ in _parse_csv(text, delim, str(path),
                                                                 GradebookError)]
        header = rows[0] if rows else []
        if "ID" in header and header[0].strip() in ("Student", "LastName"):
            break
    else:
        raise GradebookError(f"{path}: not a Canvas gradebook export (its first row needs "
                             f"'Student' and 'ID' columns); headers found: {header!r}")
    ident, points, students = header.index("ID"), None, []
    for row in rows[1:]:
        row = row + [""] * (len(header) - len(row))
        if row[0].strip() == "Points Possible":
            points = row
        elif row[ident].strip():     # the 'Manual Posting'/'Muted' row has no ID
            students.append(row)
    return Gradebook(str(path), header, points, students, bom, delim, newline)


def canvas_import_csv(gradebook: Gradebook, assignment_header: str, grades: dict,
                      round_grade) -> tuple[str, list[str]]:
    """The CSV to import into Canvas: the student columns the export had (Student, ID,
    SIS User ID, SIS Login ID, Section, ...), the one assignment column, the 'Points
    Possible' row, one row per student. ``grades`` maps Canvas user id (or the
    ``canvas-<id>`` key) to the fraction of full marks; score = ``round_grade(fraction *
    points possible)``; students without a grade keep their cell. Notes list graded
    user ids with no row. GradebookError for an unknown assignment column (listing
    them) or one without points possible. Write it with atomic_write_text."""
    gb = gradebook
    if assignment_header not in gb.assignments:
        raise GradebookError(f"{gb.path}: no column {assignment_header!r}; the assignment "
                             f"columns are: " + "; ".join(repr(a) for a in gb.assignments))
    col = gb.header.index(assignment_header)
    top = _number(gb.points[col]) if gb.points else None
    if top is None:
        raise GradebookError(f"{gb.path}: no points possible for {assignment_header!r} (a "
                             f"'Points Possible' row with a number in that column is needed)")
    keep = [i for i, h in enumerate(gb.header) if h in _CANVAS_IDS] + [col]
    ident = gb.header.index("ID")
    wanted = {str(k).removeprefix("canvas-"): v for k, v in grades.items()}
    f = io.StringIO()
    w = csv.writer(f, delimiter=gb.delimiter, lineterminator=gb.newline)
    w.writerow([gb.header[i] for i in keep])
    if gb.points:
        w.writerow([gb.points[i] for i in keep])
    seen = set()
    for row in gb.students:
        uid = row[ident].strip()
        row = list(row)
        if uid in wanted:
            seen.add(uid)
            row[col] = _score(round_grade, wanted[uid], top, f"Canvas user {uid}")
        w.writerow([row[i] for i in keep])
    missing = sorted(set(wanted) - seen)
    notes = [f"{len(missing)} graded user id(s) have no row in {gb.path} (listed, not "
             f"dropped): {', '.join(missing)}"] if missing else []
    return ("\ufeff" if gb.bom else "") + f.getvalue(), notes
