"""``compgraph skeleton``, ``compgraph grade`` and ``compgraph autograder``: the teacher's
side of the grader on the command line (arguments, output files, messages), routed by
``experiments/cli.py``; the grading itself is the rest of :mod:`gates.grade`.

    compgraph skeleton -o gates_hw.py                 # the file students complete
    compgraph grade alice.py --gradescope results/    # one student, a table on screen
    compgraph grade --batch moodle-export.zip --assignment assignment.toml \
        --moodle-worksheet worksheet.csv --out graded/  # a class, back into Moodle
    compgraph autograder -o autograder.zip            # upload to Gradescope
    compgraph grade alice.py --lang vi                # the feedback in Vietnamese

The language of what the grader writes: ``--lang``, else the environment's (LANG...).
The students' feedback frame (feedback files, LMS comments, the grade line) and the
autograder's whole output: ``--lang``, else assignment.toml's ``language``, else the
environment's.

A file the teacher names (``-o``, ``--json``, ``--csv``, a Gradescope folder's
results.json, a batch's grades.csv) is never replaced without ``--force``
(:func:`gates._util.refuse_overwrite`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gates import i18n
from gates._util import printable, refuse_overwrite
from gates.i18n import LANGUAGES, language, tr

from . import isolation
from .archive import ArchiveError
from .assignment import Assignment, AssignmentError, load_assignment
from .autograder import build_zip
from .batch import grade_students, write_csv
from .exports import find_student, read_export
from .grader import choose_isolation, grade_submission
from .lms import GradebookError, WorksheetError
from .outputs import grade_line, read_stored, write_outputs
from .report import format_table, gradescope, write_json
from .request import GradingError, gate_classes, gate_list
from .rubric import RubricError, load_rubric
from .skeleton import skeleton_source, solution_source


def configure(parser, command):
    """Add the arguments of ``compgraph skeleton``, ``grade`` or ``autograder``."""
    parser.set_defaults(command=command)
    parser.add_argument("--force", action="store_true",
                        help="replace output files that exist already")
    parser.add_argument("--assignment", metavar="FILE",
                        help="assignment.toml: gates, rubric, seed, jvp, limits, language, "
                             "grade scale, LMS in one file (options given here win)")
    parser.add_argument("--gates", type=gate_list, metavar="NAME,...",
                        help="only these gates (default: the assignment's, else all 24)")
    parser.add_argument("--jvp", action="store_true", default=None,
                        help="also ask for / grade jvp (forward mode)")
    if command == "skeleton":
        parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
        parser.add_argument("--solution", action="store_true",
                            help="write the reference solution as a submission instead "
                                 "(for teachers, to try the grader)")
        return
    parser.add_argument("--rubric", metavar="FILE", help="points per gate and check "
                        "weights, JSON or TOML (default: 10 points per gate)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the reproducible half of the hidden inputs "
                             "(default: the assignment's, else 0)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per gate (wall clock; CPU time is limited too; "
                             "default: the assignment's, else 10)")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="address-space limit per gate, MB (default 1024)")
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help="the language of the feedback (default: the assignment's, "
                             "else the environment's, e.g. LANG=vi_VN.UTF-8)")
    if command == "grade":
        parser.add_argument("submission", nargs="?",
                            help="the student's .py file, notebook, zip or folder")
        parser.add_argument("--batch", metavar="EXPORT",
                            help="grade every student of EXPORT: a folder or zip (Moodle's "
                                 "'Download all submissions', Canvas's submissions zip, or "
                                 "a folder of files and per-student folders)")
        parser.add_argument("--out", metavar="DIR",
                            help="with --batch: where grades.csv, feedback/, results.json "
                                 "and the LMS files go (default: EXPORT-graded)")
        parser.add_argument("--csv", metavar="FILE",
                            help="with --batch: the summary CSV (default OUT/grades.csv)")
        parser.add_argument("--only", metavar="STUDENT",
                            help="with --batch: regrade this student (id or name) and merge "
                                 "into the outputs already in OUT")
        parser.add_argument("--moodle-worksheet", metavar="CSV",
                            help="with --batch: Moodle's grading worksheet, to fill into "
                                 "OUT/moodle-worksheet.csv")
        parser.add_argument("--canvas-gradebook", metavar="CSV",
                            help="with --batch: Canvas's gradebook export, to fill into "
                                 "OUT/canvas-gradebook.csv")
        parser.add_argument("--canvas-assignment", metavar="'TITLE (ID)'",
                            help="the gradebook column to fill")
        parser.add_argument("--json", metavar="FILE", help="write the full report as JSON")
        parser.add_argument("--gradescope", metavar="DIR",
                            help="write Gradescope's results.json into DIR")
        parser.add_argument("--jobs", type=int, default=2, help="children at a time (default 2)")
        parser.add_argument("--isolation", choices=isolation.LEVELS, default=None,
                            help="how each child is isolated (default: the strongest "
                                 "available; see the README)")
        parser.add_argument("--require-isolation", action="store_true",
                            help="refuse to grade with process-only isolation")
        parser.add_argument("--run-seed", type=int, default=None,
                            help="seed of the fresh half of the cases (default: new each "
                                 "run; give the one a report shows to replay that run)")
        parser.add_argument("--quiet", action="store_true", help="only the table, no reasons")
    if command == "autograder":
        parser.add_argument("-o", "--output", default="autograder.zip", metavar="FILE.zip",
                            help="where to write the zip (default: %(default)s)")
        parser.add_argument("--filename", help="the file name students upload (default: "
                            "the assignment's, else the .py file with the most gate classes)")


def run(args) -> int:
    """Run the command; 2 with a message (no traceback) for a bad request: unknown
    gates, an unreadable file, rubric or assignment, limits too tight for the child."""
    try:
        lang = getattr(args, "lang", None)
        if lang is None and args.command in ("grade", "autograder") and args.assignment:
            # the students' language, as the assignment says, for every reason and note
            lang = feedback_language(args)
        with i18n.speaking(lang):
            if args.command == "skeleton":
                return _skeleton(args)
            if args.command == "autograder":
                return _autograder(args)
            return _grade(args)
    except (GradingError, RubricError, AssignmentError, ArchiveError, WorksheetError,
            GradebookError, LookupError, ValueError, OSError) as exc:
        # OverwriteError is an OSError
        print(f"compgraph {args.command}: {exc}", file=sys.stderr)
        return 2


def settings(args):
    """The assignment these arguments describe: ``--assignment``'s file (or the
    defaults), with every option given on the command line applied over it."""
    assignment = load_assignment(args.assignment) if args.assignment else Assignment()
    options = {"gates": args.gates, "jvp": args.jvp}
    if args.command != "skeleton":
        options.update(seed=args.seed, timeout=args.timeout, memory_mb=args.memory_mb,
                       rubric=load_rubric(args.rubric) if args.rubric else None)
    if args.command == "autograder":
        options["filename"] = args.filename
    if args.command != "skeleton":
        options["language"] = getattr(args, "lang", None) or assignment.language or language()
    return assignment.with_options(**options)


def feedback_language(args) -> str:
    """The language of the students' feedback: ``--lang``, else the ``language``
    assignment.toml sets, else the environment's (:func:`gates.i18n.language`)."""
    if getattr(args, "lang", None):
        return args.lang
    said = load_assignment(args.assignment).language if args.assignment else None
    return said or language()


