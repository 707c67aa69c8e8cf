"""Stage 1 of :func:`gates.check.check_gate`: the structure of ``forward`` and ``backward``.

``forward`` runs, returns a finite float array of the dtype the contract asks
(:func:`gates.contract.output_dtype`), leaves its inputs unchanged and returns the same
output when called again; ``backward(u)`` returns one gradient per input
(:func:`gates.contract.gradient_count`), ``None`` exactly for the inputs that are not
differentiable, each of its input's shape and dtype, the same answer when called
twice, and leaves ``u`` unchanged. Every call into the gate is guarded: a broken gate
is reported, never crashes the checker.

:class:`Run` is the state of one check, which the later stages (:mod:`.probes`,
:mod:`.judging`) read and add to.
"""

from __future__ import annotations

import numpy as np

from .. import contract
from .._util import plural
from ..contract import forward_input_names
from ..numeric import GATE_ERRORS, exception_text
from .report import Comparison, GateReport, InputReport, Problem

#: What a guarded call returns when the gate raised (the problem is recorded).
MISSING = object()


class Run:
    """The state of one check: the gate, its inputs, and what has been found so far."""

    def __init__(self, gate, inputs, name, seed, rtol=None, atol=None):
        self.gate = gate
        self.inputs = inputs
        self.n = len(inputs)
        self.names = input_names(gate, self.n)
        self.label = name or gate_name(gate)
        self.problems: list[Problem] = []
        self.flags = self._differentiable()
        dtype = "float32" if contract.output_dtype(inputs, self.flags) == np.float32 \
            else "float64"
        # every comparison uses this tolerance: the dtype's, or the caller's override;
        # the report only shows it
        tol = contract.TOLERANCES[dtype]
        self.tol = contract.Tolerance(rtol=tol.rtol if rtol is None else float(rtol),
                                      atol=tol.atol if atol is None else float(atol))
        self.report = GateReport(self.label, seed, dtype, {dtype: self.tol.as_dict()},
                                 problems=self.problems)
        self.grads = [None] * self.n        # float64 copies of valid analytic gradients
        self.jvps: dict = {}                # probe position -> flat float64 jvp
        self.comparisons: dict = {}         # (input, kind) -> Comparison
        self.out = self.u = None

    def problem(self, method, text, i=None, kind="structure"):
        """Record a problem of ``method`` about input ``i`` (or the gate)."""
        self.problems.append(Problem(method, text, None if i is None else self.names[i], kind))

    def call(self, method, *args):
        """Call a gate method; on an exception record it and return :data:`MISSING`."""
        try:
            return getattr(self.gate, method)(*args)
        except GATE_ERRORS as exc:  # a broken gate is reported, never crashes the checker
            self.problem(method, f"raised {exception_text(exc)}")
            return MISSING

    def comparison(self, i, kind) -> Comparison:
        """The comparison of ``kind`` for input ``i``, made on first use."""
        key = (i, kind)
        if key not in self.comparisons:
            self.comparisons[key] = Comparison(kind)
        return self.comparisons[key]

    def _differentiable(self):
        """Per input: the gate's ``differentiable_inputs()`` or ``differentiable``, else
        every input except integer arrays (class labels)."""
        flags = None
        method = getattr(self.gate, "differentiable_inputs", None)
        try:
            flags = method() if callable(method) else getattr(self.gate, "differentiable", None)
        except GATE_ERRORS as exc:
            self.problem("differentiable_inputs", f"raised {exception_text(exc)}")
        if flags is not None:
            flags = tuple(bool(f) for f in flags)
            if len(flags) == self.n:
                return flags
            self.problem("differentiable_inputs",
                         f"gives {plural(len(flags), 'flag')} for "
                         f"{plural(self.n, 'input')}")
        return tuple(np.asarray(x).dtype.kind not in "iub" for x in self.inputs)


# -- forward -----------------------------------------------------------------------------

