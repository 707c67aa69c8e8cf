"""The ``compgraph`` command: one subcommand per job, each in its own module.

This is the one module that routes every subcommand. It sits at the top of the
dependency order ``experiments -> graph -> gates``, so a command's code can live in the
package its job belongs to (the grader's front end in ``gates``, which must not import
``experiments``) and still be reached from here. Where each command's code lives:

    demo                          experiments/demo.py
    explain                       experiments/explain.py
    lecture                       experiments/lecture.py
    train                         experiments/train_mnist.py
    compare                       experiments/compare.py
    check                         gates/check/command.py, the checker's front end
                                  (experiments/check_command.py adds the graph's blocks)
    skeleton, grade, autograder   gates/grade/commands.py, the grader's front end

``train`` and ``compare`` share their options, output folders and files
(experiments/runs.py) and leave the training to experiments/training.py.

Every module named in :data:`COMMANDS` provides ``configure(parser, command)``, which
adds the arguments of ``command`` (one module may serve several subcommands), and
``run(args) -> int``, which does the work (``args.command`` says which) and returns the
exit status.
Modules are imported only when their subcommand runs, so ``compgraph check`` never
pays for the training code. ``compgraph --version`` prints the installed version.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

#: subcommand -> (module, one-line help)
COMMANDS = {
    "demo": ("experiments.demo", "a short tour of gates: forward, backward, forward mode"),
    "check": ("experiments.check_command", "check gates numerically against scipy.differentiate"),
    "explain": ("experiments.explain", "explain an expression: assignments, table, paths, DOT"),
    "lecture": ("experiments.lecture", "every worked example of the lecture, beside its "
                                       "expected value"),
    "train": ("experiments.train_mnist", "train the lecture's 2-, 3- or 4-layer MNIST network"),
    "compare": ("experiments.compare", "train all three architectures and compare them"),
    "skeleton": ("gates.grade.commands", "write the gate skeleton students complete"),
    "grade": ("gates.grade.commands", "grade a student's gate implementations"),
    "autograder": ("gates.grade.commands", "build the Gradescope autograder zip"),
}


def version() -> str:
    """``compgraph X.Y.Z``: the version pip installed (setup.cfg's, read from the
    installed metadata so there is one place to change it)."""
    try:
        return f"compgraph {importlib.metadata.version('compgraph')}"
    except importlib.metadata.PackageNotFoundError:
        # run from a checkout that was never installed: there is no metadata to read
        return "compgraph (version unknown: not installed; pip install -e .)"


class _VersionAction(argparse.Action):
    """``--version``: like argparse's own, but the metadata is read only when asked."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version())
        parser.exit(0)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compgraph", description="Computational graphs built from explicit gates.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).configure(sp, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        # the reader went away (`compgraph check | head`): nothing is wrong with us, but
        # Python would report the failed flush of stdout at exit, so point it at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
