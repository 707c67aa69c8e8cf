"""Blocks (a graph wrapped as a gate), the MLP builder, and parameters in .npz files."""

import os

import numpy as np
import pytest

import graph
from gates import AddGate, Gate, GateShapeError, GateStateError, MultiplyGate
from graph import Graph, GraphBuildError, GraphFileError, GraphShapeError
from gates.check import check_gate


def numeric_grads(f, inputs, h=1e-6):
    """Central differences of the scalar f(*inputs) w.r.t. every entry of every input."""
    grads = []
    for k, x in enumerate(inputs):
        x = np.array(x, dtype=np.float64)
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus, minus = x.copy(), x.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = list(inputs)
            args_m = list(inputs)
            args_p[k], args_m[k] = plus, minus
            g[idx] = (f(*args_p) - f(*args_m)) / (2 * h)
        grads.append(g)
    return grads


def lecture_block():
    g = Graph()
    a, b = g.input("a"), g.input("b")
    e = g.apply(MultiplyGate(), g.apply(AddGate(), a, b), b + 1, name="e")
    return g, a, b, e


def test_block_is_a_gate_with_the_lecture_numbers():
    g, a, b, e = lecture_block()
    block = g.as_gate(inputs=[a, b], output=e)
    assert isinstance(block, Gate)
    assert block.input_names == ("a", "b")
    assert block.differentiable == (True, True)
    assert block.kinks is False
    assert block.forward(2.0, 1.0) == 6.0
    assert block.backward(1.0) == (2.0, 5.0)
    assert block.jvp(0.0, 1.0) == 5.0        # forward mode: de/db
    assert block.jvp(None, 1.0) == 5.0


def test_block_nests_in_another_graph():
    inner, a, b, e = lecture_block()
    outer = Graph()
    x = outer.input("x")
    y = outer.apply(inner.as_gate([a, b], e), x, 2 * x, name="block")   # e(x, 2x)
    z = graph.sin(y)
    value = outer.forward(x=0.3)
    assert value == pytest.approx(np.sin((0.3 + 0.6) * (0.6 + 1)))
    outer.backward(z)
    # d/dx (3x)(2x+1) = 12x + 3
    assert x.grad == pytest.approx(np.cos((0.9) * 1.6) * (12 * 0.3 + 3))
    assert outer.derivative(z, wrt=x) == pytest.approx(x.grad)


def test_block_gradients_match_finite_differences_and_examples():
    g = Graph()
    x = g.input("x")
    W = g.input("W")
    out = graph.mean(graph.tanh(graph.matvec(W, x)) ** 2)
    block = g.as_gate([W, x], out)
    rng = np.random.default_rng(3)
    with pytest.raises(GateStateError, match="input 'W' has no value"):
        block.example_inputs(rng)
    g.forward(x=np.ones(3), W=np.ones((2, 3)))
    Wv, xv = block.example_inputs(rng)
    assert Wv.shape == (2, 3) and xv.shape == (3,)
    block.forward(Wv, xv)
    analytic = block.backward(1.0)
    numeric = numeric_grads(lambda W_, x_: float(block.forward(W_, x_)), [Wv, xv])
    block.forward(Wv, xv)
    for an, nu in zip(analytic, numeric):
        np.testing.assert_allclose(an, nu, rtol=1e-6, atol=1e-8)


def test_block_used_twice_replays_its_own_inputs():
    """Two gates over one inner graph: each backward sees its own forward."""
    inner, a, b, e = lecture_block()
    outer = Graph()
    x = outer.input("x")
    first = outer.apply(inner.as_gate([a, b], e), x, 1.0)        # (x+1) * 2
    second = outer.apply(inner.as_gate([a, b], e), x, 3.0)       # (x+3) * 4
    total = first + second
    outer.forward(x=2.0)
    outer.backward(total)
    assert total.value == 6.0 + 20.0
    assert x.grad == 2.0 + 4.0


def test_as_gate_checks_its_inputs():
    g, a, b, e = lecture_block()
    with pytest.raises(GraphBuildError, match="depends on input\\(s\\) 'b' not listed"):
        g.as_gate([a], e)
    c = g.node("add1")
    with pytest.raises(GraphBuildError, match="'add1' is an op"):
        g.as_gate([c, b], e)


