"""The lecture's table: every node's value, the local derivative on each incoming edge,
the gradient of the output with respect to it (reverse mode) and its derivative with
respect to one chosen input (forward mode).

For e = (a+b)(b+1) at a=2, b=1 (``g.explain("e", wrt="b").table()``)::

    node  gate   value  local derivatives  ∂e/∂node  ∂node/∂b
    a     input  2                         2         0
    b     input  1                         5         1
    c     +      3      ∂c/∂a=1  ∂c/∂b=1   2         1
    d     +      2      ∂d/∂b=1            3         1
    e     ×      6      ∂e/∂c=2  ∂e/∂d=3   1         5

On a graph with tensors the value and gradient columns show shape and norm, and the
local derivatives (Jacobians) and path sums are left out with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gates._util import atomic_write_text
from gates.facts import symbol
from gates.i18n import tr

from . import stepper
from .errors import GraphShapeError
from .node import _float_dtype
from .paths import fmt, local_derivatives, paths as path_sum

__all__ = ["Row", "Explanation", "explain", "graph_fragment", "show"]

def _kind_label(kind: str) -> str:
    """The gate column of a node without a gate, in the current language."""
    if kind == "input":
        return tr("input")
    if kind == "param":
        return tr("param")
    return kind


def show(value) -> str:
    """A scalar as 4 significant digits; a tensor as its shape and norm."""
    if value is None:
        return "—"
    if np.ndim(value) == 0:
        return fmt(value)
    a = np.asarray(value)
    return f"{a.shape} ‖·‖={fmt(np.linalg.norm(a))}"


def _number(value):
    """JSON form: a float for a scalar, nested lists for a tensor."""
    if value is None:
        return None
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float).tolist()


@dataclass
class Row:
    """One node of the table. ``incoming`` holds (input node name, local derivative)
    per edge (the derivative is None on a tensor graph or for a label input);
    ``gradient`` is d output / d node; ``forward`` is d node / d wrt (None without wrt)."""

    name: str
    kind: str
    value: object
    incoming: list
    gradient: object
    forward: object = None


@dataclass
class Explanation:
    """Everything :func:`explain` found; ``str()`` is the printed report and
    :meth:`to_dict` the JSON one. ``paths`` maps each input name to its
    :class:`~graph.paths.PathSum` (empty on a tensor graph, see ``note``)."""

    output: str
    wrt: str | None
    assignments: list
    rows: list
    paths: dict = field(default_factory=dict)
    note: str = ""

    @property
    def scalar(self) -> bool:
        """True on a scalar graph, where every edge carries a number."""
        return not self.note

    def table(self) -> str:
        """The table of values, local derivatives, gradients and forward derivatives."""
        z = self.output
        head = [tr("node"), tr("gate"), tr("value")]
        if self.scalar:
            head.append(tr("local derivatives"))
        head.append(tr("∂{output}/∂node").format(output=z))
        if self.wrt:
            head.append(tr("∂node/∂{wrt}").format(wrt=self.wrt))
        body = []
        for r in self.rows:
            cells = [r.name, _kind_label(r.kind), show(r.value)]
            if self.scalar:
                cells.append("  ".join(f"∂{r.name}/∂{src}={fmt(d)}" for src, d in r.incoming
                                       if d is not None))
            cells.append(show(r.gradient))
            if self.wrt:
                cells.append(show(r.forward))
            body.append(cells)
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                         for row in [head] + body)

    def __str__(self) -> str:
        parts = []
        if self.assignments:
            parts.append(tr("Simple assignments:") + "\n"
                         + "\n".join(f"  {a}" for a in self.assignments))
        parts.append(tr("Values, local derivatives and gradients:") + "\n"
                     + _indent(self.table()))
        inputs = [r for r in self.rows if r.kind in ("input", "param")]
        parts.append(tr("Reverse mode (one backward pass gives all of them):") + "\n"
                     + "\n".join(f"  ∂{self.output}/∂{r.name} = {show(r.gradient)}"
                                  for r in inputs))
        if self.wrt:
            fwd = next(r.forward for r in self.rows if r.name == self.output)
            parts.append(tr("Forward mode (one pass per input):")
                         + f"\n  ∂{self.output}/∂{self.wrt} = {show(fwd)}")
        if self.paths:
            parts.append(tr("Sum over paths:") + "\n"
                         + "\n".join(_indent(str(p)) for p in self.paths.values()))
        if self.note:
            parts.append(self.note)
        return "\n\n".join(parts)

    def to_html(self, title=None, path=None) -> str:
        """A self-contained HTML page stepping through this explanation
        (:mod:`graph.stepper`); written to ``path`` too if given."""
        text = stepper.to_html(self, title)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def _repr_html_(self) -> str:
        """In a notebook: the step-through view (final state without its script)."""
        return stepper.fragment(self)

    def to_dict(self) -> dict:
        """``assignments`` (strings), ``values`` (node -> value), ``gradients`` (input
        -> d output / d input), ``node_gradients`` (every node), ``local_derivatives``
        (node -> {input: number}), and with ``wrt`` ``forward`` (d output / d wrt) and
        ``forward_nodes``; ``paths`` (input -> path sum) on scalar graphs."""
        out = {
            "output": self.output,
            "assignments": list(self.assignments),
            "values": {r.name: _number(r.value) for r in self.rows},
            "gradients": {r.name: _number(r.gradient) for r in self.rows
                          if r.kind in ("input", "param")},
            "node_gradients": {r.name: _number(r.gradient) for r in self.rows},
            "local_derivatives": {r.name: {src: _number(d) for src, d in r.incoming}
                                  for r in self.rows if r.incoming},
        }
        if self.wrt:
            out["wrt"] = self.wrt
            out["forward"] = _number(next(r.forward for r in self.rows
                                          if r.name == self.output))
            out["forward_nodes"] = {r.name: _number(r.forward) for r in self.rows}
        if self.paths:
            out["paths"] = {name: p.to_dict() for name, p in self.paths.items()}
        if self.note:
            out["note"] = self.note
        return out


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def explain(graph, output, wrt=None, assignments=None, with_paths: bool = True) -> Explanation:
    """Explain ``output`` of ``graph`` as of its last forward pass.

    The table has one row per node computed by the last forward pass (constants left
    out). Runs ``graph.backward(output)`` for the gradients (a differentiable input
    with no path to ``output`` gets 0; other nodes without a path get None) and, when
    ``wrt`` (a node or name) is given, d node / d wrt for every row from one
    forward-mode pass seeded at ``wrt``. On a scalar graph it also lists the paths from
    every input (or only from ``wrt``) to ``output``. ``assignments`` are the simple assignments to
    print; by default those of ``graph.program`` when ``Graph.from_expression`` built
    the graph.

    Raises GraphStateError when ``output`` is not up to date (run ``forward`` first),
    GraphShapeError for a ``wrt`` that is not a scalar, and GraphBuildError (a
    ValueError) for an unknown node name or a node of another graph.
    """
    out = graph.node(output, "explain")
    wrt_node = None if wrt is None else graph.node(wrt, "explain")
    if assignments is None:
        program = getattr(graph, "program", None)
        assignments = program.assignments if program is not None else ()
    if wrt_node is not None and wrt_node.value is not None and np.size(wrt_node.value) != 1:
        raise GraphShapeError(tr(
            "explain: wrt '{name}' has shape {shape}; the forward-mode column needs a "
            "scalar node (for a tensor use g.jvp(output, {{node: direction}}))").format(
                name=wrt_node.name, shape=np.shape(wrt_node.value)))
    graph.backward(out)
    nodes = [n for n in graph.nodes
             if n.kind != "constant" and n.value is not None and not n.stale]
    scalar = all(np.ndim(m.value) == 0 for n in nodes for m in (n, *n.inputs))
    rows = []
    for n in nodes:
        local = local_derivatives(n) if scalar else (None,) * len(n.inputs)
        incoming = [(inp.name, d) for inp, d in zip(n.inputs, local)
                    if inp.kind != "constant"]
        kind = n.kind if n.gate is None else symbol(n.gate)
        grad = n.grad
        if grad is None and n.kind in ("input", "param") and n.differentiable:
            grad = np.zeros_like(n.value, dtype=float)[()]
        rows.append(Row(n.name, kind, n.value, incoming, grad))
    if wrt_node is not None:
        # one forward-mode pass seeded at wrt gives d node / d wrt for every row
        seed = np.ones(np.shape(wrt_node.value), _float_dtype(wrt_node.value))
        for row, t in zip(rows, graph.tangents(nodes, {wrt_node: seed})):
            row.forward = t
    result = Explanation(out.name, None if wrt_node is None else wrt_node.name,
                         [str(a) for a in assignments], rows)
    if not scalar:
        result.note = tr("Local derivatives and path sums are left out: this graph holds "
                         "tensors, whose local derivatives are Jacobians, not numbers.")
    elif with_paths:
        sources = [wrt_node] if wrt_node is not None else [
            n for n in nodes if n.kind in ("input", "param")]
        result.paths = {s.name: path_sum(graph, out, s) for s in sources}
    return result


def graph_fragment(graph) -> str:
    """A graph's drawing with the values of its last forward pass (if any), for a
    notebook; it runs nothing (no backward), so showing a graph changes none of it."""
    rows = []
    for n in graph.nodes:
        if n.kind == "constant":
            continue
        incoming = [(i.name, None) for i in n.inputs if i.kind != "constant"]
        value = None if n.stale else n.value
        rows.append(Row(n.name, n.kind if n.gate is None else symbol(n.gate), value,
                        incoming, None))
    if not rows:
        return stepper.empty()
    return stepper.fragment(Explanation(rows[-1].name, None, [], rows))
