"""Graphviz drawings in the lecture's two forms, rendered by each renderer installed.

The drawings render with Graphviz's own ``dot`` when it is on PATH, else with
graphviz-pure (the ``draw`` extra, which the ``test`` extra brings). The tests that
render run once per renderer installed here and read the SVG's text: the picture of
e = (a+b)(b+1) must show the variables a, b, c, d, e with their values in green and
their gradients in red, the gates in the full form, and the local derivatives on the
edges of the reduced form. Where neither renderer is installed those tests are skipped,
and the tests of what happens without one still run (the finder is replaced).
"""

import os
import re
import struct

import numpy as np
import pytest

import graph
from graph import Graph
from graph import dot

#: every renderer installed here; the tests that render run once with each
RENDERERS = [r for r in (dot.system_dot(), dot.graphviz_pure()) if r is not None] or [
    pytest.param(None, id="none", marks=pytest.mark.skip(
        reason="no renderer installed (pip install graphviz-pure)"))]


@pytest.fixture(params=RENDERERS, ids=lambda r: r.name)
def renderer(request):
    return request.param


@pytest.fixture
def lecture():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    g.backward("e")
    return g


def coloured_texts(path) -> list[tuple[str | None, str]]:
    """(fill colour or None, text) of every text element of a rendered SVG, in drawing
    order."""
    found = re.findall(r"<text([^>]*)>([^<]*)</text>", path.read_text(encoding="utf-8"))
    return [(m.group(1) if (m := re.search(r'fill="([^"]*)"', attrs)) else None, text)
            for attrs, text in found]


def svg_texts(path) -> list[str]:
    """The text elements of a rendered SVG, in drawing order."""
    return [text for _, text in coloured_texts(path)]


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


def drawn_variables(path) -> dict:
    """name -> (value, gradient) for every variable drawn in a rendered SVG as its name,
    its value in green and its gradient in red as the lecture writes it, "∂e/∂a = 2"."""
    t = coloured_texts(path)
    return {t[i][1]: (t[i + 1][1], t[i + 2][1].split(" = ")[1]) for i in range(len(t) - 2)
            if t[i + 1][0] == "darkgreen" and t[i + 2][0] == "red"
            and t[i + 2][1].startswith(f"∂e/∂{t[i][1]} = ")}


LECTURE_NUMBERS = {"a": ("2", "2"), "b": ("1", "5"), "c": ("3", "2"), "d": ("2", "3"),
                   "e": ("6", "1")}


def test_both_forms_render_to_svg_showing_the_lecture_graph(lecture, tmp_path, renderer):
    full = dot.write(lecture, tmp_path / "full.svg", "e", "full", renderer)
    reduced = dot.write(lecture, tmp_path / "reduced.svg", "e", "reduced", renderer)
    assert full.rendered == tmp_path / "full.svg" and full.dot == tmp_path / "full.dot"
    assert full.renderer == reduced.renderer == renderer.name
    # every variable with its value (green) and gradient (red): the lecture's numbers
    assert drawn_variables(full.rendered) == LECTURE_NUMBERS
    assert drawn_variables(reduced.rendered) == LECTURE_NUMBERS
    full_texts, reduced_texts = svg_texts(full.rendered), svg_texts(reduced.rendered)
    assert sorted(t for t in full_texts if t in ("+", "×", "1")) == ["+", "+", "1", "1", "×"]
    # the edges' local derivatives, in black (the nodes' gradients are red)
    assert sorted(t for colour, t in coloured_texts(reduced.rendered)
                  if t.startswith("∂") and colour != "red") == [
        "∂c/∂a = 1", "∂c/∂b = 1", "∂d/∂b = 1", "∂e/∂c = 2", "∂e/∂d = 3"]
    assert "+" not in reduced_texts
    # the inputs a and b are filled grey, the output e has a double border
    assert full.rendered.read_text(encoding="utf-8").count('fill="#eeeeee"') == 2
    assert len(re.findall(r"<ellipse", reduced.rendered.read_text(encoding="utf-8"))) == 6


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header; AssertionError if it is no PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_format_a_renderer_writes_is_a_real_picture(lecture, tmp_path, renderer):
    for fmt in renderer.formats:
        result = dot.write(lecture, tmp_path / f"e.{fmt}", "e", "reduced", renderer)
        data = result.rendered.read_bytes()
        if fmt == "svg":
            assert b"<svg" in data[:1000]
        elif fmt == "pdf":
            assert data[:5] == b"%PDF-"
        else:
            width, height = png_size(result.rendered)
            assert width > height > 100        # five variables laid out left to right


def test_a_dot_path_writes_the_text_and_an_svg_beside_it(lecture, tmp_path, renderer):
    result = dot.write(lecture, tmp_path / "e.dot", "e", renderer=renderer)
    assert result.dot.read_text(encoding="utf-8").startswith('digraph "full"')
    assert result.rendered == tmp_path / "e.svg"
    assert drawn_variables(result.rendered) == LECTURE_NUMBERS


def test_the_system_dot_is_chosen_when_it_is_on_path(tmp_path, monkeypatch):
    if os.name != "posix":
        pytest.skip("a shell script stands in for dot")
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    chosen = dot.find_renderer()
    assert chosen.name == "dot" and chosen.program == fake
    assert chosen.formats == ("svg", "png", "pdf")


def test_without_dot_on_path_graphviz_pure_is_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))            # an empty folder: no dot
    assert dot.system_dot() is None
    assert dot.find_renderer() == dot.graphviz_pure()     # None where it is not installed


