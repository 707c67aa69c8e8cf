"""The computational graph: nodes wired from gate instances, run in topological order.

A :class:`Graph` holds four kinds of :class:`Node`:

- ``input``    fed at each run (``g.forward(a=2)``); ``differentiable=False`` for labels;
- ``param``    trainable state kept between runs (``g.param("W", array)``);
- ``constant`` a fixed number or array (``g.constant(2.0)``, or ``b + 1``);
- ``op``       the output of one gate instance applied to earlier nodes (``g.apply``).

A node can only be built from nodes that already exist, so creation order is a
topological order and a cycle cannot be built. The graph turns that order into
*plans* (flat lists of bound gate methods and input nodes), cached per set of
outputs and invalidated when a node is added, so a run does no graph search.

Incremental update (the lecture's "Cập nhật a=4"): a run recomputes only the op nodes
downstream of the inputs and parameters that changed since the last run. What counts as
a change:

- every fed array (the graph cannot see in-place edits of an array it was given, so
  feeding an array always counts); a fed Python or numpy *scalar* equal to the
  previous one does not count;
- assigning ``param.value = new``; a parameter's array is stored read-only, so
  ``W.value[0] = 1`` or ``W.value += 1`` raise instead of going unseen (see
  :mod:`graph.node` for how, without a copy per optimizer step).

Reverse mode: ``g.backward(e)`` *replaces* every ``.grad`` (a second call gives the
same gradients, not twice them); pass ``accumulate=True`` to add to the gradients of
inputs and parameters instead. ``.grad`` is ``None`` for nodes that got no gradient
(constants, labels, nodes the output does not depend on). Gradients may share
memory with each other and with gate caches: treat them as read-only.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from gates import GateError
from gates.base import jvp_none_hint

from .errors import (GraphBuildError, GraphFeedError, GraphShapeError, GraphStateError,
                     GraphValueError)
from .node import Node, _float_dtype, _gate_label, _param_array

__all__ = ["Graph", "Node"]

_KINDS = ("input", "param", "constant", "op")
#: gate instance id -> the node it belongs to (a gate is one node, in any graph)
_GATE_OWNER: "weakref.WeakValueDictionary[int, Node]" = weakref.WeakValueDictionary()
#: immutable scalar types whose equal re-feed is not a change
_SCALAR_TYPES = (int, float, np.float64, np.float32, np.int64, np.int32)


class BackwardPass:
    """The outermost :meth:`Graph.backward` running now (``BackwardPass.current``,
    None when none runs). A block applied at several nodes shares its inner graph, whose
    parameters must get the *sum* of the gradients of every use: the block adds to the
    gradients it set earlier in the same pass (see :class:`graph.blocks.GraphGate`).
    ``accumulate`` is the outer call's flag, so inner parameters accumulate with it."""

    current: "BackwardPass | None" = None
    __slots__ = ("accumulate",)

    def __init__(self, accumulate: bool):
        self.accumulate = accumulate


class _Plan:
    """A cached schedule: op nodes to run, in order, with what each step needs."""

    __slots__ = ("steps", "inputs", "full", "nodes")


