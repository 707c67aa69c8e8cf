"""Grade a folder of submissions in parallel and summarise them in a CSV, one row per student.

A student is either a ``.py`` file directly in the folder (named by its stem) or a
sub-folder holding ``.py`` files (named by the folder; its file with the most expected
gate classes is graded, as in a Gradescope or LMS export). Submissions run ``jobs`` at a
time, each with one child at a time, so the machine runs at most ``jobs`` children.

The folder holds what students uploaded, so it is read as hostile too: only regular
files count (a symlink could point at the grader's own files, a FIFO would block),
symlinked folders are not followed, and one student's failure, whatever it is, is that
student's row; the CSV is always written. Only a :class:`~.grader.SetupError` (the
same for everyone: no isolation, impossible limits) stops the batch.
"""

from __future__ import annotations

import csv
import io
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grader import (GradingError, SetupError, choose_isolation, gate_classes,
                     grade_submission, read_submission)
from .report import SubmissionResult, write_text
from .rubric import Rubric
from .scoring import ungraded
from .trees import walk_files


#: How deep below a student's folder ``.py`` files are looked for (an LMS export nests
#: two or three levels; a tree of thousands is an attack on the walk).
MAX_DEPTH = 12


def python_files(folder) -> list[Path]:
    """Every regular ``.py`` file at most :data:`MAX_DEPTH` folders below ``folder``,
    symlinks neither taken nor followed, hidden folders skipped (:func:`.trees.walk_files`,
    so no tree is too deep for it)."""
    return sorted(Path(e.path) for e in walk_files(folder, MAX_DEPTH, skip_hidden=True)
                  if e.name.endswith(".py") and e.is_file(follow_symlinks=False))


def pick_file(files, gate_names) -> Path | None:
    """The file defining the most expected gate classes (ties: the first by name)."""
    best, best_count = None, -1
    for f in sorted(files):
        try:   # read_submission refuses anything but a regular file
            text = read_submission(f).decode("utf-8", errors="replace")
        except (OSError, GradingError):
            continue
        count = sum(bool(re.search(rf"^class\s+{n}\b", text, re.MULTILINE)) for n in gate_names)
        if count > best_count:
            best, best_count = f, count
    return best


def find_submissions(folder) -> list[tuple[str, Path]]:
    """(student, entry) for each ``.py`` entry (by its stem) and each folder (by its
    name) directly in ``folder``, in name order; what an entry holds is looked at later,
    student by student (:func:`submission_file`)."""
    found = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.suffix == ".py" or entry.is_dir():
            found.append((entry.stem if entry.suffix == ".py" else entry.name, entry))
    return found


def submission_file(entry: Path, gate_names) -> Path | None:
    """The file to grade for one student's entry: the entry itself, or the file of its
    folder with the most expected gate classes (None: no ``.py`` file at all).
    GradingError for a symlinked folder (it could lead anywhere)."""
    mode = entry.lstat().st_mode
    if stat.S_ISLNK(mode) and entry.suffix != ".py":
        raise GradingError(f"{entry.name} is a symbolic link, not a folder of the export")
    if not stat.S_ISDIR(mode):
        return entry        # read_submission says what is wrong with anything irregular
    return pick_file(python_files(entry), gate_names)


def grade_folder(folder, csv_path=None, jobs: int = 2,
                 **options) -> list[tuple[str, SubmissionResult | None]]:
    """Grade every submission in ``folder``; write the CSV summary to ``csv_path`` if given.

    ``options`` go to :func:`grade_submission` (gates, rubric, seed, timeout, memory,
    jvp, isolation, require_isolation, run_seed). Returns (student, result) pairs;
    result is None for a student without a file. Raises SetupError (before or while
    grading) when the machine cannot grade anyone.
    """
    classes = gate_classes(options.get("gates"))
    names = [c.__name__ for c in classes]
    options = dict(options)
    options["isolation"] = choose_isolation(options.get("isolation"),
                                            options.pop("require_isolation", False))
    subs = find_submissions(folder)

    def one(item):
        student, path = item
        try:
            path = submission_file(path, names)
            if path is None:
                return student, None
            return student, grade_submission(path, jobs=1, **options)
        except SetupError:
            raise
        except Exception as exc:  # noqa: BLE001  (one student costs only their own row)
            reason = f"not graded: {exc}"
            rubric, jvp = options.get("rubric") or Rubric(), options.get("jvp", False)
            return student, SubmissionResult(
                str(path), [ungraded(cls, rubric, jvp, "not graded", reason) for cls in classes],
                notes=[reason], isolation=options["isolation"].level)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, subs))
    if csv_path is not None:
        write_csv(csv_path, results, names)
    return results


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a file named ``=HYPERLINK(...).py``
    would otherwise be a formula in the teacher's spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(path, results, gate_names) -> Path:
    """One row per student: totals, a column per gate, the time, the run seed (to
    replay that student's fresh cases with ``--run-seed``) and the notes (cut at 500
    characters); written atomically."""
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["student", "file", "score", "max_score", "percent", *gate_names,
                "seconds", "run_seed", "notes"])
    for student, r in results:
        if r is None:
            w.writerow([_cell(student), "", 0, "", 0, *[""] * len(gate_names), "", "",
                        "no .py file found"])
            continue
        by_gate = {g.name: g for g in r.gates}
        w.writerow([_cell(student), _cell(r.submission), round(r.score, 2),
                    round(r.max_score, 2), round(r.percent, 1),
                    *[round(by_gate[n].score, 2) if n in by_gate else "" for n in gate_names],
                    round(r.elapsed, 2), "" if r.run_seed is None else str(r.run_seed),
                    _cell(" | ".join(r.notes)[:500])])
    return write_text(path, f.getvalue())