def test_block_with_labels_and_params():
    g = Graph()
    x = g.input("x")
    y = g.input("y", differentiable=False)
    loss = graph.softmax_cross_entropy(graph.mlp(g, x, [3, 4, 2], dtype=np.float64), y)
    block = g.as_gate([x, y], loss)
    assert block.differentiable == (True, False)
    assert block.kinks is True                # relu inside
    labels = np.array([0, 1])
    block.forward(np.ones((2, 3)), labels)
    gx, gy = block.backward(1.0)
    assert gx.shape == (2, 3) and gy is None
    assert g.params["W1"].grad.shape == (3, 4)    # the block's params got gradients


def test_mlp_builds_the_lecture_networks():
    for sizes, n_layers in [((784, 100, 10), 2), ((784, 256, 128, 10), 3),
                            ((784, 256, 128, 64, 10), 4)]:
        g = Graph()
        x = g.input("x", differentiable=False)
        logits = graph.mlp(g, x, sizes, rng=np.random.default_rng(0))
        assert list(g.params) == [f"{p}{i}" for i in range(1, n_layers + 1) for p in "Wb"]
        gates = [type(n.gate).__name__ for n in g.nodes if n.kind == "op"]
        assert gates == ["AffineGate", "ReLUGate"] * (n_layers - 1) + ["AffineGate"]
        assert logits.name == f"z{n_layers}"
        assert g.params["W1"].value.dtype == np.float32
        assert g.forward(x=np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_mlp_gradients_match_finite_differences():
    g = Graph()
    x = g.input("x", differentiable=False)
    y = g.input("y", differentiable=False)
    loss = graph.softmax_cross_entropy(
        graph.mlp(g, x, [3, 5, 4, 2], rng=np.random.default_rng(2), dtype=np.float64), y)
    rng = np.random.default_rng(7)
    feeds = dict(x=rng.standard_normal((4, 3)), y=np.array([0, 1, 1, 0]))
    g.forward(**feeds)
    g.backward(loss)
    params = list(g.params.values())
    analytic = [p.grad for p in params]

    def f(*values):
        for p, v in zip(params, values):
            p.value = v
        return float(g.forward(**feeds))

    numeric = numeric_grads(f, [p.value for p in params])
    for an, nu in zip(analytic, numeric):
        np.testing.assert_allclose(an, nu, rtol=1e-5, atol=1e-8)


def test_params_round_trip_through_npz(tmp_path):
    g = Graph()
    x = g.input("x", differentiable=False)
    graph.mlp(g, x, [3, 4, 2], rng=np.random.default_rng(0))
    path = tmp_path / "params.npz"
    g.save_params(path)
    assert os.listdir(tmp_path) == ["params.npz"]     # no temporary file left behind
    saved = {k: v.value.copy() for k, v in g.params.items()}
    other = Graph()
    graph.mlp(other, other.input("x"), [3, 4, 2], rng=np.random.default_rng(99))
    other.load_params(path)
    for name, value in saved.items():
        np.testing.assert_array_equal(other.params[name].value, value)
        assert not other.params[name].value.flags.writeable


def test_load_params_refuses_mismatches_naming_the_param(tmp_path):
    g = Graph()
    graph.mlp(g, g.input("x"), [3, 4, 2])
    path = tmp_path / "p.npz"
    g.save_params(path)
    before = g.params["W1"].value.copy()

    bigger = Graph()
    graph.mlp(bigger, bigger.input("x"), [3, 5, 2])
    with pytest.raises(GraphShapeError, match="parameter 'W1' is float32 \\(3, 4\\) in the "
                                              "file but float32 \\(3, 5\\)"):
        bigger.load_params(path)

    f64 = Graph()
    graph.mlp(f64, f64.input("x"), [3, 4, 2], dtype=np.float64)
    with pytest.raises(GraphShapeError, match="parameter 'W1' is float32"):
        f64.load_params(path)

    deeper = Graph()
    graph.mlp(deeper, deeper.input("x"), [3, 4, 4, 2])
    with pytest.raises(GraphShapeError, match="missing parameter\\(s\\) 'W3', 'b3'"):
        deeper.load_params(path)
    np.testing.assert_array_equal(g.params["W1"].value, before)


def test_load_params_refuses_pickles(tmp_path):
    g = Graph()
    g.param("w", np.zeros(2))
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([{"not": "numbers"}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        g.load_params(path)



def test_params_named_like_savez_keywords_round_trip(tmp_path):
    g = Graph()
    g.param("file", np.ones(2))              # np.savez(f, file=...) would refuse this name
    g.param("allow_pickle", np.full(3, 2.0))  # and would swallow this one
    g.save_params(tmp_path / "p.npz")
    g.params["file"].value = np.zeros(2)
    g.load_params(tmp_path / "p.npz")
    assert g.params["file"].value.tolist() == [1.0, 1.0]
    assert g.params["allow_pickle"].value.tolist() == [2.0, 2.0, 2.0]


def test_unreadable_parameter_files_are_errors_naming_the_file_and_parameter(tmp_path):
    g = Graph()
    graph.mlp(g, g.input("x"), [3, 4, 2])
    good = tmp_path / "p.npz"
    g.save_params(good)
    before = g.params["W1"].value.copy()

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(GraphFileError, match="garbage.npz: not an .npz file"):
        g.load_params(garbage)

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(GraphFileError, match="truncated.npz"):
        g.load_params(truncated)

    with pytest.raises(GraphFileError, match="is a folder"):
        g.load_params(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.npz: no such file"):
        g.load_params(tmp_path / "nope.npz")

    objects = tmp_path / "objects.npz"
    values = {k: v.value for k, v in g.params.items()}
    values["b1"] = np.array([None] * 4, dtype=object)
    np.savez(objects, **values)
    with pytest.raises(GraphFileError, match="parameter 'b1' holds Python objects"):
        g.load_params(objects)

    diverged = tmp_path / "diverged.npz"
    values = {k: v.value.copy() for k, v in g.params.items()}
    values["W2"][0, 0] = np.nan
    np.savez(diverged, **values)
    with pytest.raises(GraphFileError, match="parameter 'W2' has 1 NaN or infinite"):
        g.load_params(diverged)
    np.testing.assert_array_equal(g.params["W1"].value, before)    # nothing changed


def test_saving_into_a_missing_folder_names_it(tmp_path):
    g = Graph()
    g.param("w", 1.0)
    with pytest.raises(FileNotFoundError, match="the folder .*missing does not exist"):
        g.save_params(tmp_path / "missing" / "p.npz")

def test_a_layer_applied_twice_gets_the_sum_of_both_uses_gradients():
    inner = Graph()                          # one layer t = tanh(w a), w shared
    a = inner.input("a")
    w = inner.param("w", 2.0)
    t = graph.tanh(a * w, name="t")
    outer = Graph()
    x = outer.input("x")
    h = outer.apply(inner.as_gate([a], t), x, name="h")      # h = tanh(w x)
    y = outer.apply(inner.as_gate([a], t), h, name="y")      # y = tanh(w h)
    outer.forward(x=0.3)
    outer.backward(y)
    u = np.tanh(2.0 * 0.3)
    L = np.tanh(2.0 * u)
    # dy/dw through both uses: (1 - y^2) (h + w dh/dw), dh/dw = (1 - h^2) x
    assert w.grad == pytest.approx((1 - L**2) * (u + 2.0 * (1 - u**2) * 0.3))
    assert x.grad == pytest.approx((1 - L**2) * 2.0 * (1 - u**2) * 2.0)
    outer.backward(y)                        # a new pass replaces, as for any graph
    assert w.grad == pytest.approx((1 - L**2) * (u + 2.0 * (1 - u**2) * 0.3))

def test_gradients_stores_nothing_not_even_in_a_blocks_inner_graph():
    inner = Graph()                          # the layer t = tanh(w a) of the test above
    a = inner.input("a")
    w = inner.param("w", 2.0)
    t = graph.tanh(a * w, name="t")
    outer = Graph()
    x = outer.input("x")
    y = outer.apply(inner.as_gate([a], t), x, name="y")
    outer.forward(x=0.3)
    grads = outer.gradients(y)
    assert grads[x] == pytest.approx((1 - np.tanh(0.6) ** 2) * 2.0)
    assert x.grad is None and w.grad is None and not outer.grads_current
    outer.backward(y)                        # backward stores them, gradients() did not
    assert w.grad == pytest.approx((1 - np.tanh(0.6) ** 2) * 0.3)


def test_changing_a_blocks_param_recomputes_the_outer_graph():
    inner = Graph()
    u = inner.input("u")
    w = inner.param("w", 2.0)
    block = inner.as_gate([u], u * w)
    outer = Graph()
    x = outer.input("x")
    y = outer.apply(block, x, name="block") + 1
    assert outer.forward(x=3.0) == 7.0
    w.value = 5.0                            # an optimizer stepping the block's parameter
    with pytest.raises(graph.GraphStateError, match="node 'block' is out of date"):
        outer.backward(y)
    assert outer.forward() == 16.0
    outer.backward(y)
    assert x.grad == 5.0 and w.grad == 3.0


def test_the_gate_checker_checks_blocks_like_any_gate():
    from gates.check import check_gate

    g = Graph()
    x = g.input("x")
    labels = g.input("y", differentiable=False)
    loss = graph.softmax_cross_entropy(graph.mlp(g, x, [3, 4, 2], dtype=np.float64), labels)
    block = g.as_gate([x, labels], loss)
    g.forward(x=np.ones((5, 3)), y=np.array([0, 1, 1, 0, 1]))
    report = check_gate(block, *block.example_inputs(np.random.default_rng(0)))
    assert report.ok, str(report)

    lecture, a, b, e = lecture_block()
    assert check_gate(lecture.as_gate([a, b], e), 2.0, 1.0).ok


def test_a_block_skips_gradients_the_outer_graph_does_not_need():
    inner = Graph()
    u, v = inner.input("u"), inner.input("v")
    block = inner.as_gate([u, v], graph.sum(u * v))
    outer = Graph()
    data = outer.input("data", differentiable=False)
    w = outer.param("w", np.array([1.0, 2.0]))
    s = outer.apply(block, data, w)
    assert block.needs_input_grad == (False, True)
    outer.forward(data=np.array([3.0, 4.0]))
    outer.backward(s)
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])
    assert data.grad is None and u.grad is None      # dL/du was never computed


def test_forward_and_reverse_mode_agree_on_an_mlp():
    """<J t, 1> = <t, J^T 1>: the jvp along a direction equals grad . direction."""
    g = Graph()
    x = g.input("x", differentiable=False)
    y = g.input("y", differentiable=False)
    loss = graph.softmax_cross_entropy(
        graph.mlp(g, x, [4, 6, 3], rng=np.random.default_rng(5), dtype=np.float64), y)
    rng = np.random.default_rng(6)
    g.forward(x=rng.standard_normal((7, 4)), y=rng.integers(0, 3, size=7))
    g.backward(loss)
    directions = {p: rng.standard_normal(p.value.shape) for p in g.params.values()}
    expected = sum(np.sum(p.grad * t) for p, t in directions.items())
    assert g.jvp(loss, directions) == pytest.approx(expected, rel=1e-10)


def test_block_with_params_as_inputs_refuses_a_wrong_shape_and_changes_nothing():
    g = Graph()
    x = g.input("x")
    W = g.param("W", np.eye(2))
    block = g.as_gate([x, W], graph.l2(graph.matvec(W, x)))
    assert block.forward(np.array([1.0, 2.0]), 2 * np.eye(2)) == 20.0
    with pytest.raises(GateShapeError, match="input 'W' has shape \\(3, 3\\) but the "
                                             "parameter has shape \\(2, 2\\)"):
        block.forward(np.array([5.0, 5.0]), np.eye(3))
    np.testing.assert_array_equal(W.value, 2 * np.eye(2))
    np.testing.assert_array_equal(x.value, [1.0, 2.0])


def test_checking_a_block_leaves_its_graph_where_it_was():
    # the lecture's e = (a + b)(b + 1) at a = 2, b = 1: e = 6, de/da = 2, de/db = 5
    g = Graph()
    a, b = g.input("a"), g.input("b")
    e = (a + b) * (b + 1)
    g.forward(a=2.0, b=1.0)
    g.backward(e)
    assert check_gate(g.as_gate([a, b], e), 2.0, 1.0).ok
    assert (float(a.value), float(b.value), float(e.value)) == (2.0, 1.0, 6.0)
    assert (float(a.grad), float(b.grad)) == (2.0, 5.0) and g.grads_current
    g.backward(e)                                  # not at a finite-difference probe
    assert (float(a.grad), float(b.grad)) == (2.0, 5.0)


def test_checking_a_block_with_a_parameter_input_puts_the_parameter_back():
    g = Graph()
    x = g.input("x")
    W = g.param("W", np.ones((2, 2)))
    y = graph.sum(x @ W)
    g.forward(x=np.ones((1, 2)))
    assert check_gate(g.as_gate([x, W], y), np.ones((1, 2)), np.full((2, 2), 3.0)).ok
    np.testing.assert_array_equal(W.value, np.ones((2, 2)))
    assert float(y.value) == 4.0