class Graph:
    """A DAG of gate instances; see the module docstring for the semantics.

    Example (the lecture's e = (a + b)(b + 1))::

        g = Graph()
        a, b = g.input("a"), g.input("b")
        c = g.apply(AddGate(), a, b, name="c")
        d = b + 1
        e = g.apply(MultiplyGate(), c, d, name="e")
        g.forward(a=2, b=1)        # 6.0
        g.backward(e)              # a.grad == 2, b.grad == 5
        g.forward(a=4)             # 10.0, recomputes c and e only
        g.derivative(e, wrt=b)     # 7.0, forward mode
    """

    def __repr__(self):
        kinds = [n._kind for n in self._nodes]
        counts = ", ".join(f"{kinds.count(k)} {k}{'s' if kinds.count(k) != 1 else ''}"
                           for k in _KINDS)
        return f"<Graph: {len(self._nodes)} nodes ({counts})>"

    def __init__(self):
        self._nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}
        self._counters: dict[str, int] = {}
        self._changed: set[Node] = set()
        # bumped by every change of an input or parameter; backward records the count
        # it ran at, so a drawing can tell gradients of older values (see graph.dot)
        self._version = 0
        self._grad_version = -1
        self._grad_output = None
        # True when no op node is dirty and nothing changed: backward may skip its check
        self._clean = True
        self._forward_plans: dict = {}
        self._default = None    # (outputs, single, plan) of forward(outputs=None)
        self._backward_plans: dict = {}
        self._downstream: dict = {}
        self._op_count = 0
        # set by a block (Graph.as_gate) that last fed this graph; see graph.blocks
        self._feeder = None
        self._in_block = False     # True while a block feeds this graph
        # the BackwardPass in which a block last set this graph's parameter gradients
        self._param_pass = None
        # op nodes of other graphs computed by a block of this graph
        self._watchers: "weakref.WeakSet[Node]" = weakref.WeakSet()

    # -- building --------------------------------------------------------------------

    def input(self, name: str, *, differentiable: bool = True, shape=None) -> Node:
        """A node fed at each run by ``forward(name=value)``.

        ``differentiable=False`` for data whose gradient is never wanted (labels, the
        images of a training batch): the graph then computes no gradient toward it.
        ``shape`` optionally declares the shape, ``None`` for any size along an axis,
        e.g. ``(None, 784)``; feeds are checked against it.
        """
        if shape is not None:
            shape = tuple(None if s is None else int(s) for s in shape)
        return self._add(Node(self, self._name(name, "input"), "input",
                              differentiable=bool(differentiable), shape_spec=shape))

    def param(self, name: str, value) -> Node:
        """A trainable parameter holding ``value`` between runs (stored as a read-only
        copy; integer values become float64). Raises GraphShapeError for non-numbers."""
        node = Node(self, self._name(name, "param"), "param")
        node._value = _param_array(node, value, None)
        return self._add(node)

    def constant(self, value, name: str | None = None) -> Node:
        """A fixed value. Python numbers stay Python numbers (weakly typed beside
        float32, as in numpy); arrays are stored as read-only copies."""
        if isinstance(value, Node):
            raise GraphBuildError(f"constant: got node '{value.name}', expected a number "
                                  f"or an array")
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            given = value
            value = np.array(value)
            if value.dtype.kind not in "fiub":
                raise GraphBuildError(f"constant {name or repr(given)}: dtype {value.dtype} is "
                                      f"not real numbers; a constant is a number or an array "
                                      f"of numbers")
            value.flags.writeable = False
            if value.ndim == 0:
                value = value[()]
        if name is None:
            base = f"{value:g}" if isinstance(value, numbers.Real) else "const"
            name = self._fresh(base, always_number=not isinstance(value, numbers.Real))
        return self._add(Node(self, self._name(name, "constant"), "constant", value=value))

    def apply(self, gate, *nodes, name: str | None = None) -> Node:
        """The op node ``gate(*nodes)``; numbers and arrays among ``nodes`` become
        constants. ``gate`` is any object with ``forward`` and ``backward`` (and, for
        forward mode only, ``jvp``); it need not subclass :class:`gates.Gate`. Raises
        GraphBuildError if the gate
        instance already belongs to a node, a node belongs to another graph, the name
        is taken, or the gate declares another number of inputs."""
        if isinstance(gate, type):
            raise GraphBuildError(f"apply: got the class {gate.__name__}; pass an instance "
                                  f"such as {gate.__name__}()")
        for method in ("forward", "backward"):
            if not callable(getattr(gate, method, None)):
                raise GraphBuildError(f"apply: {gate!r} has no {method} method; a gate needs "
                                      f"forward and backward (jvp is optional: forward mode)")
        label = _gate_label(gate)
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
        # every check before any constant is added: a refused apply changes nothing
        for n in nodes:
            if isinstance(n, Node) and n.graph is not self:
                raise GraphBuildError(f"{label}: node '{n.name}' belongs to another graph")
        inner = getattr(gate, "graph", None)
        if isinstance(inner, Graph) and self in _graphs_run_by(inner):
            # the block would feed and run this very graph while it runs: a cycle
            runs = "this graph" if inner is self else "a graph holding a block of this graph"
            raise GraphBuildError(f"apply {label}: the block runs {runs}; a block cannot be "
                                  f"a node of a graph it runs (that is a cycle)")
        name = self._fresh(_short_name(gate), always_number=True) if name is None \
            else self._name(name, "op")
        inputs = tuple(self._as_node(n, label) for n in nodes)
        node = Node(self, name, "op", gate=gate, inputs=inputs)
        wanted = tuple(n._needs for n in inputs)
        if not all(wanted) and hasattr(gate, "needs_input_grad"):
            # built-in linear gates then skip e.g. dL/dx of a data batch
            gate.needs_input_grad = wanted
        for n in inputs:
            n._used = True
        if isinstance(inner, Graph):
            inner._watchers.add(node)
        _GATE_OWNER[id(gate)] = node
        self._op_count += 1
        self._clean = False
        return self._add(node)

    def _add(self, node: Node) -> Node:
        node._index = len(self._nodes)
        self._nodes.append(node)
        self._by_name[node.name] = node
        self._forward_plans.clear()
        self._backward_plans.clear()
        self._downstream.clear()
        self._default = None
        return node

    def _name(self, name, kind) -> str:
        if not isinstance(name, str) or not name:
            raise GraphBuildError(f"{kind}: a name must be a non-empty string, got {name!r}")
        if name in self._by_name:
            raise GraphBuildError(f"{kind} '{name}': the name is already taken by "
                                  f"{self._by_name[name]!r}")
        return name

    def _fresh(self, base: str, always_number: bool) -> str:
        """A readable unused name: ``add1``, ``add2``; constants ``1``, ``1_2``."""
        n = self._counters.get(base, 0)
        while True:
            n += 1
            if always_number:
                name = f"{base}{n}"
            else:
                name = base if n == 1 else f"{base}_{n}"
            if name not in self._by_name:
                self._counters[base] = n
                return name

    def _as_node(self, x, what: str) -> Node:
        if isinstance(x, Node):
            if x.graph is not self:
                raise GraphBuildError(f"{what}: node '{x.name}' belongs to another graph")
            return x
        return self.constant(x)

    def _binary(self, op: str, x, y) -> Node:
        from . import ops
        return getattr(ops, op)(x, y)

    def _matmul(self, x, y) -> Node:
        from . import ops
        x, y = self._as_node(x, "@"), self._as_node(y, "@")
        ndim = _ndim(y)
        if ndim == 1:
            return ops.matvec(x, y)
        if ndim == 2:
            return ops.matmul(x, y)
        raise GraphBuildError(
            f"'{x.name}' @ '{y.name}': cannot tell whether '{y.name}' is a vector or a "
            f"matrix before it is fed; use graph.matvec or graph.matmul, or declare the "
            f"input's shape, e.g. g.input('{y.name}', shape=(2,))")

    # -- looking up ------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in creation order (a topological order)."""
        return tuple(self._nodes)

    def node(self, name: str) -> Node:
        """The node called ``name``; GraphBuildError (a ValueError) naming it if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise GraphBuildError(f"no node named '{name}' in this graph (nodes: "
                                  f"{_listing(self._by_name)})") from None

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
        """The op nodes nothing depends on (what ``forward`` returns by default)."""
        return tuple(n for n in self._nodes if n.kind == "op" and not n._used)

    # -- forward ---------------------------------------------------------------------

    def forward(self, feeds=None, /, *, outputs=None, **named):
        """Run the graph and return output values.

        ``feeds`` (a dict keyed by input node or name) and keyword arguments give
        input values (an input named ``outputs`` can only be fed through the dict);
        inputs not fed keep their previous values. Only op nodes
        downstream of what changed since the last run are recomputed, and only the
        ancestors of the requested outputs run.

        Returns: with ``outputs=None``, the value of the graph's only output (an op
        node nothing depends on) or a tuple of values if it has several; with
        ``outputs=node`` that node's value; with ``outputs=[n1, n2]`` a tuple.

        Raises GraphFeedError for an unknown name, a value not matching a declared
        shape, or an input needed by the outputs that was never fed; GraphValueError
        when an output is NaN or infinite, naming the node where that began (the
        values stay as computed, for a look). A gate's error
        is re-raised as the same GateError subclass prefixed with the node, e.g.
        ``node 'e' (MultiplyGate): ...``; the graph stays consistent (the failed node
        and everything after it are recomputed by the next run).
        """
        if feeds or named:
            self._feed(feeds, named)
        if outputs is None and self._default is not None:
            outs, single, plan = self._default
        else:
            outs, single = self._resolve_outputs(outputs)
            plan = self._forward_plan(outs)
            if outputs is None:
                self._default = (outs, single, plan)
        missing = [n.name for n in plan.inputs if n._value is None]
        if missing:
            raise GraphFeedError(f"forward: input(s) {', '.join(map(repr, missing))} not fed; "
                                 f"pass e.g. g.forward({missing[0]}=...)")
        self._propagate()
        self._feeder = None
        self._run(plan)
        for n in outs:
            # one cheap test per output instead of one per node: NaN and inf spread
            if not np.isfinite(n._value).all():
                _raise_non_finite(plan.nodes, n)
        if single:
            return outs[0]._value
        return tuple(n._value for n in outs)

    def _run(self, plan):
        node = None
        try:
            # one or two inputs are spelled out: building an argument list per node
            # would cost more than the graph's whole bookkeeping
            for node, fwd, k, a, b, ins in plan.steps:
                if node._dirty:
                    if k == 1:
                        node._value = fwd(a._value)
                    elif k == 2:
                        node._value = fwd(a._value, b._value)
                    else:
                        node._value = fwd(*[i._value for i in ins])
                    node._dirty = False
        except Exception as exc:
            _reraise_at_node(node, "forward", exc)
        if plan.full:
            self._clean = True

    def _resolve_outputs(self, outputs):
        if outputs is None:
            outs = self.outputs
            if not outs:
                raise GraphStateError("forward: the graph has no op node; apply a gate first")
            return outs, len(outs) == 1
        if isinstance(outputs, (Node, str)):
            return (self._own(outputs, "forward"),), True
        return tuple(self._own(n, "forward") for n in outputs), False

    def _own(self, node, what: str) -> Node:
        if isinstance(node, str):
            return self.node(node)
        if not isinstance(node, Node):
            raise GraphBuildError(f"{what}: expected a node or a node's name, got {node!r}")
        if node.graph is not self:
            raise GraphBuildError(f"{what}: node '{node.name}' belongs to another graph")
        return node

    def _feed(self, feeds, named=None):
        """Check every feed first, then store them all (no half-fed graph)."""
        items = list(feeds.items()) if feeds else []
        if named:
            items += named.items()
        checked = []
        by_name = self._by_name
        for key, value in items:
            node = by_name.get(key) if type(key) is str else None
            if node is None or node._kind != "input":
                node = self._feed_target(key)
            if value is None or type(value) is Node:
                raise GraphFeedError(f"input '{node.name}': fed {value!r}; expected a number "
                                     f"or an array")
            spec = node._shape_spec
            if spec is not None:
                shape = np.shape(value)
                if len(shape) != len(spec) or any(s is not None and s != n
                                                   for s, n in zip(spec, shape)):
                    want = ", ".join("None" if s is None else str(s) for s in spec)
                    want = f"({want},)" if len(spec) == 1 else f"({want})"
                    raise GraphFeedError(f"input '{node.name}' expects shape {want}, got a "
                                         f"value of shape {shape}")
            checked.append((node, value))
        for node, value in checked:
            old = node._value
            if (old is not None and type(value) is type(old) and type(value) in _SCALAR_TYPES
                    and value == old):
                continue
            node._value = value
            self._mark_changed(node)

    def _feed_target(self, key) -> Node:
        if isinstance(key, Node):
            node = self._own(key, "forward")
        else:
            node = self._by_name.get(key)
            if node is None:
                raise GraphFeedError(f"forward: no input named '{key}' (inputs: "
                                     f"{_listing(self.inputs)})")
        if node.kind != "input":
            hint = (f"set {node.name}.value instead" if node.kind == "param"
                    else "only inputs are fed")
            raise GraphFeedError(f"forward: '{node.name}' is {_article(node.kind)}, not an input; "
                                 f"{hint}")
        return node

    def _mark_changed(self, node: Node):
        """Record that ``node`` (a leaf, or an op whose block changed) has a new value."""
        self._changed.add(node)
        self._clean = False
        self._version += 1
        # a block's own parameter changed: the outer nodes computed by the block are
        # out of date too (feeds made by the block itself are not news to them)
        if node._kind != "input" and self._watchers and not self._in_block:
            for outer in list(self._watchers):
                outer._graph._mark_changed(outer)

    def _propagate(self):
        """Mark dirty every op node downstream of the leaves changed since last time."""
        if not self._changed:
            return
        key = frozenset(n._index for n in self._changed)
        down = self._downstream.get(key)
        if down is None:
            reached = set(key)
            down = []
            for n in self._nodes:
                if n.kind == "op" and (n._index in key
                                       or any(i._index in reached for i in n.inputs)):
                    reached.add(n._index)
                    down.append(n)
            if len(self._downstream) > 64:
                self._downstream.clear()
            self._downstream[key] = down
        for n in down:
            n._dirty = True
        self._changed.clear()

    def _forward_plan(self, outs) -> _Plan:
        key = tuple(n._index for n in outs)
        plan = self._forward_plans.get(key)
        if plan is None:
            nodes = self._ancestors(outs)
            plan = _Plan()
            plan.nodes = nodes
            plan.steps = [(n, n.gate.forward, len(n.inputs), (n.inputs + (None,))[0],
                           (n.inputs + (None, None))[1], n.inputs)
                          for n in nodes if n.kind == "op"]
            plan.inputs = [n for n in nodes if n.kind == "input"]
            plan.full = len(plan.steps) == self._op_count
            self._forward_plans[key] = plan
        return plan

    def _ancestors(self, outs) -> list[Node]:
        """``outs`` and every node they depend on, in topological order (no recursion:
        a chain of 10,000 nodes is fine)."""
        keep = bytearray(len(self._nodes))
        for n in outs:
            keep[n._index] = 1
        for n in reversed(self._nodes):
            if keep[n._index]:
                for i in n.inputs:
                    keep[i._index] = 1
        return [n for n in self._nodes if keep[n._index]]

    def _require_current(self, nodes, what: str):
        """Raise unless every node was computed and is up to date (gate caches match)."""
        self._propagate()
        if self._clean:
            return
        for n in nodes:
            if n._value is None or n._dirty:
                state = "was never computed" if n._value is None else \
                    "is out of date (an input or parameter changed since the last run)"
                raise GraphStateError(f"{what}: node '{n.name}' {state}; run g.forward() first")

    # -- reverse mode ----------------------------------------------------------------

    def backward(self, output, upstream=None, *, wrt=None, accumulate: bool = False):
        """Reverse mode from ``output``: set ``.grad`` = d output / d node on every node
        on a path from a differentiable input or parameter to ``output``.

        Gates run in reverse topological order; where a node feeds several gates
        (fan-out) their gradients are added. ``upstream`` is the gradient of the final
        scalar w.r.t. ``output`` (default 1; required when ``output`` is not a
        scalar). ``wrt`` (nodes) limits the work to the paths that reach them.

        Every ``.grad`` is replaced (nodes without a gradient get ``None``), so calling
        ``backward`` twice gives the same gradients; ``accumulate=True`` instead adds
        the new gradients to those already on inputs and parameters.

        Raises GraphStateError if ``forward`` has not run since an input or parameter
        changed, GraphShapeError for a non-scalar output without ``upstream`` or an
        upstream of another shape; a gate's error is re-raised naming the node.
        """
        out = self._own(output, "backward")
        plan = self._backward_plan(out, wrt)
        self._require_current(plan.nodes, "backward")
        if out._value is None:
            raise GraphStateError(f"backward: node '{out.name}' has no value; run "
                                  f"g.forward() first")
        seed = _seed(out, upstream)
        saved = {n: n.grad for n in self._nodes if n.kind != "op" and n.grad is not None} \
            if accumulate else None
        for n in self._nodes:
            n.grad = None
        out.grad = seed
        node = grads = None
        outermost = BackwardPass.current is None
        if outermost:
            BackwardPass.current = BackwardPass(accumulate)
        try:
            for node, bwd, targets, arity in plan.steps:
                up = node.grad
                if up is None:
                    continue
                grads = bwd(up)
                # any gate may be hand-written: what it returns is checked per edge (a
                # bare array would be indexed, a wrong shape would flow on, silently)
                if type(grads) is not tuple and type(grads) is not list or \
                        len(grads) != arity:
                    raise _GateReturnError(_gradients_problem(node, grads))
                for pos, inp in targets:
                    gr = grads[pos]
                    if gr is not None:
                        if type(gr) is list or type(gr) is tuple:
                            gr = np.asarray(gr)     # two lists would concatenate at fan-out
                        if getattr(gr, "shape", None) != getattr(inp._value, "shape", None) \
                                and np.shape(gr) != np.shape(inp._value):
                            raise _GateReturnError(_gradient_shape_problem(node, pos, gr))
                        old = inp.grad
                        inp.grad = gr if old is None else old + gr
        except _GateReturnError as exc:
            for n in self._nodes:
                n.grad = None
            raise GraphShapeError(str(exc)) from None
        except Exception as exc:
            for n in self._nodes:
                n.grad = None
            _reraise_at_node(node, "backward", exc)
        finally:
            if outermost:
                BackwardPass.current = None
        if saved:
            for n, old in saved.items():
                n.grad = old if n.grad is None else old + n.grad
        self._grad_version = self._version
        self._grad_output = out

    @property
    def grad_output(self) -> Node | None:
        """The node the last ``backward`` started from (the gradients are of it), or None."""
        return self._grad_output

    @property
    def grads_current(self) -> bool:
        """True if the ``.grad`` values come from a ``backward`` run after the last
        change of an input or parameter (False before any ``backward``)."""
        return self._grad_version == self._version

    def _backward_plan(self, out, wrt) -> _Plan:
        wrt_nodes = None if wrt is None else tuple(
            self._own(n, "backward") for n in (wrt if isinstance(wrt, (list, tuple, set))
                                                else [wrt]))
        key = (out._index, None if wrt_nodes is None
               else frozenset(n._index for n in wrt_nodes))
        plan = self._backward_plans.get(key)
        if plan is not None:
            return plan
        nodes = self._ancestors([out])
        if wrt_nodes is None:
            relevant = {n._index for n in nodes if n._needs}
        else:
            relevant = set()
            targets = {n._index for n in wrt_nodes}
            for n in nodes:
                if n._index in targets or any(i._index in relevant for i in n.inputs):
                    relevant.add(n._index)
        steps = []
        for n in reversed(nodes):
            if n.kind != "op" or n._index not in relevant:
                continue
            targets_ = tuple((pos, i) for pos, i in enumerate(n.inputs)
                             if i._index in relevant)
            steps.append((n, n.gate.backward, targets_, len(n.inputs)))
        plan = _Plan()
        plan.steps = steps
        plan.nodes = [n for n in nodes if n.kind == "op" and n._index in relevant]
        plan.inputs = ()
        plan.full = False
        self._backward_plans[key] = plan
        return plan

    def zero_grad(self):
        """Set every node's ``.grad`` to ``None`` (no arrays are allocated)."""
        for n in self._nodes:
            n.grad = None
        self._grad_version = -1

    # -- forward mode ----------------------------------------------------------------

    def jvp(self, output, tangents: dict):
        """Forward mode: the directional derivative of ``output`` along ``tangents``
        (a dict node -> tangent of that node's shape; nodes not named have tangent 0).

        Pushes tangents through each gate's ``jvp`` in topological order, using the
        local derivatives cached by the last ``forward``. Returns an array of the
        output's shape. Raises GraphStateError if the graph is not up to date and
        GraphShapeError for a tangent of the wrong shape.
        """
        out = self._own(output, "jvp")
        return self._tangents([out], tangents, "jvp")[0]

    def _tangents(self, outs, tangents: dict, what: str) -> list:
        """The tangent of every node of ``outs`` (zeros where no seeded node reaches
        it), from one forward-mode pass seeded with ``tangents``; see :meth:`jvp`."""
        nodes = self._ancestors(outs)
        self._require_current([n for n in nodes if n.kind == "op"], what)
        tan: dict[int, object] = {}
        seeded = set()
        for key, t in tangents.items():
            node = self._own(key, what)
            if node._value is None:
                raise GraphStateError(f"{what}: node '{node.name}' has no value; run "
                                      f"g.forward() first")
            t = np.asarray(t)
            if t.shape != np.shape(node._value):
                raise GraphShapeError(f"{what}: tangent for '{node.name}' has shape "
                                      f"{t.shape}, the node has shape {np.shape(node._value)}")
            tan[node._index] = t
            seeded.add(node._index)
        node, ts = None, ()
        try:
            for node in nodes:
                if node.kind != "op" or node._index in seeded:
                    continue
                ts = [tan.get(i._index) for i in node.inputs]
                if any(t is not None for t in ts):
                    t = node.gate.jvp(*ts)
                    if np.shape(t) != np.shape(node._value):
                        raise _GateReturnError(
                            f"node '{node.name}' ({_gate_label(node.gate)}): jvp returned a "
                            f"tangent of shape {np.shape(t)}, but the node's value has shape "
                            f"{np.shape(node._value)}; a tangent has its output's shape")
                    tan[node._index] = t
        except _GateReturnError as exc:
            raise GraphShapeError(str(exc)) from None
        except Exception as exc:
            hint = jvp_none_hint(exc, ts)
            if hint and hasattr(exc, "add_note"):
                exc.add_note(hint)
            _reraise_at_node(node, "jvp", exc)
        # no path from the seeded nodes: the derivative is 0
        return [tan[n._index] if n._index in tan
                else np.zeros(np.shape(n._value), _float_dtype(n._value)) for n in outs]

    def derivative(self, output, wrt):
        """Forward mode d output / d wrt for a scalar node ``wrt`` (the lecture's
        "phương pháp tiến": seed wrt with tangent 1 and push it forward).
        For a tensor ``wrt`` use :meth:`jvp` with a direction."""
        node = self._own(wrt, "derivative")
        if node._value is None:
            raise GraphStateError(f"derivative: node '{node.name}' has no value; run "
                                  f"g.forward() first")
        shape = np.shape(node._value)
        if np.prod(shape) != 1:
            raise GraphShapeError(f"derivative: '{node.name}' has shape {shape}; "
                                  f"use g.jvp(output, {{node: direction}}) for tensors")
        return self.jvp(output, {node: np.ones(shape, _float_dtype(node._value))})

    # -- the lecture's views (implemented in their own modules) ------------------------

    @classmethod
    def from_expression(cls, source: str) -> "Graph":
        """The graph of ``"e = (a+b)*(b+1)"``, split into the lecture's simple assignments
        (kept as ``g.program``); see :func:`graph.expression.from_expression`."""
        from .expression import from_expression
        return from_expression(source, graph_class=cls)

    def paths(self, output, wrt):
        """Every path from ``wrt`` to ``output`` with the product of its local
        derivatives, summed and factored; see :func:`graph.paths.paths`."""
        from .paths import paths
        return paths(self, output, wrt)

    def explain(self, output, wrt=None):
        """The table of values, local derivatives and gradients; see
        :func:`graph.explain.explain`."""
        from .explain import explain
        return explain(self, output, wrt)

    def to_dot(self, output=None, form: str = "full") -> str:
        """Graphviz DOT text, ``form`` "full" or "reduced"; see :func:`graph.dot.to_dot`."""
        from .dot import to_dot
        return to_dot(self, output, form)

    def to_html(self, output, wrt=None, path=None) -> str:
        """A self-contained HTML page that steps through the forward pass, the backward
        pass, forward mode (with ``wrt``) and the sum over paths of ``output``; written
        to ``path`` too if given. See :mod:`graph.stepper`."""
        from gates._util import atomic_write_text
        text = self.explain(output, wrt).to_html()
        if path is not None:
            atomic_write_text(path, text)
        return text

    def _repr_html_(self) -> str:
        """In a notebook: the drawing with the last forward pass's values."""
        from .stepper import graph_fragment
        return graph_fragment(self)

    # -- blocks and parameters (implemented in their own modules) ----------------------

    def as_gate(self, inputs, output, example_inputs=None):
        """This graph as a :class:`gates.Gate`; see :func:`graph.blocks.as_gate`."""
        from .blocks import as_gate
        return as_gate(self, inputs, output, example_inputs=example_inputs)

    def save_params(self, path):
        """Write every parameter to ``path`` (.npz); see :func:`graph.params_io.save_params`."""
        from .params_io import save_params
        save_params(self, path)

    def load_params(self, path):
        """Read parameters from ``path``; see :func:`graph.params_io.load_params`."""
        from .params_io import load_params
        load_params(self, path)


