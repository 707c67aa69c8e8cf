"""The lecture's table (values, local derivatives, gradients, forward mode) and the
``compgraph explain`` command built on it."""

import json
import math
import re

import numpy as np
import pytest

import graph
from experiments.cli import main
from graph import Graph, dot
from gates.facts import symbol
from graph.explain import explain


def lecture_explanation(wrt="b"):
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    return g, g.explain("e", wrt=wrt)


def test_the_table_has_the_lecture_values_local_derivatives_and_gradients():
    _, ex = lecture_explanation()
    rows = {r.name: r for r in ex.rows}
    assert {n: r.value for n, r in rows.items()} == {"a": 2, "b": 1, "c": 3, "d": 2, "e": 6}
    assert rows["c"].incoming == [("a", 1), ("b", 1)]
    assert rows["d"].incoming == [("b", 1)]           # the constant 1 is not an edge
    assert rows["e"].incoming == [("c", 2), ("d", 3)]  # multiply switches: ∂e/∂c = d
    assert {n: r.gradient for n, r in rows.items()} == {"a": 2, "b": 5, "c": 2, "d": 3,
                                                        "e": 1}
    assert {n: r.forward for n, r in rows.items()} == {"a": 0, "b": 1, "c": 1, "d": 1,
                                                       "e": 5}
    assert [r.kind for r in ex.rows] == ["input", "input", "+", "+", "×"]


def test_the_printed_report_shows_assignments_table_modes_and_paths():
    _, ex = lecture_explanation()
    text = str(ex)
    assert "c ← a + b\n  d ← b + 1\n  e ← c × d" in text
    assert "e     ×      6      ∂e/∂c=2  ∂e/∂d=3   1         5" in ex.table()
    assert "∂e/∂a = 2" in text and "∂e/∂b = 5" in text
    assert "Forward mode (one pass per input):\n  ∂e/∂b = 5" in text
    assert "b → d → e:  1 × 3 = 3" in text


def test_after_the_update_a_4_the_table_follows():
    g, _ = lecture_explanation()
    g.forward(a=4)
    ex = g.explain("e", wrt="b")
    rows = {r.name: r for r in ex.rows}
    assert (rows["c"].value, rows["e"].value) == (5, 10)
    assert rows["e"].forward == 7 and rows["b"].gradient == 7
    assert rows["e"].incoming == [("c", 2), ("d", 5)]


def test_an_input_with_no_path_to_the_output_has_gradient_0_and_no_paths():
    g = Graph.from_expression("c = a + b; e = a * 2")
    g.forward(a=1, b=2)
    ex = g.explain("e", wrt="b")
    rows = {r.name: r for r in ex.rows}
    assert (rows["b"].gradient, rows["c"].gradient, rows["c"].forward) == (0, None, 1)
    assert ex.to_dict()["gradients"] == {"a": 2, "b": 0}
    assert ex.paths["b"].count == 0
    assert "c     +      3      ∂c/∂a=1  ∂c/∂b=1   —         1" in ex.table()


def test_to_dict_has_the_keys_the_cli_prints():
    _, ex = lecture_explanation()
    d = ex.to_dict()
    assert d["assignments"] == ["c ← a + b", "d ← b + 1", "e ← c × d"]
    assert d["values"] == {"a": 2, "b": 1, "c": 3, "d": 2, "e": 6}
    assert d["gradients"] == {"a": 2, "b": 5}
    assert d["forward"] == 5
    assert d["local_derivatives"]["e"] == {"c": 2, "d": 3}
    assert d["paths"]["b"]["sum"] == 5
    json.dumps(d)


def test_gate_labels_are_the_lecture_symbols():
    import gates
    assert [symbol(gt) for gt in (gates.AddGate(), gates.MultiplyGate(),
                                  gates.ScaleGate(2), gates.PowerGate(2),
                                  gates.SigmoidGate(), gates.MaxGate())] == \
        ["+", "×", "×2", "**2", "σ", "max"]


