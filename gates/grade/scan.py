"""A static scan of a submission's source (parsed, never run) for the modules it imports.

Autodiff frameworks (torch, jax, tensorflow, autograd, ...) compute gradients for the
student, so a gate that uses one gets no credit for backward. The scan finds, per
class, whether its body imports a framework or names something bound to one at module
level (``import torch as t``, ``from jax import grad``), directly or through module-level
helper functions it calls. The child also reports which frameworks sit in
``sys.modules`` after running, which catches imports the scan cannot see
(``__import__("to" + "rch")``); a framework found only that way counts against every gate.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

#: Top-level module names that provide automatic differentiation.
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "autograd", "mxnet", "chainer",
              "paddle", "theano", "tinygrad", "mlx")

#: compgraph's own packages: the runner refuses to import them in a submission.
REFERENCE = ("gates", "graph", "experiments", "compgraph")


@dataclass
class Scan:
    """What the source imports: ``frameworks`` maps each framework to its first line,
    ``uses`` maps a class name to the frameworks it uses (name, line), ``others`` lists
    imported modules that are neither numpy, the standard library nor frameworks."""

    frameworks: dict = field(default_factory=dict)
    uses: dict = field(default_factory=dict)
    others: list = field(default_factory=list)
    syntax_error: str | None = None
    #: module-level names bound to a framework -> (framework, line): what a sibling file
    #: passes on to the main file that imports them
    tainted: dict = field(default_factory=dict)
    #: the classes the file defines at its top level (for "did you mean ...?")
    classes: list = field(default_factory=list)


def _top(name: str | None) -> str:
    return (name or "").split(".")[0]


def _imports(tree):
    """(top-level module name, names it binds, line) for every import statement."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = _top(alias.name)
                yield top, [alias.asname or top], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield _top(node.module), [a.asname or a.name for a in node.names], node.lineno


def module_level(tree):
    """Every statement that runs at module level: those of the module's body and, inside
    them, of ``try``, ``if``, ``with`` and ``for`` blocks (a notebook's cells are wrapped in
    ``try``), but not of functions or classes."""
    pending = list(reversed(tree.body))
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, (ast.Try, ast.If, ast.With, ast.For, ast.While)) or \
                type(node).__name__ == "TryStar":
            inner = [*getattr(node, "body", []), *getattr(node, "orelse", []),
                     *getattr(node, "finalbody", []),
                     *[s for h in getattr(node, "handlers", []) for s in h.body]]
            pending.extend(reversed(inner))


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def scan_source(source: str, filename: str = "submission.py", siblings=None) -> Scan:
    """Scan ``source``; a SyntaxError is recorded (with its line), not raised.

    ``siblings`` maps the module names of the other files handed in with it
    (``helpers``) to their own scans: a name imported from one of them that is bound to
    a framework there (``from helpers import torch_grad``), or a sibling module that
    imports a framework at all (``import helpers``), counts as a use of that framework.
    """
    result = Scan()
    siblings = siblings or {}
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        where = "" if filename == "submission.py" else f" of {filename}"
        result.syntax_error = f"SyntaxError at line {exc.lineno}{where}: {exc.msg}"
        return result
    except ValueError as exc:    # a NUL byte in the source
        result.syntax_error = f"{filename} cannot be parsed: {exc}"
        return result
    statements = list(module_level(tree))
    result.classes = [n.name for n in statements if isinstance(n, ast.ClassDef)]
    stdlib = set(sys.stdlib_module_names)
    for top, _, line in _imports(tree):
        if top in FRAMEWORKS:
            result.frameworks.setdefault(top, line)
        elif top in siblings:
            for fw, fw_line in siblings[top].frameworks.items():
                result.frameworks.setdefault(fw, line)
        elif top and top not in stdlib and top != "numpy" and top not in result.others:
            result.others.append(top)

    # names bound to a framework by any import, also one inside try/if/with or a
    # function (a guarded ``try: import torch`` must not hide its use), or by a helper
    # function or assignment using one
    tainted: dict[str, tuple] = {}
    for top, bound, line in _imports(tree):
        if top in FRAMEWORKS:
            for b in bound:
                tainted.setdefault(b, (top, line))
    for node in ast.walk(tree):
        sibling = None
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            sibling = siblings.get(_top(node.module))
        if sibling is not None:
            for alias in node.names:
                hit = sibling.tainted.get(alias.name) or (
                    next(iter(sibling.tainted.values()), None) if alias.name == "*" else None)
                if hit:
                    tainted.setdefault(alias.asname or alias.name, (hit[0], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                sib = siblings.get(_top(alias.name))
                if sib is not None and sib.frameworks:
                    fw = next(iter(sib.frameworks))
                    tainted.setdefault(alias.asname or _top(alias.name), (fw, node.lineno))
    # helper functions and module-level assignments (``t = torch``) pass the taint on
    functions = {n.name: n for n in statements
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    functions.update({t.id: n for n in statements if isinstance(n, ast.Assign)
                      for t in n.targets if isinstance(t, ast.Name)})
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name not in tainted:
                hit = _uses(fn, tainted)
                if hit:
                    tainted[name] = hit
                    changed = True
    for node in statements:
        if isinstance(node, ast.ClassDef):
            hit = _uses(node, tainted)
            if hit:
                result.uses[node.name] = [hit]
    result.tainted = tainted
    return result


def scan_submission(submission) -> Scan:
    """The scan of a :class:`~.submission.Submission`'s main file, the files handed in
    with it scanned first so that what the main file imports from them is seen; the
    classes of every file are listed."""
    siblings = {}
    for name in submission.files:
        if name != submission.main:
            siblings[name[:-3]] = scan_source(submission.text(name), name)
    result = scan_source(submission.text(), "submission.py", siblings)
    for name, sib in siblings.items():
        result.classes += sib.classes    # a sibling that does not parse fails the import
    return result


def _uses(node, tainted):
    """The first (framework, line) ``node`` imports or names, or None."""
    for top, _, line in _imports(node):
        if top in FRAMEWORKS:
            return top, line
    for name in sorted(_names(node)):
        if name in tainted:
            return tainted[name]
    return None
