"""The computational graph: gate instances wired into a DAG and run in topological order.

Nodes are ``input`` (fed at each run), ``param`` (trainable state), ``constant`` and
``op`` (one gate instance applied to earlier nodes); a node is built only from nodes
that exist, so creation order is a topological order. Forward runs the gates in that
order, recomputing only op nodes downstream of a change since the last run (a fed
array, a fed scalar that differs, ``param.value = new``). Reverse mode is the chain rule
in reverse order: each gate turns the gradient of its node (the upstream) into local
derivative × upstream per input; gradients arriving at one node add. Paths, tables,
drawings and blocks live in their own modules and use the graph's public methods;
:class:`graph.views.Views` gives a Graph its methods for them (``g.paths``, ...).
"""

from __future__ import annotations

import numbers

import numpy as np

from gates.contract import jvp_none_hint

from .blocks import BackwardPass, GraphGate
from .checks import (Names, check_apply, check_fed, checked_feeds, claim, constant_value,
                     fitted_gradient, fitted_tangent, seed, short_name, tangent_seed,
                     unit_tangent)
from .errors import (GraphShapeError, GraphStateError, gradients_problem, not_current,
                     raise_non_finite, reraise_at_node)
from .node import Node, _float_dtype, _param_array
from .views import Views

__all__ = ["Graph", "Node"]