def test_a_tensor_graph_shows_shapes_and_norms_and_says_why_it_skips_jacobians():
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x")
    loss = graph.l2(graph.matvec(W, x, name="q"), name="L")
    g.forward(x=np.array([0.2, 0.4]))
    ex = explain(g, loss)
    rows = {r.name: r for r in ex.rows}
    assert float(rows["L"].value) == pytest.approx(0.116)
    np.testing.assert_allclose(rows["W"].gradient, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(rows["x"].gradient, [-0.112, 0.636])
    assert "(2, 2) ‖·‖=" in ex.table() and "local derivatives" not in ex.table()
    assert not ex.paths and "Jacobians" in str(ex)
    assert ex.to_dict()["gradients"]["x"] == pytest.approx([-0.112, 0.636])
    with pytest.raises(graph.GraphShapeError, match=r"explain: wrt 'x' has shape \(2,\)"):
        explain(g, loss, wrt=x)              # one forward-mode column per scalar only


# -- compgraph explain --------------------------------------------------------------

def run_cli(capsys, *argv):
    status = main(["explain", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_json_gives_the_lecture_values_gradients_and_forward_mode(capsys):
    status, out, _ = run_cli(capsys, "e = (a+b)*(b+1)", "--at", "a=2", "b=1", "--wrt", "b",
                             "--json")
    data = json.loads(out)
    assert status == 0
    assert data["assignments"] == ["c ← a + b", "d ← b + 1", "e ← c × d"]
    assert {k: data["values"][k] for k in "cde"} == {"c": 3, "d": 2, "e": 6}
    assert data["gradients"] == {"a": 2, "b": 5}
    assert data["forward"] == 5


def test_cli_text_prints_assignments_table_and_paths(capsys):
    status, out, _ = run_cli(capsys, "e = (a+b)*(b+1)", "--at", "a=4", "b=1", "--wrt", "b")
    assert status == 0
    assert "e ← c × d" in out and "∂e/∂b = 7" in out and "sum = 7" in out


@pytest.mark.parametrize("argv, words", [
    (["e = (a+b)*foo(b+1)", "--at", "a=2", "b=1"], "line 1, column 11: unknown function 'foo'"),
    (["e = (a+b", "--at", "a=2", "b=1"], "line 1, column 5: syntax error"),
    (["e = (a+b)*(b+1)", "--at", "a=2"], "line 1, column 8: unknown name 'b'"),
    (["e = (a+b)*(b+1)", "--at", "a=2", "b=1", "q=3"], "'q', which is not an input"),
    (["e = (a+b)*(b+1)", "--at", "a=two", "b=1"], "'two' is not a number"),
    (["e = (a+b)*(b+1)", "--at", "a=1/0", "b=1"], "division by zero"),
    (["e = (a+b)*(b+1)", "--at", "a", "b=1"], "write NAME=VALUE"),
    (["e = (a+b)*(b+1)", "--at", "a=", "b=1"], "no value after '='"),
    (["e = (a+b)*(b+1)", "--at", "a=2", "b=1", "--wrt", "z"], "--wrt z"),
])
def test_cli_errors_are_one_clear_line_and_status_2(capsys, argv, words):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert words in err and "Traceback" not in err


def test_cli_values_may_be_arithmetic_on_numbers_and_pi(capsys):
    status, out, _ = run_cli(capsys, "z = x*y + sin(x)", "--at", "x=pi/4", "y=4", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["values"]["z"] == pytest.approx(math.pi + math.sqrt(2) / 2, abs=1e-12)
    assert data["gradients"] == pytest.approx({"x": 4 + math.sqrt(2) / 2, "y": math.pi / 4},
                                              abs=1e-12)


def test_cli_at_may_be_repeated(capsys):
    status, out, _ = run_cli(capsys, "e = (a+b)*(b+1)", "--at", "a=2", "--at", "b=1", "--json")
    assert status == 0 and json.loads(out)["gradients"] == {"a": 2.0, "b": 5.0}

def test_cli_a_value_outside_a_gate_domain_is_status_1(capsys):
    status, _, err = run_cli(capsys, "y = log(x)", "--at", "x=-1")
    assert status == 1 and "log of a non-positive number" in err


def test_cli_overflow_to_inf_or_nan_is_an_error_naming_the_node(capsys):
    status, out, err = run_cli(capsys, "e = a*a - a*a", "--at", "a=1e200", "--json")
    assert status == 1 and out == ""          # no NaN in what should be JSON
    assert "node 'b' (MultiplyGate) computed inf" in err and "RuntimeWarning" not in err
    status, _, err = run_cli(capsys, "e = 1/a", "--at", "a=1e-200")
    assert status == 1 and "gradient ∂e/∂a is -inf" in err


#: every renderer installed here; the tests that render run once with each
RENDERERS = [r for r in (dot.system_dot(), dot.graphviz_pure()) if r is not None] or [
    pytest.param(None, id="none", marks=pytest.mark.skip(
        reason="no renderer installed (pip install graphviz-pure)"))]
LECTURE = ["e = (a+b)*(b+1)", "--at", "a=2", "b=1"]


@pytest.mark.parametrize("renderer", RENDERERS, ids=lambda r: r.name)
def test_cli_dot_writes_and_renders_both_forms(capsys, tmp_path, monkeypatch, renderer):
    monkeypatch.setattr(dot, "find_renderer", lambda: renderer)
    target = tmp_path / "lecture.svg"
    status, out, _ = run_cli(capsys, *LECTURE, "--dot", str(target))
    assert status == 0
    for name in ("lecture.dot", "lecture.svg", "lecture-reduced.dot", "lecture-reduced.svg"):
        assert (tmp_path / name).stat().st_size > 0
    reduced = (tmp_path / "lecture-reduced.svg").read_text(encoding="utf-8")
    assert ">∂e/∂d = 3</text>" in reduced
    assert re.search(r'fill="darkgreen"[^>]*>6</text>', reduced)      # e = 6, in green
    assert re.search(r'fill="red"[^>]*>∂e/∂b = 5</text>', reduced)     # in red
    assert f"wrote {tmp_path / 'lecture.dot'} and {target} (rendered by {renderer.name})" \
        in out


@pytest.mark.skipif(dot.graphviz_pure() is None, reason="graphviz-pure is not installed: pip install graphviz-pure")
def test_cli_draws_the_picture_without_graphviz_dot_on_path(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))       # no dot: a fresh machine with the extra
    status, out, _ = run_cli(capsys, *LECTURE, "--dot", str(tmp_path / "e.svg"))
    assert status == 0 and (tmp_path / "e.svg").exists()
    full = (tmp_path / "e.svg").read_text(encoding="utf-8")
    assert re.search(r'fill="darkgreen"[^>]*>6</text>', full)
    assert ">∂e/∂d = 3</text>" in (tmp_path / "e-reduced.svg").read_text(encoding="utf-8")
    assert f"and {tmp_path / 'e.svg'} (rendered by graphviz-pure)" in out


def test_cli_without_a_renderer_a_picture_is_one_line_with_the_install_command(
        capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(dot, "find_renderer", lambda: None)
    status, out, err = run_cli(capsys, *LECTURE, "--dot", str(tmp_path / "e.png"))
    assert status == 2 and out == ""
    assert err == (f"compgraph explain: error: cannot render {tmp_path / 'e.png'}: no "
                   f"Graphviz found (neither 'dot' nor 'graphviz-pure'); install one: pip "
                   f"install graphviz-pure (or: apt-get install graphviz)\n")
    assert list(tmp_path.iterdir()) == []             # not even the .dot files


def test_cli_without_a_renderer_a_dot_file_is_still_written(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(dot, "find_renderer", lambda: None)
    status, out, _ = run_cli(capsys, *LECTURE, "--dot", str(tmp_path / "e.dot"))
    assert status == 0 and "e.svg was not rendered" in out
    assert "pip install graphviz-pure" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e-reduced.dot", "e.dot"]


@pytest.mark.parametrize("existing", ["e.svg", "e.dot", "e-reduced.svg", "e-reduced.dot"])
def test_cli_refuses_to_overwrite_any_drawing_file_without_force(capsys, tmp_path, existing):
    (tmp_path / existing).write_text("my own file")
    status, out, err = run_cli(capsys, *LECTURE, "--dot", str(tmp_path / "e.svg"))
    assert status == 2 and out == ""
    assert err == (f"compgraph explain: error: {tmp_path / existing} already exists; "
                   f"pass --force to replace it, or choose another name\n")
    assert [p.name for p in tmp_path.iterdir()] == [existing]          # nothing written
    assert (tmp_path / existing).read_text() == "my own file"


def test_cli_force_overwrites_the_drawing(capsys, tmp_path):
    # a .dot FILE is written with or without a renderer, so this runs everywhere
    (tmp_path / "e.dot").write_text("my own file")
    status, _, err = run_cli(capsys, *LECTURE, "--dot", str(tmp_path / "e.dot"), "--force")
    assert status == 0, err
    assert (tmp_path / "e.dot").read_text(encoding="utf-8").startswith('digraph "full"')
