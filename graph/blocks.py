"""Blocks: a graph wrapped as one gate, and the lecture's MLP built from gates.

A block is checked like any gate (the checker in :mod:`gates` sees only the gate
contract) and nests inside another graph as one op node. It talks to the graph it wraps
through the graph's public methods only; what it must remember between calls (which
call last fed the graph, which backward pass last set its parameters' gradients) is
kept here, not in the graph.
"""

from __future__ import annotations

import weakref

import numpy as np

from gates import AffineGate, Gate, GateArityError, GateShapeError, GateStateError, ReLUGate

from .errors import GraphBuildError, article
from .init import he
from .node import Node, _float_dtype

__all__ = ["GraphGate", "as_gate", "mlp", "BackwardPass"]


class BackwardPass:
    """A :meth:`Graph.backward` running now, as a context: ``BackwardPass.current`` is the
    outermost one (None when none runs). A block applied at several nodes shares its
    inner graph, whose parameters must get the *sum* of the gradients of every use: a
    block adds to the gradients it set earlier in the same pass. ``accumulate`` is the
    outer call's flag (inner parameters then accumulate too). ``keep`` marks a pass that
    only asks for a gate's local gradients (:meth:`Graph.local_gradients`): blocks then
    store no gradient. An inner graph's backward joins the outermost pass; a ``keep``
    pass always starts its own."""

    current: "BackwardPass | None" = None

    def __init__(self, accumulate: bool = False, keep: bool = False):
        self.accumulate = accumulate
        self.keep = keep
        self._outer = None

    def __enter__(self):
        self._outer = BackwardPass.current
        if self._outer is None or self.keep:
            BackwardPass.current = self

    def __exit__(self, *exc):
        BackwardPass.current = self._outer