_ONES = {np.float64: np.float64(1), np.float32: np.float32(1)}


def _seed(out: Node, upstream):
    if upstream is None:
        one = _ONES.get(type(out._value))
        if one is not None:     # a float scalar loss: the common case, kept cheap
            return one
    value = np.asarray(out._value)
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


def _graphs_run_by(graph) -> set:
    """``graph`` and every graph its blocks run, and theirs, and so on."""
    found, todo = {graph}, [graph]
    while todo:
        for node in todo.pop()._nodes:
            inner = getattr(node._gate, "graph", None)
            if isinstance(inner, Graph) and inner not in found:
                found.add(inner)
                todo.append(inner)
    return found


def _raise_non_finite(nodes, out):
    """Raise GraphValueError naming the first of ``nodes`` (topological order) whose
    value holds NaN or inf: where a non-finite number entered or was first made."""
    for n in nodes:
        value = n._value
        if value is not None and not np.isfinite(value).all():
            what = "NaN" if np.isnan(value).any() else "inf"
            if n.kind == "op":
                origin = (f"node '{n.name}' ({_gate_label(n.gate)}) computed {what} from "
                          f"finite inputs: the result is beyond the float range; use "
                          f"smaller values")
            else:
                origin = f"{n.kind} '{n.name}' holds {what}"
            raise GraphValueError(f"forward: output '{out.name}' is not finite: {origin}")


