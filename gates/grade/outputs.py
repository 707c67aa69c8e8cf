"""What a graded class leaves in ``--out DIR``: for the teacher, each student and the LMS.

* ``grades.csv``: one row per student (:func:`.batch.write_csv`), UTF-8 with a BOM;
* ``feedback/<student>.txt``: what each student reads, per gate what was lost and why,
  grouped (:func:`feedback_text`);
* ``results.json``: every result in full, with the students' ids and the stamp; read
  back by ``--only STUDENT`` to regrade one student and rewrite everything;
* for a Moodle export, ``moodle-feedback.zip`` for "Upload multiple feedback files in a
  zip"; with the grading worksheet the teacher downloaded, ``moodle-worksheet.csv``:
  the same worksheet with Grade and Feedback comments filled, for "Upload grading
  worksheet";
* with a Canvas gradebook export and the assignment's column, ``canvas-gradebook.csv``
  in Canvas's import layout.

Every file is written atomically: a reader sees the old file or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gates.i18n import tr

from . import lms
from .exports import Student
from .assignment import Assignment
from .batch import Graded, lost_summary, write_csv
from .._util import printable
from ..contract import full_marks
from .report import SubmissionResult, stamp_line, write_json, write_text
from .request import gate_classes

# The frame of the feedback a student reads is in the assignment's language (the
# ``lang`` each tr() here is given), whatever the language of the process writing it.


def grade_line(result: SubmissionResult | None, assignment: Assignment) -> str:
    """``Grade: 9.5/10 (95.0%, 228.00/240.00 points)``, in the assignment's language."""
    lang = assignment.language
    if result is None:
        return tr("Nothing was handed in.", lang)
    return tr("Grade: {grade}/{out_of} ({percent}%, {score}/{max_score} points)", lang).format(
        grade=assignment.scale.grade(result.fraction), out_of=f"{assignment.scale.points:g}",
        percent=f"{result.percent:.1f}", score=f"{result.score:.2f}",
        max_score=f"{result.max_score:.2f}")


def feedback_text(student: Student, result: SubmissionResult | None,
                  assignment: Assignment) -> str:
    """The feedback one student reads: the grade, then, gate by gate, what was lost and
    why (the reasons grouped as the report groups them), the notes, and the stamp."""
    lang = assignment.language
    lines = [f"{assignment.title}: {student.name}" if assignment.title else student.name,
             grade_line(result, assignment)]
    if result is None:
        return "\n".join(lines + [*student.notes]) + "\n"
    lines.append(tr("File graded: {file}", lang).format(file=result.submission))
    if result.notes:
        lines += ["", tr("Notes:", lang), *[f"- {n}" for n in result.notes]]
    full = [g for g in result.gates if full_marks(g.score, g.max_score)]
    partial = [g for g in result.gates if not full_marks(g.score, g.max_score)]
    lines += ["", tr("What was lost, and why:", lang) if partial
              else tr("Every gate got full marks.", lang)]
    for g in partial:
        lines += ["", f"== {g.name}: {g.score:.2f}/{g.max_score:.2f}"]
        if g.status == "import failed":
            lines.append(g.notes[0] if g.notes else "")
        else:
            lines.append(g.text(lang))
    if full:
        lines += ["", tr("Full marks: {gates}", lang).format(
            gates=", ".join(g.name for g in full))]
    # the term's seed stays with the teacher (grades.csv): students read this file
    lines += ["", tr("(Graded by {stamp}; run seed {run_seed})", lang).format(
        stamp=stamp_line(result.stamp), run_seed=result.run_seed)]
    # what the submission printed or raised is in here: no escape sequences
    return printable("\n".join(lines)) + "\n"


def comment_text(result: SubmissionResult | None, assignment: Assignment) -> str:
    """The short comment for the LMS's feedback box: the grade and what was lost."""
    lang = assignment.language
    if result is None:
        return tr("Nothing was handed in.", lang)
    lost = lost_summary(result, lang)
    return printable(grade_line(result, assignment) + ". " + (
        (lost + ". " + tr("The details are in your feedback file.", lang)) if lost
        else tr("Every gate got full marks.", lang)))


@dataclass
class Outputs:
    """The files one batch wrote, and notes for the teacher (unmatched students...)."""

    files: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def write_outputs(out_dir, graded: list[Graded], assignment: Assignment, *,
                  moodle_worksheet=None, canvas_gradebook=None,
                  canvas_assignment: str | None = None) -> Outputs:
    """Write every output of a graded class into ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    done = Outputs()
    names = _gate_names(assignment)
    done.files.append(write_csv(out / "grades.csv", graded, names, assignment.scale))
    feedback = {g.student.key: feedback_text(g.student, g.result, assignment) for g in graded}
    for key, text in feedback.items():
        done.files.append(write_text(out / "feedback" / f"{key}.txt", text))
    done.files.append(write_json(out / "results.json", _stored(graded, assignment)))
    fractions = {g.student.lms_id: (g.result.fraction, comment_text(g.result, assignment))
                 for g in graded if g.student.lms_id and g.result is not None}
    moodle = [g for g in graded if g.student.lms == "moodle" and g.student.moodle_prefix]
    if moodle:
        path = out / "moodle-feedback.zip"
        lms.write_moodle_feedback_zip(path, [(g.student.moodle_prefix, feedback[g.student.key])
                                             for g in moodle])
        done.files.append(path)
    if moodle_worksheet is not None:
        sheet = lms.read_moodle_worksheet(moodle_worksheet)
        text, notes = lms.fill_moodle_worksheet(sheet, fractions, assignment.scale.grade_text)
        done.files.append(write_text(out / "moodle-worksheet.csv", text))
        done.notes += notes
    if canvas_gradebook is not None:
        if not canvas_assignment:
            raise lms.GradebookError("a Canvas gradebook needs --canvas-assignment "
                                     "\"Title (id)\": the column to fill")
        book = lms.read_canvas_gradebook(canvas_gradebook)
        text, notes = lms.canvas_import_csv(
            book, canvas_assignment, {k: v[0] for k, v in fractions.items()},
            assignment.scale.grade_text)
        done.files.append(write_text(out / "canvas-gradebook.csv", text))
        done.notes += notes
    return done


def _gate_names(assignment) -> list[str]:
    return [c.__name__ for c in gate_classes(assignment.gates)]


_STUDENT_FIELDS = ("key", "name", "lms", "lms_id", "notes", "moodle_prefix")


def _record(student: Student) -> dict:
    return {k: getattr(student, k) for k in _STUDENT_FIELDS}


def _from_record(data: dict) -> Student:
    return Student(files=[], **{k: data.get(k) for k in _STUDENT_FIELDS})


def _stored(graded, assignment) -> dict:
    return {"assignment": assignment.title, "seed": assignment.seed,
            "rubric": assignment.fingerprint(),
            "students": [{"student": _record(g.student),
                          "result": g.result.to_dict() if g.result else None}
                         for g in graded]}


def read_stored(out_dir) -> tuple[dict, list[Graded]]:
    """What an earlier batch stored in ``out_dir/results.json``: its header (seed,
    rubric fingerprint) and its students with their results (the students' files are
    not stored: a regrade reads them from the export again)."""
    path = Path(out_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        graded = [Graded(_from_record(s["student"]),
                         SubmissionResult.from_dict(s["result"]) if s["result"] else None)
                  for s in data["students"]]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: grade the whole class with --out "
                                f"{out_dir} once before regrading one student") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a results.json this grader wrote ({exc})") from None
    return data, graded