#: inner graph -> the BackwardPass in which a block last set its parameters' gradients
_PARAM_PASS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class GraphGate(Gate):
    """A graph seen as a gate: ``forward(*values)`` feeds the block's input nodes and
    returns the output node's value; ``backward(dz)`` runs the graph's reverse
    mode and returns one gradient per input (zeros for an input the output does not
    depend on, ``None`` for a non-differentiable one); ``jvp`` runs its forward mode.

    Parameters inside the block stay parameters of the inner graph: after the outer
    graph's ``backward`` their ``.grad`` is set there (``gate.graph.params``), summed
    over every use when blocks of one inner graph are applied at several nodes (the
    same layer applied twice). Built by :meth:`graph.Graph.as_gate`.
    """

    def __init__(self, graph, inputs, output, example_inputs=None):
        self.graph = graph
        self.block_inputs = inputs
        self.output = output
        self.input_names = tuple(n.name for n in inputs)
        self.differentiable = tuple(n.differentiable for n in inputs)
        self.kinks = any(bool(getattr(n.gate, "kinks", False))
                         for n in graph.ancestors([output]) if n.gate is not None)
        self._examples = example_inputs
        self._last = None       # the inputs of the last forward
        self._version = None    # the graph's version right after it
        self._state = None      # this block's own parameters then (see state)

    def __repr__(self):
        return f"GraphGate({', '.join(self.input_names)} -> {self.output.name})"

    def _fail(self, cls, method: str, text: str):
        return cls(f"GraphGate.{method}: {text}")

    def own_params(self) -> list[Node]:
        """The inner graph's parameters that are not inputs of the block."""
        return [n for n in self.graph.params.values() if n not in self.block_inputs]

    def state(self) -> tuple:
        """When the block's own parameters (and those of blocks inside it) last changed:
        the node computed by this block is out of date once it differs."""
        return tuple(p.set_at for p in self.own_params()) + tuple(
            n.gate.state() for n in self.graph.nodes if isinstance(n.gate, GraphGate))

    def state_changed(self) -> bool:
        """True if the block's own parameters changed since its last forward."""
        return self._last is not None and self.state() != self._state

    def runs(self, graph) -> bool:
        """True if the block feeds and runs ``graph``: its own, or one a block in it runs."""
        return graph is self.graph or any(isinstance(n.gate, GraphGate) and n.gate.runs(graph)
                                          for n in self.graph.nodes)

    def forward(self, *inputs):
        """Feed ``inputs`` to the block's input nodes (assign them to its parameter
        inputs) and run the inner graph; returns the output node's value.

        Raises GateArityError for another number of inputs and GateShapeError for a
        parameter input of another shape (both before anything changes); errors of the
        inner graph's gates are re-raised naming the inner node.
        """
        if len(inputs) != len(self.block_inputs):
            raise self._fail(GateArityError, "forward",
                             f"takes {len(self.block_inputs)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        pairs = list(zip(self.block_inputs, inputs))
        for node, value in pairs:
            # checked before anything changes, so a refused call leaves the block as it was
            if node.kind == "param" and np.shape(value) != np.shape(node.value):
                raise self._fail(GateShapeError, "forward",
                                 f"input '{node.name}' has shape {np.shape(value)} but the "
                                 f"parameter has shape {np.shape(node.value)}")
        g = self.graph
        g.feed({n: v for n, v in pairs if n.kind == "input"})
        for node, value in pairs:
            if node.kind == "param":
                node.value = value
        out = g.forward(outputs=self.output)
        self._last, self._version, self._state = inputs, g.version, self.state()
        self._out_shape = np.shape(out)
        return out

    def _replay(self, method):
        """Run the inner graph again with this gate's inputs if anything changed it since
        this gate's forward (another use of the same graph fed it): the gates' caches
        must be this call's."""
        if self._last is None:
            raise self._fail(GateStateError, method, "called before forward; run forward first")
        if self.graph.version != self._version:
            self.forward(*self._last)

    def backward(self, dz):
        """Reverse mode through the inner graph: one gradient per input, of its shape
        (zeros where the output does not depend on it, None for a non-differentiable
        input or one the outer graph does not need). The block's own parameters get
        their ``.grad`` in the inner graph. Raises GateStateError before any forward
        and GateShapeError for an upstream dz not of the output's shape.
        """
        self._replay("backward")
        if np.shape(dz) != self._out_shape:
            raise self._fail(GateShapeError, "backward",
                             f"upstream gradient has shape {np.shape(dz)} but the "
                             f"output '{self.output.name}' has shape {self._out_shape}")
        wanted = self.needs_input_grad or (True,) * len(self.block_inputs)
        wrt = [n for n, w, d in zip(self.block_inputs, wanted, self.differentiable) if w and d]
        this_pass = BackwardPass.current
        if this_pass is not None and this_pass.keep:
            grads = self.graph.gradients(self.output, dz, wrt=wrt)
        else:
            # the block's own parameters always get their gradients (an optimizer steps
            # them), summed over the uses of a shared graph within one outer pass
            params = self.own_params()
            adding = this_pass is not None and (this_pass.accumulate
                                                or _PARAM_PASS.get(self.graph) is this_pass)
            earlier = [p.grad for p in params] if adding else ()
            self.graph.backward(self.output, dz, wrt=wrt + params)
            for p, old in zip(params, earlier):
                if old is not None:
                    p.grad = old if p.grad is None else old + p.grad
            _PARAM_PASS[self.graph] = this_pass
            grads = {n: n.grad for n in wrt}
        out = []
        for node, w, d in zip(self.block_inputs, wanted, self.differentiable):
            if not (w and d):
                out.append(None)
            elif grads.get(node) is None:     # the output does not depend on this input
                out.append(np.zeros(np.shape(node.value), _float_dtype(node.value)))
            else:
                out.append(grads[node])
        return tuple(out)

    def checkpoint(self):
        """Remember the inner graph as it is now (fed inputs, parameters, which outputs
        were computed, every gradient); return a function that puts it all back. The
        checker calls it around its probes (a block's forward feeds its graph), so
        checking a block leaves the graph where its user left it."""
        g = self.graph
        leaves = [(n, n.value) for n in g.nodes if n.kind in ("input", "param")]
        grads = [(n, n.grad) for n in g.nodes]
        computed = [n for n in g.nodes if n.kind == "op" and n.value is not None
                    and not n.stale]
        current, of = g.grads_current, g.grad_output

        def restore():
            g.feed({n: v for n, v in leaves if n.kind == "input" and v is not None})
            for n, v in leaves:
                if n.kind == "param":
                    n.value = v
            if computed:
                g.forward(outputs=list(computed))
            if current:
                # the same backward again, so the graph knows its gradients are current
                g.backward(of, upstream=dict(grads)[of])
            for n, grad in grads:
                n.grad = grad
        return restore

    def jvp(self, *tangents):
        """Forward mode through the inner graph: the output's tangent for one tangent
        per input (None = zero). Raises GateStateError before any forward and
        GateArityError for another number of tangents."""
        self._replay("jvp")
        if len(tangents) != len(self.block_inputs):
            raise self._fail(GateArityError, "jvp",
                             f"takes {len(self.block_inputs)} tangent(s), got {len(tangents)}")
        seeds = {n: t for n, t in zip(self.block_inputs, tangents) if t is not None}
        return self.graph.jvp(self.output, seeds)

    def example_inputs(self, rng):
        """Random float64 inputs shaped like the last values fed (labels: the last
        labels), or the ``example_inputs`` given to ``as_gate`` (a tuple or a function
        of ``rng``)."""
        if self._examples is not None:
            return tuple(self._examples(rng) if callable(self._examples) else self._examples)
        values = []
        for node in self.block_inputs:
            value = node.value
            if value is None:
                spec = node.shape_spec
                if spec is None or None in spec:
                    raise self._fail(GateStateError, "example_inputs",
                                     f"input '{node.name}' has no value or full shape; feed "
                                     f"the graph once or pass example_inputs= to as_gate")
                values.append(rng.standard_normal(spec))
            elif not node.differentiable:
                values.append(np.array(value, copy=True))
            else:
                values.append(rng.standard_normal(np.shape(value)))
        return tuple(values)


def as_gate(graph, inputs, output, example_inputs=None) -> GraphGate:
    """Wrap ``graph`` as a gate computing ``output`` from ``inputs`` (input or param
    nodes, in the order the gate takes them). Every input node the output depends on
    must be among ``inputs``. ``example_inputs`` (a tuple, or a function of a numpy
    Generator) replaces the default random inputs shaped like the last feed.

    Raises GraphBuildError for a node of another graph, an input that is an op or a
    constant, a repeated input, or an input of the output that is not listed.
    """
    nodes = tuple(graph.node(n, "as_gate") for n in inputs)
    out = graph.node(output, "as_gate")
    for n in nodes:
        if n.kind not in ("input", "param"):
            raise GraphBuildError(f"as_gate: '{n.name}' is {article(n.kind)}; block inputs "
                                  f"must be inputs or params")
    if len(set(nodes)) != len(nodes):
        raise GraphBuildError(f"as_gate: inputs repeat a node: {[n.name for n in nodes]}")
    unlisted = [n.name for n in graph.ancestors([out]) if n.kind == "input" and n not in nodes]
    if unlisted:
        raise GraphBuildError(f"as_gate: output '{out.name}' depends on input(s) "
                              f"{', '.join(map(repr, unlisted))} not listed in inputs")
    return GraphGate(graph, nodes, out, example_inputs)


def mlp(g, x: Node, sizes, rng=None, dtype=np.float32, init=None, prefix: str = "") -> Node:
    """The lecture's fully connected net: ``len(sizes) - 1`` affine layers with ReLU
    between them (not after the last), returning the logits node.

    Counting layers of nodes as the lecture does, ``sizes`` = (784, 10) is the 2-layer
    net y = W x + b (softmax regression), (784, 256, 10) the 3-layer net and
    (784, 256, 128, 10) the 4-layer net. Parameters are named ``W1, b1, W2,
    b2, ...`` (after ``prefix``); the nodes ``z1, h1, z2, ...`` (affine, relu).
    Weights are ``init(fan_in, fan_out, rng, dtype)`` (default :func:`graph.init.he`,
    N(0, 2/fan_in), right for relu layers), biases zero. ``rng`` is a numpy Generator
    (default ``default_rng(0)``).

    Raises GraphBuildError for fewer than two sizes or a non-positive size.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise GraphBuildError(f"mlp: sizes must be at least (inputs, outputs), all positive; "
                              f"got {sizes}")
    rng = np.random.default_rng(0) if rng is None else rng
    init = he if init is None else init
    h = x
    layers = len(sizes) - 1
    for i in range(1, layers + 1):
        fan_in, fan_out = sizes[i - 1], sizes[i]
        W = g.param(f"{prefix}W{i}", init(fan_in, fan_out, rng, dtype))
        b = g.param(f"{prefix}b{i}", np.zeros(fan_out, dtype))
        h = g.apply(AffineGate(), h, W, b, name=f"{prefix}z{i}")
        if i < layers:
            h = g.apply(ReLUGate(), h, name=f"{prefix}h{i}")
    return h
