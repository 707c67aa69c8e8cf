"""Misuse of a Graph: every error names the node, and a failed run leaves the graph
ready for the next one."""

import numpy as np
import pytest

import graph
from gates import AddGate, GateDomainError, GateShapeError, LogGate, MultiplyGate
from graph import (Graph, GraphBuildError, GraphFeedError, GraphShapeError, GraphStateError)


def test_missing_feed_names_the_input():
    g = Graph()
    a, b = g.input("a"), g.input("b")
    a + b
    with pytest.raises(GraphFeedError, match="'b' not fed"):
        g.forward(a=1.0)


def test_unknown_feed_name_lists_the_inputs():
    g = Graph()
    a = g.input("a")
    graph.exp(a)
    with pytest.raises(GraphFeedError, match="no input named 'z' \\(inputs: a\\)"):
        g.forward(a=1.0, z=2.0)
    assert a.value is None                   # nothing was fed: all feeds are checked first


def test_feeding_a_param_or_none_is_refused():
    g = Graph()
    x = g.input("x")
    w = g.param("w", 1.0)
    x * w
    with pytest.raises(GraphFeedError, match="'w' is a param, not an input"):
        g.forward(x=1.0, w=2.0)
    with pytest.raises(GraphFeedError, match="input 'x': fed None"):
        g.forward(x=None)


def test_declared_shape_is_checked_with_none_for_any_size():
    g = Graph()
    x = g.input("x", shape=(None, 3))
    graph.sum(x)
    assert g.forward(x=np.ones((5, 3))) == 15.0       # any batch size
    with pytest.raises(GraphFeedError, match="input 'x' expects shape \\(None, 3\\), got a "
                                             "value of shape \\(5, 4\\)"):
        g.forward(x=np.ones((5, 4)))


def test_node_of_another_graph_is_refused():
    g1, g2 = Graph(), Graph()
    a = g1.input("a")
    b = g2.input("b")
    with pytest.raises(GraphBuildError, match="node 'a' belongs to another graph"):
        g2.apply(AddGate(), a, b)
    with pytest.raises(GraphBuildError, match="node 'b' belongs to another graph"):
        graph.add(a, b)


def test_applying_one_gate_instance_twice_raises():
    g = Graph()
    a = g.input("a")
    gate = AddGate()
    g.apply(gate, a, a, name="c")
    with pytest.raises(GraphBuildError, match="already computes node 'c'"):
        g.apply(gate, a, 1)
    with pytest.raises(GraphBuildError, match="already computes node 'c'"):
        Graph().apply(gate, 1, 2)         # in any graph


def test_wrong_arity_duplicate_name_and_gate_class():
    g = Graph()
    a = g.input("a")
    with pytest.raises(GraphBuildError, match="takes 2 input\\(s\\) \\(x, y\\), got 1"):
        g.apply(MultiplyGate(), a, name="m")
    with pytest.raises(GraphBuildError, match="'a': the name is already taken"):
        g.param("a", 1.0)
    with pytest.raises(GraphBuildError, match="pass an instance such as AddGate\\(\\)"):
        g.apply(AddGate, a, a)
    with pytest.raises(GraphBuildError, match="no node named 'q'"):
        g.node("q")


def test_a_cycle_cannot_be_built():
    """Gates take only nodes that exist, and nodes cannot be rewired."""
    g = Graph()
    a = g.input("a")
    c = a + 1
    with pytest.raises(AttributeError):
        c.inputs = (c,)
    with pytest.raises(AttributeError):
        a.gate = AddGate()
    order = {n: i for i, n in enumerate(g.nodes)}
    assert all(order[i] < order[n] for n in g.nodes for i in n.inputs)


def test_a_block_cannot_run_the_graph_it_is_a_node_of():
    g = Graph()
    a = g.input("a")
    c = graph.sin(a, name="c")
    with pytest.raises(GraphBuildError, match="the block runs this graph; .* cycle"):
        g.apply(g.as_gate([a], c), c)        # would re-feed a while g runs
    other = Graph()
    x = other.input("x")
    y = other.apply(g.as_gate([a], c), x, name="y")       # fine: other runs g
    with pytest.raises(GraphBuildError, match="a graph holding a block of this graph"):
        g.apply(other.as_gate([x], y), c)    # g would run other, which runs g
    assert [n.name for n in g.nodes] == ["a", "c"]       # nothing was added


def test_backward_from_non_scalar_needs_upstream():
    g = Graph()
    x = g.input("x")
    y = graph.sigmoid(x, name="y")
    g.forward(x=np.zeros(3))
    with pytest.raises(GraphShapeError, match="node 'y' has shape \\(3,\\), not a scalar"):
        g.backward(y)
    with pytest.raises(GraphShapeError, match="upstream for 'y' has shape \\(2,\\)"):
        g.backward(y, upstream=np.ones(2))
    with pytest.raises(GraphShapeError, match="upstream for 'y' has dtype <U1"):
        g.backward(y, upstream=np.array(["a", "b", "c"]))