def _skeleton(args) -> int:
    assignment = settings(args)
    classes = gate_classes(assignment.gates)
    text = (solution_source(classes) if args.solution
            else skeleton_source(classes, jvp=assignment.jvp))
    refuse_overwrite(args.output, force=args.force)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(classes)} gates)")
    else:
        sys.stdout.write(text)
    return 0


def _grade(args) -> int:
    if bool(args.batch) == bool(args.submission):
        raise GradingError("give either one SUBMISSION or --batch EXPORT")
    batch_only = [o for o in ("out", "csv", "only", "moodle_worksheet", "canvas_gradebook")
                  if getattr(args, o)]
    if batch_only and not args.batch:
        raise GradingError(f"--{batch_only[0].replace('_', '-')} goes with --batch EXPORT")
    assignment = settings(args)
    options = assignment.grading_options()
    gradescope_json = Path(args.gradescope) / "results.json" if args.gradescope else None
    refuse_overwrite(args.json, None if args.only else args.csv, gradescope_json,
                     force=args.force)
    options["isolation"] = choose_isolation(args.isolation, args.require_isolation)
    options["run_seed"] = args.run_seed
    if args.batch:
        return _batch(args, assignment, options)
    try:
        result = grade_submission(args.submission, jobs=args.jobs, **options)
    except GradingError as exc:
        if args.gradescope:  # Gradescope must get its results.json even for a missing file
            write_json(Path(args.gradescope) / "results.json",
                       {"score": 0.0, "execution_time": 0.0, "output": str(exc), "tests": []})
        raise
    _title(result, assignment)
    # the files first: they must exist even if the terminal goes away (``| head``)
    if args.json:
        write_json(args.json, result.to_dict())
    if args.gradescope:
        write_json(Path(args.gradescope) / "results.json", gradescope(result))
    print(format_table(result, details=not args.quiet))
    if args.assignment:
        print(grade_line(result, assignment))
    return 0


