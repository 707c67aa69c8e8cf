"""Grade a class: every student of an export (a folder or an LMS zip), in parallel.

:func:`.lms.read_export` finds the students: Moodle's "Download all submissions" (the
zip or its folder), Canvas's submissions zip, or a plain folder of ``.py`` files and
per-student folders. Each student's files become one :class:`~.submission.Submission`
(a ``.py`` file, a notebook, a zip, several files). Submissions run ``jobs`` at a
time, each with one child at a time, so the machine runs at most ``jobs`` children.

The export holds what students uploaded, so it is read as hostile too (:mod:`.archive`:
no symlink followed, no FIFO read, sizes capped), and one student's failure, whatever
it is, is that student's row; the outputs are always written. Only a
:class:`~.request.SetupError` (the same for everyone: no isolation, impossible limits)
stops the batch.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gates.i18n import tr

from .assignment import Scale
from .exports import Student, read_export
from .grader import choose_isolation, grade_submission
from .._util import printable
from ..contract import full_marks
from .report import SubmissionResult, status_text, write_text
from .request import SetupError, gate_classes
from .rubric import Rubric, check_title
from .scoring import ungraded
from .submission import SubmissionError, assemble


@dataclass
class Graded:
    """One student of the export and their result (None: they handed in nothing)."""

    student: Student
    result: SubmissionResult | None


def grade_students(students, jobs: int = 2, **options) -> list[Graded]:
    """Grade each of ``students`` (:class:`~.lms.Student`); ``options`` go to
    :func:`grade_submission` (gates, rubric, seed, timeout, memory, jvp, isolation,
    require_isolation, run_seed). Raises SetupError when the machine cannot grade anyone."""
    classes = gate_classes(options.get("gates"))
    names = [c.__name__ for c in classes]
    options = dict(options)
    options["isolation"] = choose_isolation(options.get("isolation"),
                                            options.pop("require_isolation", False))

    def one(student: Student) -> Graded:
        if not student.files:
            if not student.notes:
                return Graded(student, None)
            return Graded(student, _not_graded(student, classes, options,
                                               "; ".join(student.notes)))
        try:
            sub = assemble(student.files, names, student.name)
            sub.notes[:0] = list(student.notes)
            result = grade_submission(sub, jobs=1, **options)
            result.submission = sub.main      # the row and the feedback name the student
            return Graded(student, result)
        except SetupError:
            raise
        except SubmissionError as exc:
            return Graded(student, _not_graded(student, classes, options, str(exc)))
        except Exception as exc:  # noqa: BLE001  (one student costs only their own row)
            return Graded(student, _not_graded(student, classes, options, str(exc)))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, students))


def _not_graded(student, classes, options, why) -> SubmissionResult:
    reason = tr("not graded: {why}").format(why=why)
    rubric, jvp = options.get("rubric") or Rubric(), options.get("jvp", False)
    return SubmissionResult(student.name, [ungraded(cls, rubric, jvp, "not graded", reason)
                                           for cls in classes],
                            notes=[reason], isolation=options["isolation"].level,
                            seed=options.get("seed", 0))


def grade_folder(folder, csv_path=None, jobs: int = 2,
                 **options) -> list[tuple[str, SubmissionResult | None]]:
    """Grade every student of the export ``folder`` (a folder or a zip); write the CSV
    summary (:func:`write_csv`) to ``csv_path`` if given. Returns (student name, result)
    pairs; result is None for a student who handed in nothing."""
    graded = grade_students(read_export(folder), jobs, **options)
    if csv_path is not None:
        names = [c.__name__ for c in gate_classes(options.get("gates"))]
        write_csv(csv_path, graded, names)
    return [(g.student.name, g.result) for g in graded]


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a file named ``=HYPERLINK(...).py``
    would otherwise be a formula in the teacher's spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(path, graded, gate_names, scale=None) -> Path:
    """One row per student, UTF-8 with a byte-order mark (so that Excel shows Vietnamese
    names): id and name, the file graded, the grade on ``scale`` (an
    :class:`~.assignment.Scale`, default 10 points), the percent, the points per gate,
    a one-line summary of what was lost, the notes (cut at 500 characters), and the
    stamp (seed, run seed to replay that student's fresh cases, rubric fingerprint,
    versions); written atomically. ``graded`` holds :class:`Graded` or (name, result)."""
    scale = scale or Scale()
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["id", "student", "file", "grade", "out_of", "percent", "score", "max_score",
                *gate_names, "lost", "notes", "seconds", "seed", "run_seed", "rubric",
                "compgraph", "numpy", "scipy"])
    for item in graded:
        student, r = (item.student, item.result) if isinstance(item, Graded) else \
            (None, item[1])
        name = student.name if student else item[0]
        ident = (student.lms_id or student.key) if student else name
        if r is None:
            w.writerow([_cell(ident), _cell(name), "", "", f"{scale.points:g}", 0, 0, "",
                        *[""] * len(gate_names), "", tr("nothing handed in"), *[""] * 7])
            continue
        by_gate = {g.name: g for g in r.gates}
        st = r.stamp or {}
        w.writerow([_cell(ident), _cell(name), _cell(r.submission), scale.grade(r.fraction),
                    f"{scale.points:g}", round(r.percent, 1), round(r.score, 2),
                    round(r.max_score, 2),
                    *[round(by_gate[n].score, 2) if n in by_gate else "" for n in gate_names],
                    _cell(lost_summary(r)), _cell(printable(" | ".join(r.notes))[:500]), round(r.elapsed, 2),
                    r.seed, "" if r.run_seed is None else str(r.run_seed),
                    st.get("rubric", ""), st.get("compgraph", ""), st.get("numpy", ""),
                    st.get("scipy", "")])
    return write_text(path, "\ufeff" + f.getvalue())


def lost_summary(result: SubmissionResult, lang: str | None = None) -> str:
    """What was lost, in one line: ``CosGate -10 (missing); SigmoidGate -0.5 (backward
    can be called twice)``; empty for full marks. In ``lang`` (default: the current
    language)."""
    parts = []
    for g in result.gates:
        if full_marks(g.score, g.max_score):
            continue
        missing = g.max_score - g.score
        if g.status not in ("graded", "framework"):
            why = status_text(g.status, lang)
        else:
            why = ", ".join(check_title(c.name, lang) for c in g.checks
                            if not full_marks(c.points, c.max_points))
            if g.status == "framework":
                why = tr("autodiff framework: {checks}", lang).format(checks=why)
        parts.append(f"{g.name} -{missing:.4g} ({why})")
    return "; ".join(parts)
