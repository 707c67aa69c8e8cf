"""The README's tour runs as written: its Python snippets, executed top to bottom in one
namespace as a reader would paste them, with the lecture's numbers they show checked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from graph import dot

README = Path(__file__).parents[1] / "README.md"


def tour_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A tour: the lecture, runnable", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", tour, re.S)


@pytest.mark.skipif(dot.find_renderer() is None,
                    reason="the tour draws an SVG: pip install graphviz-pure")
def test_every_snippet_of_the_tour_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)             # the drawings are written where it runs
    snippets = tour_snippets()
    assert len(snippets) >= 9
    namespace: dict = {}
    results = []
    for snippet in snippets:
        exec(compile(snippet, "README.md", "exec"), namespace)
        results.append(dict(namespace))
    # 1. a gate: 3 x -4, and backward(2) switches to (-8, 6)
    assert float(namespace["mul"].forward(3, -4)) == -12.0
    # 2. the lecture's e = (a+b)(b+1): a.grad 2, b.grad 5 before the a=4 update
    after_graph = results[1]
    assert float(after_graph["e"].value) == 10.0          # after g.forward(a=4)
    # 5. nine paths that factor as 3 x 3
    assert namespace["g9"].paths("z", "x").factored() == "9 paths = 3 × 3 (through y)"
    # 6. the drawings exist
    assert (tmp_path / "e.svg").is_file() and (tmp_path / "e-reduced.svg").is_file()
    # 8. L = ||W x||^2 = 0.116, and its gradients
    tensors = results[7]
    np.testing.assert_allclose(tensors["W"].grad, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(tensors["x"].grad, [-0.112, 0.636])
    # 9. one Adam step lowers the loss of the batch
    assert float(namespace["loss"].value) < 2.59
