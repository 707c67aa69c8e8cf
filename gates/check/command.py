"""``compgraph check [MODULE_OR_FILE] [--gates NAME,...] [--details] [--json]``: check
gates numerically, and a student's gates as the grader will grade them.

With no argument: every built-in gate (:data:`gates.ALL_GATES`) and the built-in
blocks the front end passes in (:func:`run`'s ``blocks``), each on its example inputs
for seeds 0..N-1 and once in float32. With a module name (``mygates``) or a file
(``student/gates.py``): every class defined there that has ``forward`` or
``backward``. One named like a built-in gate (the skeleton's classes) is graded as
``compgraph grade`` will grade it (:mod:`.graded`: the grader's cases, rules and
scoring, public seeds): it passes with full marks. Any other class is checked on its
own ``example_inputs(rng)``, or else reported as incomplete. ``--gates`` checks only
the gates named.

The output starts with a summary, one line per gate: PASS, or FAIL and the first
reason. ``--details`` adds each failing gate's full report (the first failing run in
full, the others by their verdicts; a graded gate's feedback), ``-v`` every report in
full, ``--json`` all of it as JSON instead.

The exit status is 0 only if everything checked passes, 1 if a check fails, and 2 for
the user's mistakes: a bad argument, a target that cannot be loaded or that is not a
gate file (no class with ``forward`` and ``backward``), a gate name it does not have.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path

from .. import ALL_GATES
from .._util import plural, printable
from ..grade.request import gate_list
from . import graded as grading
from .suite import check_all, gate_classes


def configure(parser, command):
    """Add the arguments of ``compgraph check`` to its subparser."""
    parser.add_argument("target", nargs="?", metavar="MODULE_OR_FILE",
                        help="a module name or a .py file with gate classes "
                             "(default: the built-in gates and blocks)")
    parser.add_argument("--gates", type=gate_list, metavar="NAME,...",
                        help="check only these gates, e.g. --gates SigmoidGate,MaxGate "
                             "(default: every gate of the target)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="random example inputs per gate (default 3); gates named "
                             "like built-in ones are graded on the grader's cases")
    parser.add_argument("--details", action="store_true",
                        help="after the summary, the full report of each failing gate")
    parser.add_argument("--json", action="store_true",
                        help="print the full reports as JSON instead of text")
    parser.add_argument("--no-float32", action="store_true",
                        help="skip the extra float32 run of each gate")
    parser.add_argument("--no-jvp", action="store_true",
                        help="do not check forward mode (jvp)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="after the summary, every report in full, passing ones too")
    parser.set_defaults(command=command)


def run(args, blocks=()) -> int:
    """Check the built-in gates and ``blocks``, or the gates of ``args.target``; 0 if all
    pass, 1 if any fails, 2 (with a message on stderr) if the arguments are wrong or the
    target cannot be loaded, is not a gate file, or has no gate of a name in ``--gates``.

    ``blocks`` are more targets for the run without a target (the front end's MLP
    blocks, built with :mod:`graph`, which ``gates`` never imports)."""
    if args.seeds < 1:
        return _usage("--seeds must be at least 1")
    module = None
    if args.target is None:
        where = "the built-in gates and blocks"
        targets, incomplete, graded = list(ALL_GATES) + list(blocks), [], []
    else:
        try:
            module = load_module(args.target)
        except (Exception, SystemExit) as exc:   # whatever the user's module does
            return _usage(f"cannot load {args.target}: {type(exc).__name__}: {exc}")
        where = args.target
        targets, incomplete, graded = gate_classes(module)
        if not targets and not incomplete and not graded:
            return _usage(_not_a_gate_file(args.target, module))
    if args.gates:
        known = ([t.__name__ for t in targets] + [name for name, _ in incomplete]
                 + graded)
        if module is not None:      # the file's own order
            known = [name for name in vars(module) if name in known]
        unknown = [n for n in args.gates if n not in known]
        if unknown:
            return _usage(f"--gates: no gate named {', '.join(unknown)} in {where}; "
                          f"the gates there: {', '.join(known)}")
        targets = [t for t in targets if t.__name__ in args.gates]
        incomplete = [(name, text) for name, text in incomplete if name in args.gates]
        graded = [name for name in graded if name in args.gates]
        if module is None:
            by_name = {t.__name__: t for t in targets}
            targets = [by_name[n] for n in args.gates]
    start = time.perf_counter()
    options = {"jvp": False} if args.no_jvp else {}
    suite = check_all(targets, seeds=args.seeds, float32=not args.no_float32, **options)
    suite.incomplete.extend(incomplete)
    if graded:
        with_jvp = () if args.no_jvp else [
            n for n in graded if callable(getattr(getattr(module, n), "jvp", None))]
        suite.graded, notes = grading.grade_like_the_grader(module.__file__, graded,
                                                            with_jvp)
        suite.notes.extend(notes)
        suite.notes.append(f"graded the way compgraph grade will, on its cases drawn from "
                           f"the public seeds {grading.PUBLIC_SEED} and "
                           f"{grading.PUBLIC_RUN_SEED} ({plural(len(graded), 'gate')}): "
                           f"{', '.join(graded)}")
    suite.seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps(suite.to_dict(), indent=1))
        return 0 if suite.ok else 1
    # a gate's own error messages are printed: no escape sequences, no lone surrogates
    print(printable(suite.summary()))
    if args.verbose:
        for report in suite.reports:
            print("\n" + printable(str(report)))
        for result in suite.graded:
            print("\n" + printable(suite.graded_text(result)))
    elif args.details:
        for block in suite.details():
            print("\n" + printable(block))
    elif not suite.ok and (suite.reports or suite.graded):
        print("(--details prints the full report of each failing gate)")
    return 0 if suite.ok else 1


def _usage(message: str) -> int:
    """Print ``compgraph check: message`` on stderr; 2, the status of a user's mistake."""
    print(f"compgraph check: {message}", file=sys.stderr)
    return 2


def _not_a_gate_file(target: str, module) -> str:
    """Why ``target`` has nothing to check, and where to look instead."""
    where = getattr(module, "__file__", None)
    message = (f"{target} is not a gate file: it defines no class with forward and "
               f"backward" + (f" (loaded from {where})" if where else ""))
    # a package that imports its gates from submodules (``gates``) has none of its own
    classes = [cls for cls in vars(module).values()
               if inspect.isclass(cls) and callable(getattr(cls, "forward", None))
               and callable(getattr(cls, "backward", None))]
    bases = {base for cls in classes for base in cls.__mro__[1:]}
    imported = sorted({cls.__module__ for cls in classes if cls not in bases})
    if imported:
        return message + f"; it imports gate classes from {', '.join(imported)}: check those"
    return message + ("; give a .py file or a module with gate classes, such as the one "
                      "'compgraph skeleton' writes")


def load_module(target: str):
    """Import ``target``: a path to a .py file (its folder goes on sys.path so it can
    import its neighbours) or a dotted module name. Raises FileNotFoundError for a
    missing file, IsADirectoryError for a folder, and whatever the module raises on
    import."""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {target}")
        name = f"compgraph_check_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError:
        if path.is_dir():   # not an importable package: most likely a path typed by mistake
            raise IsADirectoryError(f"{target} is a folder, not a module; give a .py file "
                                    f"or a module name") from None
        raise
