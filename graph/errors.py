"""Errors raised by the graph. Every message names the node (and the graph's feeds or
shapes) so a reader can find the culprit without a debugger.

Errors raised *by a gate* while the graph runs it keep their :class:`gates.GateError`
subclass; the graph re-raises them with the prefix ``node 'e' (MultiplyGate): ``.
"""

from __future__ import annotations

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
