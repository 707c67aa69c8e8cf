"""Graphviz drawings in the lecture's two forms, rendered with ``dot``.

The tests render with Graphviz's real ``dot`` program (CI installs the Debian package
``graphviz``) and read the SVG's text: the picture of e = (a+b)(b+1) must show the
variables a, b, c, d, e with their values and gradients, the gates in the full form,
and the local derivatives on the edges of the reduced form.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest

import graph
from graph import Graph
from graph import dot


@pytest.fixture
def lecture():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    g.backward("e")
    return g


def svg_texts(path) -> list[str]:
    """The text elements of a rendered SVG, in drawing order."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text(encoding="utf-8"))


def test_graphviz_is_installed():
    assert shutil.which("dot"), "install Graphviz: apt-get install graphviz"


def test_the_full_form_has_variable_nodes_gate_nodes_and_the_constant(lecture):
    text = dot.to_dot(lecture, "e", "full")
    assert text.count("shape=ellipse") == 5          # a, b, c, d, e
    assert text.count("shape=circle") == 3           # +, +, ×
    assert 'label="×"' in text and 'label="1"' in text
    assert "peripheries=2" in text                   # the output
    assert lecture.to_dot("e") == text


def test_the_reduced_form_collapses_gates_and_labels_edges(lecture):
    text = dot.to_dot(lecture, "e", "reduced")
    assert "shape=circle" not in text
    labels = re.findall(r'label="(∂[^"]*)"', text)
    assert labels == ["∂c/∂a = 1", "∂c/∂b = 1", "∂d/∂b = 1", "∂e/∂c = 2", "∂e/∂d = 3"]


def drawn_variables(texts) -> dict:
    """name -> (value, gradient) for every variable drawn as name / value / ∇ gradient."""
    return {texts[i]: (texts[i + 1], texts[i + 2][2:]) for i in range(len(texts) - 2)
            if texts[i + 2].startswith("∇ ")}


def test_both_forms_render_to_svg_showing_the_lecture_graph(lecture, tmp_path):
    full = dot.write(lecture, tmp_path / "full.svg", "e", "full")
    reduced = dot.write(lecture, tmp_path / "reduced.svg", "e", "reduced")
    assert full.rendered == tmp_path / "full.svg" and full.dot == tmp_path / "full.dot"
    # every variable with its value (green) and gradient (red): the lecture's numbers
    lecture_numbers = {"a": ("2", "2"), "b": ("1", "5"), "c": ("3", "2"), "d": ("2", "3"),
                       "e": ("6", "1")}
    full_texts, reduced_texts = svg_texts(full.rendered), svg_texts(reduced.rendered)
    assert drawn_variables(full_texts) == lecture_numbers
    assert drawn_variables(reduced_texts) == lecture_numbers
    assert sorted(t for t in full_texts if t in ("+", "×", "1")) == ["+", "+", "1", "1", "×"]
    assert sorted(t for t in reduced_texts if t.startswith("∂")) == [
        "∂c/∂a = 1", "∂c/∂b = 1", "∂d/∂b = 1", "∂e/∂c = 2", "∂e/∂d = 3"]
    assert "+" not in reduced_texts


def test_a_png_renders_too(lecture, tmp_path):
    result = dot.write(lecture, tmp_path / "e.png", "e", "reduced")
    assert result.rendered.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_dot_path_writes_the_text_and_an_svg_beside_it(lecture, tmp_path):
    result = dot.write(lecture, tmp_path / "e.dot", "e")
    assert result.rendered == tmp_path / "e.svg"
    done = subprocess.run(["dot", "-Tsvg", str(result.dot)], capture_output=True, text=True)
    assert done.returncode == 0 and "<svg" in done.stdout


def test_without_graphviz_only_the_dot_file_is_written_and_the_message_says_so(
        lecture, tmp_path, monkeypatch):
    monkeypatch.setattr(dot.shutil, "which", lambda name: None)
    result = dot.write(lecture, tmp_path / "e.svg", "e")
    assert result.rendered is None and not (tmp_path / "e.svg").exists()
    assert result.dot.read_text(encoding="utf-8").startswith('digraph "full"')
    assert "'dot' is not installed" in result.message
    with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
        dot.render(result.dot, tmp_path / "e.svg")


def test_before_any_run_the_drawing_has_names_only(tmp_path):
    g = Graph.from_expression("e = (a+b)*(b+1)")
    text = dot.to_dot(g, "e", "reduced")
    assert "∂" not in text and "darkgreen" not in text
    assert dot.write(g, tmp_path / "e.svg", "e", "reduced").rendered.exists()


def test_edges_into_nodes_out_of_date_lose_their_derivative_labels(lecture):
    lecture.node("a").value = 4                      # c and e now wait for a forward
    labels = re.findall(r'label="(∂[^"]*)"', dot.to_dot(lecture, "e", "reduced"))
    assert labels == ["∂d/∂b = 1"]


def test_after_a_change_old_values_and_gradients_are_not_drawn(lecture):
    lecture.node("a").value = 4           # c and e wait for a forward; gradients are old
    text = dot.to_dot(lecture, "e", "full")
    assert "∇" not in text                # ∂e/∂b would still say 5, but it is now 7
    assert text.count("out of date") == 2 and text.count("style=dashed") == 2
    assert '<font color="darkgreen">4</font>' in text      # a's new value is current
    lecture.forward()
    assert "∇" not in dot.to_dot(lecture, "e", "full")     # values new, gradients not
    lecture.backward("e")
    text = dot.to_dot(lecture, "e", "full")
    assert "∇ 7" in text and "out of date" not in text     # ∂e/∂b = 7 after a=4

def test_names_with_quotes_brackets_and_backslashes_are_drawn_as_written(tmp_path):
    g = Graph()
    a, b = g.input('a"b'), g.input("back\\slash")
    e = graph.multiply(a, b, name="<e>")
    g.forward({'a"b': 2.0, "back\\slash": 3.0})
    g.backward(e)
    result = dot.write(g, tmp_path / "names.svg", e, "reduced")
    texts = svg_texts(result.rendered)
    assert "∂&lt;e&gt;/∂back\\slash = 2" in texts and "∂&lt;e&gt;/∂a&quot;b = 3" in texts

def test_the_default_output_is_the_graphs_output_not_its_last_node(lecture):
    lecture.constant(5.0, name="unused")
    text = dot.to_dot(lecture)
    assert re.search(r"<b>e</b>[^\n]*peripheries=2", text)

def test_tensor_graphs_draw_shapes_without_edge_derivatives(tmp_path):
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x")
    loss = graph.l2(graph.matvec(W, x, name="q"), name="L")
    g.forward(x=np.array([0.2, 0.4]))
    g.backward(loss)
    text = dot.to_dot(g, loss, "reduced")
    assert "(2, 2) ‖·‖=" in text and "∂" not in text
    assert 'label="W·x"' in dot.to_dot(g, loss, "full")


def test_bad_forms_and_suffixes_are_refused(lecture, tmp_path):
    with pytest.raises(ValueError, match="unknown DOT form 'tiny'"):
        dot.to_dot(lecture, "e", "tiny")
    with pytest.raises(ValueError, match=r"\.dot, \.svg, \.png or \.pdf"):
        dot.write(lecture, tmp_path / "e.jpg", "e")
