"""``check_gate``: one gate, one set of inputs, checked against numerical derivatives.

What is checked, in order (every call into the gate is guarded, so a broken gate is
reported, never crashes the checker):

1. structure: ``forward`` runs, returns a finite float array of the inputs' dtype,
   leaves its inputs unchanged and returns the same output when called again with
   the same inputs; ``backward(u)`` returns one gradient per input with
   the input's shape and dtype, ``None`` exactly for non-differentiable inputs, the
   same answer when called twice, and leaves ``u`` unchanged;
2. reverse mode: for a random upstream u, the gradient of <u, forward(x)> against
   the numerical one, entry by entry for inputs of at most ``max_entries`` entries,
   otherwise on ``entries`` sampled entries and ``directions`` random directions;
3. forward mode (if the gate has ``jvp``): ``jvp`` along the same probes against the
   numerical directional derivative of the whole output, and the adjoint identity
   <jvp(t), u> = <t, backward(u)> for random tangents t.

Numerical derivatives are computed in float64 on float64 copies of the inputs,
whatever the gate's dtype; the analytic values come from the gate run in its own
dtype, with tolerances for that dtype.

Kinks: for a gate with ``kinks = True`` (relu, max) both one-sided derivatives are
computed for every probe; where they differ the analytic value may lie anywhere
between them (a subgradient). For other gates central differences are used, and a
probe that fails is tried again one-sided, so an undeclared kink (a student's relu)
is found rather than reported as a bug; a smooth gate's one-sided derivatives agree,
so its real bugs still fail.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..base import forward_input_names, jvp_none_hint
from .numeric import Probe, directional_derivatives
from .report import (GATE_ERRORS, Comparison, GateReport, InputReport, Problem,
                     exception_text, rel_error)

#: Default tolerances by the gate's dtype (the least precise of its inputs and
#: output): an analytic value a passes against the numerical n when
#: |a - n| <= atol + rtol * magnitude.
TOLERANCES = {
    "float64": {"rtol": 1e-6, "atol": 1e-8},
    "float32": {"rtol": 1e-3, "atol": 1e-5},
}

_MISSING = object()


def check_gate(gate, *inputs, rtol=None, atol=None, seed=0, jvp=None, kinks=None,
               max_entries=64, entries=6, directions=3, initial_step=0.05,
               name=None, numerical_gate=None, upstream=None) -> GateReport:
    """Check ``gate`` (anything with ``forward`` and ``backward``, optionally ``jvp``)
    at ``inputs`` against numerical derivatives; return a :class:`GateReport`.

    Parameters
    ----------
    rtol, atol : float, optional
        Override the tolerances of :data:`TOLERANCES` (chosen by dtype).
    seed : int
        Seeds the random upstream gradient, tangents, directions and sampled entries.
    jvp : bool, optional
        True: forward mode must work; False: skip it; None (default): check it when
        the gate has a ``jvp`` that does not raise NotImplementedError.
    kinks : bool, optional
        Compute one-sided derivatives everywhere (default: the gate's ``kinks``).
    max_entries : int
        Inputs with at most this many entries are checked entry by entry; larger
        ones on ``entries`` sampled entries plus ``directions`` random directions.
    initial_step : float
        The largest finite-difference step (inputs move by at most this much).
    name : str, optional
        The gate's name in the report (default: its repr, or its class name).
    upstream : array_like, optional
        The upstream gradient u (default: random normal, shaped like the output);
        ValueError if its shape is not the output's.
    numerical_gate : optional
        The gate whose ``forward`` the numerical derivatives use (default: ``gate``).
        Give a float64 twin when ``gate`` computes in a fixed lower precision (a block
        whose parameters are float32) and so cannot be differentiated in float64.

    The gate is left in the state of its last (perturbed) ``forward``, except what a
    gate's ``checkpoint()`` (optional: a function that restores) puts back: a block
    (:class:`graph.GraphGate`) leaves its graph as it was.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    run = _Run(gate, inputs, name, seed)
    rep = run.report
    if rtol is not None or atol is not None:
        for tol in rep.tolerances.values():
            tol["rtol"] = tol["rtol"] if rtol is None else float(rtol)
            tol["atol"] = tol["atol"] if atol is None else float(atol)
    kinks = bool(getattr(gate, "kinks", False)) if kinks is None else bool(kinks)
    # a gate whose forward changes state outside itself (a block feeds its graph) may
    # give a checkpoint: it is put back after the probes, so checking moves nothing
    checkpoint = getattr(gate, "checkpoint", None)
    restore = checkpoint() if callable(checkpoint) else None
    if not callable(restore):
        restore = None       # a method of that name that returns no restorer
    try:
        if run.forward() and run.backward(rng, upstream):
            probes = run.make_probes(rng, max_entries, entries, directions)
            run.forward_mode(jvp, probes, rng)
            run.numerical(probes, kinks, initial_step,
                          gate if numerical_gate is None else numerical_gate)
    finally:
        if restore is not None:
            restore()
        rep.seconds = time.perf_counter() - start
    return rep


class _Run:
    """The state of one check: the gate, its inputs, and what has been found so far."""

    def __init__(self, gate, inputs, name, seed):
        self.gate = gate
        self.inputs = inputs
        self.n = len(inputs)
        self.names = _input_names(gate, self.n)
        self.label = name or _gate_name(gate)
        self.problems: list[Problem] = []
        self.flags = self._differentiable()
        dtype = _report_dtype(inputs, self.flags)
        self.report = GateReport(self.label, seed, dtype, {dtype: dict(TOLERANCES[dtype])},
                                 problems=self.problems)
        self.tol = self.report.tolerances[dtype]
        self.grads = [None] * self.n        # float64 copies of valid analytic gradients
        self.jvps: dict = {}                # probe position -> flat float64 jvp
        self.comparisons = {}

    # -- helpers -----------------------------------------------------------------

    def problem(self, method, text, i=None):
        self.problems.append(Problem(method, text, None if i is None else self.names[i]))

    def call(self, method, *args):
        """Call a gate method; on an exception record it and return _MISSING."""
        try:
            return getattr(self.gate, method)(*args)
        except GATE_ERRORS as exc:  # a broken gate is reported, never crashes the checker
            self.problem(method, f"raised {exception_text(exc)}")
            return _MISSING

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
                         f"gives {len(flags)} flag(s) for {self.n} input(s)")
        return tuple(np.asarray(x).dtype.kind not in "iub" for x in self.inputs)

    def comparison(self, i, kind):
        key = (i, kind)
        if key not in self.comparisons:
            self.comparisons[key] = Comparison(kind)
        return self.comparisons[key]

    # -- 1. structure ------------------------------------------------------------

    def forward(self) -> bool:
        before = [np.array(x, copy=True) if isinstance(x, np.ndarray) else None
                  for x in self.inputs]
        out = self.call("forward", *self.inputs)
        for i, (x, snap) in enumerate(zip(self.inputs, before)):
            if snap is not None and not _same(x, snap):
                self.problem("forward", f"changed the input in place ({_change(x, snap)}); "
                                        f"a gate must not modify its inputs", i)
        # the rest of the check differentiates at the inputs as they were given
        self.inputs = tuple(x if snap is None else snap for x, snap in zip(self.inputs, before))
        if out is _MISSING:
            return False
        try:
            y = np.asarray(out)
        except GATE_ERRORS as exc:
            self.problem("forward", f"returned {type(out).__name__}, not an array ({exc})")
            return False
        if y.dtype.kind != "f":
            self.problem("forward", f"returned dtype {y.dtype}; expected floating point numbers")
            return False
        want = _output_dtype(self.inputs, self.flags)
        if y.dtype != want:
            dtypes = ", ".join(str(np.asarray(x).dtype) for x in self.inputs)
            self.problem("forward", f"returned dtype {y.dtype} for inputs of dtype {dtypes}; "
                                    f"expected {want} (float32 stays float32)")
        if not np.all(np.isfinite(y)):
            self.problem("forward", f"returned non-finite values (output shape {y.shape})")
            return False
        if not self._deterministic(y):
            return False
        self.out = y
        self.out_size = y.size
        self.report.inputs = [_input_report(self, i) for i in range(self.n)]
        return True

    def _deterministic(self, y) -> bool:
        """Call forward again on the same inputs: the numerical derivatives assume a
        function of the inputs alone, and random noise between calls would look like
        a kink (one-sided derivatives far apart) and accept any gradient."""
        again = self.call("forward", *[np.array(x, copy=True) if isinstance(x, np.ndarray)
                                       else x for x in self.inputs])
        if again is _MISSING:
            return False
        try:
            y2 = np.asarray(again, dtype=np.float64)
        except GATE_ERRORS as exc:
            self.problem("forward", f"returned {type(again).__name__} on a second call, not "
                                    f"an array ({exc})")
            return False
        if y2.shape != y.shape or not np.array_equal(y2, y):
            diff = (f"max difference {np.max(np.abs(y2 - y)):.3g}" if y2.shape == y.shape
                    else f"shape {y.shape} then {y2.shape}")
            self.problem("forward", f"gave a different output when called again with the same "
                                    f"inputs ({diff}); a gate must compute a function of its "
                                    f"inputs (no randomness, no state kept between calls)")
            return False
        return True

    def backward(self, rng, upstream) -> bool:
        y = self.out
        self.u = rng.standard_normal(y.shape)
        if upstream is not None:
            self.u = np.asarray(upstream, dtype=np.float64)
            if self.u.shape != y.shape:
                raise ValueError(f"check_gate: upstream has shape {self.u.shape}, the output "
                                 f"of {self.label} has shape {y.shape}")
        u_native = np.asarray(self.u, dtype=y.dtype)
        u_snap = u_native.copy()
        grads = self.call("backward", u_native)
        if grads is _MISSING:
            return False
        grads = self._gradient_list(grads)
        first = [None if g is None or g is _MISSING else np.array(g, copy=True) for g in grads]
        for i, g in enumerate(grads):
            self._check_gradient(i, g)
        again = self.call("backward", u_native)
        if again is not _MISSING:
            again = list(again) if isinstance(again, (tuple, list)) else [again]
            for i, (g1, g2) in enumerate(zip(first, again)):
                if g1 is None or g2 is None or self.grads[i] is None:
                    continue
                g2 = np.asarray(g2)
                if g1.shape != g2.shape or not np.array_equal(g1, g2, equal_nan=True):
                    diff = (f"max difference {np.max(np.abs(g1 - g2)):.3g}"
                            if g1.shape == g2.shape else f"shape {g1.shape} then {g2.shape}")
                    self.problem("backward", f"a second call after the same forward gave a "
                                             f"different gradient ({diff}); backward must not "
                                             f"change what forward cached", i)
        if not _same(u_native, u_snap):
            self.problem("backward", "changed the upstream gradient in place")
        return True

    def _gradient_list(self, grads):
        names = ", ".join(self.names)
        if not isinstance(grads, (tuple, list)):
            self.problem("backward", f"returned {type(grads).__name__} instead of a tuple with "
                                     f"one gradient per input ({names}), e.g. (dx,)")
            grads = [grads]
        grads = list(grads)
        if len(grads) < self.n:
            i = len(grads)
            self.problem("backward", f"returned {len(grads)} gradient(s) for {self.n} inputs "
                                     f"({names}): the gradient for input '{self.names[i]}' is "
                                     f"missing", i)
        elif len(grads) > self.n:
            self.problem("backward", f"returned {len(grads)} gradients for {self.n} inputs "
                                     f"({names})")
        return grads[:self.n] + [_MISSING] * (self.n - len(grads))

    def _check_gradient(self, i, g):
        if g is _MISSING:
            return
        x = self.inputs[i]
        if not self.flags[i]:
            if g is not None:
                self.problem("backward", "must return None for this non-differentiable input, "
                                         f"got {type(g).__name__}", i)
            return
        if g is None:
            self.problem("backward", "returned None, but the input is differentiable", i)
            return
        try:
            g = np.asarray(g)
        except GATE_ERRORS as exc:
            self.problem("backward", f"returned a gradient that is not an array ({exc})", i)
            return
        if g.dtype.kind != "f":
            self.problem("backward", f"returned a gradient of dtype {g.dtype}", i)
            return
        if g.shape != np.shape(x):
            self.problem("backward", f"returned a gradient of shape {g.shape}, but the input "
                                     f"has shape {np.shape(x)}", i)
            return
        want = _gradient_dtype(x)
        if want is not None and g.dtype != want:
            self.problem("backward", f"returned a gradient of dtype {g.dtype} for an input of "
                                     f"dtype {np.asarray(x).dtype}; expected {want}", i)
        if not np.all(np.isfinite(g)):
            self.problem("backward", "returned non-finite values", i)
            return
        self.grads[i] = g.astype(np.float64)

    # -- probes ------------------------------------------------------------------

    def make_probes(self, rng, max_entries, entries, directions):
        probes = []
        for i, x in enumerate(self.inputs):
            if not self.flags[i]:
                continue
            shape = np.shape(x)
            size = math.prod(shape)
            if size <= max_entries:
                chosen = [np.unravel_index(k, shape) for k in range(size)]
                self.report.inputs[i].probes = (f"all {size} entries" if size != 1
                                                else "its one entry")
                dirs = 0
            else:
                flat = rng.choice(size, size=min(entries, size), replace=False)
                chosen = [np.unravel_index(int(k), shape) for k in sorted(flat)]
                dirs = directions
                self.report.inputs[i].probes = (f"{len(chosen)} sampled entries and {dirs} "
                                                f"random directions of {size}")
            for idx in chosen:
                idx = tuple(int(k) for k in idx)
                probes.append(Probe(i, entry=idx, label=_entry_label(self.names[i], idx)))
            for k in range(dirs):
                d = rng.standard_normal(shape)
                d /= np.max(np.abs(d))
                probes.append(Probe(i, direction=d,
                                    label=f"{self.names[i]} along random direction {k}"))
        return probes

    # -- 3. forward mode (run before the numerical part changes the gate's state) --

    def forward_mode(self, want, probes, rng):
        if want is False:
            self.report.notes.append("forward mode (jvp) not checked: turned off")
            return
        if not callable(getattr(self.gate, "jvp", None)):
            if want:
                self.problem("jvp", "the gate has no jvp method")
            else:
                self.report.notes.append("forward mode not checked: the gate has no jvp")
            return
        zero = self._jvp([None] * self.n, None, required=want)
        if zero is None:
            return
        if np.any(zero != 0):
            self.problem("jvp", "with every tangent None (zero) the result is not zero "
                                f"(max |jvp| {np.max(np.abs(zero)):.3g})")
        for p, probe in enumerate(probes):
            t = [None] * self.n
            t[probe.input] = self._tangent(probe)
            v = self._jvp(t, probe.input, required=True)
            if v is None:
                return
            self.jvps[p] = v
        self._adjoint(rng)

    def _jvp(self, tangents, i, required):
        """``jvp(*tangents)`` as a flat float64 array, or None after recording why not.

        NotImplementedError is a note, not a failure, unless ``required`` (True once
        the first call worked, or when the caller asked for forward mode)."""
        try:
            v = self.gate.jvp(*tangents)
        except NotImplementedError as exc:
            if required is None:
                self.report.notes.append(f"forward mode not checked: jvp raised "
                                         f"{exception_text(exc)}")
            else:
                self.problem("jvp", f"raised {exception_text(exc)}", i)
            return None
        except GATE_ERRORS as exc:
            hint = jvp_none_hint(exc, tangents)
            self.problem("jvp", f"raised {exception_text(exc)}" + (f"; {hint}" if hint else ""),
                         i)
            return None
        try:
            v = np.asarray(v, dtype=np.float64)
        except GATE_ERRORS as exc:
            self.problem("jvp", f"returned {type(v).__name__}, not an array ({exc})", i)
            return None
        if v.shape != self.out.shape:
            self.problem("jvp", f"returned shape {v.shape}, but the output has shape "
                                f"{self.out.shape}", i)
            return None
        return v.ravel()

    def _tangent(self, probe):
        x = self.inputs[probe.input]
        dtype = _gradient_dtype(x) or self.out.dtype
        if probe.entry is not None:
            t = np.zeros(np.shape(x), dtype=dtype)
            t[probe.entry] = 1
            return t
        return probe.direction.astype(dtype)

    def _adjoint(self, rng):
        """<jvp(t), u> = <t, backward(u)>, input by input and for all inputs at once."""
        tangents = [None] * self.n
        for i, x in enumerate(self.inputs):
            if self.flags[i] and self.grads[i] is not None:
                dtype = _gradient_dtype(x) or self.out.dtype
                tangents[i] = rng.standard_normal(np.shape(x)).astype(dtype)
        live = [i for i, t in enumerate(tangents) if t is not None]
        if not live:
            return
        for i in live + ([None] if len(live) > 1 else []):
            t = tangents if i is None else [tangents[k] if k == i else None
                                           for k in range(self.n)]
            v = self._jvp(t, i, required=True)
            if v is None:
                return
            lhs_terms = v * self.u.ravel()
            rhs_terms = [np.asarray(tangents[k], np.float64).ravel() * self.grads[k].ravel()
                         for k in (live if i is None else [i])]
            rhs_terms = np.concatenate(rhs_terms)
            lhs, rhs = lhs_terms.sum(), rhs_terms.sum()
            mag = max(np.abs(lhs_terms).sum(), np.abs(rhs_terms).sum())
            tol = self.tol["atol"] + self.tol["rtol"] * mag
            where = ("<jvp(t), u> = <t, backward(u)> with random tangents on every input"
                     if i is None else f"<jvp(t), u> = <t, backward(u)> along {self.names[i]}")
            if i is None:
                if self.report.adjoint is None:
                    self.report.adjoint = Comparison("adjoint")
                comp = self.report.adjoint
            else:
                comp = self.comparison(i, "adjoint")
            if not comp.add(where, rhs, lhs, tol):
                self.problem("jvp", f"the adjoint identity fails: <jvp(t), u> = {lhs:.6g} but "
                                    f"<t, backward(u)> = {rhs:.6g} (jvp and backward disagree)",
                             i)

    # -- 2. numerical ------------------------------------------------------------

    def numerical(self, probes, kinks, initial_step, gate):
        if not probes:
            return
        base = [_float64_copy(x, f) for x, f in zip(self.inputs, self.flags)]
        for a in base:
            # shared by every evaluation, so read-only: a gate that writes into its
            # inputs (already reported above) raises instead of corrupting the others
            a.flags.writeable = False
        out_size = self.out_size
        # every probe evaluates the inputs themselves (h = 0): all must agree, or the
        # gate keeps state between calls and its "derivatives" mean nothing
        at_inputs, drift = [], []

        def forward_at(probe, h):
            args = list(base)
            if probe.entry is not None:
                args[probe.input] = base[probe.input].copy()
                args[probe.input][probe.entry] += h
            else:
                args[probe.input] = base[probe.input] + h * probe.direction
            with np.errstate(all="ignore"):
                y = np.asarray(gate.forward(*args), dtype=np.float64)
            if y.size != out_size:
                raise ValueError(f"output has {y.size} entries at a perturbed input, "
                                 f"{out_size} at the checked one")
            y = y.ravel()
            if h == 0 and not at_inputs:
                at_inputs.append(y)
            elif h == 0 and not drift and not np.array_equal(y, at_inputs[0]):
                drift.append(float(np.nanmax(np.abs(y - at_inputs[0]))))
            return y

        sides = (-1, 1) if kinks else (0,)
        res = directional_derivatives(forward_at, probes, out_size, sides=sides,
                                      initial_step=initial_step)
        verdicts = {}
        for p, probe in enumerate(probes):
            if p in res.failed:
                self.problem("forward", f"failed at a perturbed input (numerical derivative "
                                        f"along {probe.label}): {res.failed[p]}", probe.input)
                continue
            verdicts[p] = self._judge(p, probe, res, p)
        # A failure may be an artefact of the finite-difference step: an undeclared
        # kink (a student's relu), or several kinks within one step. Look again with
        # one-sided derivatives and smaller steps; a real bug fails at every step.
        again = [p for p, v in verdicts.items() if not v[0]]
        for shrink in (16, 256):
            if not again:
                break
            side = directional_derivatives(forward_at, [probes[p] for p in again],
                                           out_size, sides=(-1, 1),
                                           initial_step=initial_step / shrink)
            still = []
            for k, p in enumerate(again):
                v = self._judge(p, probes[p], side, k) if k not in side.failed else None
                if v is None or not v[0]:
                    still.append(p)
                    continue
                verdicts[p] = v
                self.report.notes.append(
                    f"along {probes[p].label} the check passed only with one-sided "
                    f"derivatives and a {shrink} times smaller step: "
                    + ("a kink, though the gate does not declare kinks = True"
                       if not kinks and v[1] else "a kink within the step"))
            again = still
        if drift:
            self.problem("forward", f"gave different outputs for the same inputs during the "
                                    f"numerical check (max difference {drift[0]:.3g}); a gate "
                                    f"must compute a function of its inputs (no randomness, "
                                    f"no state kept between calls)")
        groups: dict = {}
        for p, (ok, at_kink, records) in sorted(verdicts.items()):
            for kind, rec in records:
                groups.setdefault((probes[p].input, kind), []).append(rec)
        for (i, kind), recs in groups.items():
            self.comparison(i, kind).add_array(**_concatenate(recs))
        self._collect(probes)

    def _judge(self, p, probe, res, row):
        """Compare probe ``p``'s analytic values with row ``row`` of ``res``.

        Returns (ok, found a kink, [(kind, record)]) where a record holds the arrays
        :meth:`Comparison.add_array` takes."""
        i = probe.input
        df, err, status = res.row(row)
        u = self.u.ravel()
        records, ok, at_kink = [], True, False
        rtol, atol = self.tol["rtol"], self.tol["atol"]
        g = self.grads[i]
        if g is not None:
            if probe.entry is not None:
                a, a_mag = g[probe.entry], abs(g[probe.entry])
            else:
                terms = g * probe.direction
                a, a_mag = terms.sum(), np.abs(terms).sum()
            if len(df) == 1:
                n = u @ df[0]
                e = np.abs(u) @ err[0]
                mag = max(abs(a), a_mag, np.abs(u * df[0]).sum())
                tol = atol + rtol * mag
                low = high = None
            else:
                left, right = u * df[0], u * df[1]
                lo, hi = np.minimum(left, right).sum(), np.maximum(left, right).sum()
                e = np.abs(u) @ (err[0] + err[1])
                mag = max(abs(a), a_mag, np.abs(left).sum(), np.abs(right).sum())
                tol = atol + rtol * mag
                n = 0.5 * (left.sum() + right.sum())
                low = high = None
                if hi - lo > tol + min(e, tol):
                    low, high, at_kink = lo, hi, True
            unconverged = int(e > tol and np.any(status != 0))
            tol = tol + min(e, tol)
            rec = dict(where=[probe.label], numerical=[n], analytic=[a], tolerance=[tol],
                       index=[probe.entry], low=None if low is None else [low],
                       high=None if high is None else [high], unconverged=unconverged)
            ok &= _passes(rec)
            records.append(("gradient", rec))
        v = self.jvps.get(p)
        if v is not None:
            rec, found = self._judge_jvp(probe, v, df, err, status)
            ok &= _passes(rec)
            at_kink |= found
            records.append(("jvp", rec))
        return ok, at_kink, records

    def _judge_jvp(self, probe, v, df, err, status):
        rtol, atol = self.tol["rtol"], self.tol["atol"]
        # an output that nearly cancels (a long dot product summing to ~0) is judged
        # on the scale of the whole output, not on its own tiny value
        scale = np.sqrt(np.mean(np.square(df)))
        if len(df) == 1:
            n, e = df[0], err[0]
            tol = atol + rtol * np.maximum(np.maximum(np.abs(v), np.abs(n)), scale)
            low = high = None
            found = False
        else:
            lo, hi = np.minimum(df[0], df[1]), np.maximum(df[0], df[1])
            e = err[0] + err[1]
            n = 0.5 * (df[0] + df[1])
            tol = atol + rtol * np.maximum(np.maximum(np.abs(v), scale),
                                           np.maximum(np.abs(lo), np.abs(hi)))
            kink = hi - lo > tol + np.minimum(e, tol)
            found = bool(np.any(kink))
            low = np.where(kink, lo, np.nan) if found else None
            high = np.where(kink, hi, np.nan) if found else None
        unconverged = int(np.sum((e > tol) & np.any(status != 0, axis=0)))
        tol = tol + np.minimum(e, tol)
        shape = self.out.shape
        rec = dict(where=lambda j: f"output{_index_text(np.unravel_index(j, shape))} along "
                                   f"{probe.label}",
                   numerical=n, analytic=v, tolerance=tol,
                   index=lambda j: tuple(int(k) for k in np.unravel_index(j, shape)),
                   low=low, high=high, unconverged=unconverged)
        return rec, found

    def _collect(self, probes):
        """Attach the comparisons to the input reports; a failed one becomes a problem."""
        order = {"gradient": 0, "jvp": 1, "adjoint": 2}
        for (i, kind), comp in sorted(self.comparisons.items(),
                                      key=lambda kv: (order[kv[0][1]], kv[0][0])):
            if not comp.ok and kind != "adjoint":
                what = ("disagrees with the numerical gradient" if kind == "gradient" else
                        "disagrees with the numerical directional derivative")
                self.problem("backward" if kind == "gradient" else "jvp",
                             f"{what} {comp.worst.text()}", i)
        for (i, kind), comp in sorted(self.comparisons.items(),
                                      key=lambda kv: (kv[0][0], order[kv[0][1]])):
            self.report.inputs[i].comparisons.append(comp)
        kinks = sum(c.subgradients for c in self.comparisons.values())
        if kinks:
            self.report.notes.append(
                f"{kinks} comparison(s) at a kink: the one-sided derivatives differ there, "
                f"and any analytic value between them (a subgradient) was accepted")
        self.problems.sort(key=_problem_rank)


