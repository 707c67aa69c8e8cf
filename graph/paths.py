"""Sum over paths: the chain rule on a graph, written out path by path.

For an output z and an input x, dz/dx is the sum, over every path from x to z, of the
product of the local derivatives on the path's edges (the lecture's "tổng theo các
đường đi"). Reverse mode gets the same number without listing the paths, which is why
it is used; listing them shows where the number comes from.

Where every path passes through one node y (a *cut vertex*), the sum factors:
dz/dx = (sum over paths x -> y) * (sum over paths y -> z), and the number of paths is
the product of the stage counts: the lecture's 9 paths = 3 x 3.

Only scalar graphs have a number on each edge; :func:`paths` refuses others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gates.i18n import tr

from .errors import GraphStateError

__all__ = ["Edge", "Path", "PathSum", "ancestors", "edges", "local_derivatives", "paths",
           "fmt"]

#: More paths than this are counted but not listed.
MAX_PATHS = 10_000


def fmt(x) -> str:
    """A number as the tables print it: 4 significant digits, no '-0'."""
    x = float(x)
    return "0" if x == 0 else f"{x:.4g}"


@dataclass(frozen=True)
class Edge:
    """The edge from ``source`` into the gate of ``target``, at input ``index``.

    ``derivative`` is the local derivative d target / d source on this edge alone
    (a node used twice by one gate, as in x * x, has two edges)."""

    source: object
    target: object
    index: int
    derivative: float


@dataclass(frozen=True)
class Path:
    """A path x -> ... -> z: its first node, its edges and the product of their local
    derivatives (1 for the empty path from a node to itself)."""

    start: object
    edges: tuple

    @property
    def nodes(self) -> tuple:
        """The nodes along the path, from ``start`` to the output."""
        return (self.start,) + tuple(e.target for e in self.edges)

    @property
    def product(self) -> float:
        """The product of the local derivatives on the path's edges."""
        return math.prod(e.derivative for e in self.edges)

    def __str__(self) -> str:
        names = " → ".join(n.name for n in self.nodes)
        if not self.edges:
            return f"{names}:  " + tr("(no edges)") + " = 1"
        factors = " × ".join(fmt(e.derivative) for e in self.edges)
        return f"{names}:  {factors} = {fmt(self.product)}"


