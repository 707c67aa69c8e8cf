"""Expressions to graphs: ``"e = (a+b)*(b+1)"`` becomes the lecture's simple assignments

    c ← a + b
    d ← b + 1
    e ← c × d

and then a :class:`~graph.Graph` with one gate per assignment.

The text is parsed with Python's :mod:`ast` module and every node of the syntax tree is
checked against a short list of allowed kinds (assignments, ``+ - * / **``, unary
``-``, numbers, names and calls of the lecture's functions); nothing is ever passed to
``eval`` or ``exec``. Errors are :class:`ExpressionError` with the line and column.

Accepted input, one assignment per line (or separated by ``;``)::

    e = (a+b)*(b+1)                    # one compound expression
    c = a + b; d = b + 1; e = c * d    # the same, already split
    c ← a + b                          # the lecture's arrow, and × · − for * * -
    (a+b)*(b+1)                        # a bare last expression is named "out"

Names that are read but never assigned are the graph's inputs, except the constants
``pi`` and ``e`` (:data:`CONSTANTS`). Because the lecture also uses ``e`` as a variable
("e = (a+b)*(b+1)"), a constant's name is a variable wherever the expression assigns it
or the caller declares it one (``parse(..., variables=...)``: the names the caller will
give values for); everywhere else it is the number::

    z = sin(pi*x)                      # pi is 3.14159...: a ← 3.14159 × x; z ← sin(a)
    y = e * x                          # e is 2.71828...: y ← 2.71828 × x
    e = (a+b)*(b+1)                    # e is assigned: a variable, the output
    parse("y = e * x", variables={"e"})  # e is an input, like x

Intermediate results get the first unused single letters (c, d for the example above),
then t1, t2, ... Parts made only of numbers (constants included) are folded to one
number (``2*3`` is 6; ``-1`` is -1; ``pi/4`` is 0.785398).
"""

from __future__ import annotations

import ast
import itertools
import math
import string
from dataclasses import dataclass, field

import numpy as np

import gates
from gates import GateError
from gates.facts import EXPRESSION_GATES

__all__ = [
    "ExpressionError",
    "Assignment",
    "Program",
    "FUNCTIONS",
    "CONSTANTS",
    "parse",
    "number",
    "build",
    "from_expression",
]

#: How an assignment writes unary minus (``-x`` in the text, not a call).
_NEGATE = "neg"
#: Functions an expression may call: name -> number of arguments (that of its gate).
FUNCTIONS = {spelling: len(getattr(gates, name).input_names)
             for spelling, name in EXPRESSION_GATES.items()
             if spelling.isidentifier() and spelling != _NEGATE}
#: Other spellings accepted for the functions above (σ is the lecture's sigmoid).
ALIASES = {"σ": "sigmoid", "ln": "log", "maximum": "max"}
#: Names that stand for numbers unless the expression assigns them or the caller
#: declares them variables (see the module docstring).
CONSTANTS = {"pi": math.pi, "e": math.e}

#: The lecture's symbols, each replaced by one ASCII character so columns stay put.
_SYMBOLS = str.maketrans({"←": "=", "×": "*", "·": "*", "−": "-", "÷": "/"})

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_SHOWN = {"+": "+", "-": "-", "*": "×", "/": "/", "**": "**"}

#: Why a syntax kind is refused, for the error message.
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
    ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.IfExp: "an if-expression",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string", ast.AugAssign: "augmented assignment (+=)",
    ast.AnnAssign: "an annotation", ast.Import: "import", ast.ImportFrom: "import",
    ast.NamedExpr: "':='", ast.Await: "await", ast.Yield: "yield", ast.Starred: "'*'",
}


class ExpressionError(ValueError):
    """An expression that cannot become a graph: bad syntax, an unknown function, a
    name that is unknown or assigned twice, an unsupported operator.

    ``line`` and ``column`` are 1-based and point into the source text; the message
    starts with ``line L, column C:`` and ends with the offending line and a caret.
    """

    def __init__(self, message: str, source: str = "", line: int = 1, column: int = 1):
        self.reason = message
        self.line = line
        self.column = column
        text = f"line {line}, column {column}: {message}"
        lines = source.split("\n")
        if 1 <= line <= len(lines):
            shown, caret = _excerpt(lines[line - 1], column)
            text += f"\n    {shown}\n    {' ' * caret}^"
        super().__init__(text)