def _problem_rank(p: Problem) -> int:
    """Structure problems first, then gradients, forward mode, the adjoint identity."""
    if p.text.startswith("disagrees with the numerical gradient"):
        return 1
    if p.text.startswith("the adjoint identity"):
        return 3
    if p.method == "jvp":
        return 2
    return 0


def _concatenate(records) -> dict:
    """Join the records of many probes into one for :meth:`Comparison.add_array`;
    ``where`` and ``index`` become functions of the position in the joined arrays."""
    sizes = [np.size(r["numerical"]) for r in records]
    starts = np.cumsum([0] + sizes[:-1])

    def locate(key):
        def at(k):
            r = int(np.searchsorted(starts, k, side="right")) - 1
            f = records[r][key]
            return None if f is None else (f(k - starts[r]) if callable(f) else
                                           f[k - starts[r]])
        return at

    def joined(key, fill=None):
        parts = []
        for r, size in zip(records, sizes):
            v = r[key]
            parts.append(np.full(size, np.nan) if v is None else
                         np.broadcast_to(np.asarray(v, dtype=np.float64), (size,)))
        return np.concatenate(parts)

    kinks = any(r["low"] is not None for r in records)
    return dict(where=locate("where"), index=locate("index"),
                numerical=joined("numerical"), analytic=joined("analytic"),
                tolerance=joined("tolerance"),
                low=joined("low") if kinks else None, high=joined("high") if kinks else None,
                unconverged=sum(r["unconverged"] for r in records))


