"""Numerical checkers: verify any object that follows the gate contract against
derivatives computed by ``scipy.differentiate``.

    >>> import numpy as np
    >>> from gates import SigmoidGate
    >>> from gates.check import check_gate
    >>> report = check_gate(SigmoidGate(), np.array([[0.5, -1.0]]))
    >>> report.ok, report.verdict
    (True, 'PASS SigmoidGate() (float64, seed 0)')

:func:`check_gate` checks one gate at given inputs (structure, reverse mode, forward
mode, kinks) and returns a :class:`GateReport`; :func:`check_all` checks every gate of
:data:`gates.ALL_GATES` (or any list of gate classes) on its example inputs over
several seeds. Graphs wrapped with ``as_gate`` are checked by the same code. Both
judge by :mod:`gates.contract` (its :data:`TOLERANCES` are re-exported here), as the
grader does; ``compgraph check`` (:mod:`.command`) grades a student's gates named like
built-in ones with the grader itself (:mod:`.graded`). Each problem of a report has a
kind (:data:`KINDS`: structure, gradient, jvp, adjoint), which orders the report.

The numerical core (:mod:`gates.numeric`, below both the checker and the grader) is
re-exported here, for code that needs derivatives of a function it trusts rather than
a verdict on a gate (the grader, :mod:`gates.grade.numeric`):
:func:`directional_derivatives` gives ``J d`` for each :class:`Probe` (an entry or a
direction of one input) as a :class:`Derivatives`, whose ``row(p)`` is probe p's
(estimate, error, status) and whose ``failed`` maps probes to the error that stopped them.
"""

from ..contract import TOLERANCES
from ..numeric import Derivatives, Probe, directional_derivatives
from .gate_check import check_gate
from .report import KINDS, Comparison, GateReport, InputReport, Problem, Worst, rel_error
from .suite import SuiteReport, check_all, check_example, gate_classes

__all__ = ["check_gate", "check_all", "check_example", "gate_classes", "TOLERANCES",
           "GateReport", "InputReport", "Comparison", "Problem", "KINDS", "Worst",
           "SuiteReport", "rel_error", "directional_derivatives", "Probe", "Derivatives"]
