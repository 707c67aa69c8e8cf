"""compgraph's graph: gate instances wired into a DAG, run forward in topological order,
backward in reverse (gradients added at fan-out), and in forward mode.

    >>> import graph
    >>> g = graph.Graph()
    >>> a, b = g.input("a"), g.input("b")
    >>> e = (a + b) * (b + 1)
    >>> float(g.forward(a=2, b=1))
    6.0

A function for every gate (``graph.sigmoid(x)``, ``graph.affine(x, W, b)``, ...) builds
an op node; ``graph.mlp`` builds the lecture's networks; ``Graph.as_gate`` wraps a graph
as a gate (a block).
"""

from . import (batches, blocks, checks, core, dot, errors, explain, expression, init, node,
               ops, optim, params_io, paths, stepper, views)
from .blocks import GraphGate, as_gate, mlp
from .core import Graph, Node
from .errors import (GraphBuildError, GraphError, GraphFeedError, GraphFileError,
                     GraphReadOnlyError, GraphShapeError, GraphStateError)
from .ops import (add, affine, cos, divide, exp, l2, log, matmul, matvec, maximum, mean,
                  multiply, negate, power, relu, scale, sigmoid, sin, softmax,
                  softmax_cross_entropy, subtract, sum, tan, tanh)
from .params_io import load_params, save_params

__all__ = [
    "Graph", "Node", "GraphGate", "as_gate", "mlp", "save_params", "load_params",
    "GraphError", "GraphBuildError", "GraphFeedError", "GraphStateError", "GraphShapeError",
    "GraphFileError", "GraphReadOnlyError",
    "add", "subtract", "multiply", "divide", "scale", "power", "negate", "maximum", "relu",
    "sigmoid", "tanh", "sin", "cos", "tan", "exp", "log", "sum", "mean", "l2", "matvec",
    "matmul", "affine", "softmax", "softmax_cross_entropy",
]