def _title(result, assignment):
    if assignment.title:
        result.stamp["assignment"] = assignment.title


def _batch(args, assignment, options) -> int:
    export = Path(args.batch)
    out = Path(args.out) if args.out else export.with_name(
        (export.stem if export.suffix.lower() == ".zip" else export.name) + "-graded")
    if not args.only:
        refuse_overwrite(out / "grades.csv", force=args.force)
    for warning in options["isolation"].warnings:
        print(warning, file=sys.stderr)
    students = read_export(export)
    if args.only:
        stored, graded = read_stored(out)
        if (stored.get("seed"), stored.get("rubric")) != (assignment.seed,
                                                           assignment.fingerprint()):
            raise GradingError(f"{out} was graded with seed {stored.get('seed')} and rubric "
                               f"{stored.get('rubric')}; this run has seed {assignment.seed} "
                               f"and rubric {assignment.fingerprint()}: regrade everyone, or "
                               f"use the same assignment")
        student = find_student(students, args.only)
        fresh = grade_students([student], 1, **options)[0]
        keys = [g.student.key for g in graded]
        if student.key in keys:
            graded[keys.index(student.key)] = fresh
        else:
            graded.append(fresh)
        todo = [fresh]
    else:
        graded = grade_students(students, args.jobs, **options)
        todo = graded
    for g in graded:
        if g.result is not None:
            _title(g.result, assignment)
    done = write_outputs(out, graded, assignment, moodle_worksheet=args.moodle_worksheet,
                         canvas_gradebook=args.canvas_gradebook,
                         canvas_assignment=args.canvas_assignment)
    if args.csv:
        names = [c.__name__ for c in gate_classes(assignment.gates)]
        write_csv(args.csv, graded, names, assignment.scale)
        done.files.append(Path(args.csv))
    if args.json:
        write_json(args.json, {g.student.key: (g.result.to_dict() if g.result else None)
                               for g in graded})
    width = max([len(g.student.name) for g in todo] + [10])
    for g in todo:
        line = grade_line(g.result, assignment)
        if g.result is not None:
            line += f"  {g.result.elapsed:5.1f} s"
        print(printable(f"{g.student.name:<{width}}  {line}"))
    for note in done.notes:
        print(printable(tr("note: {note}").format(note=note)))
    print(tr("isolation: {isolation}   seed: {seed}   rubric: {rubric}").format(
        isolation=options["isolation"].level, seed=assignment.seed,
        rubric=assignment.fingerprint()))
    if args.csv:
        print(tr("wrote {count} files in {out} and {csv}").format(
            count=len(done.files), out=out, csv=args.csv))
    else:
        print(tr("wrote {count} files in {out}").format(count=len(done.files), out=out))
    return 0


def _autograder(args) -> int:
    assignment = settings(args)
    refuse_overwrite(args.output, force=args.force)
    path = build_zip(args.output, filename=assignment.filename, language=assignment.language,
                     **assignment.grading_options())
    print(f"wrote {path}: upload it as the Gradescope autograder (setup.sh and "
          f"run_autograder at its root)")
    return 0
