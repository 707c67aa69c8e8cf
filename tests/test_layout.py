"""The house rules of the layout, checked on the source itself.

Dependencies point one way, ``experiments -> graph -> gates``: ``gates`` never imports
``graph`` or ``experiments`` and ``graph`` never imports ``experiments``, not even inside
a function. Inside each package there is no import cycle: no module imports, even inside
a function, a module that imports it directly or indirectly (in ``gates``: the checker
uses the grader, so the grader never imports the checker; both build on
``gates.numeric`` and ``gates.contract`` below them). No source file grows past about
600 lines, so each can be read in one sitting.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gates", "graph", "experiments")
#: a package may import only the packages after it here
ORDER = {"experiments": {"graph", "gates"}, "graph": {"gates"}, "gates": set()}
MAX_LINES = 600


def sources():
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Every top-level package ``path`` imports, anywhere in the file (functions too);
    a relative import stays inside its own package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path):
    package = path.relative_to(ROOT).parts[0]
    upward = (imported_packages(path) & set(PACKAGES)) - ORDER[package] - {package}
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}, above {package}"


def test_the_import_scan_sees_an_import_inside_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from graph.core import Graph\n    import experiments.cli\n")
    assert imported_packages(probe) == {"graph", "experiments"}


def module_name(path: Path, root: Path = ROOT) -> str:
    """``gates.check.suite`` for gates/check/suite.py, ``gates.check`` for its __init__."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, anywhere in it (functions too):
    ``import a.b``, ``from a.b import c`` (module ``a.b.c`` when there is one, else
    ``a.b``) and relative imports (``from ..grade import grader``, ``from . import x``).

    Importing a module runs its package's ``__init__`` first, but that is no edge: a
    package's ``__init__`` gathering its submodules is the usual layout, not a cycle."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = alias.name
                    while target and target not in files:
                        target = target.rpartition(".")[0]
                    found.add(target)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here[:len(here) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                for alias in node.names:
                    whole = f"{base}.{alias.name}"
                    found.add(whole if whole in files else base)
        graph[name] = found & set(files) - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}       # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep] if dep in path else path + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[name] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_import_graph_resolves_every_kind_of_import(tmp_path):
    for folder in ("pkg/sub", "pkg/low"):
        (tmp_path / folder).mkdir(parents=True)
    sources = {"pkg/__init__.py": "from .sub import a\n",
               "pkg/low/__init__.py": "",
               "pkg/low/rules.py": "import numpy as np\n",
               "pkg/sub/__init__.py": "from . import a, b\n",
               "pkg/sub/a.py": "from ..low.rules import agree\nimport pkg.low\n",
               "pkg/sub/b.py": ("def f():\n    from pkg.sub.a import g\n"
                                "    from .. import VALUE\n")}
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    assert import_graph("pkg", tmp_path) == {
        "pkg": {"pkg.sub.a"}, "pkg.low": set(), "pkg.low.rules": set(),
        "pkg.sub": {"pkg.sub.a", "pkg.sub.b"}, "pkg.sub.a": {"pkg.low.rules", "pkg.low"},
        "pkg.sub.b": {"pkg.sub.a", "pkg"}}


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_has_an_import_cycle(package):
    found = cycle(import_graph(package))
    assert found is None, f"import cycle in {package}/: {' -> '.join(found)}"


def test_the_grader_never_imports_the_checker():
    """``compgraph check`` grades a student's gates with the grader, so the way down is
    gates.check -> gates.grade -> (gates.numeric, gates.contract); never back up."""
    graph = import_graph("gates")
    for name, imported in graph.items():
        if name.startswith("gates.grade"):
            upward = sorted(m for m in imported if m.startswith("gates.check"))
            assert not upward, f"{name} imports {upward}"
        if name in ("gates.numeric", "gates.contract"):
            assert not {m for m in imported if m.startswith(("gates.check", "gates.grade"))}


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_file_is_longer_than_a_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (> {MAX_LINES})"