def _excerpt(line: str, column: int, width: int = 76) -> tuple[str, int]:
    """The part of a long ``line`` around ``column`` (1-based) that fits in ``width``
    characters, and the caret's offset in it."""
    if len(line) <= width:
        return line, column - 1
    start = max(0, min(column - 1 - width // 2, len(line) - width))
    shown = line[start:start + width]
    caret = column - 1 - start
    if start > 0:
        shown = "…" + shown[1:]
    if start + width < len(line):
        shown = shown[:-1] + "…"
    return shown, caret


@dataclass(frozen=True)
class Assignment:
    """One simple assignment ``target ← op(args)``: one gate of the graph.

    ``op`` is ``+ - * / **``, ``neg`` (unary minus), ``scale`` (a number times a node)
    or a function name from :data:`FUNCTIONS`. Each entry of ``args`` is a node name
    (``str``) or a number (``float``). ``line`` and ``column`` locate the source.
    """

    target: str
    op: str
    args: tuple
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        shown = [_show(a) for a in self.args]
        if self.op in _SHOWN:
            rhs = f"{shown[0]} {_SHOWN[self.op]} {shown[1]}"
        elif self.op == "neg":
            rhs = f"-{shown[0]}"
        elif self.op == "scale":
            rhs = f"{shown[0]} × {shown[1]}"
        else:
            rhs = f"{self.op}({', '.join(shown)})"
        return f"{self.target} ← {rhs}"


@dataclass(frozen=True)
class Program:
    """A parsed expression: its ``inputs`` (free names, in order of first use), its
    simple ``assignments`` in execution order, and the ``output`` (the last target).
    ``source`` keeps the text for error messages; ``positions`` maps each input name
    to the (line, column) of its first use, and ``constants`` each name read as one of
    :data:`CONSTANTS` to the (line, column) of its first use."""

    source: str
    inputs: tuple
    assignments: tuple
    output: str
    positions: dict
    constants: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The simple assignments as the lecture writes them: ``['c ← a + b', ...]``."""
        return [str(a) for a in self.assignments]

    def error(self, message: str, line: int, column: int) -> ExpressionError:
        """An :class:`ExpressionError` pointing into this program's source."""
        return ExpressionError(message, self.source, line, column)

    def check_inputs(self, known) -> None:
        """Raise ExpressionError at the first use of an input not in ``known``, or of a
        name read as a constant (pi, e) that ``known`` gives a value: the caller meant
        an input, so the expression must be parsed with it in ``variables``."""
        for name in self.inputs:
            if name not in known:
                line, column = self.positions[name]
                given = ", ".join(sorted(known)) or "none"
                raise self.error(f"unknown name '{name}': no value given for it "
                                 f"(values given: {given})", line, column)
        for name, (line, column) in self.constants.items():
            if name in known:
                raise self.error(f"'{name}' is read here as the constant {name} = "
                                 f"{CONSTANTS[name]:.6g}, so it takes no value (pi and e "
                                 f"are constants unless the expression assigns them or "
                                 f"they are declared variables)", line, column)


def _show(arg) -> str:
    if isinstance(arg, str):
        return arg
    return f"{arg:g}" if math.isfinite(arg) else repr(arg)


def parse(source: str, output_name: str = "out", *, variables=()) -> Program:
    """Parse ``source`` into a :class:`Program` of simple assignments.

    ``variables`` names that are inputs even when they are spelled like a constant
    (``pi``, ``e``): the names a caller will give values for, such as ``--at e=2``.
    Any other unassigned ``pi`` or ``e`` is the number, folded like other numbers.

    Raises ExpressionError (with line and column) for a syntax error, an empty source,
    a construct other than assignments, numbers, names, ``+ - * / **``, unary ``-``
    and calls of :data:`FUNCTIONS`; an unknown function or a wrong number of
    arguments; a name assigned twice, used before its assignment, or used both as a
    function and a variable; an exponent that is not a number; and arithmetic on
    numbers alone that fails (``1/0``).
    """
    if not isinstance(source, str):
        raise TypeError(f"an expression must be a string, got {type(source).__name__}")
    try:
        return _Parser(source, output_name, variables=variables).run()
    except RecursionError:
        raise ExpressionError("the expression is too long or nested too deeply for Python's "
                              "parser (a sum of more than about 2,000 terms, or hundreds of "
                              "nested calls); split it into several assignments",
                              source, 1, 1) from None


def number(text: str) -> float:
    """A value written as arithmetic on numbers: ``"2"``, ``"-1.5"``, ``"pi/4"``,
    ``"2**0.5"``, ``"sin(pi/6)"`` (the names ``pi`` and ``e`` are constants).

    Raises ExpressionError (with the column) for anything else, such as a name.
    """
    parser = _Parser(text, "out")
    try:
        tree = ast.parse(parser.text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", text, 1,
                              parser._column(1, (exc.offset or 1) - 1)) from None
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in parser.constants \
                and id(node) not in calls:
            raise parser._error(f"'{node.id}' is not a number; a value may use numbers, "
                                f"pi, e and functions", node)
    try:
        return parser._expr(tree.body)
    except RecursionError:
        raise ExpressionError("the number is nested too deeply", text, 1, 1) from None


class _Parser:
    def __init__(self, source: str, output_name: str, variables=()):
        self.source = source
        #: names that stand for numbers: the constants not declared variables (an
        #: assigned one is also a variable, decided in run() once the targets are known)
        declared = set(variables)
        self.constants = {k: v for k, v in CONSTANTS.items() if k not in declared}
        self.constants_read: dict[str, tuple[int, int]] = {}
        # leading blanks are dropped (Python would call them an indent) and added back
        # to the columns reported
        lines = source.translate(_SYMBOLS).split("\n")
        self.text = "\n".join(line.lstrip(" \t") for line in lines)
        self.indent = [len(line) - len(line.lstrip(" \t")) for line in lines]
        self.output_name = output_name
        self.assignments: list[Assignment] = []
        self.assigned: set[str] = set()
        self.inputs: dict[str, tuple[int, int]] = {}
        self.targets: set[str] = set()

    # -- positions -------------------------------------------------------------------

    def _column(self, line: int, byte_offset: int) -> int:
        """ast gives UTF-8 byte offsets; the user counts characters (σ is one)."""
        lines = self.text.split("\n")
        if not 1 <= line <= len(lines):
            return byte_offset + 1
        chars = len(lines[line - 1].encode()[:byte_offset].decode(errors="ignore"))
        return self.indent[line - 1] + chars + 1

    def _where(self, node) -> tuple[int, int]:
        return node.lineno, self._column(node.lineno, node.col_offset)

    def _error(self, message: str, node) -> ExpressionError:
        return ExpressionError(message, self.source, *self._where(node))

    # -- statements ------------------------------------------------------------------

    def run(self) -> Program:
        try:
            tree = ast.parse(self.text, mode="exec")
        except SyntaxError as exc:
            line = exc.lineno or 1
            column = self._column(line, (exc.offset or 1) - 1) if exc.offset else 1
            raise ExpressionError(f"syntax error: {exc.msg}", self.source, line,
                                  column) from None
        if not tree.body:
            raise ExpressionError("the expression is empty", self.source, 1, 1)
        self._reserve_names(tree)
        self.targets = {t.id for stmt in tree.body if isinstance(stmt, ast.Assign)
                        for t in stmt.targets if isinstance(t, ast.Name)}
        # "e = (a+b)*(b+1)": an assigned e is the lecture's variable everywhere, even
        # where it is read before the assignment (which is then reported as such)
        self.constants = {k: v for k, v in self.constants.items() if k not in self.targets}
        for i, stmt in enumerate(tree.body):
            last = i == len(tree.body) - 1
            if isinstance(stmt, ast.Assign):
                if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                    raise self._error("the left side of '=' must be one name", stmt)
                self._statement(stmt.targets[0].id, stmt.targets[0], stmt.value)
            elif isinstance(stmt, ast.Expr) and last:
                self._statement(self.output_name, stmt, stmt.value)
            elif isinstance(stmt, ast.Expr):
                raise self._error("only the last line may be a bare expression; "
                                  "name this one with 'name = ...'", stmt)
            else:
                raise self._error(f"{_describe(stmt)} is not allowed; write assignments "
                                  f"such as 'e = (a+b)*(b+1)'", stmt)
        return Program(self.source, tuple(self.inputs), tuple(self.assignments),
                       self.assignments[-1].target, dict(self.inputs),
                       dict(self.constants_read))

    def _reserve_names(self, tree) -> None:
        """Intermediate names skip every name the user wrote anywhere."""
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used.add(self.output_name)
        letters = (c for c in string.ascii_lowercase if c not in used)
        numbered = (f"t{i}" for i in itertools.count(1) if f"t{i}" not in used)
        self._fresh_names = itertools.chain(letters, numbered)

    def _fresh(self) -> str:
        return next(self._fresh_names)

    def _statement(self, target: str, where, value) -> None:
        if target in FUNCTIONS or target in ALIASES:
            raise self._error(f"'{target}' is a function and cannot be assigned", where)
        if target in self.assigned:
            raise self._error(f"'{target}' is assigned twice; each name is one node", where)
        result = self._expr(value, target)
        if target in self.inputs:
            # only a bare last expression can get here: its default name is also read
            raise self._error(f"the result would be named '{target}', which the expression "
                              f"reads as an input; write 'name = ...'", where)
        if result != target:
            # a bare name or number on the right has no gate, so it cannot be a node
            raise self._error(f"'{target} = {_show(result)}' has no operation; each "
                              f"assignment needs a gate such as + or sin", value)
        self.assigned.add(target)

    # -- expressions -----------------------------------------------------------------

    def _expr(self, node, target: str | None = None):
        """Emit assignments for ``node``; return its node name, or a float if constant.

        ``target`` names the result of the outermost operation of a statement.
        """
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self._error(f"only numbers are allowed, not {node.value!r}", node)
            try:
                value = float(node.value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                written = ast.get_source_segment(self.text, node) or repr(node.value)
                raise self._error(f"the number {written} is too large", node)
            return value
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self._expr(node.operand, target)
            if not isinstance(node.op, ast.USub):
                raise self._error(f"the operator {_describe(node.op)} is not allowed", node)
            x = self._expr(node.operand)
            if isinstance(x, float):
                return -x
            return self._emit(node, target, "neg", (x,))
        if isinstance(node, ast.BinOp):
            # a + b + c + ... parses as ((a + b) + c) + ...: walk that left spine in a
            # loop, so a long sum or product does not hit Python's recursion limit
            spine = []
            while isinstance(node, ast.BinOp):
                if type(node.op) not in _BINARY:
                    raise self._error(f"the operator {_describe(node.op)} is not allowed; "
                                      f"use + - * / **", node)
                spine.append(node)
                node = node.left
            x = self._expr(node)
            for binop in reversed(spine):
                x = self._binary(binop, x, self._expr(binop.right),
                                 target if binop is spine[0] else None)
            return x
        if isinstance(node, ast.Call):
            return self._call(node, target)
        raise self._error(f"{_describe(node)} is not allowed in an expression", node)

    def _binary(self, node: ast.BinOp, x, y, target):
        """Emit ``x op y`` (operands already emitted): a gate, or a folded number."""
        op = _BINARY[type(node.op)]
        if isinstance(x, float) and isinstance(y, float):
            return self._fold(node, op, x, y)
        if op == "**" and not isinstance(y, float):
            raise self._error("the exponent of '**' must be a number "
                              "(x ** 2 is a power gate; x ** y is not a gate)", node.right)
        if op == "*" and isinstance(x, float):
            return self._emit(node, target, "scale", (x, y))
        if op == "*" and isinstance(y, float):
            return self._emit(node, target, "scale", (y, x))
        return self._emit(node, target, op, (x, y))

    def _name(self, node: ast.Name):
        name = node.id
        if name in self.constants:
            self.constants_read.setdefault(name, self._where(node))
            return float(self.constants[name])
        if name in FUNCTIONS or name in ALIASES:
            raise self._error(f"'{name}' is a function; call it as {name}(...)", node)
        if name in self.targets and name not in self.assigned:
            raise self._error(f"'{name}' is used before it is assigned", node)
        if name not in self.assigned and name not in self.inputs:
            self.inputs[name] = self._where(node)
        return name

    def _call(self, node: ast.Call, target):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func is None:
            raise self._error("only the functions " + ", ".join(FUNCTIONS)
                              + " can be called", node.func)
        name = ALIASES.get(func, func)
        if name not in FUNCTIONS:
            raise self._error(f"unknown function '{func}'; known functions: "
                              + ", ".join(FUNCTIONS), node.func)
        if node.keywords:
            raise self._error(f"{func}() takes no keyword arguments", node.keywords[0].value)
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self._error(f"{func}() takes no *arguments", node)
        if len(node.args) != FUNCTIONS[name]:
            raise self._error(f"{func}() takes {FUNCTIONS[name]} argument(s), "
                              f"got {len(node.args)}", node)
        args = tuple(self._expr(a) for a in node.args)
        if all(isinstance(a, float) for a in args):
            return self._fold(node, name, *args)
        return self._emit(node, target, name, args)

    def _emit(self, node, target, op, args) -> str:
        name = target or self._fresh()
        line, column = self._where(node)
        self.assignments.append(Assignment(name, op, args, line, column))
        return name

    def _fold(self, node, op, *args) -> float:
        """Arithmetic on numbers alone, done now by the gates themselves on float64."""
        gate = gates.PowerGate(args[1]) if op == "**" else _gate(op)
        inputs = [np.float64(a) for a in (args[:1] if op == "**" else args)]
        try:
            with np.errstate(all="ignore"):
                value = gate.forward(*inputs)
        except (ArithmeticError, ValueError, GateError) as exc:
            reason = str(exc).split(".forward: ", 1)[-1]
            raise self._error(f"cannot compute {op} of {', '.join(map(_show, args))}: "
                              f"{reason}", node) from None
        if np.iscomplexobj(value) or not np.isfinite(value):
            raise self._error(f"{op} of {', '.join(map(_show, args))} is not a finite real "
                              f"number", node)
        return float(value)


def _describe(node) -> str:
    for kind, text in _REFUSED.items():
        if isinstance(node, kind):
            return text
    return {ast.FloorDiv: "'//'", ast.Mod: "'%'", ast.MatMult: "'@'", ast.BitAnd: "'&'",
            ast.BitOr: "'|'", ast.BitXor: "'^' (use ** for powers)", ast.LShift: "'<<'",
            ast.RShift: "'>>'", ast.Invert: "'~'", ast.Not: "'not'"}.get(
        type(node), type(node).__name__)


def _gate(op: str):
    """A new gate instance for ``op`` (one per node: a gate caches one node's values)."""
    return getattr(gates, EXPRESSION_GATES[op])()


def build(program: Program, graph):
    """Build ``program`` in ``graph`` (a new :class:`graph.Graph`): one input node per
    free name (in order of first use), then one op node per simple assignment, named as
    the assignment names it.

    ``x * 2`` and ``2 * x`` become a ScaleGate(2) (the lecture's "scale" gate); ``x ** 2``
    a PowerGate(2); other numbers become constant nodes (the 1 in b + 1). Returns
    ``(graph, output_node)``.
    """
    nodes = {name: graph.input(name) for name in program.inputs}
    for a in program.assignments:
        args = [nodes[x] if isinstance(x, str) else x for x in a.args]
        if a.op == "scale":
            node = graph.apply(gates.ScaleGate(args[0]), args[1], name=a.target)
        elif a.op == "**":
            node = graph.apply(gates.PowerGate(args[1]), args[0], name=a.target)
        else:
            node = graph.apply(_gate(a.op), *args, name=a.target)
        nodes[a.target] = node
    return graph, nodes[program.output]


def from_expression(source: str, graph):
    """``Graph.from_expression("e = (a+b)*(b+1)")``: parse ``source`` (see
    :func:`parse`) and build it in ``graph``, a new graph (see :func:`build`).

    The graph keeps the parsed :class:`Program` as ``graph.program``: its
    ``lines()`` are the simple assignments and ``output`` names the output node.
    Raises ExpressionError with the line and column for text it cannot read.
    """
    program = parse(source)
    build(program, graph)
    graph.program = program
    return graph
