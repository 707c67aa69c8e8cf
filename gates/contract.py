"""The gate contract as rules: what ``compgraph check`` and ``compgraph grade`` both judge by.

The checker (:mod:`gates.check`) and the grader (:mod:`gates.grade.scoring`) each word
their own messages, for their own readers, but they decide with the functions and
numbers here, so a gate that passes one is not failed by the other for a rule the
first did not know:

- tolerances per dtype (:data:`TOLERANCES`) and how big an error they allow for a value
  of a given size (:meth:`Tolerance.bound`, :func:`magnitude`): :func:`agree` compares
  arrays with them (the grader's expected values), the checker each probe's
  derivative against its numerical estimate;
- the numerical derivatives' step sizes and SciPy tolerances;
- the kink policy: inputs of a gate with kinks (relu, max) lie at least
  :data:`KINK_MARGIN` from them, or else are differentiated one-sided;
- the rules of ``backward`` and ``forward``: how many gradients, ``None`` exactly for
  inputs that are not differentiable, each gradient of its input's shape and dtype,
  inputs unchanged, and the same answer from a second call;
- reading any gate, a student's too: the names of its inputs
  (:func:`forward_input_names`) and the hint for a ``jvp`` that multiplies a ``None``
  tangent (:func:`jvp_none_hint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import _positional_names
from .facts import facts_of

__all__ = ["forward_input_names", "jvp_none_hint", "Tolerance", "TOLERANCES", "tolerance", "magnitude", "agree", "STEP",
           "PROBE_STEP", "SCIPY_TOLERANCES", "KINK_MARGIN", "near_kink", "full_marks",
           "gradient_count", "gradient_presence", "gradient_shape", "output_dtype",
           "gradient_dtype", "unchanged", "same_answer"]


@dataclass(frozen=True)
class Tolerance:
    """How far an analytic value may be from the true one: ``atol + rtol * magnitude``,
    where the magnitude is the size of the quantity compared (see :func:`magnitude`)."""

    rtol: float
    atol: float

    def bound(self, magnitude):
        """The largest error allowed for a value of size ``magnitude`` (arrays too)."""
        return self.atol + self.rtol * magnitude

    def as_dict(self) -> dict:
        """``{"rtol": ..., "atol": ...}``, as reports show it."""
        return {"rtol": self.rtol, "atol": self.atol}


#: By the dtype a gate computes in (the least precise of its inputs and output). A
#: float32 gate rounds every step to 7 digits, so its values are held to 1e-3.
TOLERANCES = {
    "float64": Tolerance(rtol=1e-6, atol=1e-8),
    "float32": Tolerance(rtol=1e-3, atol=1e-5),
}


def tolerance(dtype) -> Tolerance:
    """The tolerance for ``dtype`` (a numpy dtype, its name, or True for float32)."""
    if dtype is True or np.dtype(np.float64 if dtype is False else dtype) == np.float32:
        return TOLERANCES["float32"]
    return TOLERANCES["float64"]


def magnitude(want):
    """The size each entry of an expected array ``want`` is judged at: the larger of its
    own size and the root mean square of all of ``want``. An entry that is nearly zero
    in an output of size one (a softmax's smallest probability, a sum that cancels) is
    judged on the output's scale, not held to an error below its own tiny value."""
    want = np.abs(np.asarray(want, dtype=np.float64))
    scale = float(np.sqrt(np.mean(np.square(want)))) if want.size else 0.0
    return np.maximum(want, scale)


def agree(got, want, tol: Tolerance) -> bool:
    """Whether array ``got`` matches the expected ``want`` (same shape) entry by entry,
    within ``tol`` of each entry's :func:`magnitude`: forward values against the
    reference, gradients against J^T u, a jvp against J t."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    return bool(np.all(np.abs(got - want) <= tol.bound(magnitude(want))))


#: Largest step of a numerical derivative at inputs at least KINK_MARGIN away from any
#: kink or edge of the domain (the grader's cases): a central stencil never crosses one.
STEP = 0.01

#: Largest step of the checker's probes at any inputs: kinks closer than that are
#: differentiated one-sided (:func:`near_kink`), then retried with smaller steps.
PROBE_STEP = 0.05

#: When ``scipy.differentiate.derivative`` stops refining: far below every tolerance.
SCIPY_TOLERANCES = {"atol": 1e-11, "rtol": 1e-9}

#: Inputs of a gate with kinks are kept (grader) or found (checker) this far from them.
KINK_MARGIN = 0.05


def near_kink(gate, inputs, declared: bool) -> bool:
    """Whether numerical derivatives at ``inputs`` need one-sided differences: the gate
    declares kinks and, for a built-in gate whose kinks are known
    (:data:`gates.facts.FACTS`), one lies within :data:`KINK_MARGIN` of the inputs."""
    if not declared:
        return False
    facts = facts_of(gate)
    if facts is None or facts.kink is None:
        return True
    try:
        return not facts.kink_distance(inputs) > KINK_MARGIN
    except (TypeError, ValueError):       # inputs the table's formula cannot take
        return True


def full_marks(score: float, max_score: float) -> bool:
    """A gate passes when it earns all its points (up to the rounding of the shares)."""
    return score >= max_score - 1e-9


# -- the rules of backward and forward ---------------------------------------------------

def gradient_count(sequence: bool, count: int, arity: int) -> str | None:
    """What is wrong with the container ``backward`` returned (``sequence``: a tuple or
    a list, of ``count`` entries), or None.

    ``"not a tuple"``: a bare value (for one input too: a graph reads ``return dx`` as
    a tuple of its rows); ``"too few"`` or ``"too many"``: not one per input."""
    if not sequence:
        return "not a tuple"
    if count < arity:
        return "too few"
    if count > arity:
        return "too many"
    return None


def gradient_presence(is_none: bool, differentiable: bool) -> str | None:
    """``None`` is the gradient of exactly the inputs that are not differentiable (class
    labels): ``"must be None"`` or ``"is None"`` when that breaks, else None."""
    if not differentiable and not is_none:
        return "must be None"
    if differentiable and is_none:
        return "is None"
    return None


def gradient_shape(shape, input_shape) -> str | None:
    """A gradient has its input's exact shape: ``"not summed back"`` when it has more
    entries (the upstream was not summed over the axes broadcasting added), ``"shape"``
    for any other mismatch, None when it is right."""
    shape, input_shape = tuple(shape), tuple(input_shape)
    if shape == input_shape:
        return None
    if int(np.prod(shape)) > int(np.prod(input_shape)):
        return "not summed back"
    return "shape"


def output_dtype(inputs, differentiable) -> np.dtype:
    """The dtype ``forward`` must return: float32 when every differentiable array input
    is float32 (float32 stays float32), float64 otherwise (integers become float64)."""
    dtypes = [np.asarray(x).dtype for x, d in zip(inputs, differentiable)
              if d and isinstance(x, (np.ndarray, np.generic, list, tuple))]
    dtypes = [t if t.kind == "f" else np.dtype(np.float64) for t in dtypes]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def gradient_dtype(x) -> np.dtype | None:
    """The dtype of input ``x``'s gradient: its own float dtype, float64 for an integer
    array, None (any float) for a Python number, which has no dtype of its own."""
    if not isinstance(x, (np.ndarray, np.generic)) and isinstance(x, (int, float)):
        return None
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def unchanged(before, after) -> bool:
    """Whether an input is bit for bit what it was: same shape, dtype and values."""
    after = np.asarray(after)
    return (after.shape == before.shape and after.dtype == before.dtype
            and bool(np.array_equal(after, before, equal_nan=True)))


def same_answer(first, second) -> bool:
    """Whether a second ``backward`` with the same upstream gave the same gradient:
    ``backward`` may not change what ``forward`` cached (``self.dzdx *= dz``)."""
    if first is None or second is None:
        return first is None and second is None
    first, second = np.asarray(first), np.asarray(second)
    return first.shape == second.shape and bool(np.array_equal(first, second,
                                                               equal_nan=True))


# -- reading any gate, built-in or a student's: the names of its inputs, and a hint
# for a jvp that fails on a None tangent (for the checker and the graph) -----------

def jvp_none_hint(exc: BaseException, tangents) -> str | None:
    """What to write when a hand-written ``jvp`` fails on a ``None`` tangent (the
    contract's "no tangent", i.e. zero), else None: the common mistake ``tx * dzdx``
    gives Python's "unsupported operand type(s) ... 'NoneType'"."""
    if isinstance(exc, TypeError) and "NoneType" in str(exc) and any(
            t is None for t in tangents):
        return ("jvp receives None for an input without a tangent (a zero tangent): "
                "skip it or treat it as 0, e.g. `tx = 0 if tx is None else tx`")
    return None


def forward_input_names(gate, n: int) -> tuple[str, ...] | None:
    """The names of a gate's ``n`` inputs: its ``input_names``, else the parameters of
    its ``forward`` (a hand-written ``forward(self, x, y)`` gives ('x', 'y')), or None
    when neither gives ``n`` distinct names."""
    names = getattr(gate, "input_names", None)
    try:
        names = tuple(str(s) for s in names) if names is not None else None
    except TypeError:
        names = None
    if names is None:
        forward = getattr(gate, "forward", None)
        names = _positional_names(forward) if callable(forward) else None
    if names is None or len(names) != n or len(set(names)) != n:
        return None
    return names