def _passes(rec) -> bool:
    """Would ``rec`` pass? Judged by a scratch :class:`Comparison`, so a verdict here and
    in the report can never disagree."""
    scratch = Comparison("scratch")
    scratch.add_array(**rec)
    return scratch.ok


# -- small helpers -----------------------------------------------------------------

def _gate_name(gate) -> str:
    try:
        text = repr(gate)
    except GATE_ERRORS:
        text = ""
    if not text or " object at 0x" in text:
        return type(gate).__name__
    return text


def _input_names(gate, n):
    names = forward_input_names(gate, n)
    if names is None:
        return ("x",) if n == 1 else tuple(f"x{k}" for k in range(n))
    return names


def _entry_label(name, idx) -> str:
    return f"{name}{_index_text(idx)}" if idx else name


def _index_text(idx) -> str:
    idx = tuple(int(k) for k in idx)
    return f"[{', '.join(str(k) for k in idx)}]" if idx else ""


def _same(x, snap) -> bool:
    x = np.asarray(x)
    return x.shape == snap.shape and x.dtype == snap.dtype and np.array_equal(x, snap,
                                                                              equal_nan=True)


def _change(x, snap) -> str:
    x = np.asarray(x)
    if x.shape != snap.shape:
        return f"shape {snap.shape} became {x.shape}"
    if x.dtype != snap.dtype:
        return f"dtype {snap.dtype} became {x.dtype}"
    diff = np.abs(x.astype(np.float64) - snap.astype(np.float64))
    where = np.unravel_index(int(np.nanargmax(diff)), x.shape) if x.ndim else ()
    return (f"entry {_index_text(where) or '()'} was {snap[where]:.6g}, is now "
            f"{x[where]:.6g}")


