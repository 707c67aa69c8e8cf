"""One function per gate, ``graph.sigmoid(x)``, ``graph.affine(x, W, b)``, ..., and the
operators of a node (``a + b``, ``x @ W``: :class:`Operators`, which :class:`graph.Node`
inherits).

Each function applies a new instance of its gate to its arguments in their graph and
returns the new op node. Arguments may be nodes or numbers/arrays (promoted to
constants); at least one must be a node so the graph is known. Every function takes an
optional ``name=`` for the new node. The math, shapes and errors of each are those of
the gate (see its docstring in :mod:`gates`).
"""

from __future__ import annotations

import numbers

import numpy as np

import gates

from .errors import GraphBuildError

__all__ = ["add", "subtract", "multiply", "divide", "scale", "power", "negate", "maximum",
           "relu", "sigmoid", "tanh", "sin", "cos", "tan", "exp", "log", "sum", "mean", "l2",
           "matvec", "matmul", "affine", "softmax", "softmax_cross_entropy", "Operators"]


class Operators:
    """The operators of a node: each applies a new instance of its gate in the node's
    graph. ``+ - * /``, ``**`` (a number exponent), unary ``-`` and ``@`` (matrix-vector
    when the right side is 1-D, else matrix-matrix); numbers and arrays on either side
    become constants."""

    __slots__ = ()
    # numpy must hand ``array + node`` to __radd__ instead of looping over the array
    __array_ufunc__ = None

    def __add__(self, other):
        return self.graph.apply(gates.AddGate(), self, other)

    def __radd__(self, other):
        return self.graph.apply(gates.AddGate(), other, self)

    def __sub__(self, other):
        return self.graph.apply(gates.SubtractGate(), self, other)

    def __rsub__(self, other):
        return self.graph.apply(gates.SubtractGate(), other, self)

    def __mul__(self, other):
        return self.graph.apply(gates.MultiplyGate(), self, other)

    def __rmul__(self, other):
        return self.graph.apply(gates.MultiplyGate(), other, self)

    def __truediv__(self, other):
        return self.graph.apply(gates.DivideGate(), self, other)

    def __rtruediv__(self, other):
        return self.graph.apply(gates.DivideGate(), other, self)

    def __pow__(self, n):
        if isinstance(n, Operators) or not isinstance(n, numbers.Real):
            raise GraphBuildError(
                f"node '{self.name}' ** {n!r}: the exponent must be a number (PowerGate(n) "
                f"has a fixed exponent); for x ** y with a node y use exp(y * log(x))")
        return self.graph.apply(gates.PowerGate(n), self)

    def __rpow__(self, base):
        raise GraphBuildError(
            f"{base!r} ** node '{self.name}': a node as exponent is not a gate (PowerGate(n) "
            f"has a fixed exponent); use exp(log({base!r}) * x) for a number base")

    def __neg__(self):
        return self.graph.apply(gates.NegateGate(), self)

    def __matmul__(self, other):
        return _matmul(self.graph, self, other)

    def __rmatmul__(self, other):
        return _matmul(self.graph, other, self)


def _matmul(graph, x, y):
    """``x @ y``: W x (MatVecGate) for a vector y, A B (MatMulGate) for a matrix."""
    # the ranks first, so a refused product leaves no constant behind
    (left, a), (ndim, b) = ((n.known_ndim(), n.name) if isinstance(n, Operators)
                            else (np.ndim(n), repr(n) if np.ndim(n) == 0
                                  else f"array {np.shape(n)}") for n in (x, y))
    if left not in (None, 2):
        raise GraphBuildError(f"'{a}' @ '{b}': '{a}' is {left}-D; @ needs a matrix (2-D) "
                              f"on the left (use * for numbers)")
    if ndim not in (None, 1, 2):
        raise GraphBuildError(f"'{a}' @ '{b}': '{b}' is {ndim}-D; @ needs a vector (1-D) "
                              f"or a matrix (2-D) on the right (use * for numbers)")
    x, y = (n if isinstance(n, Operators) else graph.constant(n) for n in (x, y))
    if ndim == 1:
        return graph.apply(gates.MatVecGate(), x, y)
    if ndim == 2:
        return graph.apply(gates.MatMulGate(), x, y)
    raise GraphBuildError(
        f"'{x.name}' @ '{y.name}': cannot tell whether '{y.name}' is a vector or a "
        f"matrix before it is fed; use graph.matvec or graph.matmul, or declare the "
        f"input's shape, e.g. g.input('{y.name}', shape=(2,))")


