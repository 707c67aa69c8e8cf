"""graph/ is layered: no module imports one that imports it back, and the core is small.

Modules that only call a graph's public methods (paths, explain, dot, stepper, blocks,
expression) receive the graph and never import the core; ``views.Views``, which the
core's Graph inherits, imports them to offer ``g.paths()``, ``g.explain()``,
``g.as_gate()`` and the rest. The import
graph is read from the source with :mod:`ast`: imports at the top of a module and inside
functions, relative (``from .paths import fmt``, ``from . import dot``) and absolute
(``import graph.paths``, ``from graph import dot``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_layout import cycle     # the cycle finder every package's test shares

GRAPH = Path(__file__).resolve().parent.parent / "graph"
#: the textbook core: building, feeding, forward, reverse and forward mode
CORE_MAX_LINES = 400


def modules() -> set[str]:
    return {p.stem for p in GRAPH.glob("*.py")}


def imports(source: str, known: set[str]) -> set[str]:
    """The graph modules ``source`` (a module of graph/) imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "graph":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.ImportFrom):
            relative = node.level == 1
            absolute = node.level == 0 and node.module is not None and \
                node.module.split(".")[0] == "graph"
            if not (relative or absolute):
                continue
            parts = (node.module or "").split(".")[(0 if relative else 1):]
            if parts and parts[0]:
                found.add(parts[0])
            else:       # from . import dot / from graph import dot: names may be modules
                found.update(a.name for a in node.names if a.name in known)
                if not any(a.name in known for a in node.names):
                    found.add("__init__")
    return found & (known | {"__init__"})


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports((GRAPH / f"{name}.py").read_text(encoding="utf-8"), known) - {name}
            for name in known}


def test_the_scan_sees_every_kind_of_import():
    known = {"core", "paths", "dot", "node"}
    source = ("from .paths import fmt\n"
              "from . import dot\n"
              "import graph.node\n"
              "def f():\n    from graph.core import Graph\n"
              "import numpy as np\nfrom gates import AddGate\n")
    assert imports(source, known) == {"paths", "dot", "node", "core"}


def test_graph_has_no_import_cycle():
    graph = import_graph()
    assert cycle(graph) is None, f"import cycle: {' -> '.join(cycle(graph))}"


def test_the_views_and_blocks_receive_the_graph_and_do_not_import_the_core():
    graph = import_graph()
    for name in ("paths", "explain", "dot", "stepper", "blocks", "expression", "ops",
                 "node", "checks", "errors", "views"):
        assert "core" not in graph[name], f"graph/{name}.py imports the core"
    # the core offers them as methods through views.Views, its base class
    assert graph["core"] >= {"views", "blocks"}
    assert graph["views"] >= {"paths", "explain", "dot", "expression", "blocks"}


def foreign_private_reads(source: str) -> list[str]:
    """``x._name`` in ``source`` where ``x`` is not ``self`` and ``_name`` is not one the
    module defines itself (its own classes' methods and attributes)."""
    tree = ast.parse(source)
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    own |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id in ("self", "cls")}
    return [ast.unparse(n) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr.startswith("_")
            and not n.attr.startswith("__") and n.attr not in own
            and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))]


def test_only_the_core_and_its_nodes_touch_private_state():
    assert foreign_private_reads("g._feed({})\nself._x = 1\nother._x\n") == ["g._feed"]
    for path in GRAPH.glob("*.py"):
        if path.stem not in ("core", "node"):
            reads = foreign_private_reads(path.read_text(encoding="utf-8"))
            assert not reads, f"graph/{path.name} reads {reads}"


def test_the_core_is_small():
    lines = len((GRAPH / "core.py").read_text(encoding="utf-8").splitlines())
    assert lines <= CORE_MAX_LINES, f"graph/core.py has {lines} lines (> {CORE_MAX_LINES})"
