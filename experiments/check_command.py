"""``compgraph check [MODULE_OR_FILE] [--seeds N] [--json]``: check gates numerically.

With no argument: every built-in gate (:data:`gates.ALL_GATES`) and the built-in
blocks (the lecture's MLP wrapped as one gate, with and without its loss), each on its
example inputs for seeds 0..N-1 and once in float32. With a module name
(``mygates``) or a file (``student/gates.py``): every class defined there that has
``forward`` and ``backward``; one without ``example_inputs(rng)`` is checked on the
examples of the built-in gate of the same name (the skeleton's classes), or else
reported as incomplete. The exit status is 0 only if everything checked passes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from gates import ALL_GATES
from gates.check import check_all, gate_classes
from gates.grade.report import printable


def configure(parser, command):
    """Add the arguments of ``compgraph check`` to its subparser."""
    parser.add_argument("target", nargs="?", metavar="MODULE_OR_FILE",
                        help="a module name or a .py file with gate classes "
                             "(default: the built-in gates and blocks)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="random example inputs per gate (default 3)")
    parser.add_argument("--json", action="store_true",
                        help="print the full reports as JSON instead of text")
    parser.add_argument("--no-float32", action="store_true",
                        help="skip the extra float32 run of each gate")
    parser.add_argument("--no-jvp", action="store_true",
                        help="do not check forward mode (jvp)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every report in full, passing ones too")
    parser.set_defaults(command=command)


def run(args) -> int:
    """Check the built-in gates and blocks, or the gates of ``args.target``; 0 if all pass,
    1 if any fails, 2 if the target cannot be loaded or the arguments are wrong."""
    if args.seeds < 1:
        print("compgraph check: --seeds must be at least 1", file=sys.stderr)
        return 2
    incomplete, notes = [], []
    if args.target is None:
        targets = list(ALL_GATES) + list(BLOCKS)
    else:
        try:
            module = load_module(args.target)
        except (Exception, SystemExit) as exc:   # whatever the user's module does
            print(f"compgraph check: cannot load {args.target}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
        targets, incomplete, notes = gate_classes(module)
        if not targets and not incomplete:
            print(f"compgraph check: {args.target} defines no class with forward and "
                  f"backward", file=sys.stderr)
            return 1
    options = {"jvp": False} if args.no_jvp else {}
    suite = check_all(targets, seeds=args.seeds, float32=not args.no_float32, **options)
    suite.incomplete.extend(incomplete)
    suite.notes.extend(notes)
    if args.json:
        print(json.dumps(suite.to_dict(), indent=1))
    else:
        if args.verbose:
            for report in suite.reports:
                print(printable(str(report)), end="\n\n")
        # a gate's own error messages are printed: no escape sequences, no lone surrogates
        print(printable(str(suite)))
    return 0 if suite.ok else 1


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
