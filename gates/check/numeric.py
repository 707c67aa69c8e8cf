"""Numerical directional derivatives of a gate's output, from ``scipy.differentiate``.

A *probe* perturbs one input along a direction ``d``: a single entry (``d`` = a unit
vector e_k, giving column k of the Jacobian) or a random dense direction. For each
probe the numerical derivative of the whole output along it,

    (J d)_j = d/dh f_j(x + h d)  at h = 0,   for every output entry j,

comes from :func:`scipy.differentiate.derivative`, vectorised over probes and output
entries at once. Never the full Jacobian of a large input: only the probes asked for.

Each call of the gate's ``forward`` gives the output at one step ``h`` of one probe;
``derivative`` asks for the same steps for every output entry of a probe (they all
start at h = 0 with the same initial step), so one forward serves a whole column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.differentiate import derivative

#: Largest number of float64 numbers one ``derivative`` call may hold per stencil
#: point; probes are split into chunks beyond it so big outputs stay within memory.
_CHUNK_NUMBERS = 2_000_000


@dataclass
class Probe:
    """One perturbation: input ``input`` along a unit entry ``entry`` or a ``direction``."""

    input: int
    entry: tuple | None = None
    direction: np.ndarray | None = None
    label: str = ""


@dataclass
class Derivatives:
    """The numerical ``J d`` of every probe, one row per side and probe.

    ``df``, ``error`` and ``status`` have shape (sides, probes, output size): the
    estimate, SciPy's error estimate and its status (0 = converged). ``failed`` maps a
    probe's position to the message of the forward call that failed for it.
    """

    df: np.ndarray
    error: np.ndarray
    status: np.ndarray
    failed: dict


def directional_derivatives(forward_at, probes, out_size, *, sides=(0,), initial_step=0.05,
                            atol=1e-11, rtol=1e-9, retries=2):
    """Numerical ``J d`` for every probe, with scipy's error estimates.

    ``forward_at(probe, h)`` returns the flat float64 output at ``x + h d`` (it may
    raise; that probe is then tried again with a 16 times smaller step, ``retries``
    times, and otherwise reported in ``failed``). ``sides`` lists step directions as
    ``derivative`` takes them: 0 central, -1 left (steps <= 0), +1 right (steps >= 0);
    a kink needs both one-sided derivatives. ``initial_step`` is the largest step
    along a probe (directions are scaled to a largest entry of 1), small enough to
    stay inside the domain of log, tan or a divisor in the gates' example inputs.
    """
    n_probes, n_sides = len(probes), len(sides)
    df = np.full((n_sides, n_probes, out_size), np.nan)
    error = np.full_like(df, np.inf)
    status = np.full(df.shape, -3, dtype=int)
    failed: dict = {}
    todo = list(range(n_probes))
    step = initial_step
    for _ in range(retries + 1):
        if not todo:
            break
        chunk = max(1, _CHUNK_NUMBERS // max(1, out_size * n_sides * 10))
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            res, errors = _derivative_of(forward_at, [probes[p] for p in part], out_size,
                                         sides, step, atol, rtol)
            df[:, part], error[:, part], status[:, part] = res.df, res.error, res.status
            for k, p in enumerate(part):
                if k in errors:
                    failed[p] = errors[k]
                else:
                    failed.pop(p, None)
        todo = [p for p in todo if p in failed or not np.all(np.isfinite(df[:, p]))]
        step /= 16
    for p in todo:
        failed.setdefault(p, "the numerical derivative is not finite")
    return Derivatives(df, error, status, failed)


def _derivative_of(forward_at, probes, out_size, sides, step, atol, rtol):
    # one-sided derivatives across a kink never converge; a smooth side converges in
    # two or three iterations, so a kink costs at most six
    maxiter = 10 if tuple(sides) == (0,) else 6
    """One ``derivative`` call over (sides, probes, outputs); h = 0 at every abscissa.

    ``derivative`` passes only the entries still iterating, with their (side, probe)
    number and output position as arguments, so a converged probe costs no more
    forward calls; the steps of one probe's entries agree column by column.
    """
    cache = {}
    errors: dict = {}
    n_probes = len(probes)

    def at(p, h):
        key = (p, h)
        if key not in cache:
            try:
                cache[key] = forward_at(probes[p], h)
            except Exception as exc:  # a broken gate: report it, never crash the checker
                errors.setdefault(p, f"{type(exc).__name__}: {exc}")
                cache[key] = np.full(out_size, np.nan)
        return cache[key]

    def f(h, row, entry):
        # the first call has one step per entry; later ones a column per stencil step
        columns = h.reshape(row.size, -1)
        row, entry = row.reshape(-1).astype(int), entry.reshape(-1).astype(int)
        out = np.empty_like(columns)
        for r in np.unique(row):
            rows = np.flatnonzero(row == r)
            p = int(r) % n_probes
            for k in range(columns.shape[1]):
                col = columns[rows, k]
                first = float(col[0])
                if np.all(col == first):
                    out[rows, k] = at(p, 0.0 if first == 0 else first)[entry[rows]]
                else:  # steps that differ between outputs: evaluate each one
                    for q, hq in zip(rows, col):
                        out[q, k] = at(p, float(hq))[entry[q]]
        return out.reshape(h.shape)

    shape = (len(sides), n_probes, out_size)
    x = np.zeros(shape)
    row = np.broadcast_to(np.arange(len(sides) * n_probes, dtype=float).reshape(
        len(sides), n_probes, 1), shape)
    entry = np.broadcast_to(np.arange(out_size, dtype=float), shape)
    direction = np.asarray(sides).reshape(-1, 1, 1)
    with np.errstate(all="ignore"):
        res = derivative(f, x, args=(row, entry), initial_step=step,
                         step_direction=direction, maxiter=maxiter,
                         tolerances={"atol": atol, "rtol": rtol})
    return res, errors