def test_backward_before_forward_names_the_node():
    g = Graph()
    x = g.input("x")
    y = graph.exp(x, name="y")
    with pytest.raises(GraphStateError, match="node 'y' was never computed"):
        g.backward(y)


def test_gate_error_in_forward_is_reraised_naming_the_node_and_the_graph_recovers():
    g = Graph()
    x = g.input("x")
    c = g.apply(AddGate(), x, 1.0, name="c")
    e = g.apply(LogGate(), x, name="e")
    f = g.apply(MultiplyGate(), c, e, name="f")
    assert g.forward(x=1.0) == 0.0
    with pytest.raises(GateDomainError, match="^node 'e' \\(LogGate\\): LogGate.forward: log "
                                              "of a non-positive number"):
        g.forward(x=-1.0)
    # nothing half-updated: a good feed recomputes everything after the failure
    assert g.forward(x=np.e) == pytest.approx(1.0 + np.e)
    g.backward(f)
    assert x.grad == pytest.approx(1.0 + (1.0 + np.e) / np.e)


def test_gate_shape_error_keeps_its_class():
    g = Graph()
    x, y = g.input("x"), g.input("y")
    g.apply(AddGate(), x, y, name="s")
    with pytest.raises(GateShapeError, match="^node 's' \\(AddGate\\): AddGate.forward"):
        g.forward(x=np.ones(3), y=np.ones(4))


def test_backward_after_failed_forward_refuses_stale_caches():
    g = Graph()
    x = g.input("x")
    y = graph.log(x, name="y")
    g.forward(x=2.0)
    with pytest.raises(GateDomainError):
        g.forward(x=0.0)
    with pytest.raises(GraphStateError, match="node 'y' is out of date"):
        g.backward(y)


def test_student_gate_error_gets_a_note_naming_the_node():
    class Broken:
        def forward(self, x):
            raise ZeroDivisionError("oops")

        def backward(self, dz):
            return (dz,)

    g = Graph()
    x = g.input("x")
    g.apply(Broken(), x, name="bad")
    with pytest.raises(ZeroDivisionError) as info:
        g.forward(x=1.0)
    assert "raised by node 'bad' (Broken) during forward" in info.value.__notes__


def test_power_needs_a_number_and_matmul_a_known_shape():
    g = Graph()
    x, y = g.input("x"), g.input("y")
    with pytest.raises(GraphBuildError, match="node 'x' \\*\\* "):
        x ** y
    with pytest.raises(GraphBuildError, match="2 \\*\\* node 'x': .*exp\\(log\\(2\\) \\* x\\)"):
        2 ** x
    with pytest.raises(GraphBuildError, match="cannot tell whether 'y' is a vector"):
        x @ y
    with pytest.raises(GraphBuildError, match="constant 1j: dtype complex128 is not real"):
        x + 1j


def test_setting_the_value_of_an_op_or_constant_raises():
    g = Graph()
    x = g.input("x")
    y = x + 1
    with pytest.raises(GraphStateError, match="node 'add1' is an op"):
        y.value = 3.0
    x.value = 2.0                            # the same as feeding
    assert g.forward() == 3.0


def test_derivative_wrt_a_tensor_and_bad_tangent_raise():
    g = Graph()
    x = g.input("x")
    y = graph.l2(x)
    g.forward(x=np.ones(3))
    with pytest.raises(GraphShapeError, match="'x' has shape \\(3,\\); use g.jvp"):
        g.derivative(y, wrt=x)
    with pytest.raises(GraphShapeError, match="tangent for 'x' has shape \\(2,\\)"):
        g.jvp(y, {x: np.ones(2)})


def test_student_backward_returning_a_bare_gradient_is_explained():
    class Twice:
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return 2 * dz                    # forgot the tuple

    g = Graph()
    x = g.input("x")
    y = g.apply(Twice(), x, name="twice")
    g.forward(x=1.0)
    with pytest.raises(GraphShapeError, match="node 'twice' \\(Twice\\): backward returned "
                                              "float64, expected a tuple of 1 gradient"):
        g.backward(y)
    assert x.grad is None and y.grad is None    # no half-done gradients left behind


def test_a_refused_apply_adds_no_constant():
    g = Graph()
    a = g.input("a")
    with pytest.raises(GraphBuildError, match="'a': the name is already taken"):
        g.apply(MultiplyGate(), a, 2.0, name="a")
    assert [n.name for n in g.nodes] == ["a"]


def test_an_overflow_is_an_error_naming_the_node_where_it_began():
    from graph.errors import GraphValueError
    g = Graph()
    a = g.input("a")
    e = a * a - a * a              # inf - inf at a = 1e200
    with np.errstate(all="ignore"), pytest.raises(
            GraphValueError, match=r"output 'sub1' is not finite: node 'mul1' \(MultiplyGate\) "
                                   r"computed inf from finite inputs"):
        g.forward(a=1e200)
    with pytest.raises(GraphValueError, match="input 'a' holds NaN"):
        g.forward(a=np.nan)
    assert g.forward(a=3.0) == 0.0          # nothing was lost: the next run is right
    g.backward(e)
    assert a.grad == 0.0


