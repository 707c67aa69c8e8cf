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


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def scan_source(source: str, filename: str = "submission.py") -> Scan:
    """Scan ``source``; a SyntaxError is recorded (with its line), not raised."""
    result = Scan()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        result.syntax_error = f"SyntaxError at line {exc.lineno}: {exc.msg}"
        return result
    stdlib = set(sys.stdlib_module_names)
    for top, _, line in _imports(tree):
        if top in FRAMEWORKS:
            result.frameworks.setdefault(top, line)
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
    # helper functions and module-level assignments (``t = torch``) pass the taint on
    functions = {n.name: n for n in tree.body
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    functions.update({t.id: n for n in tree.body if isinstance(n, ast.Assign)
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
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            hit = _uses(node, tainted)
            if hit:
                result.uses[node.name] = [hit]
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
