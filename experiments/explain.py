"""``compgraph explain EXPR --at a=2 b=1 [--wrt b] [--dot FILE] [--html FILE] [--force] [--json] [--lang vi]``.

Prints the lecture's simple assignments, the table of values, local derivatives and
gradients, the reverse-mode gradients, the forward-mode derivative with respect to
``--wrt``, and the sums over paths; ``--json`` prints the same as one JSON object;
``--dot FILE`` draws the full and the reduced graph (``FILE`` and ``FILE-reduced``, each
with its .dot text beside it), rendered by :func:`graph.dot.find_renderer`'s choice;
``--html FILE`` writes the step-through page (:mod:`graph.stepper`); ``--lang vi``
speaks Vietnamese.

Errors in the expression or the values are printed with their line and column, and the
command exits with status 2 (1 for a value outside a gate's domain, such as log(-1), or
a value or gradient that overflows float64 to inf or NaN). A drawing that cannot be
made exits with status 2 too, having written nothing: a file that exists already
(unless ``--force``), a picture asked for with no renderer installed (the message gives
the install command).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gates._util import atomic_write_text, refuse_overwrite
from graph.explain import show


def configure(parser, command):
    """Add EXPR, --at, --wrt, --dot and --json to the ``explain`` subparser."""
    parser.add_argument("expression", metavar="EXPR",
                        help="assignments such as 'e = (a+b)*(b+1)' (several separated by ';' "
                             "or newlines); + - * / ** unary -, numbers, and sin cos tan exp "
                             "log tanh sigmoid relu max")
    parser.add_argument("--at", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="the value of every input, e.g. --at a=2 b=1 (arithmetic on "
                             "numbers, pi and e is allowed: x=pi/4)")
    parser.add_argument("--wrt", metavar="NAME",
                        help="also give the forward-mode derivative with respect to this input")
    parser.add_argument("--dot", metavar="FILE",
                        help="draw the graph: FILE (.svg, .png, .pdf or .dot) in the full "
                             "form and FILE-reduced in the reduced form, each with its .dot "
                             "text beside it (a .dot FILE gets an .svg beside it); rendered "
                             "by Graphviz's dot if on PATH, else by graphviz-pure (the 'draw' "
                             "extra)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite drawing files that exist already (refused without it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--html", metavar="FILE",
                        help="also write a self-contained page that steps through the "
                             "forward pass, the backward pass, forward mode and the sum "
                             "over paths (open it in any browser, offline)")
    parser.add_argument("--lang", choices=("en", "vi"), default=None,
                        help="the language of the output (default: from LANG/LANGUAGE, "
                             "else English)")
    parser.set_defaults(command=command)


def _values(pairs: list[str]) -> dict[str, float]:
    """``['a=2', 'x=pi/4']`` -> ``{'a': 2.0, 'x': 0.785...}``; ValueError names the bad
    pair. A value is a number or arithmetic on numbers, pi and e."""
    from graph.expression import ExpressionError, number

    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"--at {pair!r}: write NAME=VALUE, e.g. a=2")
        if not text.strip():
            raise ValueError(f"--at {pair!r}: no value after '='")
        try:
            value = number(text)
        except ExpressionError as exc:
            raise ValueError(f"--at {pair!r}: {exc.reason}") from None
        if name in values:
            raise ValueError(f"--at gives '{name}' twice")
        values[name] = value
    return values


def _non_finite(report) -> str:
    """A message naming the first node whose value or gradient is NaN or infinite
    (float64 overflowed), or '' when every number is finite."""
    for what, attr in (("value", "value"), ("gradient ∂{out}/∂{name}", "gradient")):
        for row in report.rows:
            number = getattr(row, attr)
            if number is not None and not np.all(np.isfinite(number)):
                label = what.format(out=report.output, name=row.name)
                return (f"node '{row.name}': {label} is {show(number)} (beyond float64); "
                        f"try smaller input values")
    return ""


def run(args) -> int:
    """Explain ``args.expression``; 0 on success, 1 for a domain error or overflow, 2 for
    a bad expression or value or a drawing that cannot be made (the message on stderr),
    in the language of ``--lang`` (the process's language is as it was afterwards)."""
    from gates.i18n import speaking

    with speaking(args.lang):
        return _run(args)


def _run(args) -> int:
    from gates import GateError
    from graph.expression import ExpressionError, build, parse
    from graph.errors import GraphValueError
    from graph.explain import explain
    from graph import Graph, dot

    try:
        values = _values(args.at)
        # a name given a value is an input, even one spelled pi or e
        program = parse(args.expression, variables=values)
        program.check_inputs(values)
        unused = [n for n in values if n not in program.inputs]
        if unused:
            raise ValueError(f"--at gives a value for '{unused[0]}', which is not an input of "
                             f"the expression (inputs: {', '.join(program.inputs)})")
        if args.wrt is not None and args.wrt not in program.inputs:
            raise ValueError(f"--wrt {args.wrt}: not an input of the expression "
                             f"(inputs: {', '.join(program.inputs)})")
        graph, output = build(program, Graph())
        # overflow is reported below, naming the node, instead of as numpy warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            graph.forward(**values)
            report = explain(graph, output, wrt=args.wrt, assignments=program.assignments)
        problem = _non_finite(report)
        if problem:
            print(f"compgraph explain: {problem}", file=sys.stderr)
            return 1
        drawings = []
        if args.dot:
            first = Path(args.dot)
            second = first.with_name(f"{first.stem}-reduced{first.suffix}")
            # every file of both drawings (and the page) is checked before the first is written
            refuse_overwrite(*dot.targets(first), *dot.targets(second), args.html,
                             force=args.force)
            renderer = dot.find_renderer()          # one choice for both drawings
            drawings = [dot.write(graph, first, output, "full", renderer),
                        dot.write(graph, second, output, "reduced", renderer)]
        if args.html:
            refuse_overwrite(args.html, force=args.force)
            if not Path(args.html).resolve().parent.is_dir():
                raise OSError(f"--html {args.html}: the folder "
                              f"{Path(args.html).resolve().parent} does not exist")
            atomic_write_text(args.html, report.to_html())
    except (GateError, GraphValueError) as exc:
        # a value outside a gate's domain, or an overflow: the expression itself was fine
        print(f"compgraph explain: {exc}", file=sys.stderr)
        return 1
    except (ExpressionError, ValueError, OSError, RuntimeError) as exc:
        print(f"compgraph explain: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        data = report.to_dict()
        if drawings:
            data["dot"] = [str(d.dot) for d in drawings]
            data["rendered"] = [str(d.rendered) for d in drawings if d.rendered]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        for d in drawings:
            print(d.message, file=sys.stderr)
    else:
        print(report)
        for d in drawings:
            print(d.message)
    if args.html:
        print(f"wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 0
