"""One function per gate: ``graph.sigmoid(x)``, ``graph.affine(x, W, b)``, ...

Each function applies a new instance of its gate to its arguments in their graph and
returns the new op node. Arguments may be nodes or numbers/arrays (promoted to
constants); at least one must be a node so the graph is known. Every function takes an
optional ``name=`` for the new node. The math, shapes and errors of each are those of
the gate (see its docstring in :mod:`gates`).
"""

from __future__ import annotations

import gates

from .node import Node
from .errors import GraphBuildError

__all__ = ["add", "subtract", "multiply", "divide", "scale", "power", "negate", "maximum",
           "relu", "sigmoid", "tanh", "sin", "cos", "tan", "exp", "log", "sum", "mean", "l2",
           "matvec", "matmul", "affine", "softmax", "softmax_cross_entropy"]


def _apply(fname: str, gate, args, name):
    graph = None
    for a in args:
        if isinstance(a, Node):
            if graph is None:
                graph = a.graph
            elif a.graph is not graph:
                raise GraphBuildError(f"graph.{fname}: node '{a.name}' belongs to another "
                                      f"graph than the other arguments")
    if graph is None:
        raise GraphBuildError(f"graph.{fname}: no argument is a node, so there is no graph "
                              f"to add to; make one with g.input / g.param / g.constant")
    return graph.apply(gate, *args, name=name)


def add(x, y, name=None) -> Node:
    """z = x + y (AddGate; broadcasting)."""
    return _apply("add", gates.AddGate(), (x, y), name)


def subtract(x, y, name=None) -> Node:
    """z = x - y (SubtractGate)."""
    return _apply("subtract", gates.SubtractGate(), (x, y), name)


def multiply(x, y, name=None) -> Node:
    """z = x * y (MultiplyGate; broadcasting)."""
    return _apply("multiply", gates.MultiplyGate(), (x, y), name)


def divide(x, y, name=None) -> Node:
    """z = x / y (DivideGate; raises GateDomainError at run time for y == 0)."""
    return _apply("divide", gates.DivideGate(), (x, y), name)


def scale(x, k, name=None) -> Node:
    """z = k * x for a fixed number k (ScaleGate(k))."""
    return _apply("scale", gates.ScaleGate(k), (x,), name)


def power(x, n, name=None) -> Node:
    """z = x ** n for a fixed number n (PowerGate(n))."""
    return _apply("power", gates.PowerGate(n), (x,), name)


def negate(x, name=None) -> Node:
    """z = -x (NegateGate)."""
    return _apply("negate", gates.NegateGate(), (x,), name)


def maximum(x, y, name=None) -> Node:
    """z = max(x, y) elementwise (MaxGate; at a tie the gradient goes to x)."""
    return _apply("maximum", gates.MaxGate(), (x, y), name)


def relu(x, name=None) -> Node:
    """z = max(0, x) (ReLUGate)."""
    return _apply("relu", gates.ReLUGate(), (x,), name)


def sigmoid(x, name=None) -> Node:
    """z = 1 / (1 + exp(-x)) (SigmoidGate)."""
    return _apply("sigmoid", gates.SigmoidGate(), (x,), name)


def tanh(x, name=None) -> Node:
    """z = tanh(x) (TanhGate)."""
    return _apply("tanh", gates.TanhGate(), (x,), name)


def sin(x, name=None) -> Node:
    """z = sin(x) (SinGate)."""
    return _apply("sin", gates.SinGate(), (x,), name)


def cos(x, name=None) -> Node:
    """z = cos(x) (CosGate)."""
    return _apply("cos", gates.CosGate(), (x,), name)


def tan(x, name=None) -> Node:
    """z = tan(x) (TanGate)."""
    return _apply("tan", gates.TanGate(), (x,), name)


def exp(x, name=None) -> Node:
    """z = exp(x) (ExpGate; raises GateDomainError on overflow)."""
    return _apply("exp", gates.ExpGate(), (x,), name)


def log(x, name=None) -> Node:
    """z = ln(x) (LogGate; raises GateDomainError for x <= 0)."""
    return _apply("log", gates.LogGate(), (x,), name)


def sum(x, axis=None, name=None) -> Node:  # noqa: A001 - mirrors numpy's name on purpose
    """z = the sum of x over ``axis`` (None: all entries) (SumGate(axis))."""
    return _apply("sum", gates.SumGate(axis=axis), (x,), name)


def mean(x, axis=None, name=None) -> Node:
    """z = the mean of x over ``axis`` (None: all entries) (MeanGate(axis))."""
    return _apply("mean", gates.MeanGate(axis=axis), (x,), name)


def l2(x, name=None) -> Node:
    """z = sum of x_i ** 2 over every entry (L2Gate), a scalar."""
    return _apply("l2", gates.L2Gate(), (x,), name)


def matvec(W, x, name=None) -> Node:
    """z = W x for W (M, D) and x (D,) (MatVecGate)."""
    return _apply("matvec", gates.MatVecGate(), (W, x), name)


def matmul(A, B, name=None) -> Node:
    """Z = A B for A (M, K) and B (K, N) (MatMulGate)."""
    return _apply("matmul", gates.MatMulGate(), (A, B), name)


def affine(x, W, b, name=None) -> Node:
    """Z = x W + b for x (N, D), W (D, M), b (M,) (AffineGate)."""
    return _apply("affine", gates.AffineGate(), (x, W, b), name)


def softmax(x, name=None) -> Node:
    """p = softmax(x) over the last axis (SoftmaxGate)."""
    return _apply("softmax", gates.SoftmaxGate(), (x,), name)


def softmax_cross_entropy(logits, labels, name=None) -> Node:
    """L = mean over the batch of -log softmax(logits)[label] (SoftmaxCrossEntropyGate);
    ``labels`` should be an input made with ``differentiable=False``."""
    return _apply("softmax_cross_entropy", gates.SoftmaxCrossEntropyGate(), (logits, labels),
                  name)