class Graph(Views):
    """A DAG of gate instances; see the module docstring. The lecture's e = (a+b)(b+1)::

        g = Graph()
        a, b = g.input("a"), g.input("b")
        c = g.apply(AddGate(), a, b, name="c")
        e = g.apply(MultiplyGate(), c, b + 1, name="e")
        g.forward(a=2, b=1)        # 6.0
        g.backward(e)              # a.grad == 2, b.grad == 5
        g.forward(a=4)             # 10.0, recomputes c and e only
        g.derivative(e, wrt=b)     # 7.0, forward mode
    """

    def __init__(self):
        self._nodes: list[Node] = []
        self._names = Names()
        self._changed: list[Node] = []     # nodes given a new value since the last sweep
        self._blocks: list[Node] = []      # op nodes whose gate is a block (graph.blocks)
        self._schedules: dict = {}         # what to run for given outputs, per structure
        self._version = 0                  # bumped by every change of an input or param
        self._grad_version = -1            # the version the gradients were computed at
        self._grad_output = None

    def __repr__(self):
        kinds = [n.kind for n in self._nodes]
        counts = ", ".join(f"{kinds.count(k)} {k}{'s' * (kinds.count(k) != 1)}"
                           for k in ("input", "param", "constant", "op"))
        return f"<Graph: {len(kinds)} nodes ({counts})>"

    # -- building --------------------------------------------------------------------

    def input(self, name: str, *, differentiable: bool = True, shape=None) -> Node:
        """A node fed at each run by ``forward(name=value)``. ``differentiable=False``
        for data whose gradient is never wanted (labels, images); ``shape`` declares the
        shape feeds must have, ``None`` for any size along an axis: ``(None, 784)``."""
        return self._add(Node(self, self._names.take(name, "input"), "input",
                              differentiable=bool(differentiable), shape_spec=shape))

    def param(self, name: str, value) -> Node:
        """A trainable parameter holding ``value`` between runs (a read-only copy;
        integers become float64). Raises GraphShapeError for non-numbers."""
        node = Node(self, self._names.take(name, "param"), "param")
        node._value = _param_array(node, value, None)
        return self._add(node)

    def constant(self, value, name: str | None = None) -> Node:
        """A fixed value: a Python number as it is (weakly typed beside float32, as in
        numpy), an array as a read-only copy."""
        value = constant_value(value, name)
        if name is None:
            number = isinstance(value, numbers.Real)
            name = self._names.fresh(f"{value:g}" if number else "const", not number)
        return self._add(Node(self, self._names.take(name, "constant"), "constant",
                              value=value))

    def apply(self, gate, *nodes, name: str | None = None) -> Node:
        """The op node ``gate(*nodes)`` (numbers and arrays become constants); ``gate`` is
        any object with ``forward``, ``backward`` (and ``jvp`` for forward mode). Raises
        GraphBuildError, changing nothing, for what :func:`graph.checks.check_apply` refuses."""
        check_apply(self, gate, nodes, name)
        name = self._names.fresh(short_name(gate), True) if name is None \
            else self._names.take(name, "op")
        inputs = tuple(n if isinstance(n, Node) else self.constant(n) for n in nodes)
        node = Node(self, name, "op", gate=gate, inputs=inputs)
        wanted = tuple(n._needs for n in inputs)
        if not all(wanted) and hasattr(gate, "needs_input_grad"):
            # linear gates then skip dL/dx of a data batch: a quarter of an MLP step
            gate.needs_input_grad = wanted
        if isinstance(gate, GraphGate):
            self._blocks.append(node)
        claim(gate, node)
        return self._add(node)

    def _add(self, node: Node) -> Node:
        node._index = len(self._nodes)
        self._nodes.append(node)
        self._names.nodes[node.name] = node
        self._schedules.clear()
        return node

    # -- reading: the API the views and blocks use ------------------------------------

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in creation order (a topological order)."""
        return tuple(self._nodes)

    def node(self, key, what: str = "node") -> Node:
        """The node called ``key``, or ``key`` itself if it is a node of this graph;
        GraphBuildError (a ValueError) otherwise, naming ``what`` asked."""
        return self._names.find(self, key, what)

    @property
    def params(self) -> dict[str, Node]:
        """Parameters by name, in creation order."""
        return {n.name: n for n in self._nodes if n.kind == "param"}

    @property
    def inputs(self) -> dict[str, Node]:
        """Inputs by name, in creation order."""
        return {n.name: n for n in self._nodes if n.kind == "input"}

    @property
    def outputs(self) -> tuple[Node, ...]:
        """The op nodes nothing depends on (forward's default)."""
        return tuple(n for n in self._nodes if n.kind == "op" and not n._used)

    @property
    def grad_output(self) -> Node | None:
        """The node the last backward started from, or None."""
        return self._grad_output

    def ancestors(self, outputs) -> list[Node]:
        """``outputs`` and every node they depend on, in topological order (one sweep
        back through the creation order, no recursion: a chain of 10,000 nodes is fine)."""
        keep = bytearray(len(self._nodes))
        for n in outputs:
            keep[self.node(n, "ancestors")._index] = 1
        for n in reversed(self._nodes):
            if keep[n._index]:
                for i in n.inputs:
                    keep[i._index] = 1
        return [n for n in self._nodes if keep[n._index]]

    @property
    def version(self) -> int:
        """A count bumped by every change of an input or parameter."""
        self._propagate()
        return self._version

    @property
    def grads_current(self) -> bool:
        """True if ``.grad`` is from a ``backward`` since inputs and parameters last changed."""
        return self.version == self._grad_version

    # -- feeding, and what a change puts out of date ----------------------------------

    def feed(self, feeds: dict):
        """Give inputs (keys: nodes or names) new values without running; every feed is
        checked before any is stored (GraphFeedError, see :meth:`forward`)."""
        for node, value in checked_feeds(self, feeds):
            node._value = value
            self._mark_changed(node)

    def _mark_changed(self, node: Node):
        """``node`` (a leaf, or a block whose parameters changed) has a new value."""
        self._version += 1
        node._dirty, node._set_at = True, self._version
        self._changed.append(node)

    def _propagate(self):
        """Mark dirty every op node downstream of a change since the last sweep."""
        for n in self._blocks:
            if not n._dirty and n.gate.state_changed():     # the block's own parameters
                self._mark_changed(n)
        if not self._changed:
            return
        for n in self._nodes:       # topological order: a node's inputs are settled first
            if n._gate is not None and not n._dirty:
                for i in n._inputs:
                    if i._dirty:
                        n._dirty = True
                        break
        for n in self._changed:
            if n._gate is None:
                n._dirty = False    # a leaf's mark has been passed on
        self._changed.clear()

    def _require_current(self, nodes, what: str):
        """Raise unless every op node of ``nodes`` was computed from the current values
        (so its gate's cache holds the current local derivatives)."""
        self._propagate()
        for n in nodes:
            if n._gate is not None and (n._value is None or n._dirty):
                raise not_current(n, what)

    # -- forward ---------------------------------------------------------------------

    def forward(self, feeds=None, /, *, outputs=None, **named):
        """Run with ``feeds`` (a dict keyed by input node or name) and keyword values;
        return the value of ``outputs`` (a node, or a tuple for a list; by default the
        only output, or a tuple of several). Only the outputs' ancestors downstream of a
        change since the last run are computed. Raises GraphFeedError for an unknown name,
        a shape not the declared one or an input never fed; GraphValueError for a NaN or
        infinite output, naming where it began; a gate's error prefixed ``node 'e'
        (MultiplyGate): `` (the next run recomputes what failed)."""
        if feeds or named:
            self.feed({**(feeds or {}), **named})
        outs, single, order, fed = self._schedule(outputs)
        check_fed(fed)
        self._propagate()
        node = None
        try:
            for node in order:
                if node._dirty:
                    node._value = node._gate.forward(*[i._value for i in node._inputs])
                    node._dirty = False
        except Exception as exc:
            reraise_at_node(node, "forward", exc)
        for n in outs:
            if not np.isfinite(n._value).all():     # NaN and inf spread: test outputs only
                raise_non_finite(order, n)
        return outs[0]._value if single else tuple(n._value for n in outs)

    def _schedule(self, outputs):
        """(outputs, one asked for?, their ancestors in topological order, the inputs)."""
        key = outputs if outputs is None or isinstance(outputs, (Node, str)) else tuple(outputs)
        if key not in self._schedules:
            single = not isinstance(key, tuple)
            outs = (self.outputs if key is None else
                    tuple(self.node(n, "forward") for n in ((key,) if single else key)))
            if key is None and not outs:
                raise GraphStateError("forward: the graph has no op node; apply a gate first")
            order = self.ancestors(outs)
            self._schedules[key] = (outs, single and len(outs) == 1, order,
                                    [n for n in order if n.kind == "input"])
        return self._schedules[key]

    # -- reverse mode ----------------------------------------------------------------

    def backward(self, output, upstream=None, *, wrt=None, accumulate: bool = False):
        """Reverse mode: set ``.grad`` = d output / d node on every node on a path from a
        differentiable input or parameter (or from ``wrt``) to ``output``, None elsewhere;
        ``upstream`` is d final scalar / d output (default 1). A second call gives the
        same gradients; ``accumulate=True`` adds them to those of inputs and parameters.
        Raises GraphStateError if an input or parameter changed since ``forward``,
        GraphShapeError for a non-scalar output without ``upstream`` or a gradient of the
        wrong shape, a gate's error naming the node (and then no node has a gradient)."""
        plan = self._reverse_plan(output, upstream, wrt)
        # blocks of one inner graph add up their parameters' gradients over one pass
        with BackwardPass(accumulate):
            try:
                grads = self._reverse(*plan)
            except Exception:
                self.zero_grad()
                raise
        for n in self._nodes:
            grad = grads.get(n)
            if accumulate and n.grad is not None and n._gate is None:
                grad = n.grad if grad is None else n.grad + grad
            n.grad = grad
        self._grad_version, self._grad_output = self._version, plan[0]

    def gradients(self, output, upstream=None, *, wrt=None) -> dict:
        """:meth:`backward`'s gradients as ``{node: d output / d node}``, stored nowhere
        (a block's inner parameters keep their ``.grad`` too)."""
        plan = self._reverse_plan(output, upstream, wrt)
        with BackwardPass(keep=True):
            return self._reverse(*plan)

    def _reverse(self, out, start, steps) -> dict:
        """The chain rule: in reverse topological order each gate turns the gradient of
        its node (the upstream) into local derivative × upstream for each input."""
        grads = {out: start}
        node = None
        try:
            for node, targets in steps:
                upstream = grads.get(node)
                if upstream is None:
                    continue
                local = node._gate.backward(upstream)
                # any gate may be hand-written: a bare array would be indexed and a wrong
                # shape would flow on silently, so what it returns is checked per edge
                if type(local) not in (tuple, list) or len(local) != len(node._inputs):
                    raise GraphShapeError(gradients_problem(node, local))
                for pos, inp in targets:
                    grad = local[pos]
                    if grad is None:
                        continue
                    # attributes first: np.shape on each edge costs 1 us a node (scalar chain)
                    if getattr(grad, "shape", None) != getattr(inp._value, "shape", None):
                        grad = fitted_gradient(node, pos, grad)
                    old = grads.get(inp)
                    grads[inp] = grad if old is None else old + grad    # fan-out adds
        except Exception as exc:
            reraise_at_node(node, "backward", exc)
        return grads

    def _reverse_plan(self, output, upstream, wrt):
        """(output, seed, op nodes in reverse order with their inputs that want a gradient),
        once per structure: choosing the inputs in the loop costs 0.25 us a node."""
        out = self.node(output, "backward")
        starts = wrt if wrt is None else frozenset(self.node(n, "backward") for n in (
            [wrt] if isinstance(wrt, (Node, str)) else wrt))
        key = ("backward", out, starts)
        if key not in self._schedules:
            wanted = set()
            for n in self._schedule(out)[2]:
                if n._needs if starts is None else (
                        n in starts or any(i in wanted for i in n.inputs)):
                    wanted.add(n)
            self._schedules[key] = [
                (n, tuple((pos, i) for pos, i in enumerate(n.inputs) if i in wanted))
                for n in reversed(self._nodes) if n._gate is not None and n in wanted]
        self._require_current(self._schedule(out)[2], "backward")
        return out, seed(out, upstream), self._schedules[key]

    def local_gradients(self, node, upstream=1.0) -> tuple:
        """What ``node``'s gate sends down each input for ``upstream``: local derivative ×
        upstream. Changes no stored gradient, neither this graph's nor a block's."""
        node = self.node(node, "local_gradients")
        self._require_current([node], "local_gradients")
        with BackwardPass(keep=True):
            return tuple(node.gate.backward(upstream))

    def zero_grad(self):
        """Set every node's ``.grad`` to ``None`` (no arrays are allocated)."""
        for n in self._nodes:
            n.grad = None
        self._grad_version = -1

    # -- forward mode ----------------------------------------------------------------

    def tangents(self, outputs, seeds: dict) -> list:
        """Forward mode: the tangent of each of ``outputs`` when the nodes of ``seeds``
        (node -> tangent) move and the others stay. In topological order each gate's
        ``jvp`` turns its inputs' tangents into its output's, from the local derivatives
        cached by ``forward``. GraphStateError if the graph is not up to date."""
        outs = [self.node(n, "jvp") for n in outputs]
        order = self.ancestors(outs)
        self._require_current(order, "jvp")
        tan = dict(tangent_seed(self.node(k, "jvp"), t) for k, t in seeds.items())
        node, ts = None, ()
        try:
            for node in order:
                if node._gate is not None and node not in tan:
                    ts = [tan.get(i) for i in node._inputs]
                    if any(t is not None for t in ts):
                        tan[node] = fitted_tangent(node, node._gate.jvp(*ts))
        except Exception as exc:
            reraise_at_node(node, "jvp", exc, jvp_none_hint(exc, ts))
        # no path from a seeded node: the derivative is 0
        return [tan[n] if n in tan else np.zeros(np.shape(n._value), _float_dtype(n._value))
                for n in outs]

    def jvp(self, output, tangents: dict):
        """d output along ``tangents`` (node -> tangent, others 0); see :meth:`tangents`."""
        return self.tangents([output], tangents)[0]

    def derivative(self, output, wrt):
        """d output / d wrt for a scalar ``wrt`` by forward mode ("phương pháp tiến")."""
        node = self.node(wrt, "derivative")
        return self.jvp(output, {node: unit_tangent(node)})
