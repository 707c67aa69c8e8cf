"""``compgraph check [MODULE_OR_FILE] [--gates NAME,...] [--details] [--json]``: check
gates numerically.

With no argument: every built-in gate (:data:`gates.ALL_GATES`) and the built-in
blocks (the lecture's MLP wrapped as one gate, with and without its loss), each on its
example inputs for seeds 0..N-1 and once in float32. With a module name
(``mygates``) or a file (``student/gates.py``): every class defined there that has
``forward`` and ``backward``; one without ``example_inputs(rng)`` is checked on the
examples of the built-in gate of the same name (the skeleton's classes), or else
reported as incomplete. ``--gates`` checks only the gates named.

The output starts with a summary, one line per gate: PASS, or FAIL and the first
reason. ``--details`` adds each failing gate's full report (the first failing run in
full, the others by their verdicts), ``-v`` every report in full, ``--json`` all of it
as JSON instead.

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
import types
from pathlib import Path

import numpy as np

from gates import ALL_GATES
from gates.check import check_all, gate_classes
from gates._util import printable


def configure(parser, command):
    """Add the arguments of ``compgraph check`` to its subparser."""
    parser.add_argument("target", nargs="?", metavar="MODULE_OR_FILE",
                        help="a module name or a .py file with gate classes "
                             "(default: the built-in gates and blocks)")
    parser.add_argument("--gates", type=gate_list, metavar="NAME,...",
                        help="check only these gates, e.g. --gates SigmoidGate,MaxGate "
                             "(default: every gate of the target)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="random example inputs per gate (default 3)")
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


def gate_list(text):
    """``"AddGate, MaxGate"`` -> ``['AddGate', 'MaxGate']`` (repeats dropped); blank means
    every gate (None). The ``--gates`` of check, skeleton, grade and autograder."""
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip())) or None


def run(args) -> int:
    """Check the built-in gates and blocks, or the gates of ``args.target``; 0 if all pass,
    1 if any fails, 2 (with a message on stderr) if the arguments are wrong or the target
    cannot be loaded, is not a gate file, or has no gate of a name in ``--gates``."""
    if args.seeds < 1:
        return _usage("--seeds must be at least 1")
    if args.target is None:
        module, where = None, "the built-in gates and blocks"
        targets, incomplete, notes = list(ALL_GATES) + list(BLOCKS), [], []
    else:
        try:
            module = load_module(args.target)
        except (Exception, SystemExit) as exc:   # whatever the user's module does
            return _usage(f"cannot load {args.target}: {type(exc).__name__}: {exc}")
        where = args.target
        targets, incomplete, notes = gate_classes(module)
        if not targets and not incomplete:
            return _usage(_not_a_gate_file(args.target, module))
    if args.gates:
        known = [t.__name__ for t in targets] + [name for name, _ in incomplete]
        unknown = [n for n in args.gates if n not in known]
        if unknown:
            return _usage(f"--gates: no gate named {', '.join(unknown)} in {where}; "
                          f"the gates there: {', '.join(known)}")
        if module is None:
            by_name = {t.__name__: t for t in targets}
            targets = [by_name[n] for n in args.gates]
        else:
            # gate_classes of the chosen classes alone, so its notes name only those
            chosen = types.ModuleType(module.__name__)
            chosen.__dict__.update((n, getattr(module, n)) for n in args.gates)
            targets, incomplete, notes = gate_classes(chosen)
    options = {"jvp": False} if args.no_jvp else {}
    suite = check_all(targets, seeds=args.seeds, float32=not args.no_float32, **options)
    suite.incomplete.extend(incomplete)
    suite.notes.extend(notes)
    if args.json:
        print(json.dumps(suite.to_dict(), indent=1))
        return 0 if suite.ok else 1
    # a gate's own error messages are printed: no escape sequences, no lone surrogates
    print(printable(suite.summary()))
    if args.verbose:
        for report in suite.reports:
            print("\n" + printable(str(report)))
    elif args.details:
        for block in suite.details():
            print("\n" + printable(block))
    elif not all(r.ok for r in suite.reports):
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


# -- the built-in blocks -------------------------------------------------------------

def _mlp_parts(rng):
    """A small 2-layer MLP's inputs: a batch x (4, 6), W1 (6, 5), b1 (5,), W2 (5, 3),
    b2 (3,); biases nonzero so the relu layer sees both signs."""
    return (rng.standard_normal((4, 6)),
            rng.standard_normal((6, 5)) * np.sqrt(2 / 6), 0.1 * rng.standard_normal(5),
            rng.standard_normal((5, 3)) * np.sqrt(2 / 5), 0.1 * rng.standard_normal(3))


class MLPBlock:
    """The lecture's 2-layer net logits = relu(x W1 + b1) W2 + b2, built with
    :func:`graph.mlp` and wrapped by ``Graph.as_gate`` (inputs x, W1, b1, W2, b2)."""

    @staticmethod
    def example_gate(dtype=np.float64):
        """Graph parameters keep their dtype, so the float32 check builds float32 ones."""
        from graph import Graph, mlp
        g = Graph()
        x = g.input("x")
        logits = mlp(g, x, (6, 5, 3), dtype=dtype)
        return g.as_gate(inputs=[x, *g.params.values()], output=logits)

    @staticmethod
    def example_inputs(rng):
        """x (4, 6), W1 (6, 5), b1 (5,), W2 (5, 3), b2 (3,)."""
        return _mlp_parts(rng)


class MLPLossBlock:
    """The same net with its loss: mean softmax cross-entropy of the logits against
    integer labels (inputs x, W1, b1, W2, b2, labels; labels not differentiable)."""

    @staticmethod
    def example_gate(dtype=np.float64):
        """The block with its loss, parameters of ``dtype``."""
        from graph import Graph, mlp, softmax_cross_entropy
        g = Graph()
        x = g.input("x")
        labels = g.input("labels", differentiable=False)
        logits = mlp(g, x, (6, 5, 3), dtype=dtype)
        loss = softmax_cross_entropy(logits, labels, name="loss")
        return g.as_gate(inputs=[x, *g.params.values(), labels], output=loss)

    @staticmethod
    def example_inputs(rng):
        """The MLP's inputs and labels (4,) in 0..2."""
        return _mlp_parts(rng) + (rng.integers(0, 3, size=4),)


#: The blocks ``compgraph check`` checks after the gates.
BLOCKS = (MLPBlock, MLPLossBlock)
