"""compgraph's gates: one contract (:class:`Gate`, which applies the checks, dtype rules
and messages once, around each gate's own math), every operator of the lecture, and
the registry :data:`ALL_GATES` that the checker and the grader loop over."""

from .arithmetic import (AddGate, DivideGate, MultiplyGate, NegateGate, PowerGate,
                         ScaleGate, SubtractGate)
from .base import (Gate, GateArityError, GateDomainError, GateError, GateShapeError,
                   GateStateError, GateTypeError, unbroadcast)
from .linear import AffineGate, MatMulGate, MatVecGate
from .nonlinear import (CosGate, ExpGate, LogGate, MaxGate, ReLUGate, SigmoidGate, SinGate,
                        TanGate, TanhGate)
from .reductions import L2Gate, MeanGate, SumGate
from .softmax import SoftmaxCrossEntropyGate, SoftmaxGate

#: Every built-in gate class, in the order the lecture introduces them.
ALL_GATES = (
    AddGate, SubtractGate, MultiplyGate, DivideGate, ScaleGate, PowerGate, NegateGate,
    MaxGate, ReLUGate, SigmoidGate, TanhGate, SinGate, CosGate, TanGate, ExpGate, LogGate,
    SumGate, MeanGate, L2Gate, MatVecGate, MatMulGate, AffineGate,
    SoftmaxGate, SoftmaxCrossEntropyGate,
)

__all__ = [cls.__name__ for cls in ALL_GATES] + [
    "ALL_GATES", "Gate", "GateError", "GateArityError", "GateShapeError", "GateStateError",
    "GateDomainError", "GateTypeError", "unbroadcast",
]
