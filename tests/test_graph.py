"""The Graph on the lecture's worked examples: forward, reverse mode, forward mode,
incremental update, fan-out, and the semantics of .grad."""

import numpy as np
import pytest

import graph
from gates import AddGate, MultiplyGate
from gates.facts import FACTS
from graph import Graph, GraphReadOnlyError, GraphStateError


class CountingAdd(AddGate):
    """An AddGate that counts its forward calls (to see what a run recomputes)."""

    calls = 0

    def forward(self, *inputs):
        CountingAdd.calls += 1
        return super().forward(*inputs)


class CountingMultiply(MultiplyGate):
    calls = 0

    def forward(self, *inputs):
        CountingMultiply.calls += 1
        return super().forward(*inputs)


def lecture_graph():
    """e = (a + b)(b + 1) with the lecture's names: c = a + b, d = b + 1, e = c * d."""
    g = Graph()
    a, b = g.input("a"), g.input("b")
    c = g.apply(CountingAdd(), a, b, name="c")
    d = g.apply(CountingAdd(), b, 1, name="d")
    e = g.apply(CountingMultiply(), c, d, name="e")
    return g, a, b, c, d, e


def test_lecture_e_forward_values():
    g, a, b, c, d, e = lecture_graph()
    assert g.forward(a=2, b=1) == 6
    assert (c.value, d.value, e.value) == (3, 2, 6)


def test_lecture_e_reverse_mode():
    g, a, b, c, d, e = lecture_graph()
    g.forward(a=2, b=1)
    g.backward(e)
    assert e.grad == 1
    assert c.grad == 2 and d.grad == 3      # multiply gate switches: de/dc = d, de/dd = c
    assert a.grad == 2
    assert b.grad == 5                      # fan-out: 2 via c plus 3 via d


def test_lecture_e_forward_mode():
    g, a, b, c, d, e = lecture_graph()
    g.forward(a=2, b=1)
    assert g.derivative(e, wrt=a) == 2
    assert g.derivative(e, wrt=b) == 5


def test_lecture_update_a_to_4_recomputes_only_c_and_e():
    g, a, b, c, d, e = lecture_graph()
    g.forward(a=2, b=1)
    CountingAdd.calls = CountingMultiply.calls = 0
    assert g.forward(a=4) == 10             # b = 1 is kept
    assert CountingAdd.calls == 1           # c only; d = b + 1 did not change
    assert CountingMultiply.calls == 1      # e
    assert (c.value, d.value) == (5, 2)
    assert g.derivative(e, wrt=b) == 7      # forward mode at the new point
    g.backward(e)
    assert b.grad == 7 and a.grad == 2


def test_refeeding_an_equal_scalar_recomputes_nothing():
    g, a, b, c, d, e = lecture_graph()
    g.forward(a=2, b=1)
    CountingAdd.calls = CountingMultiply.calls = 0
    assert g.forward(a=2, b=1) == 6
    assert CountingAdd.calls == CountingMultiply.calls == 0


def test_feeding_an_array_always_counts_as_a_change():
    g = Graph()
    x = g.input("x")
    y = g.apply(CountingAdd(), x, 1.0)
    arr = np.array([1.0, 2.0])
    g.forward(x=arr)
    CountingAdd.calls = 0
    arr[0] = 5.0          # edited in place: the graph cannot see it ...
    g.forward(x=arr)      # ... but feeding the array again recomputes
    assert CountingAdd.calls == 1
    np.testing.assert_array_equal(y.value, [6.0, 3.0])


def test_changing_a_param_recomputes_downstream_and_in_place_edits_raise():
    g = Graph()
    x = g.input("x")
    w = g.param("w", np.array([2.0, 3.0]))
    y = g.apply(CountingMultiply(), x, w, name="y")
    g.forward(x=np.array([1.0, 1.0]))
    # not numpy's bare "output array is read-only": which parameter, and what to write
    says = r"parameter 'w' cannot be changed in place.*w\.value = w\.value - lr \* w\.grad"
    with pytest.raises(GraphReadOnlyError, match=says):
        w.value[0] = 10.0
    with pytest.raises(GraphReadOnlyError, match=says):
        w.value += 1.0
    with pytest.raises(GraphReadOnlyError, match=says):
        np.multiply(w.value, 2.0, out=w.value)
    CountingMultiply.calls = 0
    g.forward()
    assert CountingMultiply.calls == 0          # nothing changed
    w.value = w.value - 1.0                      # what an optimizer does
    g.forward()
    assert CountingMultiply.calls == 1
    np.testing.assert_array_equal(y.value, [1.0, 2.0])


def test_param_value_is_a_private_copy_with_the_params_dtype():
    g = Graph()
    source = np.ones(3, np.float32)
    w = g.param("w", source)
    source[0] = 7.0                  # the caller's array is not the parameter
    assert w.value[0] == 1.0
    w.value = np.zeros(3)            # float64 in, still float32
    assert w.value.dtype == np.float32
    with pytest.raises(graph.GraphShapeError, match="'w' has shape \\(3,\\)"):
        w.value = np.zeros(4)