class _GateReturnError(Exception):
    """What a gate's backward or jvp returned does not fit its node (becomes a
    GraphShapeError once the half-done gradients are cleared)."""


def _gradients_problem(node, grads) -> str:
    n = len(node.inputs)
    got = (f"{len(grads)} gradient(s)" if isinstance(grads, (tuple, list))
           else type(grads).__name__)
    return (f"node '{node.name}' ({_gate_label(node.gate)}): backward returned {got}, "
            f"expected a tuple of {n} gradient(s), one per input "
            f"({', '.join(i.name for i in node.inputs)}), None for an input without one; "
            f"write e.g. `return (dx,)` for one input")


def _gradient_shape_problem(node, pos, gr) -> str:
    inp = node.inputs[pos]
    return (f"node '{node.name}' ({_gate_label(node.gate)}): backward returned a gradient "
            f"of shape {np.shape(gr)} for input {pos} '{inp.name}', which has shape "
            f"{np.shape(inp._value)}; a gradient has its input's shape (sum the upstream "
            f"over the axes broadcasting added)")


def _reraise_at_node(node, method, exc):
    """Raise ``exc`` again naming the node: a GateError keeps its class and gets the
    prefix ``node 'e' (MultiplyGate): ``; any other exception gets a note."""
    prefix = f"node '{node.name}' ({_gate_label(node.gate)})" if node is not None else "graph"
    if isinstance(exc, GateError):
        try:
            renamed = type(exc)(f"{prefix}: {exc}")
        except Exception:  # an exotic constructor: fall back to a note
            renamed = None
        if renamed is not None:
            raise renamed from exc
    if hasattr(exc, "add_note"):
        exc.add_note(f"raised by {prefix} during {method}")
    raise exc


