"""Errors raised by the graph. Every message names the node (and the graph's feeds or
shapes) so a reader can find the culprit without a debugger.

Errors raised *by a gate* while the graph runs it keep their :class:`gates.GateError`
subclass; the graph re-raises them with the prefix ``node 'e' (MultiplyGate): ``
(:func:`reraise_at_node`). The messages several modules write are made here, once.
"""

from __future__ import annotations

import numpy as np

from gates import GateError

__all__ = ["GraphError", "GraphBuildError", "GraphFeedError", "GraphStateError",
           "GraphShapeError", "GraphFileError", "GraphValueError", "GraphReadOnlyError"]


class GraphError(Exception):
    """Base class of every misuse of a :class:`graph.Graph`."""


class GraphBuildError(GraphError, ValueError):
    """The graph cannot be built that way: a duplicate name, a node of another graph,
    a gate instance applied twice, the wrong number of inputs for a gate."""


class GraphFeedError(GraphError, ValueError):
    """A run was fed wrongly: a missing input, an unknown name, a shape that does not
    match the input's declared shape, ``None`` as a value."""


class GraphStateError(GraphError, RuntimeError):
    """An operation needs a state the graph is not in: ``backward`` or ``jvp`` before
    ``forward``, or after an input or parameter changed without a new ``forward``."""


class GraphShapeError(GraphError, ValueError):
    """A shape or dtype does not fit: ``backward`` from a non-scalar node without an
    upstream gradient, an upstream or tangent of the wrong shape, a parameter given
    a value of another shape."""


class GraphValueError(GraphError, ArithmeticError):
    """A run produced NaN or an infinity in an output (an overflow, inf - inf, or a NaN
    fed in). The message names the first node where it appeared."""


class GraphReadOnlyError(GraphError, ValueError):
    """A parameter's value was changed in place (``W.value -= lr * W.grad``,
    ``W.value[0] = 1``): the graph would not see the change. The message names the
    parameter and the assignment to write instead."""


class GraphFileError(GraphError, ValueError):
    """A parameter file cannot be loaded: not an ``.npz`` archive, a damaged member,
    pickled Python objects, or NaN or infinite values. The message names the file and,
    where it can, the parameter."""


# -- messages shared by the graph's modules --------------------------------------------


def article(kind: str) -> str:
    """'an op', 'an input', 'a param', 'a constant'."""
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def listing(names) -> str:
    """Up to 12 names joined by commas, '...' after them, 'none' for none."""
    names = list(names)
    text = ", ".join(names[:12])
    return (text + ", ...") if len(names) > 12 else (text or "none")


def at_node(node) -> str:
    """How a message names an op node: ``node 'e' (MultiplyGate)``."""
    return f"node '{node.name}' ({type(node.gate).__name__})"


def not_current(node, what: str) -> GraphStateError:
    """The error for an op node whose value (and gate cache) is not of the current values."""
    state = "was never computed" if node.value is None else \
        "is out of date (an input or parameter changed since the last run)"
    return GraphStateError(f"{what}: node '{node.name}' {state}; run g.forward() first")


def reraise_at_node(node, method: str, exc: BaseException, hint: str | None = None):
    """Raise ``exc`` again naming the node: a GateError keeps its class and gets the
    prefix ``node 'e' (MultiplyGate): ``; any other exception gets a note, and ``hint``
    (what to write instead) as a second one. The graph's own refusal at this node
    (a gradient of the wrong shape) names it already and is raised as it is."""
    prefix = at_node(node) if node is not None else "graph"
    if isinstance(exc, GraphError) and str(exc).startswith(prefix):
        raise exc
    if hint and hasattr(exc, "add_note"):
        exc.add_note(hint)
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


def gradients_problem(node, grads) -> str:
    """Why what ``node``'s backward returned is not one gradient per input."""
    got = (f"{len(grads)} gradient(s)" if isinstance(grads, (tuple, list))
           else type(grads).__name__)
    return (f"{at_node(node)}: backward returned {got}, expected a tuple of "
            f"{len(node.inputs)} gradient(s), one per input "
            f"({', '.join(i.name for i in node.inputs)}), None for an input without one; "
            f"write e.g. `return (dx,)` for one input")


def gradient_shape_problem(node, pos: int, grad) -> str:
    """Why the gradient ``node``'s backward returned for input ``pos`` does not fit it."""
    inp = node.inputs[pos]
    return (f"{at_node(node)}: backward returned a gradient of shape {np.shape(grad)} for "
            f"input {pos} '{inp.name}', which has shape {np.shape(inp.value)}; a gradient "
            f"has its input's shape (sum the upstream over the axes broadcasting added)")


def tangent_shape_problem(node, tangent) -> str:
    """Why the tangent ``node``'s jvp returned does not fit it."""
    return (f"{at_node(node)}: jvp returned a tangent of shape {np.shape(tangent)}, but the "
            f"node's value has shape {np.shape(node.value)}; a tangent has its output's shape")


def raise_non_finite(nodes, out):
    """Raise GraphValueError naming the first of ``nodes`` (topological order) whose
    value holds NaN or inf: where a non-finite number entered or was first made."""
    for n in nodes:
        value = n.value
        if value is not None and not np.isfinite(value).all():
            what = "NaN" if np.isnan(value).any() else "inf"
            if n.kind == "op":
                origin = (f"{at_node(n)} computed {what} from finite inputs: the result is "
                          f"beyond the float range; use smaller values")
            else:
                origin = f"{n.kind} '{n.name}' holds {what}"
            raise GraphValueError(f"forward: output '{out.name}' is not finite: {origin}")
