"""What a :class:`graph.Graph` checks before it builds, feeds or differentiates, and
the names it gives nodes.

Each function either returns the checked value or raises the error a reader needs,
naming the node, the gate and the shapes; the graph calls them so that its own methods
show the algorithm and not the refusals.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from gates.facts import facts_of

from .blocks import GraphGate
from .errors import (GraphBuildError, GraphFeedError, GraphShapeError, GraphStateError,
                     article, gradient_shape_problem, listing, tangent_shape_problem)
from .node import Node, _float_dtype

__all__ = ["Names", "check_apply", "claim", "constant_value", "short_name", "feed_target",
           "checked_feeds", "check_fed", "seed", "tangent_seed", "unit_tangent",
           "fitted_gradient", "fitted_tangent"]

#: immutable scalar types whose equal re-feed is not a change
_SCALAR_TYPES = (int, float, np.float64, np.float32, np.int64, np.int32)
#: gate instance id -> the node it computes (a gate caches one node's values, in any graph)
_GATE_OWNER: "weakref.WeakValueDictionary[int, Node]" = weakref.WeakValueDictionary()


class Names:
    """The names of a graph's nodes: each used once; fresh ones readable (``add1``)."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self._counters: dict[str, int] = {}

    def take(self, name, kind: str) -> str:
        """``name`` for a new node; GraphBuildError if it is empty or taken."""
        if not isinstance(name, str) or not name:
            raise GraphBuildError(f"{kind}: a name must be a non-empty string, got {name!r}")
        if name in self.nodes:
            raise GraphBuildError(f"{kind} '{name}': the name is already taken by "
                                  f"{self.nodes[name]!r}")
        return name

    def find(self, graph, key, what: str) -> Node:
        """The node called ``key``, or ``key`` itself if it is a node of ``graph``;
        GraphBuildError otherwise, naming ``what`` asked."""
        if isinstance(key, str):
            if key not in self.nodes:
                raise GraphBuildError(f"no node named '{key}' in this graph (nodes: "
                                      f"{listing(self.nodes)})")
            return self.nodes[key]
        if not isinstance(key, Node):
            raise GraphBuildError(f"{what}: expected a node or a node's name, got {key!r}")
        if key.graph is not graph:
            raise GraphBuildError(f"{what}: node '{key.name}' belongs to another graph")
        return key

    def fresh(self, base: str, always_number: bool) -> str:
        """An unused name: ``add1``, ``add2``; constants ``1``, ``1_2``."""
        n = self._counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{n}" if always_number else (base if n == 1 else f"{base}_{n}")
            if name not in self.nodes:
                self._counters[base] = n
                return name


def check_apply(graph, gate, nodes, name) -> None:
    """Refuse ``graph.apply(gate, *nodes, name=name)`` before anything is added: a class
    instead of an instance, no forward or backward, a gate instance that already
    computes a node, another number of inputs than the gate declares, a node of another
    graph, or a block that runs ``graph`` (a cycle)."""
    if isinstance(gate, type):
        raise GraphBuildError(f"apply: got the class {gate.__name__}; pass an instance "
                              f"such as {gate.__name__}()")
    for method in ("forward", "backward"):
        if not callable(getattr(gate, method, None)):
            raise GraphBuildError(f"apply: {gate!r} has no {method} method; a gate needs "
                                  f"forward and backward (jvp is optional: forward mode)")
    label = type(gate).__name__
    owner = _GATE_OWNER.get(id(gate))
    if owner is not None:
        raise GraphBuildError(
            f"apply: this {label} instance already computes node '{owner.name}'; a gate "
            f"caches one node's local gradients, so create a new {label}()")
    declared = getattr(gate, "input_names", None)
    if declared is not None and len(declared) != len(nodes):
        raise GraphBuildError(
            f"apply {label}{' ' + repr(name) if name else ''}: takes {len(declared)} "
            f"input(s) ({', '.join(declared)}), got {len(nodes)}")
    for n in nodes:
        if isinstance(n, Node) and n.graph is not graph:
            raise GraphBuildError(f"{label}: node '{n.name}' belongs to another graph")
    if isinstance(gate, GraphGate) and gate.runs(graph):
        # the block would feed and run this very graph while it runs
        what = "this graph" if gate.graph is graph else "a graph holding a block of this graph"
        raise GraphBuildError(f"apply {label}: the block runs {what}; a block cannot be "
                              f"a node of a graph it runs (that is a cycle)")


def claim(gate, node: Node) -> None:
    """Record that ``gate`` computes ``node`` (see :func:`check_apply`)."""
    _GATE_OWNER[id(gate)] = node


def constant_value(value, name):
    """``value`` as a constant stores it: a Python number as it is (weakly typed beside
    float32, as in numpy), anything else as a read-only array (0-d: a numpy scalar).
    Raises GraphBuildError for a node or values that are not real numbers."""
    if isinstance(value, Node):
        raise GraphBuildError(f"constant: got node '{value.name}', expected a number "
                              f"or an array")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    array = np.array(value)
    if array.dtype.kind not in "fiub":
        raise GraphBuildError(f"constant {name or repr(value)}: dtype {array.dtype} is not "
                              f"real numbers; a constant is a number or an array of numbers")
    array.flags.writeable = False
    return array[()] if array.ndim == 0 else array


def short_name(gate) -> str:
    """The prefix of an op node's default name: ``mul`` (``mul1``, ``mul2``) from
    :mod:`gates.facts`; a student's ``SquareGate`` gives ``square``."""
    facts = facts_of(gate)
    if facts is not None:
        return facts.short
    label = type(gate).__name__
    base = label[:-4] if label.endswith("Gate") and len(label) > 4 else label
    return base.lower() or "op"