def test_backward_after_a_change_without_forward_raises():
    g = Graph()
    x = g.input("x")
    w = g.param("w", 2.0)
    y = x * w
    g.forward(x=3.0)
    w.value = 5.0
    with pytest.raises(GraphStateError, match="out of date"):
        g.backward(y)
    g.forward()
    g.backward(y)
    assert w.grad == 3.0 and x.grad == 5.0


def test_lecture_max_example():
    """a = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1."""
    g = Graph()
    x, y, z, w = (g.input(n) for n in "xyzw")
    a = 2 * (x * y + graph.maximum(z, w))
    assert g.forward(x=3, y=-4, z=2, w=-1) == -20
    g.backward(a)
    assert (x.grad, y.grad, z.grad, w.grad) == (-8, 6, 2, 0)


def test_lecture_l2_of_matrix_vector_product():
    """L = L2(W x): dL/dW = 2 (W x) x^T, dL/dx = 2 W^T (W x)."""
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x")
    L = graph.l2(graph.matvec(W, x))
    assert g.forward(x=np.array([0.2, 0.4])) == pytest.approx(0.116)
    g.backward(L)
    np.testing.assert_allclose(W.grad, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(x.grad, [-0.112, 0.636])


def test_matmul_operator_picks_matvec_for_a_declared_vector():
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x", shape=(2,))
    q = W @ x
    assert type(q.gate).__name__ == "MatVecGate"
    L = graph.l2(q)
    g.forward(x=[0.2, 0.4])
    assert L.value == pytest.approx(0.116)
    # the directional derivative in direction v is grad . v (forward mode on tensors)
    v = np.array([1.0, -2.0])
    g.backward(L)
    assert g.jvp(L, {x: v}) == pytest.approx(-0.112 * 1.0 + 0.636 * -2.0)


def test_backward_replaces_grads_unless_accumulate():
    g, a, b, c, d, e = lecture_graph()
    g.forward(a=2, b=1)
    g.backward(e)
    g.backward(e)
    assert b.grad == 5                       # replaced, not 10
    g.backward(e, accumulate=True)
    assert b.grad == 10 and a.grad == 4
    g.zero_grad()
    assert all(n.grad is None for n in g.nodes)


def test_grads_current_says_whether_grad_belongs_to_the_current_values():
    g, a, b, c, d, e = lecture_graph()
    assert not g.grads_current               # no backward yet
    g.forward(a=2, b=1)
    g.backward(e)
    assert g.grads_current and b.grad == 5
    g.forward(a=4)                           # b.grad still says 5; at a=4 it is 7
    assert not g.grads_current
    g.backward(e)
    assert g.grads_current and b.grad == 7

def test_fan_out_adds_gradients():
    g = Graph()
    x = g.input("x")
    y = x * x * x                            # x feeds two gates
    g.forward(x=2.0)
    g.backward(y)
    assert x.grad == 12.0                    # 3 x^2


def test_backward_with_explicit_upstream_and_wrt():
    g = Graph()
    x = g.input("x")
    w = g.param("w", np.array([1.0, 2.0, 3.0]))
    y = x * w
    g.forward(x=np.array([4.0, 5.0, 6.0]))
    g.backward(y, upstream=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(w.grad, [4.0, 0.0, 12.0])
    g.backward(y, upstream=np.ones(3), wrt=[w])
    np.testing.assert_array_equal(w.grad, [4.0, 5.0, 6.0])
    assert x.grad is None                    # not asked for


def test_constants_and_labels_get_no_grad_and_data_costs_no_dx():
    g = Graph()
    x = g.input("x", differentiable=False)
    y = g.input("y", differentiable=False)
    logits = graph.mlp(g, x, [4, 3, 2], rng=np.random.default_rng(1), dtype=np.float64)
    loss = graph.softmax_cross_entropy(logits, y)
    assert g.node("z1").gate.needs_input_grad == (False, True, True)
    g.forward(x=np.ones((5, 4)), y=np.array([0, 1, 1, 0, 1]))
    g.backward(loss)
    assert x.grad is None and y.grad is None
    assert g.params["W1"].grad.shape == (4, 3)


def test_forward_returns_value_tuple_or_chosen_outputs():
    g = Graph()
    x = g.input("x")
    s = graph.sin(x, name="s")
    c = graph.cos(x, name="c")
    both = g.forward(x=0.0)
    assert both == (0.0, 1.0)                # two outputs: a tuple, in creation order
    assert g.forward(outputs=c) == 1.0       # one node: its value
    assert g.forward(outputs=[c]) == (1.0,)  # a list: a tuple
    assert g.outputs == (s, c)


def test_forward_runs_only_what_the_outputs_need():
    g = Graph()
    x = g.input("x", differentiable=False)
    labels = g.input("y", differentiable=False)
    logits = graph.mlp(g, x, [3, 2], dtype=np.float64)
    graph.softmax_cross_entropy(logits, labels, name="loss")
    out = g.forward(x=np.ones((2, 3)), outputs=logits)   # no labels needed for predictions
    assert out.shape == (2, 2)


def test_student_gate_without_the_base_class_works():
    class Square:
        """Only the contract: forward, backward, jvp."""

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dz):
            return (2 * self.x * dz,)

        def jvp(self, tx):
            return 2 * self.x * tx

    g = Graph()
    x = g.input("x")
    y = g.apply(Square(), x) + 1
    assert g.forward(x=3.0) == 10.0
    g.backward(y)
    assert x.grad == 6.0
    assert g.derivative(y, wrt=x) == 6.0
    assert [n.name for n in g.nodes] == ["x", "square1", "1", "add1"]


def test_operators_build_the_matching_gates():
    g = Graph()
    x, y = g.input("x"), g.input("y")
    z = (x - y) / y + (-x) ** 2
    assert g.forward(x=3.0, y=2.0) == pytest.approx(0.5 + 9.0)
    g.backward(z)
    assert x.grad == pytest.approx(1 / 2 + 2 * 3.0)
    assert y.grad == pytest.approx(-3.0 / 4)
    w = np.array([1.0, 2.0]) + x             # numpy on the left: still a node
    assert isinstance(w, graph.Node)


def test_generated_names_are_readable_and_given_names_unique():
    g = Graph()
    a, b = g.input("a"), g.input("b")
    c = (a + b) * (b + 1)
    assert [n.name for n in g.nodes] == ["a", "b", "add1", "1", "add2", "mul1"]
    assert g.node("mul1") is c
    assert list(g.inputs) == ["a", "b"]


def test_long_chain_needs_no_recursion():
    g = Graph()
    x = g.input("x")
    w, b = g.param("w", 0.5), g.param("b", 0.1)
    h = x
    for _ in range(3000):
        h = graph.tanh(h * w + b)
    g.forward(x=0.3)
    g.backward(h)
    assert np.isfinite(w.grad) and np.isfinite(x.grad)


def test_assigning_a_param_locks_a_fresh_array_and_copies_a_shared_one():
    g = Graph()
    w = g.param("w", np.zeros(3))
    made = []

    def fresh():
        arr = np.full(3, 2.0)
        made.append(id(arr))
        return arr

    w.value = fresh()                        # nobody else holds it: kept, made read-only
    # (w.value shows the stored array through a read-only view: its base)
    assert id(w.value.base) == made[0] and not w.value.flags.writeable
    mine = np.ones(3)
    w.value = mine                           # the caller keeps it: the graph copies
    mine[0] = 9.0
    assert w.value[0] == 1.0 and mine.flags.writeable
    base = np.ones(4)
    w.value = base[1:]                       # a view of someone's array: copied
    base[1] = 9.0
    assert w.value[0] == 1.0
    held = [np.ones(3)]
    w.value = held[0]
    held[0][0] = 9.0
    assert w.value[0] == 1.0


def test_a_parameters_value_reads_like_a_plain_array():
    g = Graph()
    w = g.param("w", np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert repr(w.value) == repr(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert type(w.value - 1.0) is np.ndarray and type(w.value @ np.ones(2)) is np.ndarray
    copy = w.value.copy()
    copy[0, 0] = 9.0                            # a copy is the caller's to change
    assert copy[0, 0] == 9.0 and w.value[0, 0] == 1.0


@pytest.mark.parametrize("facts", list(FACTS.values()), ids=lambda f: f.name)
def test_every_gate_has_a_builder_that_applies_it_and_names_the_node_by_its_facts(facts):
    import gates

    g = Graph()
    arity = len(getattr(gates, facts.name).input_names)
    nodes = [g.input(f"x{i}") for i in range(arity)]
    _, params = facts.cases[0]            # constructor parameters: k, n, axis
    node = getattr(graph.ops, facts.function)(*nodes, **params)
    assert type(node.gate).__name__ == facts.name
    assert node.name == f"{facts.short}1"


def test_the_read_api_that_paths_tables_drawings_and_blocks_use():
    g, a, b, c, d, e = lecture_graph()
    assert g.ancestors([c]) == [a, b, c]
    assert g.node("e") is e and g.node(e) is e
    before = g.version
    g.feed({"a": 2, b: 1})                   # values without a run
    assert g.version == before + 2 and c.stale
    g.forward()
    # the gate's local derivatives (upstream 1): de/dc = d = 2, de/dd = c = 3
    assert g.local_gradients(e) == (2, 3)
    assert g.local_gradients(e, upstream=10.0) == (20, 30)
    grads = g.gradients(e)                   # reverse mode, stored nowhere
    assert (grads[a], grads[b], grads[c], grads[d]) == (2, 5, 2, 3)
    assert a.grad is None and not g.grads_current
    g.backward(e)
    assert g.grads_current and g.grad_output is e
    assert g.local_gradients(c) == (1, 1) and g.grads_current     # nothing stored changed
    assert g.tangents([c, e], {b: 1.0}) == [1, 5]                 # forward mode: d./db
    g.feed({"a": 4})
    assert not g.grads_current
