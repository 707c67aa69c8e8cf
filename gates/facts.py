"""One row of facts per built-in gate: the one place the rest of compgraph reads them from.

The gate classes hold the math (``forward``/``backward``/``jvp``); everything else that
other modules need to know about a gate is here, so no module keeps a table of its own:

- ``short``: the prefix of an op node's default name (``mul1``, ``mul2``), and the gate's
  word in the reduced drawing;
- ``symbol``: how the lecture draws the gate (``+``, ``×``, ``σ``); ``None`` for gates whose
  symbol depends on a parameter (``×2``, ``**2``; see :func:`symbol`);
- ``function``: the name of its builder in :mod:`graph.ops` (``graph.multiply``);
- ``expression``: how an expression writes it (``*``, ``sin``, ``max``), ``None`` when
  expressions cannot (``ScaleGate`` and ``PowerGate`` come from ``x * 2`` and ``x ** 2``);
- ``output_ndim``: the number of axes of the output: ``"same"`` (that of the inputs,
  broadcast), an int, or ``None`` when it depends on a parameter (a sum over an axis);
- ``formula`` and ``local_gradients``: the lecture's two lines, for the table of gates
  (:func:`markdown_table`, in the README) and the skeleton (which shows only the
  formula: the gradients are the student's job);
- ``cases``: the grader's hidden-case shapes, a list of (input shapes, constructor
  parameters); one float32 case repeats the first;
- ``kink``: for a gate with points where it has no derivative, the distance of given
  inputs to the nearest such point (the checkers keep numerical probes away from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["GateFacts", "FACTS", "facts_of", "symbol", "EXPRESSION_GATES", "markdown_table"]


@dataclass(frozen=True)
class GateFacts:
    """What compgraph knows about one built-in gate besides its math (see the module)."""

    name: str
    short: str
    symbol: str | None
    function: str
    expression: str | None
    output_ndim: str | int | None
    formula: str
    local_gradients: str
    cases: list = field(default_factory=list, compare=False)
    kink: Callable | None = field(default=None, compare=False)

    def kink_distance(self, inputs) -> float:
        """How far ``inputs`` lie from the nearest kink (``inf`` for a smooth gate)."""
        if self.kink is None:
            return np.inf
        return float(np.min(self.kink(*inputs), initial=np.inf))


_ELEMENTWISE = [(4, 3), (1, 5), (2, 3, 4), (7,), ()]
_BROADCAST = [((4, 3), (4, 3)), ((1, 5), (1, 5)), ((6, 2), (2,)), ((2, 3, 4), (3, 1)),
              ((5,), ())]
_REDUCTION = [((3, 4, 2), 1), ((4, 3), None), ((4, 3), 0), ((3, 4, 2), (0, 2)), ((2, 5), -1)]


def _unary():
    return [((s,), {}) for s in _ELEMENTWISE]


def _binary():
    return [(s, {}) for s in _BROADCAST]


def _row(name, short, symbol, function, expression, output_ndim, formula, local, cases,
         kink=None):
    return GateFacts(name, short, symbol, function, expression, output_ndim, formula, local,
                     cases, kink)


_ROWS = [
    _row("AddGate", "add", "+", "add", "+", "same", "z = x + y",
         "dz/dx = 1, dz/dy = 1", _binary()),
    _row("SubtractGate", "sub", "−", "subtract", "-", "same", "z = x - y",
         "dz/dx = 1, dz/dy = -1", _binary()),
    _row("MultiplyGate", "mul", "×", "multiply", "*", "same", "z = x * y",
         "dz/dx = y, dz/dy = x", _binary()),
    _row("DivideGate", "div", "/", "divide", "/", "same", "z = x / y",
         "dz/dx = 1/y, dz/dy = -x/y**2", _binary()),
    _row("ScaleGate", "scale", None, "scale", None, "same",
         "z = k * x for a fixed number k", "dz/dx = k",
         [((s,), {"k": k}) for s, k in zip(_ELEMENTWISE, (-2.5, 0.5, 3.0, -1.0, 2.0))]),
    _row("PowerGate", "pow", None, "power", None, "same",
         "z = x ** n for a fixed real exponent n", "dz/dx = n * x ** (n - 1)",
         [((s,), {"n": n}) for s, n in zip(_ELEMENTWISE, (2.5, 2.0, 3.0, 0.5, 1.5))]),
    _row("NegateGate", "neg", "−x", "negate", "neg", "same", "z = -x", "dz/dx = -1",
         _unary()),
    _row("MaxGate", "max", "max", "maximum", "max", "same",
         "z = max(x, y), elementwise", "dz/dx = 1 where x >= y else 0, dz/dy = 1 where y > x",
         _binary(), kink=lambda x, y: np.abs(np.subtract(x, y))),
    _row("ReLUGate", "relu", "relu", "relu", "relu", "same", "z = max(0, x)",
         "dz/dx = 1 where x > 0, else 0", _unary(), kink=lambda x: np.abs(x)),
    _row("SigmoidGate", "sigmoid", "σ", "sigmoid", "sigmoid", "same",
         "z = σ(x) = 1 / (1 + exp(-x))", "dz/dx = (1 - z) * z", _unary()),
    _row("TanhGate", "tanh", "tanh", "tanh", "tanh", "same", "z = tanh(x)",
         "dz/dx = 1 - z**2", _unary()),
    _row("SinGate", "sin", "sin", "sin", "sin", "same", "z = sin(x)", "dz/dx = cos(x)",
         _unary()),
    _row("CosGate", "cos", "cos", "cos", "cos", "same", "z = cos(x)", "dz/dx = -sin(x)",
         _unary()),
    _row("TanGate", "tan", "tan", "tan", "tan", "same", "z = tan(x)",
         "dz/dx = 1 / cos(x)**2 = 1 + z**2", _unary()),
    _row("ExpGate", "exp", "exp", "exp", "exp", "same", "z = exp(x)", "dz/dx = exp(x) = z",
         _unary()),
    _row("LogGate", "log", "log", "log", "log", "same", "z = ln(x)", "dz/dx = 1 / x",
         _unary()),
    _row("SumGate", "sum", "sum", "sum", None, None,
         "z = sum of x over axis (None: every entry)", "dz/dx_i = 1",
         [((s,), {"axis": a}) for s, a in _REDUCTION]),
    _row("MeanGate", "mean", "mean", "mean", None, None,
         "z = mean of x over axis (None: every entry)", "dz/dx_i = 1/n",
         [((s,), {"axis": a}) for s, a in _REDUCTION]),
    _row("L2Gate", "l2", "L2", "l2", None, 0, "z = sum_i x_i**2 (a scalar)",
         "dz/dx_i = 2 x_i", _unary()),
    _row("MatVecGate", "matvec", "W·x", "matvec", None, 1,
         "z = W x for W (M, D) and x (D,)", "backward: dW = outer(dz, x), dx = W.T dz",
         [(((3, 4), (4,)), {}), (((1, 5), (5,)), {}), (((6, 2), (2,)), {}),
          (((4, 1), (1,)), {})]),
    _row("MatMulGate", "matmul", "A·B", "matmul", None, 2,
         "Z = A B for A (M, K) and B (K, N)", "backward: dA = dz B.T, dB = A.T dz",
         [(((3, 4), (4, 2)), {}), (((1, 5), (5, 3)), {}), (((6, 2), (2, 1)), {}),
          (((2, 3), (3, 4)), {})]),
    _row("AffineGate", "affine", "xW+b", "affine", None, 2,
         "Z = x W + b for x (N, D), W (D, M), b (M,)",
         "backward: dx = dz W.T, dW = x.T dz, db = dz summed over the batch",
         [(((5, 4), (4, 3), (3,)), {}), (((1, 4), (4, 2), (2,)), {}),
          (((8, 3), (3, 5), (5,)), {}), (((2, 1), (1, 1), (1,)), {})]),
    _row("SoftmaxGate", "softmax", "softmax", "softmax", None, "same",
         "p = softmax(x) over the last axis: p_i = exp(x_i) / sum_j exp(x_j)",
         "dp_i/dx_j = p_i (δ_ij - p_j); backward: p * (dz - sum(dz * p))",
         [(((3, 5),), {}), (((1, 4),), {}), (((6, 2),), {}), (((2, 3, 4),), {})]),
    _row("SoftmaxCrossEntropyGate", "loss", "softmax+CE", "softmax_cross_entropy", None, 0,
         "L = mean over the batch of -log softmax(logits)[label]",
         "dL/dlogits = (p - onehot(labels)) / N; labels get None",
         [(((5, 4), (5,)), {}), (((1, 3), (1,)), {}), (((8, 6), (8,)), {}),
          (((3, 2), (3,)), {})]),
]

#: gate class name -> its facts, in the lecture's order (that of ``gates.ALL_GATES``).
FACTS: dict[str, GateFacts] = {row.name: row for row in _ROWS}

#: expression spelling -> gate class name, for the gates an expression can write.
EXPRESSION_GATES: dict[str, str] = {row.expression: row.name for row in _ROWS
                                    if row.expression is not None}


def facts_of(gate) -> GateFacts | None:
    """The facts of a gate instance or class (or class name), looked up by class name:
    a student's class named like a built-in gate (the skeleton's) gets that gate's facts;
    ``None`` for any other gate (a block, a student's own)."""
    name = gate if isinstance(gate, str) else (
        gate.__name__ if isinstance(gate, type) else type(gate).__name__)
    return FACTS.get(name)


def symbol(gate) -> str:
    """How the lecture draws ``gate``: ``+``, ``×``, ``×2`` (a scale by 2), ``**2``, ``σ``;
    the class name for a gate that is not built in."""
    facts = facts_of(gate)
    if facts is None:
        return gate if isinstance(gate, str) else (
            gate.__name__ if isinstance(gate, type) else type(gate).__name__)
    if facts.name == "ScaleGate" and not isinstance(gate, (str, type)):
        return f"×{gate.k:g}"
    if facts.name == "PowerGate" and not isinstance(gate, (str, type)):
        return f"**{gate.n:g}"
    return facts.symbol or facts.short


def markdown_table() -> str:
    """The README's table of the built-in gates: class, builder, symbol, formula and local
    gradients (``python -m gates.facts`` prints it)."""
    rows = ["| gate | builder | symbol | forward | local gradients |", "|---|---|---|---|---|"]
    for f in FACTS.values():
        shown = f.symbol or {"ScaleGate": "×k", "PowerGate": "**n"}.get(f.name, f.short)
        # code spans: `**` and `_` in a formula would otherwise turn into emphasis
        rows.append(f"| `{f.name}` | `graph.{f.function}` | `{shown}` | `{f.formula}` | "
                    f"`{f.local_gradients}` |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
