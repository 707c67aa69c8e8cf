"""Stage 3 of :func:`gates.check.check_gate`: the analytic values against numerical ones.

- Forward mode (run before the numerical part moves the gate's state): ``jvp`` along
  every probe, and the adjoint identity <jvp(t), u> = <t, backward(u)> for random
  tangents t, input by input and for all inputs at once.
- Reverse and forward mode against ``scipy.differentiate``: for each probe, the
  gradient's component <g, d> against the derivative of <u, forward(x + h d)>, and
  ``jvp`` against the derivative of the whole output, each within
  :meth:`gates.contract.Tolerance.bound` of its magnitude (plus SciPy's own error
  estimate, capped at the tolerance).

Kinks (:func:`gates.contract.near_kink`): near a kink both one-sided derivatives are
computed and any analytic value between them (a subgradient) passes. Elsewhere central
differences are used, and a probe that fails is tried again one-sided with smaller
steps, so an undeclared kink (a student's relu) is found rather than reported as a
bug; a smooth gate's one-sided derivatives agree, so its real bugs still fail.
"""

from __future__ import annotations

import numpy as np

from .. import contract
from ..contract import jvp_none_hint
from ..numeric import GATE_ERRORS, directional_derivatives, exception_text
from .probes import Perturbed, random_tangents, tangent
from .report import Comparison
from .structure import Run, index_text

#: The one-sided retries of a failed probe: the step shrinks by these factors.
RETRY_SHRINKS = (16, 256)


# -- forward mode ------------------------------------------------------------------------

def check_forward_mode(run: Run, want, probes, rng) -> None:
    """``jvp`` along every probe (kept in ``run.jvps``), then the adjoint identity.

    ``want``: True (jvp must work), False (skip it), None (check it if the gate has a
    ``jvp`` that does not raise NotImplementedError)."""
    if want is False:
        run.report.notes.append("forward mode (jvp) not checked: turned off")
        return
    if not callable(getattr(run.gate, "jvp", None)):
        if want:
            run.problem("jvp", "the gate has no jvp method", kind="jvp")
        else:
            run.report.notes.append("forward mode not checked: the gate has no jvp")
        return
    zero = _jvp(run, [None] * run.n, None, required=want)
    if zero is None:
        return
    if np.any(zero != 0):
        run.problem("jvp", "with every tangent None (zero) the result is not zero "
                           f"(max |jvp| {np.max(np.abs(zero)):.3g})", kind="jvp")
    for p, probe in enumerate(probes):
        t = [None] * run.n
        t[probe.input] = tangent(run, probe)
        v = _jvp(run, t, probe.input, required=True)
        if v is None:
            return
        run.jvps[p] = v
    _adjoint(run, rng)


def _jvp(run: Run, tangents, i, required):
    """``jvp(*tangents)`` as a flat float64 array, or None after recording why not.

    NotImplementedError is a note, not a failure, unless ``required`` (True once the
    first call worked, or when the caller asked for forward mode)."""
    try:
        v = run.gate.jvp(*tangents)
    except NotImplementedError as exc:
        if required is None:
            run.report.notes.append(f"forward mode not checked: jvp raised "
                                    f"{exception_text(exc)}")
        else:
            run.problem("jvp", f"raised {exception_text(exc)}", i, kind="jvp")
        return None
    except GATE_ERRORS as exc:
        hint = jvp_none_hint(exc, tangents)
        run.problem("jvp", f"raised {exception_text(exc)}" + (f"; {hint}" if hint else ""),
                    i, kind="jvp")
        return None
    try:
        v = np.asarray(v, dtype=np.float64)
    except GATE_ERRORS as exc:
        run.problem("jvp", f"returned {type(v).__name__}, not an array ({exc})", i,
                    kind="jvp")
        return None
    if v.shape != run.out.shape:
        run.problem("jvp", f"returned shape {v.shape}, but the output has shape "
                           f"{run.out.shape}", i, kind="jvp")
        return None
    return v.ravel()


def _adjoint(run: Run, rng) -> None:
    """<jvp(t), u> = <t, backward(u)>, input by input and for all inputs at once."""
    tangents = random_tangents(run, rng)
    live = [i for i, t in enumerate(tangents) if t is not None]
    if not live:
        return
    for i in live + ([None] if len(live) > 1 else []):
        t = tangents if i is None else [tangents[k] if k == i else None
                                        for k in range(run.n)]
        v = _jvp(run, t, i, required=True)
        if v is None:
            return
        lhs_terms = v * run.u.ravel()
        rhs_terms = np.concatenate([np.asarray(tangents[k], np.float64).ravel()
                                    * run.grads[k].ravel()
                                    for k in (live if i is None else [i])])
        lhs, rhs = lhs_terms.sum(), rhs_terms.sum()
        tol = run.tol.bound(max(np.abs(lhs_terms).sum(), np.abs(rhs_terms).sum()))
        where = ("<jvp(t), u> = <t, backward(u)> with random tangents on every input"
                 if i is None else f"<jvp(t), u> = <t, backward(u)> along {run.names[i]}")
        if i is None:
            if run.report.adjoint is None:
                run.report.adjoint = Comparison("adjoint")
            comp = run.report.adjoint
        else:
            comp = run.comparison(i, "adjoint")
        if not comp.add(where, rhs, lhs, tol):
            run.problem("jvp", f"the adjoint identity fails: <jvp(t), u> = {lhs:.6g} but "
                               f"<t, backward(u)> = {rhs:.6g} (jvp and backward disagree)",
                        i, kind="adjoint")


# -- against numerical derivatives -------------------------------------------------------