def test_a_bare_array_from_backward_is_refused_not_indexed():
    # indexing the bare array [2, 4] would give a.grad = 2.0 for a = [1, 2], silently
    class Square:
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dz):
            return 2 * self.x * dz              # forgot the tuple

    g = Graph()
    a = g.input("a")
    z = g.apply(Square(), a, name="z")
    g.forward(a=np.array([1.0, 2.0]))
    with pytest.raises(GraphShapeError, match="node 'z' \\(Square\\): backward returned "
                                              "ndarray, expected a tuple of 1 gradient.*"
                                              "return \\(dx,\\)"):
        g.backward(z, upstream=np.ones(2))
    assert a.grad is None


def test_a_gradient_of_the_wrong_shape_is_refused_naming_the_node_and_input():
    class Total:
        def forward(self, x):
            return x.sum()

        def backward(self, dz):
            return (np.ones((3, 4)) * dz,)      # the input has shape (4,)

    g = Graph()
    w = g.input("w")
    s = g.apply(Total(), w, name="s")
    g.forward(w=np.arange(4.0))
    with pytest.raises(GraphShapeError, match="node 's' \\(Total\\): backward returned a "
                                              "gradient of shape \\(3, 4\\) for input 0 'w', "
                                              "which has shape \\(4,\\)"):
        g.backward(s)
    assert w.grad is None


def test_scalar_gradients_may_be_python_floats_and_none_is_allowed():
    class Scaled:
        def forward(self, x, label):
            self.k = 3.0
            return self.k * x

        def backward(self, dz):
            return float(self.k * dz), None     # no gradient for the label

    g = Graph()
    x, label = g.input("x"), g.input("label", differentiable=False)
    y = g.apply(Scaled(), x, label, name="y")
    g.forward(x=2.0, label=1)
    g.backward(y)
    assert float(x.grad) == 3.0


def test_apply_says_jvp_is_optional_and_a_jvp_failing_on_none_is_told_what_to_write():
    class NoBackward:
        def forward(self, x):
            return x

    g = Graph()
    x, y = g.input("x"), g.input("y")
    with pytest.raises(GraphBuildError, match="needs forward and backward \\(jvp is "
                                              "optional"):
        g.apply(NoBackward(), x)

    class NaiveJvp:
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dz):
            return self.y * dz, self.x * dz

        def jvp(self, tx, ty):
            return tx * self.y + ty * self.x     # ty is None when only x moves

    z = g.apply(NaiveJvp(), x, y, name="z")
    g.forward(x=3.0, y=-4.0)
    with pytest.raises(TypeError) as caught:
        g.derivative(z, wrt=x)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "tx = 0 if tx is None else tx" in notes and "node 'z' (NaiveJvp)" in notes


def test_list_gradients_become_arrays_so_fan_out_adds_them():
    # two lists would be joined end to end by +, not added: [2, 2] + [2, 2] = [2, 2, 2, 2]
    class Double:
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return ([2 * d for d in dz],)

    g = Graph()
    a = g.input("a")
    total = graph.sum(g.apply(Double(), a) + g.apply(Double(), a))
    g.forward(a=np.array([1.0, 2.0]))
    g.backward(total)
    np.testing.assert_array_equal(a.grad, [4.0, 4.0])


def test_a_jvp_of_the_wrong_shape_is_refused_naming_the_node():
    class Wide:
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return (2 * dz,)

        def jvp(self, tx):
            return np.ones((3, 4))

    g = Graph()
    a = g.input("a")
    z = g.apply(Wide(), a, name="z")
    g.forward(a=np.array([1.0, 2.0]))
    with pytest.raises(GraphShapeError, match="node 'z' \\(Wide\\): jvp returned a tangent of "
                                              "shape \\(3, 4\\), but the node's value has "
                                              "shape \\(2,\\)"):
        g.jvp(z, {a: np.ones(2)})


def test_matmul_with_a_known_rank_that_does_not_fit_says_so_and_adds_nothing():
    g = Graph()
    W = g.param("W", np.ones((2, 3)))
    v = g.input("v", shape=(3,))
    with pytest.raises(GraphBuildError, match="'W' @ '3': '3' is 0-D; @ needs a vector "
                                              r"\(1-D\) or a matrix \(2-D\) on the right"):
        W @ 3
    with pytest.raises(GraphBuildError, match="'v' @ 'W': 'v' is 1-D; @ needs a matrix "
                                              r"\(2-D\) on the left"):
        v @ W
    with pytest.raises(GraphBuildError, match=r"'array \(3,\)' @ 'W'"):
        np.ones(3) @ W
    assert [n.name for n in g.nodes] == ["W", "v"]
    assert type((W @ v).gate).__name__ == "MatVecGate"