def check_forward(run: Run) -> bool:
    """Run ``forward`` and check its output; True when the later stages can go on."""
    before = [np.array(x, copy=True) if isinstance(x, np.ndarray) else None
              for x in run.inputs]
    out = run.call("forward", *run.inputs)
    for i, (x, snap) in enumerate(zip(run.inputs, before)):
        if snap is not None and not contract.unchanged(snap, x):
            run.problem("forward", f"changed the input in place ({_change(x, snap)}); "
                                   f"a gate must not modify its inputs", i)
    # the rest of the check differentiates at the inputs as they were given
    run.inputs = tuple(x if snap is None else snap for x, snap in zip(run.inputs, before))
    if out is MISSING:
        return False
    try:
        y = np.asarray(out)
    except GATE_ERRORS as exc:
        run.problem("forward", f"returned {type(out).__name__}, not an array ({exc})")
        return False
    if y.dtype.kind != "f":
        run.problem("forward", f"returned dtype {y.dtype}; expected floating point numbers")
        return False
    want = contract.output_dtype(run.inputs, run.flags)
    if y.dtype != want:
        dtypes = ", ".join(str(np.asarray(x).dtype) for x in run.inputs)
        run.problem("forward", f"returned dtype {y.dtype} for inputs of dtype {dtypes}; "
                               f"expected {want} (float32 stays float32)")
    if not np.all(np.isfinite(y)):
        run.problem("forward", f"returned non-finite values (output shape {y.shape})")
        return False
    if not _deterministic(run, y):
        return False
    run.out = y
    run.report.inputs = [InputReport(run.names[i], i, tuple(np.shape(x)),
                                     str(np.asarray(x).dtype), run.flags[i])
                         for i, x in enumerate(run.inputs)]
    return True


def _deterministic(run: Run, y) -> bool:
    """Call forward again on the same inputs: the numerical derivatives assume a
    function of the inputs alone, and random noise between calls would look like a
    kink (one-sided derivatives far apart) and accept any gradient."""
    again = run.call("forward", *[np.array(x, copy=True) if isinstance(x, np.ndarray)
                                  else x for x in run.inputs])
    if again is MISSING:
        return False
    try:
        y2 = np.asarray(again, dtype=np.float64)
    except GATE_ERRORS as exc:
        run.problem("forward", f"returned {type(again).__name__} on a second call, not "
                               f"an array ({exc})")
        return False
    if y2.shape != y.shape or not np.array_equal(y2, y):
        diff = (f"max difference {np.max(np.abs(y2 - y)):.3g}" if y2.shape == y.shape
                else f"shape {y.shape} then {y2.shape}")
        run.problem("forward", f"gave a different output when called again with the same "
                               f"inputs ({diff}); a gate must compute a function of its "
                               f"inputs (no randomness, no state kept between calls)")
        return False
    return True


# -- backward ----------------------------------------------------------------------------

def check_backward(run: Run, rng, upstream) -> bool:
    """Call ``backward(u)`` twice for a random (or the given) upstream ``u`` and check
    what it returns; True when it returned something to judge."""
    y = run.out
    run.u = rng.standard_normal(y.shape)
    if upstream is not None:
        run.u = np.asarray(upstream, dtype=np.float64)
        if run.u.shape != y.shape:
            raise ValueError(f"check_gate: upstream has shape {run.u.shape}, the output "
                             f"of {run.label} has shape {y.shape}")
    u_native = np.asarray(run.u, dtype=y.dtype)
    u_snap = u_native.copy()
    grads = run.call("backward", u_native)
    if grads is MISSING:
        return False
    grads = _gradient_list(run, grads)
    first = [None if g is None or g is MISSING else np.array(g, copy=True) for g in grads]
    for i, g in enumerate(grads):
        _check_gradient(run, i, g)
    again = run.call("backward", u_native)
    if again is not MISSING:
        again = list(again) if isinstance(again, (tuple, list)) else [again]
        for i, (g1, g2) in enumerate(zip(first, again)):
            if g1 is None or g2 is None or run.grads[i] is None:
                continue
            if not contract.same_answer(g1, g2):
                g2 = np.asarray(g2)
                diff = (f"max difference {np.max(np.abs(g1 - g2)):.3g}"
                        if g1.shape == g2.shape else f"shape {g1.shape} then {g2.shape}")
                run.problem("backward", f"a second call after the same forward gave a "
                                        f"different gradient ({diff}); backward must not "
                                        f"change what forward cached", i)
    if not contract.unchanged(u_snap, u_native):
        run.problem("backward", "changed the upstream gradient in place")
    return True


