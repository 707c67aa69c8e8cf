"""``compgraph skeleton``, ``compgraph grade`` and ``compgraph autograder``: the teacher's side.

    compgraph skeleton -o gates_hw.py                 # the file students complete
    compgraph grade alice.py --gradescope results/    # one student, a table on screen
    compgraph grade --batch submissions/ --csv grades.csv
    compgraph autograder -o autograder.zip            # upload to Gradescope
"""

from __future__ import annotations

import sys
from pathlib import Path

from .check_command import gate_list
from .overwrite import refuse_overwrite


def configure(parser, command):
    """Add the arguments of ``compgraph skeleton``, ``grade`` or ``autograder``."""
    from gates.grade import isolation

    parser.set_defaults(command=command)
    parser.add_argument("--force", action="store_true",
                        help="replace output files that exist already")
    if command == "skeleton":
        parser.add_argument("--gates", type=gate_list, metavar="NAME,...",
                            help="only these gates (default: all 24)")
        parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
        parser.add_argument("--jvp", action="store_true",
                            help="also ask for jvp (forward mode); grade it with grade --jvp")
        parser.add_argument("--solution", action="store_true",
                            help="write the reference solution as a submission instead "
                                 "(for teachers, to try the grader)")
        return
    if command in ("grade", "autograder"):
        parser.add_argument("--gates", type=gate_list, metavar="NAME,...",
                            help="grade only these gates (default: all 24)")
        parser.add_argument("--rubric", metavar="FILE", help="points per gate and check "
                            "weights, JSON or TOML (default: 10 points per gate)")
        parser.add_argument("--seed", type=int, default=0,
                            help="seed of the reproducible half of the hidden inputs "
                                 "(default: %(default)s)")
        parser.add_argument("--timeout", type=float, default=10.0,
                            help="seconds per gate (wall clock; CPU time is limited too; "
                                 "default: %(default)s)")
        parser.add_argument("--memory-mb", type=int, default=1024,
                            help="address-space limit per gate, MB (default 1024)")
        parser.add_argument("--jvp", action="store_true", help="grade jvp (forward mode) too")
    if command == "grade":
        parser.add_argument("submission", nargs="?", help="the student's .py file")
        parser.add_argument("--batch", metavar="DIR",
                            help="grade every submission in DIR (files or per-student folders)")
        parser.add_argument("--csv", metavar="FILE",
                            help="with --batch: the summary CSV (default DIR/grades.csv)")
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
                            "the .py file with the most gate classes)")


def run(args) -> int:
    """Run the command; 2 with a message (no traceback) for a bad request: unknown
    gates, an unreadable file or rubric, limits too tight for the child to start."""
    from gates.grade import GradingError, RubricError

    try:
        if args.command == "skeleton":
            return _skeleton(args)
        if args.command == "autograder":
            return _autograder(args)
        return _grade(args)
    except (GradingError, RubricError, OSError) as exc:   # OverwriteError is an OSError
        print(f"compgraph {args.command}: {exc}", file=sys.stderr)
        return 2


def _skeleton(args) -> int:
    from gates.grade import skeleton_source, solution_source
    from gates.grade.grader import gate_classes

    classes = gate_classes(args.gates)
    text = solution_source(classes) if args.solution else skeleton_source(classes, jvp=args.jvp)
    refuse_overwrite(args.output, force=args.force)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(classes)} gates)")
    else:
        sys.stdout.write(text)
    return 0


def _options(args) -> dict:
    from gates.grade import load_rubric

    return {"gates": args.gates, "rubric": load_rubric(args.rubric), "seed": args.seed,
            "timeout": args.timeout, "memory": args.memory_mb << 20, "jvp": args.jvp}


def _grade(args) -> int:
    from gates.grade import format_table, grade_folder, grade_submission, gradescope, write_json
    from gates.grade.grader import GradingError, choose_isolation
    from gates.grade.report import printable

    if bool(args.batch) == bool(args.submission):
        raise GradingError("give either one SUBMISSION.py or --batch DIR")
    options = _options(args)
    gradescope_json = Path(args.gradescope) / "results.json" if args.gradescope else None
    refuse_overwrite(args.json, args.csv, gradescope_json, force=args.force)
    options["isolation"] = choose_isolation(args.isolation, args.require_isolation)
    options["run_seed"] = args.run_seed
    if args.batch:
        for warning in options["isolation"].warnings:
            print(warning, file=sys.stderr)
        csv_path = Path(args.csv or Path(args.batch) / "grades.csv")
        results = grade_folder(args.batch, csv_path, jobs=args.jobs, **options)
        for student, r in results:
            line = "no .py file" if r is None else (
                f"{r.score:6.1f}/{r.max_score:.0f}  {r.percent:5.1f}%  {r.elapsed:5.1f} s")
            print(printable(f"{student:<30} {line}"))
        if args.json:
            write_json(args.json, {s: (r.to_dict() if r else None) for s, r in results})
        print(f"isolation: {options['isolation'].level}")
        print(f"wrote {csv_path}")
        return 0
    try:
        result = grade_submission(args.submission, jobs=args.jobs, **options)
    except GradingError as exc:
        if args.gradescope:  # Gradescope must get its results.json even for a missing file
            write_json(Path(args.gradescope) / "results.json",
                       {"score": 0.0, "execution_time": 0.0, "output": str(exc), "tests": []})
        raise
    # the files first: they must exist even if the terminal goes away (``| head``)
    if args.json:
        write_json(args.json, result.to_dict())
    if args.gradescope:
        write_json(Path(args.gradescope) / "results.json", gradescope(result))
    print(format_table(result, details=not args.quiet))
    return 0


def _autograder(args) -> int:
    from gates.grade.autograder import build_zip

    options = _options(args)
    refuse_overwrite(args.output, force=args.force)
    path = build_zip(args.output, filename=args.filename, **options)
    print(f"wrote {path}: upload it as the Gradescope autograder (setup.sh and "
          f"run_autograder at its root)")
    return 0