@pytest.mark.skipif(dot.graphviz_pure() is None, reason="graphviz-pure is not installed: pip install graphviz-pure")
def test_graphviz_pure_is_found_from_its_wheel_even_off_path(lecture, tmp_path, monkeypatch):
    # a venv's programs are not on PATH when the venv's python is run without activating
    monkeypatch.setenv("PATH", str(tmp_path))
    chosen = dot.find_renderer()
    assert chosen.name == "graphviz-pure" and chosen.formats == ("svg", "png")
    result = dot.write(lecture, tmp_path / "e.svg", "e")
    assert result.renderer == "graphviz-pure"
    assert drawn_variables(result.rendered) == LECTURE_NUMBERS


def test_without_a_renderer_a_picture_is_one_clear_error_and_nothing_is_written(
        lecture, tmp_path, monkeypatch):
    monkeypatch.setattr(dot, "find_renderer", lambda: None)
    with pytest.raises(FileNotFoundError) as caught:
        dot.write(lecture, tmp_path / "e.svg", "e")
    message = str(caught.value)
    assert "\n" not in message and message.endswith(
        "install one: pip install graphviz-pure (or: apt-get install graphviz)")
    assert list(tmp_path.iterdir()) == []               # no lone .dot left behind
    (tmp_path / "e.dot").write_text("digraph {}")
    with pytest.raises(FileNotFoundError, match="pip install graphviz-pure"):
        dot.render(tmp_path / "e.dot", tmp_path / "e.png")


def test_without_a_renderer_a_dot_path_gets_its_text_and_the_install_command(
        lecture, tmp_path, monkeypatch):
    monkeypatch.setattr(dot, "find_renderer", lambda: None)
    result = dot.write(lecture, tmp_path / "e.dot", "e")
    assert result.rendered is None and not (tmp_path / "e.svg").exists()
    assert result.dot.read_text(encoding="utf-8").startswith('digraph "full"')
    assert result.message == (f"wrote {result.dot}; e.svg was not rendered: no Graphviz found; "
                              f"install one: pip install graphviz-pure (or: apt-get install "
                              f"graphviz)")


def test_a_format_the_renderer_lacks_is_refused_before_writing(lecture, tmp_path):
    pure = dot.Renderer("graphviz-pure", tmp_path / "graphviz-pure", ("svg", "png"))
    with pytest.raises(ValueError, match=r"graphviz-pure writes \.svg, \.png only; for "
                                         r"\.pdf install Graphviz: apt-get install graphviz"):
        dot.write(lecture, tmp_path / "e.pdf", "e", renderer=pure)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_renderer_is_an_error_with_its_message(lecture, tmp_path):
    if os.name != "posix":
        pytest.skip("a shell script stands in for the renderer")
    broken = tmp_path / "broken-dot"
    broken.write_text("#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(RuntimeError, match="dot failed on .*e.dot: syntax error in line 1"):
        dot.write(lecture, tmp_path / "e.svg", "e",
                  renderer=dot.Renderer("dot", broken, ("svg", "png", "pdf")))


def test_before_any_run_the_drawing_has_names_only(tmp_path, renderer):
    g = Graph.from_expression("e = (a+b)*(b+1)")
    text = dot.to_dot(g, "e", "reduced")
    assert "∂" not in text and "darkgreen" not in text
    result = dot.write(g, tmp_path / "e.svg", "e", "reduced", renderer)
    texts = svg_texts(result.rendered)
    assert sorted(texts) == ["a", "b", "c", "d", "e"] + ["out of date"] * 3   # c, d, e


def test_edges_into_nodes_out_of_date_lose_their_derivative_labels(lecture):
    lecture.node("a").value = 4                      # c and e now wait for a forward
    labels = re.findall(r'label="(∂[^"]*)"', dot.to_dot(lecture, "e", "reduced"))
    assert labels == ["∂d/∂b = 1"]


def test_after_a_change_old_values_and_gradients_are_not_drawn(lecture):
    lecture.node("a").value = 4           # c and e wait for a forward; gradients are old
    text = dot.to_dot(lecture, "e", "full")
    assert "∂e/∂b" not in text            # it would still say 5, but it is now 7
    assert text.count("out of date") == 2 and text.count("style=dashed") == 2
    assert '<font color="darkgreen">4</font>' in text      # a's new value is current
    lecture.forward()
    assert "∂e/∂b" not in dot.to_dot(lecture, "e", "full")  # values new, gradients not
    lecture.backward("e")
    text = dot.to_dot(lecture, "e", "full")
    assert "∂e/∂b = 7" in text and "out of date" not in text     # after a=4

def test_names_with_quotes_brackets_and_backslashes_are_drawn_as_written(tmp_path, renderer):
    g = Graph()
    a, b = g.input('a"b'), g.input("back\\slash")
    e = graph.multiply(a, b, name="<e>")
    g.forward({'a"b': 2.0, "back\\slash": 3.0})
    g.backward(e)
    result = dot.write(g, tmp_path / "names.svg", e, "reduced", renderer)
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
    assert "(2, 2) ‖·‖=" in text and 'label="∂' not in text     # no edge derivatives
    assert 'label="W·x"' in dot.to_dot(g, loss, "full")


def test_bad_forms_and_suffixes_are_refused(lecture, tmp_path):
    with pytest.raises(ValueError, match="unknown DOT form 'tiny'"):
        dot.to_dot(lecture, "e", "tiny")
    with pytest.raises(ValueError, match=r"\.dot, \.svg, \.png or \.pdf"):
        dot.write(lecture, tmp_path / "e.jpg", "e")