def _apply(fname: str, gate, args, name):
    graph = None
    for a in args:
        if isinstance(a, Operators):     # a node
            if graph is None:
                graph = a.graph
            elif a.graph is not graph:
                raise GraphBuildError(f"graph.{fname}: node '{a.name}' belongs to another "
                                      f"graph than the other arguments")
    if graph is None:
        raise GraphBuildError(f"graph.{fname}: no argument is a node, so there is no graph "
                              f"to add to; make one with g.input / g.param / g.constant")
    return graph.apply(gate, *args, name=name)


def add(x, y, name=None):
    """z = x + y (AddGate; broadcasting)."""
    return _apply("add", gates.AddGate(), (x, y), name)


def subtract(x, y, name=None):
    """z = x - y (SubtractGate)."""
    return _apply("subtract", gates.SubtractGate(), (x, y), name)


def multiply(x, y, name=None):
    """z = x * y (MultiplyGate; broadcasting)."""
    return _apply("multiply", gates.MultiplyGate(), (x, y), name)


def divide(x, y, name=None):
    """z = x / y (DivideGate; raises GateDomainError at run time for y == 0)."""
    return _apply("divide", gates.DivideGate(), (x, y), name)


def scale(x, k, name=None):
    """z = k * x for a fixed number k (ScaleGate(k))."""
    return _apply("scale", gates.ScaleGate(k), (x,), name)


def power(x, n, name=None):
    """z = x ** n for a fixed number n (PowerGate(n))."""
    return _apply("power", gates.PowerGate(n), (x,), name)


def negate(x, name=None):
    """z = -x (NegateGate)."""
    return _apply("negate", gates.NegateGate(), (x,), name)


def maximum(x, y, name=None):
    """z = max(x, y) elementwise (MaxGate; at a tie the gradient goes to x)."""
    return _apply("maximum", gates.MaxGate(), (x, y), name)


def relu(x, name=None):
    """z = max(0, x) (ReLUGate)."""
    return _apply("relu", gates.ReLUGate(), (x,), name)


def sigmoid(x, name=None):
    """z = 1 / (1 + exp(-x)) (SigmoidGate)."""
    return _apply("sigmoid", gates.SigmoidGate(), (x,), name)


def tanh(x, name=None):
    """z = tanh(x) (TanhGate)."""
    return _apply("tanh", gates.TanhGate(), (x,), name)


def sin(x, name=None):
    """z = sin(x) (SinGate)."""
    return _apply("sin", gates.SinGate(), (x,), name)


def cos(x, name=None):
    """z = cos(x) (CosGate)."""
    return _apply("cos", gates.CosGate(), (x,), name)


def tan(x, name=None):
    """z = tan(x) (TanGate)."""
    return _apply("tan", gates.TanGate(), (x,), name)


def exp(x, name=None):
    """z = exp(x) (ExpGate; raises GateDomainError on overflow)."""
    return _apply("exp", gates.ExpGate(), (x,), name)


def log(x, name=None):
    """z = ln(x) (LogGate; raises GateDomainError for x <= 0)."""
    return _apply("log", gates.LogGate(), (x,), name)


def sum(x, axis=None, name=None):  # noqa: A001 - mirrors numpy's name on purpose
    """z = the sum of x over ``axis`` (None: all entries) (SumGate(axis))."""
    return _apply("sum", gates.SumGate(axis=axis), (x,), name)


def mean(x, axis=None, name=None):
    """z = the mean of x over ``axis`` (None: all entries) (MeanGate(axis))."""
    return _apply("mean", gates.MeanGate(axis=axis), (x,), name)


def l2(x, name=None):
    """z = sum of x_i ** 2 over every entry (L2Gate), a scalar."""
    return _apply("l2", gates.L2Gate(), (x,), name)


def matvec(W, x, name=None):
    """z = W x for W (M, D) and x (D,) (MatVecGate)."""
    return _apply("matvec", gates.MatVecGate(), (W, x), name)


def matmul(A, B, name=None):
    """Z = A B for A (M, K) and B (K, N) (MatMulGate)."""
    return _apply("matmul", gates.MatMulGate(), (A, B), name)


def affine(x, W, b, name=None):
    """Z = x W + b for x (N, D), W (D, M), b (M,) (AffineGate)."""
    return _apply("affine", gates.AffineGate(), (x, W, b), name)


def softmax(x, name=None):
    """p = softmax(x) over the last axis (SoftmaxGate)."""
    return _apply("softmax", gates.SoftmaxGate(), (x,), name)


def softmax_cross_entropy(logits, labels, name=None):
    """L = mean over the batch of -log softmax(logits)[label] (SoftmaxCrossEntropyGate);
    ``labels`` should be an input made with ``differentiable=False``."""
    return _apply("softmax_cross_entropy", gates.SoftmaxCrossEntropyGate(), (logits, labels),
                  name)
