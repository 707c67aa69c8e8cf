"""Grade a folder of submissions in parallel and summarise them in a CSV, one row per student.

A student is either a ``.py`` file directly in the folder (named by its stem) or a
sub-folder holding ``.py`` files (named by the folder; its file with the most expected
gate classes is graded, as in a Gradescope or LMS export). Submissions run ``jobs`` at a
time, each with one child at a time, so the machine runs at most ``jobs`` children.
"""

from __future__ import annotations

import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grader import gate_classes, grade_submission
from .report import SubmissionResult, write_text


def pick_file(files, gate_names) -> Path | None:
    """The file defining the most expected gate classes (ties: the first by name)."""
    best, best_count = None, -1
    for f in sorted(files):
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        count = sum(bool(re.search(rf"^class\s+{n}\b", text, re.MULTILINE)) for n in gate_names)
        if count > best_count:
            best, best_count = f, count
    return best


def find_submissions(folder, gate_names) -> list[tuple[str, Path | None]]:
    """(student, file) pairs; file is None for a sub-folder without any ``.py``."""
    folder = Path(folder)
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix == ".py":
            found.append((entry.stem, entry))
        elif entry.is_dir() and not entry.name.startswith("."):
            found.append((entry.name, pick_file(entry.rglob("*.py"), gate_names)))
    return found


def grade_folder(folder, csv_path=None, jobs: int = 2,
                 **options) -> list[tuple[str, SubmissionResult | None]]:
    """Grade every submission in ``folder``; write the CSV summary to ``csv_path`` if given.

    ``options`` go to :func:`grade_submission` (gates, rubric, seed, timeout, memory,
    jvp). Returns (student, result) pairs; result is None for a student without a file.
    """
    names = [c.__name__ for c in gate_classes(options.get("gates"))]
    subs = find_submissions(folder, names)

    def one(item):
        student, path = item
        if path is None:
            return student, None
        return student, grade_submission(path, jobs=1, **options)

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
    """One row per student: totals, a column per gate, the time, and the notes (cut at
    500 characters); written atomically."""
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["student", "file", "score", "max_score", "percent", *gate_names,
                "seconds", "notes"])
    for student, r in results:
        if r is None:
            w.writerow([_cell(student), "", 0, "", 0, *[""] * len(gate_names), "",
                        "no .py file found"])
            continue
        by_gate = {g.name: g for g in r.gates}
        w.writerow([_cell(student), _cell(r.submission), round(r.score, 2),
                    round(r.max_score, 2), round(r.percent, 1),
                    *[round(by_gate[n].score, 2) if n in by_gate else "" for n in gate_names],
                    round(r.elapsed, 2), _cell(" | ".join(r.notes)[:500])])
    return write_text(path, f.getvalue())