def _gradient_dtype(x):
    """The dtype the gradient of input ``x`` must have: its own float dtype, float64
    for integer arrays, and None (any float) for a Python number, which is weakly typed."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    if isinstance(x, (int, float)):
        return None
    return np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.dtype(np.float64)


def _output_dtype(inputs, flags):
    """float32 when every array input that is differentiable is float32, else float64."""
    dtypes = [np.asarray(x).dtype for x, f in zip(inputs, flags)
              if f and isinstance(x, (np.ndarray, np.generic, list, tuple))]
    dtypes = [d if d.kind == "f" else np.dtype(np.float64) for d in dtypes]
    if not dtypes:
        return np.dtype(np.float64)
    return np.result_type(*dtypes)


def _report_dtype(inputs, flags) -> str:
    """The dtype whose tolerances apply: float32, else float64."""
    dtype = _output_dtype(inputs, flags)
    return "float32" if dtype == np.float32 else "float64"


def _float64_copy(x, differentiable):
    """A float64 copy of a float or differentiable input; labels keep their ints."""
    a = np.array(x, copy=True)
    if differentiable or a.dtype.kind == "f":
        return a.astype(np.float64)
    return a


def _input_report(run, i):
    x = run.inputs[i]
    return InputReport(run.names[i], i, tuple(np.shape(x)), str(np.asarray(x).dtype),
                       run.flags[i])


__all__ = ["check_gate", "TOLERANCES", "rel_error"]