def _gradient_list(run: Run, grads) -> list:
    """One entry per input (:data:`MISSING` where backward gave none), after recording
    what :func:`gates.contract.gradient_count` finds wrong with the container."""
    names = ", ".join(run.names)
    sequence = isinstance(grads, (tuple, list))
    grads = list(grads) if sequence else [grads]
    wrong = contract.gradient_count(sequence, len(grads), run.n)
    if wrong == "not a tuple":
        run.problem("backward", f"returned {type(grads[0]).__name__} instead of a tuple "
                                f"with one gradient per input ({names}), e.g. (dx,)")
        wrong = contract.gradient_count(True, 1, run.n)
    if wrong == "too few":
        i = len(grads)
        run.problem("backward", f"returned {plural(len(grads), 'gradient')} for {run.n} "
                                f"inputs ({names}): the gradient for input "
                                f"'{run.names[i]}' is missing", i)
    elif wrong == "too many":
        run.problem("backward", f"returned {len(grads)} gradients for {run.n} inputs "
                                f"({names})")
    return grads[:run.n] + [MISSING] * (run.n - len(grads))


def _check_gradient(run: Run, i, g) -> None:
    """Input ``i``'s gradient against the contract; a valid one is kept, as float64, in
    ``run.grads`` for the numerical comparison."""
    if g is MISSING:
        return
    x = run.inputs[i]
    wrong = contract.gradient_presence(g is None, run.flags[i])
    if wrong == "must be None":
        run.problem("backward", "must return None for this non-differentiable input, "
                                f"got {type(g).__name__}", i)
        return
    if wrong == "is None":
        run.problem("backward", "returned None, but the input is differentiable", i)
        return
    if g is None:
        return
    try:
        g = np.asarray(g)
    except GATE_ERRORS as exc:
        run.problem("backward", f"returned a gradient that is not an array ({exc})", i)
        return
    if g.dtype.kind != "f":
        run.problem("backward", f"returned a gradient of dtype {g.dtype}", i)
        return
    wrong = contract.gradient_shape(g.shape, np.shape(x))
    if wrong:
        hint = (" (sum the upstream over the axes broadcasting added)"
                if wrong == "not summed back" else "")
        run.problem("backward", f"returned a gradient of shape {g.shape}, but the input "
                                f"has shape {np.shape(x)}{hint}", i)
        return
    want = contract.gradient_dtype(x)
    if want is not None and g.dtype != want:
        run.problem("backward", f"returned a gradient of dtype {g.dtype} for an input of "
                                f"dtype {np.asarray(x).dtype}; expected {want}", i)
    if not np.all(np.isfinite(g)):
        run.problem("backward", "returned non-finite values", i)
        return
    run.grads[i] = g.astype(np.float64)


# -- names -------------------------------------------------------------------------------

def gate_name(gate) -> str:
    """The gate's repr, or its class name when the repr is the default one."""
    try:
        text = repr(gate)
    except GATE_ERRORS:
        text = ""
    if not text or " object at 0x" in text:
        return type(gate).__name__
    return text


def input_names(gate, n) -> tuple:
    """The names of ``forward``'s inputs, or ``x`` / ``x0, x1, ...``."""
    names = forward_input_names(gate, n)
    if names is None:
        return ("x",) if n == 1 else tuple(f"x{k}" for k in range(n))
    return names


def index_text(idx) -> str:
    """``[1, 2]`` for index (1, 2); empty for a 0-d index."""
    idx = tuple(int(k) for k in idx)
    return f"[{', '.join(str(k) for k in idx)}]" if idx else ""


def _change(x, snap) -> str:
    x = np.asarray(x)
    if x.shape != snap.shape:
        return f"shape {snap.shape} became {x.shape}"
    if x.dtype != snap.dtype:
        return f"dtype {snap.dtype} became {x.dtype}"
    diff = np.abs(x.astype(np.float64) - snap.astype(np.float64))
    where = np.unravel_index(int(np.nanargmax(diff)), x.shape) if x.ndim else ()
    return (f"entry {index_text(where) or '()'} was {snap[where]:.6g}, is now "
            f"{x[where]:.6g}")