def check_numerically(run: Run, probes, kinks, initial_step, gate) -> None:
    """Judge every probe's gradient component and jvp against ``gate``'s numerical
    derivatives; failed comparisons become problems, all of them go in the report."""
    if not probes:
        return
    forward_at = Perturbed(run, gate)
    out_size = forward_at.out_size
    sides = (-1, 1) if kinks else (0,)
    res = directional_derivatives(forward_at, probes, out_size, sides=sides,
                                  initial_step=initial_step)
    verdicts = {}
    for p, probe in enumerate(probes):
        if p in res.failed:
            run.problem("forward", f"failed at a perturbed input (numerical derivative "
                                   f"along {probe.label}): {res.failed[p]}", probe.input)
            continue
        verdicts[p] = _judge(run, p, probe, res, p)
    # A failure may be an artefact of the finite-difference step: an undeclared kink
    # (a student's relu), or several kinks within one step. Look again with one-sided
    # derivatives and smaller steps; a real bug fails at every step.
    again = [p for p, v in verdicts.items() if not v[0]]
    for shrink in RETRY_SHRINKS:
        if not again:
            break
        side = directional_derivatives(forward_at, [probes[p] for p in again], out_size,
                                       sides=(-1, 1), initial_step=initial_step / shrink)
        still = []
        for k, p in enumerate(again):
            v = _judge(run, p, probes[p], side, k) if k not in side.failed else None
            if v is None or not v[0]:
                still.append(p)
                continue
            verdicts[p] = v
            run.report.notes.append(
                f"along {probes[p].label} the check passed only with one-sided "
                f"derivatives and a {shrink} times smaller step: "
                + ("a kink, though the gate does not declare kinks = True"
                   if not kinks and v[1] else "a kink within the step"))
        again = still
    if forward_at.drift is not None:
        run.problem("forward", f"gave different outputs for the same inputs during the "
                               f"numerical check (max difference {forward_at.drift:.3g}); "
                               f"a gate must compute a function of its inputs (no "
                               f"randomness, no state kept between calls)")
    groups: dict = {}
    for p, (ok, at_kink, records) in sorted(verdicts.items()):
        for kind, rec in records:
            groups.setdefault((probes[p].input, kind), []).append(rec)
    for (i, kind), recs in groups.items():
        run.comparison(i, kind).add_array(**_concatenate(recs))


def _judge(run: Run, p, probe, res, row):
    """Compare probe ``p``'s analytic values with row ``row`` of ``res``.

    Returns (ok, found a kink, [(kind, record)]) where a record holds the arrays
    :meth:`Comparison.add_array` takes."""
    i = probe.input
    df, err, status = res.row(row)
    u = run.u.ravel()
    records, ok, at_kink = [], True, False
    tolerance = run.tol
    g = run.grads[i]
    if g is not None:
        if probe.entry is not None:
            a, a_mag = g[probe.entry], abs(g[probe.entry])
        else:
            terms = g * probe.direction
            a, a_mag = terms.sum(), np.abs(terms).sum()
        low = high = None
        if len(df) == 1:
            n = u @ df[0]
            e = np.abs(u) @ err[0]
            tol = tolerance.bound(max(abs(a), a_mag, np.abs(u * df[0]).sum()))
        else:
            left, right = u * df[0], u * df[1]
            lo, hi = np.minimum(left, right).sum(), np.maximum(left, right).sum()
            e = np.abs(u) @ (err[0] + err[1])
            tol = tolerance.bound(max(abs(a), a_mag, np.abs(left).sum(),
                                      np.abs(right).sum()))
            n = 0.5 * (left.sum() + right.sum())
            if hi - lo > tol + min(e, tol):
                low, high, at_kink = lo, hi, True
        unconverged = int(e > tol and np.any(status != 0))
        tol = tol + min(e, tol)
        rec = dict(where=[probe.label], numerical=[n], analytic=[a], tolerance=[tol],
                   index=[probe.entry], low=None if low is None else [low],
                   high=None if high is None else [high], unconverged=unconverged)
        ok &= _passes(rec)
        records.append(("gradient", rec))
    v = run.jvps.get(p)
    if v is not None:
        rec, found = _judge_jvp(run, probe, v, df, err, status)
        ok &= _passes(rec)
        at_kink |= found
        records.append(("jvp", rec))
    return ok, at_kink, records


def _judge_jvp(run: Run, probe, v, df, err, status):
    tolerance = run.tol
    # each output entry is judged at its contract magnitude: an output that nearly
    # cancels (a long dot product summing to ~0) on the scale of the whole output
    if len(df) == 1:
        n, e = df[0], err[0]
        tol = tolerance.bound(contract.magnitude(n))
        low = high = None
        found = False
    else:
        lo, hi = np.minimum(df[0], df[1]), np.maximum(df[0], df[1])
        e = err[0] + err[1]
        n = 0.5 * (df[0] + df[1])
        tol = tolerance.bound(np.maximum(contract.magnitude(lo), contract.magnitude(hi)))
        kink = hi - lo > tol + np.minimum(e, tol)
        found = bool(np.any(kink))
        low = np.where(kink, lo, np.nan) if found else None
        high = np.where(kink, hi, np.nan) if found else None
    unconverged = int(np.sum((e > tol) & np.any(status != 0, axis=0)))
    tol = tol + np.minimum(e, tol)
    shape = run.out.shape
    rec = dict(where=lambda j: f"output{index_text(np.unravel_index(j, shape))} along "
                               f"{probe.label}",
               numerical=n, analytic=v, tolerance=tol,
               index=lambda j: tuple(int(k) for k in np.unravel_index(j, shape)),
               low=low, high=high, unconverged=unconverged)
    return rec, found


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

    def joined(key):
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