def _article(kind: str) -> str:
    """'an op', 'an input', 'a param', 'a constant'."""
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _listing(names) -> str:
    names = list(names)
    text = ", ".join(names[:12])
    return (text + ", ...") if len(names) > 12 else (text or "none")


_SHORT = {"AddGate": "add", "SubtractGate": "sub", "MultiplyGate": "mul", "DivideGate": "div",
          "ScaleGate": "scale", "PowerGate": "pow", "NegateGate": "neg", "MaxGate": "max",
          "ReLUGate": "relu", "SigmoidGate": "sigmoid", "TanhGate": "tanh", "SinGate": "sin",
          "CosGate": "cos", "TanGate": "tan", "ExpGate": "exp", "LogGate": "log",
          "SumGate": "sum", "MeanGate": "mean", "L2Gate": "l2", "MatVecGate": "matvec",
          "MatMulGate": "matmul", "AffineGate": "affine", "SoftmaxGate": "softmax",
          "SoftmaxCrossEntropyGate": "loss"}


def _short_name(gate) -> str:
    label = _gate_label(gate)
    if label in _SHORT:
        return _SHORT[label]
    base = label[:-4] if label.endswith("Gate") and len(label) > 4 else label
    return base.lower() or "op"


_SAME_NDIM = {"AddGate", "SubtractGate", "MultiplyGate", "DivideGate", "ScaleGate",
              "PowerGate", "NegateGate", "MaxGate", "ReLUGate", "SigmoidGate", "TanhGate",
              "SinGate", "CosGate", "TanGate", "ExpGate", "LogGate", "SoftmaxGate"}


def _ndim(node: Node, depth: int = 0):
    """The number of axes of ``node``'s value if it can be told before running
    (``None`` if not, or if that needs a search deeper than 100 gates)."""
    if depth > 100:
        return None
    if node._value is not None:
        return np.ndim(node._value)
    if node.shape_spec is not None:
        return len(node.shape_spec)
    if node.gate is None:
        return None
    label = _gate_label(node.gate)
    if label in _SAME_NDIM:
        dims = [_ndim(i, depth + 1) for i in node.inputs]
        return None if None in dims else max(dims)
    return {"MatVecGate": 1, "MatMulGate": 2, "AffineGate": 2, "L2Gate": 0,
            "SoftmaxCrossEntropyGate": 0}.get(label)
