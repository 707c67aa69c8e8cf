"""The house rules of the layout, checked on the source itself.

Dependencies point one way, ``experiments -> graph -> gates``: ``gates`` never imports
``graph`` or ``experiments`` and ``graph`` never imports ``experiments``, not even inside
a function. No source file grows past about 600 lines, so each can be read in one sitting.
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


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_file_is_longer_than_a_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (> {MAX_LINES})"