@dataclass
class PathSum:
    """Every path from ``wrt`` to ``output`` and their sum, d output / d wrt.

    ``count`` is the number of paths (counted even when there are too many to list);
    ``paths`` lists them when ``count <= MAX_PATHS``, else it is ``None``; ``total`` is
    the sum of their products. ``stages`` is the factorisation at the cut vertices, one
    PathSum per stage (empty when there is no cut vertex or only one path), with
    ``prod(stage.total) == total`` and ``prod(stage.count) == count``.
    """

    output: object
    wrt: object
    count: int
    total: float
    paths: list | None
    stages: list = field(default_factory=list)

    @property
    def cut_vertices(self) -> list:
        """The nodes every path passes through, in order from ``wrt`` to ``output``."""
        return [s.output for s in self.stages[:-1]]

    def factored(self) -> str:
        """``'9 paths = 3 × 3 (through y)'``, or ``''`` without a cut vertex."""
        if not self.stages:
            return ""
        counts = " × ".join(str(s.count) for s in self.stages)
        through = ", ".join(v.name for v in self.cut_vertices)
        return tr("{count} paths = {counts} (through {through})").format(
            count=self.count, counts=counts, through=through)

    def __str__(self) -> str:
        z, x = self.output.name, self.wrt.name
        head = (tr("∂{output}/∂{wrt} as a sum over {count} path") if self.count == 1 else
                tr("∂{output}/∂{wrt} as a sum over {count} paths"))
        lines = [head.format(output=z, wrt=x, count=self.count) + ":"]
        if self.paths is None:
            lines.append("  " + tr("(more than {limit} paths: not listed)").format(
                limit=MAX_PATHS))
        else:
            lines += [f"  {p}" for p in self.paths]
        lines.append("  " + tr("sum = {total}").format(total=fmt(self.total)))
        if self.stages:
            lines.append("  " + tr("factored: {factored}").format(factored=self.factored()))
            for s in self.stages:
                stage = (tr("stage {start} → {end}: {count} path, sum {total}")
                         if s.count == 1 else
                         tr("stage {start} → {end}: {count} paths, sum {total}"))
                lines.append("    " + stage.format(start=s.wrt.name, end=s.output.name,
                                                   count=s.count, total=fmt(s.total)))
            product = " × ".join(fmt(s.total) for s in self.stages)
            lines.append(f"  ∂{z}/∂{x} = {product} = {fmt(self.total)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """In a notebook: the paths as a list, each with its product, and the sum."""
        import html
        return "<pre>" + html.escape(str(self)) + "</pre>"

    def to_dict(self) -> dict:
        """A JSON-ready summary: the paths as node-name lists with their products."""
        return {
            "output": self.output.name, "wrt": self.wrt.name, "count": self.count,
            "sum": float(self.total),
            "paths": None if self.paths is None else [
                {"nodes": [n.name for n in p.nodes],
                 "derivatives": [float(e.derivative) for e in p.edges],
                 "product": float(p.product)} for p in self.paths],
            "stages": [{"from": s.wrt.name, "to": s.output.name, "count": s.count,
                        "sum": float(s.total)} for s in self.stages],
        }


def local_derivatives(node) -> tuple:
    """The local derivative of ``node`` with respect to each of its inputs.

    For a scalar node this is the gate's ``backward`` with upstream 1, called after a
    forward pass (:meth:`Graph.local_gradients`, which changes no stored gradient): no
    gate needs a special case. Entries are None for inputs that are not differentiable.
    Raises ValueError for a node or input that is not a scalar (its local derivative
    is a Jacobian, not a number), and GraphStateError when the node was not computed
    by a forward pass since its inputs last changed.
    """
    if node.gate is None:
        return ()
    if node.value is None or node.stale:
        raise GraphStateError(tr("node '{name}' has no current value, so its gate holds "
                                 "no local derivatives; run g.forward(...) first")
                              .format(name=node.name))
    _require_scalar(node)
    for inp in node.inputs:
        _require_scalar(inp)
    local = node.graph.local_gradients(node, 1.0)
    return tuple(None if d is None else float(d) for d in local)


def _require_scalar(node) -> None:
    if node.value is not None and np.ndim(node.value) != 0:
        raise ValueError(tr("node '{name}' has shape {shape}: local derivatives and path "
                            "sums are numbers only on scalar graphs")
                         .format(name=node.name, shape=np.shape(node.value)))


def ancestors(graph, output) -> list:
    """``output`` and every node it depends on, in the graph's (topological) order."""
    return graph.ancestors([output])


def edges(nodes) -> list[Edge]:
    """Every edge into ``nodes`` (nodes of a scalar graph, run forward) with its local
    derivative, in node order."""
    out = []
    for node in nodes:
        for i, (inp, d) in enumerate(zip(node.inputs, local_derivatives(node))):
            if d is not None:
                out.append(Edge(inp, node, i, d))
    return out


def paths(graph, output, wrt, max_paths: int = MAX_PATHS) -> PathSum:
    """Every path from ``wrt`` to ``output`` with its product of local derivatives.

    ``output`` and ``wrt`` are nodes or node names; ``output`` must have been computed
    by a forward pass. The result's ``total`` equals d output / d wrt from
    ``graph.backward``; its ``stages`` factor the sum at the cut vertices. Raises
    ValueError on a non-scalar graph, GraphBuildError (a ValueError) for an unknown
    node name or a node of another graph, and GraphStateError when ``output`` is not
    up to date.
    """
    output, wrt = graph.node(output, "paths"), graph.node(wrt, "paths")
    order = ancestors(graph, output)
    if not any(n is wrt for n in order):
        return PathSum(output, wrt, 0, 0.0, [])
    out_edges: dict[int, list[Edge]] = {}
    for edge in edges(order):
        out_edges.setdefault(id(edge.source), []).append(edge)
    return _path_sum(order, out_edges, wrt, output, max_paths, factor=True)


def _counts(order, out_edges, wrt, output):
    """Paths from wrt to each node, and from each node to output (exact integers)."""
    index = {id(n): i for i, n in enumerate(order)}
    start, stop = index[id(wrt)], index[id(output)]
    span = order[start:stop + 1]
    into = {id(wrt): 1}
    for node in span:
        c = into.get(id(node), 0)
        if c:
            for e in out_edges.get(id(node), ()):
                into[id(e.target)] = into.get(id(e.target), 0) + c
    onward = {id(output): 1}
    for node in reversed(span):
        c = sum(onward.get(id(e.target), 0) for e in out_edges.get(id(node), ()))
        if node is not output:
            onward[id(node)] = c
    return span, into, onward


def _path_sum(order, out_edges, wrt, output, max_paths, factor):
    span, into, onward = _counts(order, out_edges, wrt, output)
    count = into.get(id(output), 0)
    listed = None
    if count <= max_paths:
        listed = _walk(wrt, output, out_edges, onward)
        total = math.fsum(p.product for p in listed)
    else:
        total = _sum_by_nodes(span, out_edges, wrt, output)
    result = PathSum(output, wrt, count, total, listed)
    if factor and count > 1:
        cuts = [n for n in span[1:-1]
                if into.get(id(n), 0) * onward.get(id(n), 0) == count]
        if cuts:
            ends = [wrt] + cuts + [output]
            result.stages = [_path_sum(order, out_edges, a, b, max_paths, factor=False)
                             for a, b in zip(ends, ends[1:])]
    return result


def _walk(wrt, output, out_edges, onward) -> list[Path]:
    """Depth-first, with an explicit stack so long chains do not hit the recursion limit;
    only into nodes from which the output can be reached."""
    found = []
    stack = [(wrt, ())]
    while stack:
        node, prefix = stack.pop()
        if node is output:
            found.append(Path(wrt, prefix))
            continue
        for e in reversed(out_edges.get(id(node), ())):
            if onward.get(id(e.target), 0):
                stack.append((e.target, prefix + (e,)))
    return found


def _sum_by_nodes(span, out_edges, wrt, output) -> float:
    """The path sum without listing paths: accumulate along the topological order."""
    acc = {id(wrt): 1.0}
    for node in span:
        a = acc.get(id(node))
        if a is not None:
            for e in out_edges.get(id(node), ()):
                acc[id(e.target)] = acc.get(id(e.target), 0.0) + a * e.derivative
    return acc.get(id(output), 0.0)