def feed_target(graph, key) -> Node:
    """The input node ``key`` (a node or a name) names; GraphFeedError if none."""
    if isinstance(key, Node):
        node = graph.node(key, "forward")
    else:
        try:
            node = graph.node(key)
        except GraphBuildError:
            raise GraphFeedError(f"forward: no input named '{key}' (inputs: "
                                 f"{listing(graph.inputs)})") from None
    if node.kind != "input":
        hint = (f"set {node.name}.value instead" if node.kind == "param"
                else "only inputs are fed")
        raise GraphFeedError(f"forward: '{node.name}' is {article(node.kind)}, not an input; "
                             f"{hint}")
    return node


def seed(out: Node, upstream):
    """The gradient reverse mode starts from at ``out``: 1 for a scalar, else ``upstream``
    (the gradient of the final scalar w.r.t. ``out``) in the node's dtype. Raises
    GraphShapeError for a non-scalar without upstream or an upstream that does not fit."""
    if upstream is None and type(out.value) in (np.float32, np.float64):
        return out.value.dtype.type(1)      # a scalar loss, the common case: 0.5 us less
    _require_value(out, "backward")
    value = np.asarray(out.value)
    dtype = _float_dtype(value)
    if upstream is None:
        if value.size != 1:
            raise GraphShapeError(
                f"backward: node '{out.name}' has shape {value.shape}, not a scalar; pass "
                f"upstream= (the gradient of the final scalar w.r.t. it)")
        return dtype.type(1) if value.ndim == 0 else np.ones(value.shape, dtype)
    up = np.asarray(upstream)
    if up.dtype.kind not in "fiub":
        raise GraphShapeError(f"backward: upstream for '{out.name}' has dtype {up.dtype}; "
                              f"expected real numbers")
    if up.shape != value.shape:
        raise GraphShapeError(f"backward: upstream for '{out.name}' has shape {up.shape}, the "
                              f"node has shape {value.shape}")
    if up.dtype != dtype:
        up = up.astype(dtype)
    return up[()] if up.ndim == 0 else up


def tangent_seed(node: Node, tangent) -> tuple:
    """``(node, tangent as an array of its shape)``: GraphStateError for a node without a
    value, GraphShapeError for a tangent of another shape."""
    _require_value(node, "jvp")
    t = np.asarray(tangent)
    if t.shape != np.shape(node.value):
        raise GraphShapeError(f"jvp: tangent for '{node.name}' has shape {t.shape}, the "
                              f"node has shape {np.shape(node.value)}")
    return node, t


def unit_tangent(node: Node) -> np.ndarray:
    """Tangent 1 for a scalar node (:meth:`Graph.derivative`); GraphShapeError for a
    tensor, GraphStateError for a node without a value."""
    _require_value(node, "derivative")
    shape = np.shape(node.value)
    if np.prod(shape) != 1:
        raise GraphShapeError(f"derivative: '{node.name}' has shape {shape}; use "
                              f"g.jvp(output, {{node: direction}}) for tensors")
    return np.ones(shape, _float_dtype(node.value))


def _require_value(node: Node, what: str) -> None:
    if node.value is None:
        raise GraphStateError(f"{what}: node '{node.name}' has no value; run g.forward() "
                              f"first")


def check_fed(inputs) -> None:
    """Refuse to run while one of ``inputs`` was never fed."""
    missing = [n.name for n in inputs if n.value is None]
    if missing:
        raise GraphFeedError(f"forward: input(s) {', '.join(map(repr, missing))} not fed; "
                             f"pass e.g. g.forward({missing[0]}=...)")


def checked_feeds(graph, feeds: dict) -> list:
    """``(input node, value)`` for every feed that changes an input (an equal scalar does
    not; any array does, the graph cannot see it edited in place), all checked before
    any is stored: GraphFeedError for an unknown name, a node that is no input, ``None``
    or a node as a value, or a shape that is not the declared one."""
    checked = []
    for key, value in feeds.items():
        node = feed_target(graph, key)
        if value is None or isinstance(value, Node):
            raise GraphFeedError(f"input '{node.name}': fed {value!r}; expected a number or "
                                 f"an array")
        spec = node.shape_spec
        if spec is not None:
            shape = np.shape(value)
            if len(shape) != len(spec) or any(s is not None and s != n
                                               for s, n in zip(spec, shape)):
                want = ", ".join("None" if s is None else str(s) for s in spec)
                want = f"({want},)" if len(spec) == 1 else f"({want})"
                raise GraphFeedError(f"input '{node.name}' expects shape {want}, got a "
                                     f"value of shape {shape}")
        old = node.value
        if not (type(value) is type(old) and type(value) in _SCALAR_TYPES and value == old):
            checked.append((node, value))
    return checked


def fitted_gradient(node: Node, pos: int, grad):
    """A gradient ``node``'s backward returned for input ``pos`` whose shape is not
    plainly its input's: a list or a Python number becomes an array (two lists would be
    joined end to end at a fan-out, not added); a wrong shape raises GraphShapeError."""
    grad = np.asarray(grad)
    if grad.shape != np.shape(node.inputs[pos].value):
        raise GraphShapeError(gradient_shape_problem(node, pos, grad))
    return grad[()] if grad.ndim == 0 else grad


def fitted_tangent(node: Node, tangent):
    """The tangent ``node``'s jvp returned; GraphShapeError if it is not of its shape."""
    if np.shape(tangent) != np.shape(node.value):
        raise GraphShapeError(tangent_shape_problem(node, tangent))
    return tangent
