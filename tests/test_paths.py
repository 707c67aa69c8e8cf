"""Sum over paths: d output / d input is the sum, over every path between them, of the
product of the local derivatives on the path; at a cut vertex the sum factors."""

import math

import numpy as np
import pytest

import graph
from graph import Graph, GraphStateError, dot


def lecture_graph():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    return g


def test_the_lecture_example_has_two_paths_from_b_with_products_2_and_3():
    g = lecture_graph()
    p = g.paths("e", "b")
    assert [[n.name for n in q.nodes] for q in p.paths] == [["b", "c", "e"], ["b", "d", "e"]]
    assert [[e.derivative for e in q.edges] for q in p.paths] == [[1, 2], [1, 3]]
    assert [q.product for q in p.paths] == [2, 3]
    assert p.count == 2 and p.total == 5
    assert str(p.paths[0]) == "b → c → e:  1 × 2 = 2"


def test_the_path_sum_equals_reverse_mode_for_every_input():
    g = Graph.from_expression("a = 2*(x*y + max(z, w))")
    g.forward(x=3, y=-4, z=2, w=-1)
    g.backward("a")
    sums = {name: g.paths("a", name).total for name in "xyzw"}
    assert sums == {"x": -8, "y": 6, "z": 2, "w": 0}
    assert sums == {name: g.node(name).grad for name in "xyzw"}


def test_nine_paths_factor_into_three_times_three_at_the_cut_vertex():
    g = Graph.from_expression("p1 = 2*x; p2 = x**2; p3 = sin(x); y = p1 + p2 + p3\n"
                              "q1 = 3*y; q2 = y**2; q3 = cos(y); z = q1 + q2 + q3")
    g.forward(x=0.5)
    g.backward("z")
    p = g.paths("z", "x")
    assert p.count == len(p.paths) == 9
    assert [s.count for s in p.stages] == [3, 3]
    assert [v.name for v in p.cut_vertices] == ["y"]
    assert p.factored() == "9 paths = 3 × 3 (through y)"
    y = 1 + 0.25 + math.sin(0.5)
    dy_dx, dz_dy = 2 + 1 + math.cos(0.5), 3 + 2 * y - math.sin(y)
    assert p.stages[0].total == pytest.approx(dy_dx, abs=1e-12)
    assert p.stages[1].total == pytest.approx(dz_dy, abs=1e-12)
    assert p.total == pytest.approx(dy_dx * dz_dy, abs=1e-12)
    assert p.total == pytest.approx(g.node("x").grad, abs=1e-12)
    assert "9 paths = 3 × 3 (through y)" in str(p)


def test_a_node_used_twice_by_one_gate_gives_two_parallel_edges():
    g = Graph.from_expression("y = x*x*x")      # a ← x × x; y ← a × x
    g.forward(x=2)
    p = g.paths("y", "x")
    assert p.count == 3
    assert sorted(q.product for q in p.paths) == [4, 4, 4]
    assert p.total == 12                         # 3 x**2 at x = 2


def test_no_path_gives_zero_and_a_node_to_itself_gives_one():
    g = Graph.from_expression("c = a + 1; d = b * 2")
    g.forward(a=1, b=1)
    none = g.paths("c", "b")
    assert (none.count, none.total, none.paths) == (0, 0, [])
    same = g.paths("c", "c")
    assert (same.count, same.total) == (1, 1)
    assert str(same.paths[0]) == "c:  (no edges) = 1"


def test_too_many_paths_are_counted_and_summed_but_not_listed():
    g = Graph()
    x = g.input("x")
    y = x
    for _ in range(20):                          # y_{k+1} = y_k + y_k: 2 edges a stage
        y = y + y
    g.forward(x=1.0)
    p = g.paths(y, x)
    assert p.count == 2 ** 20 and p.paths is None
    assert p.total == 2 ** 20
    assert [s.count for s in p.stages] == [2] * 20
    assert "not listed" in str(p)


def test_a_long_chain_does_not_hit_the_recursion_limit():
    g = Graph()
    x = g.input("x")
    y = x
    for _ in range(3000):
        y = graph.scale(y, 1.0)
    g.forward(x=1.0)
    p = g.paths(y, x)
    assert p.count == 1 and p.total == 1


def test_to_dict_is_json_ready():
    d = lecture_graph().paths("e", "b").to_dict()
    assert d["count"] == 2 and d["sum"] == 5.0
    assert d["paths"][1] == {"nodes": ["b", "d", "e"], "derivatives": [1.0, 3.0],
                             "product": 3.0}


def test_tensor_graphs_are_refused_because_edges_carry_jacobians():
    g = Graph()
    W = g.param("W", np.eye(2))
    x = g.input("x")
    loss = graph.l2(graph.matvec(W, x))
    g.forward(x=np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        g.paths(loss, x)


def test_paths_need_a_forward_pass_first():
    g = Graph.from_expression("e = (a+b)*(b+1)")
    with pytest.raises(GraphStateError, match="forward"):
        g.paths("e", "b")


def test_a_node_of_another_graph_is_refused_not_counted_as_zero_paths():
    g, other = lecture_graph(), lecture_graph()
    with pytest.raises(graph.GraphBuildError, match="node 'b' belongs to another graph"):
        g.paths("e", other.node("b"))

def test_local_derivatives_of_a_block_leave_its_parameter_gradients_alone():
    inner = Graph()
    a = inner.input("a")
    w = inner.param("w", 2.0)
    t = graph.tanh(a * w, name="t")
    outer = Graph()
    x = outer.input("x")
    y = graph.scale(outer.apply(inner.as_gate([a], t), x, name="h"), 3.0, name="y")
    outer.forward(x=0.3)
    outer.backward(y)
    dw = 3 * (1 - np.tanh(0.6) ** 2) * 0.3             # dy/dw = 3 (1 - h^2) x
    assert w.grad == pytest.approx(dw)
    assert outer.paths(y, x).total == pytest.approx(3 * (1 - np.tanh(0.6) ** 2) * 2.0)
    dot.to_dot(outer, y, "reduced")                       # asks the block for dh/dx
    assert w.grad == pytest.approx(dw)                    # what an optimizer reads next
    assert inner.grads_current and outer.grads_current

def test_only_the_part_of_the_graph_the_output_needs_must_have_run():
    g = Graph.from_expression("c = a + b; e = a * 2")
    g.forward(a=1, b=2, outputs="e")             # c is never computed
    assert g.paths("e", "a").total == 2
    assert g.paths("e", "b").count == 0
